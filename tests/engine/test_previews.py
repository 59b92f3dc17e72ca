"""Audio previews in a training run: files under previews/, rows in the run store, the reader API,
sample-quality epoch metrics, failures as events, clips kept across resume."""
import errno
import json
import math
import sqlite3

import numpy as np
import pytest
import soundfile as sf
import torch

from distill_engine.model.losses import MultiResolutionSTFTLoss
from distill_engine.previews import session as session_module
from distill_engine.previews.layout import original_file, reconstruction_file, sample_file
from distill_engine.previews.quality import DISTANCE_RESOLUTIONS
from distill_engine.runs.reader import open_run
from distill_engine.training.events import Callback
from distill_engine.training.trainer import Trainer
from distill_engine.checkpoints.format import load_checkpoint


class PreviewEvents(Callback):
    def __init__(self):
        self.rendered, self.failed, self.epochs = [], [], []

    def on_preview(self, trainer, event):
        self.rendered.append(event)

    def on_preview_failed(self, trainer, event):
        self.failed.append(event)

    def on_epoch(self, trainer, event):
        self.epochs.append(event)


def train(config, corpus, runs_dir, *callbacks):
    seen = PreviewEvents()
    result = Trainer(config, corpus, runs_dir=runs_dir, callbacks=[seen, *callbacks]).run()
    return result, seen


@pytest.fixture(autouse=True)
def no_cost_budget(monkeypatch):
    """preview_interval_s = 1e-9 previews every epoch: no waiting after a slow preview (the
    budget has its own test)."""
    monkeypatch.setattr(session_module, "COST_BUDGET", math.inf)


@pytest.fixture(scope="module")
def every_epoch_run(tmp_path_factory):
    """A 3-epoch tiny run that previews at every epoch end."""
    from support import train_tiny_runs

    root = tmp_path_factory.mktemp("previews")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(session_module, "COST_BUDGET", math.inf)
        [result] = train_tiny_runs(root, {"epochs": 3, "preview_interval_s": 1e-9})
    return result


def test_every_epoch_has_reconstructions_and_samples_as_audio_files(every_epoch_run, make_config):
    config = make_config()
    with open_run(every_epoch_run.run_dir) as run:
        assert run.preview_epochs() == [1, 2, 3]
        records = run.previews(2)
    kinds = [(p.kind, p.epoch, p.clip) for p in records]
    assert kinds == ([("original", 0, i) for i in range(4)] + [("reconstruction", 2, i) for i in range(4)]
                     + [("sample", 2, i) for i in range(4)])
    expected_paths = ([original_file(i) for i in range(4)] + [reconstruction_file(2, i) for i in range(4)]
                      + [sample_file(2, i) for i in range(4)])
    chunk = round(config.chunk_duration * config.representation.sample_rate)
    for record, relative in zip(records, expected_paths):
        assert record.path == run_path(every_epoch_run) / relative
        audio, rate = sf.read(record.path, dtype="float32")
        assert rate == config.representation.sample_rate and audio.shape == (chunk,)
        assert record.rms == pytest.approx(float(np.sqrt(np.mean(audio.astype(np.float64) ** 2))), rel=1e-3, abs=1e-6)
    originals = {p.clip: sf.read(p.path, dtype="float32")[0] for p in records if p.kind == "original"}
    assert all(np.sqrt(np.mean(a ** 2)) > 1e-3 for a in originals.values())  # real corpus chunks, not silence
    distance = MultiResolutionSTFTLoss(*DISTANCE_RESOLUTIONS)
    for record in records:
        if record.kind == "reconstruction":  # the stored distance is the file's distance to its original
            recon = torch.from_numpy(sf.read(record.path, dtype="float32")[0])[None]
            measured = float(distance(recon, torch.from_numpy(originals[record.clip])[None]))
            assert record.distance == pytest.approx(measured, rel=0.02)
        elif record.kind == "sample":
            assert math.isfinite(record.distance) and record.distance > 0
        else:
            assert math.isnan(record.distance)


def run_path(result):
    from pathlib import Path

    return Path(result.run_dir)


def test_all_previews_and_originals_written_once(every_epoch_run):
    with open_run(every_epoch_run.run_dir) as run:
        everything = run.previews()
        events = run.events("preview")
    assert sum(p.kind == "original" for p in everything) == 4
    assert sum(p.kind == "reconstruction" for p in everything) == 12
    assert [e.epoch for e in events] == [1, 2, 3]
    assert set(events[0].payload["files"]) >= {original_file(0), sample_file(1, 3)}
    assert original_file(0) not in events[1].payload["files"]  # originals: written at the first preview only


def test_sample_quality_is_stored_as_epoch_metrics(every_epoch_run):
    with open_run(every_epoch_run.run_dir) as run:
        for name in ("sample_fidelity", "sample_coverage", "sample_loudness_db"):
            epochs, values = run.metric(name, per="epoch")
            assert epochs.tolist() == [1, 2, 3] and np.all(np.isfinite(values)), name


