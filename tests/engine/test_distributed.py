"""Data-parallel training under torchrun: 2 CPU processes on gloo, one thread each.

Every test launches the real `torchrun` (torch.distributed.run) on the real CLI or on
distributed_probe.py, and reads what rank 0 wrote with the ordinary run reader.
"""
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from distill_engine.checkpoints.format import load_checkpoint
from distill_engine.config.schema import save_config
from distill_engine.runs.reader import list_runs, open_run
from support import one_thread_environment, tiny_config, worker_pid
from support import torchrun_command as torchrun

PROBE = Path(__file__).with_name("distributed_probe.py")
START_UP_S = 240  # generous: process start-up and rendezvous on a loaded 2-core machine

pytestmark = pytest.mark.skipif(not torch.distributed.is_available() or sys.platform == "win32",
                                reason="needs torch.distributed with gloo (Linux/macOS)")


def run(command, timeout=START_UP_S * 2):
    done = subprocess.run(command, env=one_thread_environment(), capture_output=True, text=True, timeout=timeout)
    return done.returncode, done.stdout + done.stderr


def start(command):
    """The launcher in its own process group, as a terminal's foreground job: Ctrl-C reaches the group."""
    return subprocess.Popen(command, env=one_thread_environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)


def wait_for_steps(runs_dir: Path, steps: int, process) -> Path:
    """The run folder, once its store holds `steps` step rows (the run is under way)."""
    deadline = time.monotonic() + START_UP_S
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read()
        runs = list_runs(runs_dir)
        if runs:
            with open_run(runs[0].run_dir) as found:
                if len(found.metric("train_loss", "step")[0]) >= steps:
                    return runs[0].run_dir
        time.sleep(0.2)
    process.kill()
    pytest.fail(f"no {steps} steps within {START_UP_S} s: {process.communicate()[0]}")


def checkpoint_events(run_dir):
    with open_run(run_dir) as found:
        return [e.payload for e in found.events("checkpoint")]


@pytest.fixture
def config_file(tmp_path):
    def write(**overrides):
        path = tmp_path / "tiny.toml"
        save_config(tiny_config(**overrides), path)
        return path
    return write


def test_two_processes_train_one_run_that_reads_like_any_other_and_resumes(tmp_path, corpus_dir, config_file):
    runs = tmp_path / "runs"
    code, out = run(torchrun("-m", "distill_engine", str(corpus_dir), "--config", str(config_file()),
                             "--runs-dir", str(runs)))
    assert code == 0, out
    assert out.count("Starting run") == 1  # rank 0 alone reports
    assert "on 2 processes" in out and "batch 4 per process, 8 in all" in out
    (summary,) = list_runs(runs)  # one run folder, rank 0's
    assert summary.status == "completed" and summary.epochs_done == 3
    with open_run(summary.run_dir) as found:
        steps, losses = found.metric("train_loss", "step")
        assert list(steps) == [1, 2, 3]  # 8 training chunks / (4 per process x 2) = 1 step per epoch
        assert np.isfinite(found.metric("val_loss", "epoch")[1]).all()
        assert found.world_size == 2 and len(found.devices) == 2
        assert all(d.startswith("cpu on ") for d in found.devices)
    written = {p.name for p in summary.run_dir.iterdir()} - {"run.sqlite-wal", "run.sqlite-shm"}
    assert written == {"checkpoints", "config.toml", "corpus_report.json", "run.lock", "run.sqlite"}

    code, out = run(torchrun("-m", "distill_engine", "--resume", str(summary.run_dir), "--epochs", "4"))
    assert code == 0, out
    assert "Resuming run" in out
    code, out = run([sys.executable, "-m", "distill_engine", "--resume", str(summary.run_dir), "--epochs", "5"],
                    timeout=START_UP_S)
    assert code == 0, out  # one process continues a 2-process run (an epoch boundary: nothing to say)
    assert "Note:" not in out
    with open_run(summary.run_dir) as found:
        assert found.status == "completed"
        assert list(found.metric("train_loss", "epoch")[0]) == [1, 2, 3, 4, 5]
        steps = list(found.metric("train_loss", "step")[0])
        assert steps == [1, 2, 3, 4, 5, 6]  # one process: 8 chunks / 4 = 2 steps in epoch 5
        assert found.world_size == 1


