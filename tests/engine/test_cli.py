"""`distill-train` as a person runs it: exit codes, Ctrl-C, kill -9 and resume."""
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from distill_engine import load_checkpoint, save_config
from distill_engine.runs.reader import list_runs, open_run
from distill_engine.training.trainer import Trainer


def cli(*args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "distill_engine", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}, **kwargs)


def finish(proc, timeout=120):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def wait_for(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def only_run(runs_dir):
    runs = wait_for(lambda: list_runs(runs_dir))
    return runs[0].run_dir


def test_completed_run_exits_0_and_prints_every_component(tmp_path, corpus_dir, make_config):
    save_config(make_config(epochs=2), tmp_path / "tiny.toml")
    code, out, err = finish(cli(corpus_dir, "--config", tmp_path / "tiny.toml", "--runs-dir", tmp_path / "runs"))
    assert code == 0, err
    assert "STFT weight" in out and "resolution 1" in out
    epoch_lines = [line for line in out.splitlines() if line.startswith("epoch ")]
    assert len(epoch_lines) == 2
    for word in ("train", "stft", "mag", "if", "kl", "val", "mrstft"):
        assert word in epoch_lines[0]
    assert "Run completed" in out and str(tmp_path / "runs") in out


def test_invalid_config_exits_2_with_the_validator_message(tmp_path, corpus_dir):
    bad = tmp_path / "bad.toml"
    bad.write_text("[loss.stft]\nhop_sizes = [128, 300, 512]\nwin_lengths = [512, 256, 2048]\n")
    code, _, err = finish(cli(corpus_dir, "--config", bad, "--runs-dir", tmp_path / "runs"))
    assert code == 2
    assert "loss.stft.hop_sizes[1] = 300: must not exceed loss.stft.win_lengths[1] = 256" in err
    assert not (tmp_path / "runs").exists()


def test_bad_usage_and_unusable_corpus_exit_2(tmp_path):
    assert finish(cli())[0] == 2
    assert finish(cli(tmp_path / "missing", "--runs-dir", tmp_path / "runs"))[0] == 2
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "a.wav").write_text("not audio")
    code, _, err = finish(cli(tmp_path / "texts", "--runs-dir", tmp_path / "runs"))
    assert code == 2 and "a.wav" in err


def test_ctrl_c_stops_with_a_checkpoint_and_exits_130(tmp_path, corpus_dir, make_config):
    save_config(make_config(epochs=10_000, checkpoint_interval_s=3600.0), tmp_path / "long.toml")
    runs = tmp_path / "runs"
    proc = cli(corpus_dir, "--config", tmp_path / "long.toml", "--runs-dir", runs)
    run_dir = only_run(runs)
    wait_for(lambda: len(open_run(run_dir).metric("train_loss")[0]) >= 3)
    proc.send_signal(signal.SIGINT)
    code, out, _ = finish(proc)
    assert code == 130
    run = open_run(run_dir)
    assert run.status == "stopped"
    [checkpoint] = [c for c in run.checkpoints() if not c.is_best]
    assert load_checkpoint(checkpoint.path).step == int(run.metric("train_loss")[0][-1])


def test_kill_9_mid_run_loses_no_committed_row_and_resumes(tmp_path, corpus_dir, make_config):
    save_config(make_config(epochs=10_000), tmp_path / "long.toml")
    runs = tmp_path / "runs"
    proc = cli(corpus_dir, "--config", tmp_path / "long.toml", "--runs-dir", runs)
    run_dir = only_run(runs)
    wait_for(lambda: len(open_run(run_dir).checkpoints()) >= 2 and len(open_run(run_dir).metric("val_loss")[0]) >= 3)
    committed = open_run(run_dir).metric("train_loss")
    proc.kill()
    proc.communicate()
    with sqlite3.connect(run_dir / "run.sqlite") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    run = open_run(run_dir)
    assert run.status == "interrupted"
    steps, values = run.metric("train_loss")
    assert set(committed[0].tolist()) <= set(steps.tolist())
    assert dict(zip(steps.tolist(), values.tolist())).items() >= dict(zip(*[c.tolist() for c in committed])).items()
    latest = max((c for c in run.checkpoints() if not c.is_best), key=lambda c: c.step)
    resume_epochs = load_checkpoint(latest.path).epoch + 1
    result = Trainer.resume(run_dir, epochs=resume_epochs).run()
    assert result.status == "completed" and result.epochs_done == resume_epochs
    assert open_run(run_dir).status == "completed"


@pytest.mark.parametrize("flag", ["--resume"])
def test_resume_from_the_command_line_continues_the_run(tmp_path, corpus_dir, make_config, flag):
    save_config(make_config(epochs=1), tmp_path / "tiny.toml")
    runs = tmp_path / "runs"
    assert finish(cli(corpus_dir, "--config", tmp_path / "tiny.toml", "--runs-dir", runs))[0] == 0
    run_dir = only_run(runs)
    code, out, err = finish(cli(flag, run_dir, "--epochs", 2))
    assert code == 0, err
    assert "Resuming" in out
    assert len(open_run(run_dir).metric("val_loss")[0]) == 2