def test_sample_figures_are_measured_on_one_draw_per_chunk_posterior(every_epoch_run):
    """The figures of the last preview come from one draw from each training chunk's posterior
    (up to MEASURED_SAMPLES; the 4 written samples' random chunks made the loudness swing), raised
    like the written samples by the gain that the checkpoint carries and the epoch metric records,
    which is what the decoder loses on the training chunks' reconstructions."""
    from distill_engine.audio.corpus import load_corpus
    from distill_engine.previews.latent_prior import fixed_noise, prior_from_tensors
    from distill_engine.previews.quality import SpectralDistance, rms, sample_quality, spread_indices
    from distill_engine.previews.render import load_model
    from distill_engine.previews.sample_level import gain_from_tensors, measure_sample_gain, with_gain

    [last] = (run_path(every_epoch_run) / "checkpoints").glob("epoch-00003-*.safetensors")
    loaded = load_model(last)
    with open_run(every_epoch_run.run_dir) as run:
        corpus = load_corpus(run.corpus_path, loaded.config)
        figures = {name: run.metric(name, per="epoch")[1][-1]
                   for name in ("sample_fidelity", "sample_coverage", "sample_loudness_db", "sample_gain_db")}
        written = [p for p in run.previews(3) if p.kind == "sample"]
    prior = prior_from_tensors(loaded.checkpoint.extra_tensors)
    noise = fixed_noise(session_module.MEASURED_SAMPLES, loaded.config.latent_dim,
                        loaded.config.seed + session_module.NOISE_SEED_OFFSET)
    with torch.no_grad():
        loaded.model.eval()
        decode = lambda z: loaded.representation.decode(loaded.model.decode(z), loaded.chunk_samples,
                                                        precise=False)
        gain = measure_sample_gain(loaded.model, loaded.representation, loaded.representation.normalise(corpus.train_raw),
                                   corpus.train_audio, precise=False)
        samples, files = (with_gain(decode(z), gain) for z in (prior.spread_draws(noise), prior.latents(noise[:4])))
    assert gain_from_tensors(loaded.checkpoint.extra_tensors) == pytest.approx(gain, abs=1e-4)
    assert figures.pop("sample_gain_db") == pytest.approx(gain, abs=1e-4) and gain != 0.0
    audio = torch.cat([corpus.train_audio, corpus.val_audio])
    distance = SpectralDistance("cpu")
    reference = distance.targets(distance.magnitudes(audio[spread_indices(len(audio), 64)]))
    measured = sample_quality(distance.pairwise(distance.magnitudes(samples), reference), rms(samples),
                              float(rms(audio).median()))
    assert len(samples) == min(len(prior.means), session_module.MEASURED_SAMPLES) > len(written) == 4
    for name, value in figures.items():
        assert value == pytest.approx(measured[name], rel=1e-3, abs=1e-3), name
    for record, sample in zip(written, files, strict=True):
        assert record.rms == pytest.approx(float(rms(sample[None])[0]), rel=1e-3, abs=1e-6)


def test_checkpoints_carry_the_latent_prior_samples_are_drawn_from(every_epoch_run):
    checkpoint = load_checkpoint(every_epoch_run.best_checkpoint)
    means = checkpoint.extra_tensors["latent_prior/component_means"]   # one posterior per training chunk
    stds = checkpoint.extra_tensors["latent_prior/component_stds"]
    assert means.shape == stds.shape and means.shape[1] == checkpoint.config["latent_dim"]
    report = json.loads((run_path(every_epoch_run) / "corpus_report.json").read_text())
    assert len(means) == min(256, report["n_train_chunks"]) and bool((stds > 0).all())


def test_default_interval_previews_only_the_last_epoch_and_zero_turns_them_off(tmp_path, corpus_dir, make_config):
    result, seen = train(make_config(epochs=2, preview_interval_s=30.0), corpus_dir, tmp_path / "runs")
    assert [e.epoch for e in seen.rendered] == [2]
    assert math.isnan(seen.epochs[0].sample_fidelity) and math.isfinite(seen.epochs[1].sample_fidelity)
    with open_run(result.run_dir) as run:
        assert run.preview_epochs() == [2]

    off, seen = train(make_config(epochs=2, preview_interval_s=0.0), corpus_dir, tmp_path / "off")
    assert seen.rendered == [] and all(math.isnan(e.sample_loudness_db) for e in seen.epochs)
    assert not (run_path(off) / "previews").exists()
    with open_run(off.run_dir) as run:
        assert run.preview_epochs() == [] and run.previews() == []


class BlockPreviewsFolder(Callback):
    """A file named 'previews' in the run folder: the folder cannot be made (a real OSError)."""

    def on_run_started(self, trainer, event):
        (trainer.run_dir / "previews").write_text("in the way")