def test_one_step_on_two_processes_has_the_gradients_of_one_process_with_both_batches(tmp_path, corpus_dir):
    """2 x batch 4 vs 1 x batch 8, the same 8 examples, the noise fixed per example (float32)."""
    single = start([sys.executable, str(PROBE), str(corpus_dir), str(tmp_path / "one"), str(tmp_path / "one.st"),
                    "--batch", "8", "--epochs", "1", "--clip", "1e9"])
    code, out = run(torchrun(str(PROBE), str(corpus_dir), str(tmp_path / "two"), str(tmp_path / "two.st"),
                             "--batch", "4", "--epochs", "1", "--clip", "1e9"))
    assert code == 0, out
    # Each rank left the group and dropped its DistributedDataParallel wrapper before exiting
    # (freed in the interpreter's teardown instead, a rank aborted now and then: SIGABRT).
    assert out.count("probe completed at step 1; group left, wrapper dropped: True") == 2, out
    assert single.wait(START_UP_S) == 0, single.stdout.read()
    one, two = load_file(tmp_path / "one.st"), load_file(tmp_path / "two.st")
    assert one.keys() == two.keys()
    for name in one:
        scale = float(one[name].abs().max())
        assert scale > 0, name
        assert float((one[name] - two[name]).abs().max()) <= 1e-5 * scale, name


def test_twenty_steps_on_two_processes_stay_with_one_process(tmp_path, corpus_dir):
    """20 steps (10 epochs of 2), float64, learning rate 1e-4: step losses and weights agree."""
    args = ("--epochs", "10", "--float64", "--lr", "1e-4")
    single = start([sys.executable, str(PROBE), str(corpus_dir), str(tmp_path / "one"), str(tmp_path / "one.st"),
                    "--batch", "4", *args])
    code, out = run(torchrun(str(PROBE), str(corpus_dir), str(tmp_path / "two"), str(tmp_path / "two.st"),
                             "--batch", "2", *args))
    assert code == 0, out
    assert single.wait(START_UP_S) == 0, single.stdout.read()
    (one,), (two,) = list_runs(tmp_path / "one"), list_runs(tmp_path / "two")
    with open_run(one.run_dir) as a, open_run(two.run_dir) as b:
        (steps_a, loss_a), (steps_b, loss_b) = a.metric("train_loss", "step"), b.metric("train_loss", "step")
    assert list(steps_a) == list(steps_b) == list(range(1, 21))
    assert np.max(np.abs(loss_a - loss_b) / loss_a) < 1e-9
    end_a = load_checkpoint(sorted((one.run_dir / "checkpoints").glob("epoch-*"))[-1])
    end_b = load_checkpoint(sorted((two.run_dir / "checkpoints").glob("epoch-*"))[-1])
    moved = max(float((end_a.model_state[k]).abs().max()) for k in end_a.model_state)
    assert moved > 0
    for name, weights in end_a.model_state.items():
        assert float((weights - end_b.model_state[name]).abs().max()) < 1e-9, name


def test_a_killed_rank_ends_the_other_and_the_run_reads_interrupted_and_resumes(tmp_path, corpus_dir, config_file):
    runs = tmp_path / "runs"
    launcher = start(torchrun("-m", "distill_engine", str(corpus_dir), "--runs-dir", str(runs),
                              "--config", str(config_file(epochs=500, batch_size=1))))
    run_dir = wait_for_steps(runs, 10, launcher)  # 4 steps per epoch: checkpoints behind it
    rank0, rank1 = worker_pid(launcher.pid, 0), worker_pid(launcher.pid, 1)
    os.kill(rank1, signal.SIGKILL)
    out = launcher.communicate(timeout=60)[0]  # raises TimeoutExpired if rank 0 hangs
    assert launcher.returncode != 0, out
    assert not Path(f"/proc/{rank0}").exists() or "zombie" in Path(f"/proc/{rank0}/status").read_text()
    db = sqlite3.connect(run_dir / "run.sqlite")
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()
    with open_run(run_dir) as found:
        assert found.status == "interrupted"
        done = max(found.metric("train_loss", "epoch")[0])
    code, out = run([sys.executable, "-m", "distill_engine", "--resume", str(run_dir), "--epochs", str(done + 2)],
                    timeout=START_UP_S)
    assert code == 0, out
    with open_run(run_dir) as found:
        assert found.status == "completed"
        assert max(found.metric("train_loss", "epoch")[0]) == done + 2


def the_one_stop_checkpoint(run_dir: Path):
    """The run's single stop checkpoint event, written at its last stored step: (event, last step)."""
    (stop,) = [e for e in checkpoint_events(run_dir) if e["reason"] == "stop"]
    with open_run(run_dir) as found:
        assert found.status == "stopped"
        last_step = int(found.metric("train_loss", "step")[0][-1])
    assert stop["step"] == last_step
    return stop, last_step


