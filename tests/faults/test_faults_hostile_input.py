"""Fault suite, hostile or absurd input (issue 11 items 5-9): audio headers that would exhaust
memory, absurd sample values, hostile checkpoint headers, checkpoints that do not fit, configs
that crashed later. Each must end in the engine's own error (or a skip with its reason)."""
import json
import math
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from distill_engine import cli
from distill_engine.audio.corpus import load_corpus
from distill_engine.checkpoints.format import list_checkpoints, load_checkpoint, read_checkpoint_info
from distill_engine.config.schema import TrainingConfig, load_config, save_config
from distill_engine.config.validation import ConfigError, validate
from distill_engine.errors import CheckpointError
from distill_engine.runs.reader import open_run
from distill_engine.training.trainer import Trainer
from fault_children import run_child
from support import tiny_config


# -- 5, 6: audio ------------------------------------------------------------------------------
def write_one_hertz_wav(path, samples=20_000):
    """A float WAV whose header declares 1 Hz: 20,000 samples 'last' 5.5 hours."""
    sf.write(path, np.sin(np.arange(samples) / 7.0).astype(np.float32) * 0.5, 1, subtype="FLOAT")


@pytest.mark.fault("traceback")
def test_a_tiny_file_declaring_1_hz_is_skipped_with_its_rate_named(tmp_path, corpus_dir):
    write_one_hertz_wav(corpus_dir / "one-hertz.wav", 320)
    corpus = load_corpus(corpus_dir, tiny_config())
    reason = {s.path.rsplit("/", 1)[-1]: s.reason for s in corpus.report.skipped}["one-hertz.wav"]
    assert "sample rate of 1 Hz" in reason and "4-768 kHz" in reason
    assert len(corpus.report.used) == 6


@pytest.mark.fault("traceback")
def test_a_file_longer_than_max_file_seconds_is_skipped_saying_how_to_allow_it(tmp_path, corpus_dir):
    sf.write(corpus_dir / "long.wav", np.zeros(8000 * 5, np.float32) + 0.1, 8000)
    corpus = load_corpus(corpus_dir, tiny_config(max_file_seconds=4.0))
    reason = {s.path.rsplit("/", 1)[-1]: s.reason for s in corpus.report.skipped}["long.wav"]
    assert "longer than max_file_seconds = 4 s" in reason


def _load_under_address_space_limit(folder, cache, headroom):
    import os
    import resource
    os.environ["DISTILL_CACHE_DIR"] = cache
    from support import tiny_config as config
    from distill_engine.audio.corpus import load_corpus as load

    with open("/proc/self/status") as status:
        vm = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
    resource.setrlimit(resource.RLIMIT_AS, (vm + headroom, resource.RLIM_INFINITY))
    corpus = load(folder, config())
    raise SystemExit(0 if len(corpus.report.skipped) == 3 else 5)


@pytest.mark.fault("traceback")
def test_files_declaring_absurd_rates_load_within_an_address_space_limit(tmp_path, corpus_dir, isolated_dirs):
    """Item 5 under a real limit: 300 MB of address space beyond what the process already has.
    Before the bounds, the 80 KB file alone asked for ~24 GB."""
    write_one_hertz_wav(corpus_dir / "a.wav", 320)        # 1,280 bytes of samples -> ~1 GB before
    write_one_hertz_wav(corpus_dir / "b.wav", 1_220)      # 4,880 bytes -> 3.2 GB before
    write_one_hertz_wav(corpus_dir / "c.wav", 20_000)     # 80 KB -> killed at 24 GB before
    assert run_child(_load_under_address_space_limit, str(corpus_dir), str(isolated_dirs[1]), 300 << 20) == 0


@pytest.mark.fault("unclear")
def test_a_float_file_peaking_at_5e29_is_skipped_not_trained_on(tmp_path, corpus_dir):
    sf.write(corpus_dir / "absurd.wav", np.full(8000, 5e29, np.float32) * np.sin(np.arange(8000)), 8000,
             subtype="FLOAT")
    corpus = load_corpus(corpus_dir, tiny_config())
    reason = {s.path.rsplit("/", 1)[-1]: s.reason for s in corpus.report.skipped}["absurd.wav"]
    assert "5e+29" in reason and "-1..1" in reason