def test_a_preview_that_cannot_be_written_is_an_event_and_training_goes_on(tmp_path, corpus_dir, make_config):
    result, seen = train(make_config(epochs=3, preview_interval_s=1e-9), corpus_dir, tmp_path / "runs",
                         BlockPreviewsFolder())
    assert result.status == "completed" and seen.rendered == []
    assert [e.epoch for e in seen.failed] == [1, 2, 3]
    assert "previews" in seen.failed[0].reason
    with open_run(result.run_dir) as run:
        assert run.metric("val_loss", per="epoch")[0].tolist() == [1, 2, 3]  # no metric row lost
        assert [e.epoch for e in run.events("preview_failed")] == [1, 2, 3]
        assert run.preview_epochs() == []
        assert np.all(np.isfinite(run.metric("sample_loudness_db", per="epoch")[1]))  # measured in memory


def test_disk_full_part_way_keeps_the_rows_of_the_files_written(tmp_path, corpus_dir, make_config, monkeypatch):
    real, calls = session_module.write_clip, {"n": 0}

    def fills_up(path, audio, rate):
        calls["n"] += 1
        if calls["n"] > 6:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, audio, rate)

    monkeypatch.setattr(session_module, "write_clip", fills_up)
    result, seen = train(make_config(epochs=2, preview_interval_s=1e-9), corpus_dir, tmp_path / "runs")
    assert result.status == "completed"
    assert "No space left" in seen.failed[0].reason and "after writing 6 files" in seen.failed[0].reason
    with open_run(result.run_dir) as run:
        assert len(run.previews()) == 6 and all(p.path.is_file() for p in run.previews())
        assert run.metric("train_loss", per="epoch")[0].tolist() == [1, 2]


def test_clips_are_kept_across_resume(tmp_path, corpus_dir, make_config):
    class StopAfterFirst(Callback):
        def on_epoch(self, trainer, event):
            trainer.request_stop()

    stopped, _ = train(make_config(epochs=3, preview_interval_s=1e-9), corpus_dir, tmp_path / "runs", StopAfterFirst())
    run_dir = run_path(stopped)
    before = {i: (run_dir / original_file(i)).read_bytes() for i in range(4)}
    resumed = Trainer.resume(run_dir).run()
    assert resumed.status == "completed"
    with open_run(run_dir) as run:
        assert run.preview_epochs() == [1, 2, 3]
        assert [p.clip for p in run.previews(3) if p.kind == "original"] == [0, 1, 2, 3]
    assert {i: (run_dir / original_file(i)).read_bytes() for i in range(4)} == before


def test_a_run_without_a_previews_table_reads_as_having_none(every_epoch_run, tmp_path):
    import shutil

    copy = tmp_path / "old-run"
    shutil.copytree(every_epoch_run.run_dir, copy)
    with sqlite3.connect(copy / "run.sqlite") as conn:
        conn.execute("DROP TABLE previews")
    with open_run(copy) as run:
        assert run.preview_epochs() == [] and run.previews(1) == []


def test_the_writer_refuses_preview_rows_outside_the_run_folder(tmp_path):
    from distill_engine.runs.writer import create_run

    with create_run(tmp_path, "r", str(tmp_path), 1) as writer:
        with pytest.raises(ValueError, match="inside the run folder"):
            writer.log_previews([{"epoch": 1, "kind": "sample", "clip": 0, "file": "/etc/passwd"}])
        with pytest.raises(ValueError, match="inside the run folder"):
            writer.log_previews([{"epoch": 1, "kind": "sample", "clip": 0, "file": "../x.flac"}])
        with pytest.raises(ValueError, match="kind"):
            writer.log_previews([{"epoch": 1, "kind": "noise", "clip": 0, "file": "previews/x.flac"}])


class FakeClock:
    """Monotonic seconds that the test moves on: 20 s per epoch, 3 s per preview render."""

    now = 0.0

    def __call__(self):
        return self.now


def test_previews_keep_to_their_interval_and_wait_longer_after_a_slow_one(tmp_path, corpus_dir, make_config, monkeypatch):
    """Interval 30 s; a preview that takes 3 s makes the next wait 100 s (3 % of training time)."""
    monkeypatch.setattr(session_module, "COST_BUDGET", 0.03)
    clock = FakeClock()
    real_init = session_module.PreviewSession.__init__
    real_end = session_module.PreviewSession.at_epoch_end
    real_render = session_module.PreviewSession._render

    def at_end(self, epoch, step, last):
        clock.now += 20.0  # the epoch's training time
        return real_end(self, epoch, step, last)

    def slow_render(self, *args):
        clock.now += 3.0
        return real_render(self, *args)

    monkeypatch.setattr(session_module.PreviewSession, "__init__",
                        lambda self, *a, **k: real_init(self, *a, **{**k, "clock": clock}))
    monkeypatch.setattr(session_module.PreviewSession, "at_epoch_end", at_end)
    monkeypatch.setattr(session_module.PreviewSession, "_render", slow_render)
    result, seen = train(make_config(epochs=9, preview_interval_s=30.0), corpus_dir, tmp_path / "runs")
    # ends at t = 20, 40 (due; ends at 43, next due 100 s later), 63, 83, 103, 123, 143 (due), 166, 186
    assert result.status == "completed"
    assert [e.epoch for e in seen.rendered] == [2, 7, 9]  # the last epoch always has one
