"""Rendering from a checkpoint: render_from_checkpoint (the desktop's Render… dialog) and the
`distill-render` command as a person runs it: files read back and measured, bad inputs skipped
with their reasons, refused checkpoints, progress and cancel."""
import io
import math
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from distill_engine.errors import CheckpointError, RenderError
from distill_engine.previews.cli import main as render_main
from distill_engine.previews.render import render_from_checkpoint

PLUCKS = sorted(Path(sys.base_prefix).glob("lib/python3*/test/audiodata/pluck-pcm16.wav"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(checkpoint, run folder) of a tiny 2-epoch run."""
    from support import train_tiny_runs

    root = tmp_path_factory.mktemp("render")
    [result] = train_tiny_runs(root, {"epochs": 2, "preview_interval_s": 30.0})  # previews at the end
    return Path(result.best_checkpoint), Path(result.run_dir)


def rms(audio):
    return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))


def test_samples_and_reconstructions_are_written_at_the_model_rate(trained, tmp_path, make_config):
    checkpoint, _ = trained
    rate = make_config().representation.sample_rate
    source = tmp_path / "in"
    source.mkdir()
    t = np.arange(int(1.3 * 44100)) / 44100  # another sample rate and a length that is not whole chunks
    sf.write(source / "tone.wav", (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 44100)
    calls = []
    result = render_from_checkpoint(checkpoint, tmp_path / "out", samples=3, seed=5, inputs=[source / "tone.wav"],
                                    progress=lambda done, total: calls.append((done, total)) or True)
    assert [p.name for p in result.written] == ["tone-reconstruction.flac", "sample-00.flac", "sample-01.flac",
                                                "sample-02.flac"]
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)] and not result.cancelled and result.skipped == []
    recon, recon_rate = sf.read(result.written[0], dtype="float32")
    assert recon_rate == rate and len(recon) == round(1.3 * rate)  # resampled, whole length kept
    for path in result.written[1:]:
        audio, sample_rate = sf.read(path, dtype="float32")
        assert sample_rate == rate and len(audio) == round(make_config().chunk_duration * rate)
        assert rms(audio) > 0
    again = render_from_checkpoint(checkpoint, tmp_path / "again", samples=3, seed=5)
    for a, b in zip(result.written[1:], again.written):  # same seed, same samples
        assert np.array_equal(sf.read(a)[0], sf.read(b)[0])
    other = render_from_checkpoint(checkpoint, tmp_path / "other", samples=1, seed=6)
    assert not np.array_equal(sf.read(other.written[0])[0], sf.read(result.written[1])[0])


def test_samples_are_raised_by_the_gain_the_checkpoint_carries(trained, tmp_path):
    """A sample file is the decoder's output times the checkpoint's sample gain (read back and
    measured); a checkpoint from before the gain has one measured on its run's corpus."""
    import torch
    from distill_engine.checkpoints.format import load_checkpoint, save_checkpoint
    from distill_engine.previews.latent_prior import fixed_noise, prior_from_tensors
    from distill_engine.previews.render import load_model
    from distill_engine.previews.sample_level import GAIN_TENSOR, gain_from_tensors

    checkpoint, run_dir = trained
    loaded = load_model(checkpoint)
    gain = gain_from_tensors(loaded.checkpoint.extra_tensors)
    assert gain is not None and gain != 0.0
    with torch.no_grad():
        z = prior_from_tensors(loaded.checkpoint.extra_tensors).latents(fixed_noise(2, loaded.config.latent_dim, 3))
        raw = loaded.representation.decode(loaded.model.decode(z), loaded.chunk_samples).numpy()
    result = render_from_checkpoint(checkpoint, tmp_path / "out", samples=2, seed=3)
    assert result.notes == []
    for path, decoded in zip(result.written, raw, strict=True):
        written, _ = sf.read(path, dtype="float64")
        if np.abs(decoded).max() * 10 ** (gain / 20) < 0.99:  # not peak-limited
            assert 20 * math.log10(rms(written) / rms(decoded)) == pytest.approx(gain, abs=0.01)
    old = load_checkpoint(checkpoint)
    args = dict(model_state=old.model_state, optimizer_state=None, epoch=old.epoch, step=old.step, config=old.config,
                metrics={}, extra=old.extra, extra_tensors={k: v for k, v in old.extra_tensors.items() if k != GAIN_TENSOR})
    before_gain = save_checkpoint(run_dir / "checkpoints" / "before-gain.safetensors", **args)
    result = render_from_checkpoint(before_gain, tmp_path / "old", samples=1, seed=3)
    assert any("sample gain" in n and "measured on the corpus" in n for n in result.notes) and len(result.written) == 1
    (tmp_path / "alone").mkdir()
    alone = save_checkpoint(tmp_path / "alone" / "x.safetensors", **args)
    result = render_from_checkpoint(alone, tmp_path / "alone-out", samples=1, seed=3)
    assert any("without a sample gain" in n for n in result.notes) and len(result.written) == 1


def test_bad_inputs_are_skipped_with_their_reason_and_the_rest_is_written(trained, tmp_path):
    checkpoint, _ = trained
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "notes.txt").write_text("not audio")
    sf.write(folder / "silence.wav", np.zeros(8000, np.float32), 8000)
    inputs = [folder / "notes.txt", folder / "silence.wav", folder / "missing.wav", *PLUCKS]
    result = render_from_checkpoint(checkpoint, tmp_path / "out", samples=0, inputs=inputs)
    reasons = {p.name: r for p, r in result.skipped}
    assert "not an audio file" in reasons["notes.txt"] and "silent" in reasons["silence.wav"]
    assert reasons["missing.wav"] == "does not exist"
    assert [p.name for p in result.written] == [f"{p.stem}-reconstruction.flac" for p in PLUCKS]


def test_cancel_keeps_the_files_written_so_far(trained, tmp_path):
    checkpoint, _ = trained
    result = render_from_checkpoint(checkpoint, tmp_path / "out", samples=5, progress=lambda done, total: done < 2)
    assert result.cancelled and [p.name for p in result.written] == ["sample-00.flac", "sample-01.flac"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["sample-00.flac", "sample-01.flac"]


def test_a_checkpoint_without_a_prior_fits_one_to_its_run_corpus_or_says_it_cannot(trained, tmp_path):
    from distill_engine.checkpoints.format import load_checkpoint, save_checkpoint

    checkpoint, run_dir = trained
    old = load_checkpoint(checkpoint)
    extra_tensors = {k: v for k, v in old.extra_tensors.items() if not k.startswith("latent_prior/")}
    args = dict(model_state=old.model_state, optimizer_state=None, epoch=old.epoch, step=old.step,
                config=old.config, metrics={}, extra=old.extra, extra_tensors=extra_tensors)
    in_run = save_checkpoint(run_dir / "checkpoints" / "old-format.safetensors", **args)
    result = render_from_checkpoint(in_run, tmp_path / "a", samples=1)
    assert any("fitted to the corpus" in n for n in result.notes) and len(result.written) == 1
    (tmp_path / "alone").mkdir()
    alone = save_checkpoint(tmp_path / "alone" / "x.safetensors", **args)
    result = render_from_checkpoint(alone, tmp_path / "b", samples=1)
    assert any("N(0, I)" in n for n in result.notes) and len(result.written) == 1


def test_files_that_are_not_checkpoints_are_refused(tmp_path):
    pickled = tmp_path / "model.pt"
    pickled.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    with pytest.raises(CheckpointError, match="not a Distill checkpoint"):
        render_from_checkpoint(pickled, tmp_path / "out", samples=1)
    with pytest.raises(CheckpointError, match="does not exist"):
        render_from_checkpoint(tmp_path / "none.safetensors", tmp_path / "out", samples=1)
    assert not (tmp_path / "out").exists()


def test_an_output_folder_that_cannot_be_made_is_a_render_error(trained, tmp_path):
    checkpoint, _ = trained
    (tmp_path / "file").write_text("x")
    with pytest.raises(RenderError, match="cannot create the output folder"):
        render_from_checkpoint(checkpoint, tmp_path / "file" / "out", samples=1)


def test_the_command_exit_codes(trained, tmp_path):
    checkpoint, _ = trained
    out, err = io.StringIO(), io.StringIO()
    assert render_main([str(checkpoint), str(tmp_path / "ok"), "--samples", "2", "--format", "wav"], out, err) == 0
    assert [Path(line).name for line in out.getvalue().split()] == ["sample-00.wav", "sample-01.wav"]
    err = io.StringIO()
    assert render_main([str(checkpoint), str(tmp_path / "ok"), "--input", "/etc/hostname"], io.StringIO(), err) == 1
    assert "skipped /etc/hostname: not an audio file" in err.getvalue()
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 64)
    err = io.StringIO()
    assert render_main([str(junk), str(tmp_path / "x")], io.StringIO(), err) == 2
    assert "distill-render:" in err.getvalue() and "not a Distill checkpoint" in err.getvalue()


def test_the_installed_command_refuses_bad_usage_with_exit_2(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "distill_engine.previews.cli", str(tmp_path / "c.safetensors"),
                           str(tmp_path / "out"), "--samples", "0"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "nothing to render" in proc.stderr