@pytest.mark.fault("unclear")
def test_a_run_whose_every_validation_loss_is_non_finite_is_not_a_plain_success(tmp_path, corpus_dir):
    corpus = load_corpus(corpus_dir, tiny_config())
    corpus.val_audio *= np.float32(1e38)   # what a 5e29 file did to validation before it was refused
    corpus.val_raw[:] = math.inf
    result = Trainer(tiny_config(epochs=2), corpus_dir, runs_dir=tmp_path / "runs", corpus=corpus).run()
    assert result.status == "failed"
    assert "every validation loss was non-finite" in result.reason
    with open_run(result.run_dir) as run:
        assert run.status == "failed"


# -- 7: hostile checkpoint headers ------------------------------------------------------------
def write_safetensors(path, header: bytes, data: bytes = b""):
    path.write_bytes(struct.pack("<Q", len(header)) + header + data)
    return path


def rewrite_distill_header(source, target, change):
    """Copy a real checkpoint with its Distill metadata document changed by change(doc) -> text."""
    raw = source.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    header["__metadata__"]["distill"] = change(json.loads(header["__metadata__"]["distill"]))
    return write_safetensors(target, json.dumps(header).encode(), raw[8 + n:])


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    from support import train_tiny_runs
    root = tmp_path_factory.mktemp("trained")
    result, = train_tiny_runs(root, {"epochs": 1})
    return root, result