def start_a_long_run(runs: Path, corpus_dir, config_file):
    """distill-torchrun on 2 processes with 500 epochs to go, once 6 steps are stored: (launcher, run folder)."""
    launcher = start(torchrun("-m", "distill_engine", str(corpus_dir), "--runs-dir", str(runs),
                              "--config", str(config_file(epochs=500, batch_size=1, checkpoint_interval_s=1e9)),
                              launcher="distill_engine.launch"))
    return launcher, wait_for_steps(runs, 6, launcher)


def test_ctrl_c_to_torchrun_stops_both_ranks_with_one_checkpoint_and_exits_130(tmp_path, corpus_dir, config_file):
    launcher, run_dir = start_a_long_run(tmp_path / "runs", corpus_dir, config_file)
    os.killpg(launcher.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: torchrun and every rank get it
    out = launcher.communicate(timeout=120)[0]
    assert "Stopping after this step" in out
    assert "Run stopped: interrupted by Ctrl-C" in out
    assert out.count("Run stopped") == 1  # rank 0 reports
    stop, last_step = the_one_stop_checkpoint(run_dir)
    # Each process exits 130, and so does distill-torchrun (plain torchrun exits 1 on a signal).
    for rank in (0, 1):
        assert f"distill-train rank {rank} of 2: stopped at step {last_step}, exit 130" in out
    assert launcher.returncode == 130, out
    assert "distill-torchrun: stopped by SIGINT" in out and "Traceback" not in out
    assert load_checkpoint(stop["path"]).step == last_step
    # One process continues the 2-process run from the stop, mid-epoch: from the epoch's start.
    code, out = run([sys.executable, "-m", "distill_engine", "--resume", str(run_dir), "--epochs",
                     str(stop["epoch"] + 1)], timeout=START_UP_S)
    assert code == 0, out
    if last_step % 4:  # stopped mid-epoch (4 steps of 1 x 2 processes per epoch)
        assert f"continuing from the start of epoch {stop['epoch'] + 1} (the last epoch boundary)" in out
    with open_run(run_dir) as found:
        assert found.status == "completed"
        assert found.metric("train_loss", "step")[0][-1] > last_step


def rank_process(launcher, rank: int) -> int:
    """The pid of the training process of `rank` under this torchrun launcher (from /proc)."""
    deadline = time.monotonic() + START_UP_S
    while time.monotonic() < deadline:
        for status in Path("/proc").glob("[0-9]*/status"):
            try:
                ppid = int(next(l for l in status.read_text().splitlines() if l.startswith("PPid:")).split()[1])
                environ = (status.parent / "environ").read_bytes().split(b"\0")
            except (OSError, StopIteration, ValueError):
                continue
            if ppid == launcher.pid and f"RANK={rank}".encode() in environ:
                return int(status.parent.name)
        time.sleep(0.2)
    raise AssertionError(f"no process of rank {rank} under torchrun")


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds a rank's process through /proc")
def test_a_stop_request_to_one_rank_stops_every_rank_at_the_same_step_with_one_checkpoint(tmp_path, corpus_dir, config_file):
    launcher, run_dir = start_a_long_run(tmp_path / "runs", corpus_dir, config_file)
    os.kill(rank_process(launcher, 1), signal.SIGTERM)          # only rank 1 is asked to stop
    out = launcher.communicate(timeout=120)[0]
    stop, last_step = the_one_stop_checkpoint(run_dir)
    for rank in (0, 1):
        assert f"distill-train rank {rank} of 2: stopped at step {last_step}" in out, out


def test_a_divergence_stop_ends_every_rank_at_the_same_epoch(tmp_path, corpus_dir, config_file):
    runs = tmp_path / "runs"
    code, out = run(torchrun("-m", "distill_engine", str(corpus_dir), "--runs-dir", str(runs),
                             "--config", str(config_file(epochs=30, learning_rate=0.5)),
                             "--stop-on-divergence", launcher="distill_engine.launch"))
    (summary,) = list_runs(runs)
    with open_run(summary.run_dir) as found:
        assert found.status == "diverged-stopped", out
        last_step = int(found.metric("train_loss", "step")[0][-1])
        epochs = found.metric("train_loss", "epoch")[0]
    assert code == 1 and len(epochs) < 30, out                  # 1: diverged-stopped, as distill-train
    for rank in (0, 1):
        assert f"distill-train rank {rank} of 2: diverged-stopped at step {last_step}, exit 1" in out, out
    assert "Traceback" not in out and "distill_engine FAILED" in out
    assert "Run diverged-stopped: The training loss jumped to" in out   # the spike, not a streak it never had