HOSTILE = {
    "deeply nested header": lambda p, ck: write_safetensors(p, b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
    "deeply nested metadata": lambda p, ck: write_safetensors(
        p, json.dumps({"__metadata__": {"distill": "[" * 100_000 + "]" * 100_000}}).encode()),
    "epoch 1e999": lambda p, ck: rewrite_distill_header(ck, p, lambda d: json.dumps(d).replace(
        f'"epoch": {d["epoch"]}', '"epoch": 1e999')),
    "step as text": lambda p, ck: rewrite_distill_header(ck, p, lambda d: json.dumps({**d, "step": "9"})),
    "metrics a list": lambda p, ck: rewrite_distill_header(ck, p, lambda d: json.dumps({**d, "metrics": [1]})),
    "offsets of 1e999": lambda p, ck: write_safetensors(
        p, b'{"t": {"dtype": "F32", "shape": [1], "data_offsets": [0, 1e999]}}'),
}


@pytest.mark.fault("traceback")
@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_checkpoint_headers_are_checkpoint_errors_everywhere(tmp_path, trained_run, kind):
    _, result = trained_run
    real = Path(result.best_checkpoint)
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    shutil.copy(real, folder / "epoch-00001-step-00000002.safetensors")
    path = HOSTILE[kind](folder / "epoch-00009-step-00000099.safetensors", real)
    with pytest.raises(CheckpointError, match="epoch-00009"):
        read_checkpoint_info(path)
    with pytest.raises(CheckpointError, match="epoch-00009"):
        load_checkpoint(path)
    assert [c.path.name for c in list_checkpoints(folder)] == ["epoch-00001-step-00000002.safetensors"]


@pytest.mark.fault("traceback")
def test_resume_from_a_hostile_latest_checkpoint_exits_2_naming_it(tmp_path, trained_run, capsys):
    root, result = trained_run
    run = tmp_path / "run"
    shutil.copytree(result.run_dir, run)
    HOSTILE["epoch 1e999"](run / "checkpoints" / "epoch-00009-step-00000099.safetensors",
                           run / "checkpoints" / "best.safetensors")
    assert cli.main(["--resume", str(run)]) == 2
    err = capsys.readouterr().err
    assert "epoch-00009-step-00000099.safetensors is damaged" in err and "'epoch'" in err


# -- 8: checkpoints that do not fit the run ---------------------------------------------------
@pytest.mark.fault("traceback")
def test_a_checkpoint_of_another_latent_dim_is_refused_saying_what_differs(tmp_path, trained_run, corpus_dir):
    from support import train_tiny_runs
    root, small = trained_run
    run = tmp_path / "run"
    shutil.copytree(small.run_dir, run)
    other, = train_tiny_runs(tmp_path / "other", {"epochs": 1, "latent_dim": 16})
    shutil.copy(other.best_checkpoint, run / "checkpoints" / "epoch-00009-step-00000099.safetensors")
    trainer = Trainer.resume(run, epochs=10)
    trainer.corpus = load_corpus(root / "corpus", trainer.config)
    with pytest.raises(CheckpointError) as raised:
        trainer.run()
    message = str(raised.value)
    assert "does not fit this run's model" in message and "latent_dim 16 in the checkpoint, 8 here" in message


@pytest.mark.parametrize("change, words", [
    (lambda s: {**s, "surprise": 1}, "unexpected keys: surprise"),
    (lambda s: {k: v for k, v in s.items() if k != "step"}, "missing keys: step"),
    (lambda s: {**s, "step": 1e999}, "training_state.step"),
])
@pytest.mark.fault("traceback")
def test_a_training_state_with_extra_missing_or_wrong_keys_is_refused(tmp_path, trained_run, change, words):
    root, small = trained_run
    run = tmp_path / "run"
    shutil.copytree(small.run_dir, run)
    latest = max((run / "checkpoints").glob("epoch-*"))

    def edit(doc):
        doc["extra"]["training_state"] = change(doc["extra"]["training_state"])
        return json.dumps(doc)
    rewrite_distill_header(latest, latest.with_name("epoch-00009-step-00000099.safetensors"), edit)
    trainer = Trainer.resume(run, epochs=10)
    trainer.corpus = load_corpus(root / "corpus", trainer.config)
    with pytest.raises(CheckpointError, match=words):
        trainer.run()


# -- 9: configs the validator accepted that crashed later -------------------------------------
@pytest.mark.parametrize("field, value, words", [
    ("chunk_duration", 0.1, "too short for the STFTs"),
    ("seed", 2 ** 63 - 1, "at most 4294967295"),
    ("latent_dim", 10 ** 7, "at most 4096"),
    ("chunk_duration", 1e6, "at most 60"),
    ("chunk_duration", 1e300, "at most 60"),
    ("epochs", 2 ** 62, "at most 1000000"),
    ("batch_size", 10 ** 9, "at most 4096"),
])
@pytest.mark.fault("traceback")
def test_values_that_crashed_later_are_refused_up_front_with_the_field_named(field, value, words):
    config = tiny_config(**{field: value})
    problems = [p for p in validate(config) if p.path == field]
    assert problems and words in str(problems[0]), validate(config)


@pytest.mark.fault("traceback")
def test_a_huge_stft_size_is_refused_up_front():
    config = tiny_config()
    config.loss.stft.fft_sizes = (134217728, 1024, 2048)
    assert any(p.path == "loss.stft.fft_sizes[0]" and "at most 65536" in str(p) for p in validate(config))


@pytest.mark.fault("traceback")
def test_a_10_to_the_5_deep_toml_is_a_config_error(tmp_path):
    path = tmp_path / "deep.toml"
    path.write_text("epochs = " + "[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(ConfigError, match="nested too deeply"):
        load_config(path)


@pytest.mark.fault("traceback")
def test_an_epoch_count_sqlite_cannot_store_exits_2_before_a_run_folder_exists(tmp_path, corpus_dir, capsys):
    code = cli.main([str(corpus_dir), "--epochs", "99999999999999999999", "--runs-dir", str(tmp_path / "runs")])
    assert code == 2
    assert "epochs" in capsys.readouterr().err and not (tmp_path / "runs").exists()


@pytest.mark.fault("traceback")
@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has CUDA")
def test_cuda_on_a_cpu_only_torch_names_the_device(tmp_path, corpus_dir, capsys):
    save_config(tiny_config(device="cuda"), tmp_path / "cuda.toml")
    code = cli.main([str(corpus_dir), "--config", str(tmp_path / "cuda.toml"), "--runs-dir", str(tmp_path / "r")])
    assert code == 2
    err = capsys.readouterr().err
    assert 'device = "cuda"' in err and "CUDA is not available" in err


# -- nothing from a hostile file runs ---------------------------------------------------------
@pytest.mark.fault("code_execution")
@pytest.mark.parametrize("where", ["checkpoint", "config"])
def test_a_pickle_that_would_run_code_is_refused_without_running_it(tmp_path, where):
    """A torch.save / pickle file whose unpickling would create a file, placed where Distill reads a
    checkpoint or a config: refused with the engine's error, the file never created."""
    import pickle

    marker = tmp_path / "code-ran"

    class RunsCode:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    payload = pickle.dumps({"model": RunsCode()})
    if where == "checkpoint":
        path = tmp_path / "epoch-00001-step-00000001.safetensors"
        path.write_bytes(payload)
        with pytest.raises(CheckpointError):
            load_checkpoint(path)
        assert list_checkpoints(tmp_path) == []
    else:
        path = tmp_path / "config.toml"
        path.write_bytes(payload)
        with pytest.raises(ConfigError):
            load_config(path)
    assert not marker.exists()
