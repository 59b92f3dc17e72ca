"""The run store: real SQLite files in tmp_path, real writer threads and processes."""
from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from distill_engine.runs import writer as store
from distill_engine.errors import RunStoreError
from distill_engine.runs.step_blocks import read_step_blocks
from support import log_demo_run

from distill_engine.runs.writer import (
    EPOCH_METRICS, STEP_METRICS, RunWriter, create_run, default_runs_dir, list_runs, open_run,
)

REPO = Path(__file__).resolve().parents[2]


def wait_until(predicate, timeout=10.0, interval=0.02):
    """Poll `predicate` until true; fail the test with a message after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(interval)


def run_python(code: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO,
                          capture_output=True, text=True, timeout=60, **kwargs)


@pytest.fixture
def runs_dir(tmp_path):
    return tmp_path / "runs"


def test_round_trip_reads_back_what_was_logged(runs_dir):
    writer = create_run(runs_dir, "Piano: soft take", "/corpus/piano", total_epochs=3)
    log_demo_run(writer)
    writer.log_event("divergence", {"metric": "kl_loss", "ratio": 4.5}, epoch=2, step=17)
    writer.log_event("checkpoint", {"path": "checkpoints/e1.safetensors"}, epoch=1)
    writer.write_json("corpus_report.json", {"files": 12, "seconds": 93.5})
    writer.close("completed", "all epochs done")

    run = open_run(writer.run_dir)
    assert writer.run_dir.parent == runs_dir and writer.run_dir.name.endswith("-piano-soft-take")
    assert (run.id, run.name, run.corpus_path) == (writer.run_dir.name, "Piano: soft take",
                                                   "/corpus/piano")
    assert run.total_epochs == 3 and run.parent_run is None
    assert (run.status, run.status_reason) == ("completed", "all epochs done")
    steps, loss = run.metric("train_loss")
    assert steps.dtype == np.int64 and loss.dtype == np.float64
    assert steps.tolist() == list(range(30))
    assert loss.tolist() == [1.0 / (s + 1) for s in range(30)]
    epochs, val = run.metric("val_loss")
    assert epochs.tolist() == [1, 2, 3] and val.tolist() == [0.9, 0.5, 0.7]
    assert [(e.kind, e.epoch, e.step, e.payload) for e in run.events()] == [
        ("divergence", 2, 17, {"metric": "kl_loss", "ratio": 4.5}),
        ("checkpoint", 1, None, {"path": "checkpoints/e1.safetensors"})]
    assert [e.kind for e in run.events("checkpoint")] == ["checkpoint"]
    assert run.corpus_report == {"files": 12, "seconds": 93.5}
    assert run.checkpoints() == []

    summary = run.summary()
    assert (summary.status, summary.epochs_done, summary.best_val_loss) == ("completed", 3, 0.5)
    assert summary.duration_s is not None and summary.duration_s >= 0
    assert summary.error is None
    assert list_runs(runs_dir) == [summary]
    run.close()


def test_numpy_scalars_are_stored_as_numbers(runs_dir):
    with create_run(runs_dir, "np", "/c", 1) as writer:
        writer.log_step({"step": np.int64(1), "epoch": np.int32(0), "train_loss": np.float32(0.25),
                         "grad_norm": np.float64(2.5)})
        writer.log_event("note", {"value": np.float32(0.5), "shape": np.array([2, 3])})
    with open_run(writer.run_dir) as run:
        assert run.metric("train_loss")[1].tolist() == [0.25]
        assert run.metric("grad_norm")[1].tolist() == [2.5]
        assert run.events()[0].payload == {"value": 0.5, "shape": [2, 3]}
        assert run.status == "completed"


def test_config_is_read_from_config_toml_and_none_without_it(runs_dir):
    from distill_engine.config.schema import TrainingConfig, save_config

    with create_run(runs_dir, "cfg", "/c", 1) as writer:
        pass
    with open_run(writer.run_dir) as run:
        assert run.config is None and run.corpus_report is None
        save_config(TrainingConfig(), writer.config_path)
        assert run.config == TrainingConfig()


def test_checkpoints_is_empty_when_the_checkpoints_module_is_missing(runs_dir, monkeypatch):
    with create_run(runs_dir, "ck", "/c", 1) as writer:
        pass
    monkeypatch.setitem(sys.modules, "distill_engine.checkpoints", None)  # import fails
    with open_run(writer.run_dir) as run:
        assert run.checkpoints() == []


# -- metric() ---------------------------------------------------------------------------------
def test_metric_reads_step_or_epoch_tables(runs_dir):
    with create_run(runs_dir, "m", "/c", 3) as writer:
        log_demo_run(writer)
    with open_run(writer.run_dir) as run:
        steps, per_step = run.metric("train_loss")  # in both tables: per=None takes steps
        assert len(steps) == 30
        epochs, per_epoch = run.metric("train_loss", per="epoch")
        assert epochs.tolist() == [1, 2, 3] and per_epoch.tolist() == [1.0, 0.5, 1.0 / 3]
        assert run.metric("val_loss")[0].tolist() == [1, 2, 3]  # only an epoch metric
        with pytest.raises(KeyError) as info:
            run.metric("val_loss", per="step")
        assert "val_loss" in str(info.value)
        assert run.metric_names() == ["train_loss", "kl_loss", "learning_rate"]
        assert run.metric_names("epoch") == ["train_loss", "val_loss"]
        with pytest.raises(ValueError):
            run.metric("train_loss", per="batch")


def test_metric_keeps_the_steps_of_a_run_that_logs_every_nth_step(runs_dir):
    with create_run(runs_dir, "strided", "/c", 1) as writer:
        for step in (30, 0, 10, 20, 1000):  # out of order, with gaps
            writer.log_step({"step": step, "train_loss": step / 10})
    with open_run(writer.run_dir) as run:
        steps, loss = run.metric("train_loss")
        assert steps.tolist() == [0, 10, 20, 30, 1000]
        assert loss.tolist() == [0.0, 1.0, 2.0, 3.0, 100.0]
        steps, missing = run.metric("grad_norm")
        assert steps.tolist() == [0, 10, 20, 30, 1000] and np.isnan(missing).all()
        assert [len(a) for a in run.metric("val_loss")] == [0, 0]  # no epoch yet: empty, no error


def test_unknown_metric_raises_keyerror_listing_the_available_names(runs_dir):
    with create_run(runs_dir, "m", "/c", 3) as writer:
        log_demo_run(writer)
    with open_run(writer.run_dir) as run, pytest.raises(KeyError) as info:
        run.metric("train_los")
    message = str(info.value)
    assert "train_los" in message and "kl_loss" in message and "val_loss" in message


def test_known_metric_never_logged_reads_as_nan(runs_dir):
    with create_run(runs_dir, "m", "/c", 3) as writer:
        log_demo_run(writer)
    with open_run(writer.run_dir) as run:
        steps, values = run.metric("stft_loss")
        assert len(steps) == 30 and np.isnan(values).all()
        assert "stft_loss" in STEP_METRICS and "val_mrstft_distance" in EPOCH_METRICS


def test_metric_first_logged_mid_run_adds_a_column(runs_dir):
    writer = create_run(runs_dir, "grow", "/c", 1)
    for step in range(5):
        writer.log_step({"step": step, "train_loss": 1.0})
    writer.flush()
    run = open_run(writer.run_dir)  # opened before the column exists
    assert "my_new_metric" not in run.metric_names()
    for step in range(5, 8):
        writer.log_step({"step": step, "train_loss": 1.0, "my_new_metric": step * 2.0})
    writer.log_step({"step": 8, "train_loss": float("nan")})  # NaN reads back as NaN
    writer.flush()
    steps, values = run.metric("my_new_metric")
    assert steps.tolist() == list(range(9))
    assert np.isnan(values[:5]).all() and values[5:8].tolist() == [10.0, 12.0, 14.0]
    assert np.isnan(values[8]) and np.isnan(run.metric("train_loss")[1][8])
    since, series = run.metrics_since(6, ["train_loss", "my_new_metric", "grad_norm"])
    assert since.tolist() == [7, 8]
    assert series["my_new_metric"][0] == 14.0 and np.isnan(series["grad_norm"]).all()
    with pytest.raises(ValueError, match="Bad-Name"):
        writer.log_step({"step": 9, "Bad-Name": 1.0})
    with pytest.raises(ValueError, match="step"):
        writer.log_step({"train_loss": 1.0})
    writer.close("completed")
    run.close()


# -- concurrency ------------------------------------------------------------------------------
def test_reader_in_another_process_sees_rows_while_the_writer_runs(runs_dir):
    writer = create_run(runs_dir, "live", "/c", 1)
    reader = """
        import sys
        from distill_engine.runs.writer import open_run
        for line in sys.stdin:  # one read per line received
            with open_run(sys.argv[1]) as run:
                print(run.status, len(run.metric("train_loss")[0]), flush=True)
    """
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(reader), str(writer.run_dir)],
                            cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        for batch in range(2):
            for step in range(batch * 100, (batch + 1) * 100):
                writer.log_step({"step": step, "train_loss": 0.5})
            writer.flush()  # still writing: no close
            proc.stdin.write("read\n")
            proc.stdin.flush()
            assert proc.stdout.readline().split() == ["running", str((batch + 1) * 100)]
    finally:
        proc.stdin.close()
        assert proc.wait(timeout=60) == 0
        proc.stdout.close()
        writer.close("completed")


def test_a_reader_querying_in_a_loop_does_not_block_the_writer(runs_dir):
    writer = create_run(runs_dir, "busy", "/c", 1)
    seen, errors, stop = [], [], threading.Event()

    def read_loop():
        try:
            with open_run(writer.run_dir) as run:
                while not stop.is_set():
                    seen.append(len(run.metric("train_loss")[0]))
                    run.status, run.events()
        except Exception as exc:  # reported below, not swallowed
            errors.append(exc)

    thread = threading.Thread(target=read_loop)
    thread.start()
    try:
        for step in range(20_000):
            writer.log_step({"step": step, "train_loss": 1.0, "kl_loss": 2.0})
            if step % 5000 == 4999:
                writer.flush()  # must not wait on the reader
    finally:
        writer.close("completed")
        wait_until(lambda: len(seen) > 0 and seen[-1] == 20_000 or bool(errors))
        stop.set()
        thread.join()
    assert errors == []
    assert seen == sorted(seen)  # rows appear, never disappear
    with open_run(writer.run_dir) as run:
        assert len(run.metric("kl_loss")[0]) == 20_000


def test_rows_flushed_before_kill_9_survive_and_the_run_reads_interrupted(runs_dir):
    script = f"""
        import time
        from distill_engine.runs.writer import create_run
        w = create_run({str(runs_dir)!r}, "killed", "/c", 10)
        for step in range(1500):
            w.log_step({{"step": step, "epoch": step // 500, "train_loss": step * 0.5}})
        w.log_epoch({{"epoch": 1, "val_loss": 0.25}})
        w.flush()
        print(w.run_dir, flush=True)
        print("ready", flush=True)
        time.sleep(60)
    """
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        run_dir = Path(proc.stdout.readline().strip())
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        assert open_run(run_dir).status == "running"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()
    db = sqlite3.connect(f"file:{run_dir / 'run.sqlite'}?mode=ro", uri=True)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.execute("BEGIN")
    blocks = read_step_blocks(db, -1, ["train_loss"])  # committed with the rows, so intact
    db.close()
    assert blocks is not None and blocks[1][0].tolist() == [step * 0.5 for step in range(1500)]
    with open_run(run_dir) as run:
        steps, loss = run.metric("train_loss")
        assert steps.tolist() == list(range(1500)) and loss[-1] == 1499 * 0.5
        assert run.metric("val_loss")[1].tolist() == [0.25]
        assert run.status == "interrupted"
    assert [s.status for s in list_runs(runs_dir)] == ["interrupted"]


def test_a_writer_never_closed_marks_the_run_interrupted_at_exit(runs_dir):
    result = run_python(f"""
        from distill_engine.runs.writer import create_run
        w = create_run({str(runs_dir)!r}, "forgotten", "/c", 1)
        w.log_step({{"step": 1, "train_loss": 0.5}})
        print(w.run_dir)
    """)
    assert result.returncode == 0, result.stderr
    with open_run(result.stdout.strip()) as run:
        assert run.status == "interrupted" and "without closing" in run.status_reason
        assert run.metric("train_loss")[1].tolist() == [0.5]


def test_open_writer_reads_running_and_close_sets_the_final_status(runs_dir):
    writer = create_run(runs_dir, "same", "/c", 1)
    run = open_run(writer.run_dir)
    assert run.status == "running"
    writer.set_status("diverged-stopped", "kl_loss exploded")
    wait_until(lambda: run.status == "diverged-stopped")  # committed promptly
    assert run.status_reason == "kl_loss exploded"
    writer.close()  # keeps the last status set
    assert (run.status, run.status_reason) == ("diverged-stopped", "kl_loss exploded")
    run.close()


def test_context_manager_records_a_crash_as_failed(runs_dir):
    with pytest.raises(ZeroDivisionError):
        with create_run(runs_dir, "crash", "/c", 1) as writer:
            writer.log_step({"step": 0, "train_loss": 1.0})
            1 / 0
    with open_run(writer.run_dir) as run:
        assert run.status == "failed" and "ZeroDivisionError" in run.status_reason
        assert run.metric("train_loss")[1].tolist() == [1.0]


def test_reopen_continues_a_run_and_relogged_steps_replace_old_ones(runs_dir):
    writer = create_run(runs_dir, "resume", "/c", 4)
    for step in range(10):
        writer.log_step({"step": step, "train_loss": 1.0})
    with pytest.raises(RunStoreError, match="another process"):
        RunWriter.reopen(writer.run_dir)  # the first writer still holds the lock
    writer.close("stopped")

    resumed = RunWriter.reopen(writer.run_dir)
    with open_run(writer.run_dir) as run:
        assert run.status == "running"
        for step in range(8, 12):
            resumed.log_step({"step": step, "train_loss": 2.0})
        resumed.close("completed")
        steps, loss = run.metric("train_loss")
        assert steps.tolist() == list(range(12))
        assert loss.tolist() == [1.0] * 8 + [2.0] * 4
        assert run.status == "completed"


def test_run_written_on_another_host_uses_the_heartbeat(runs_dir):
    with create_run(runs_dir, "synced", "/c", 1) as writer:
        pass
    db = sqlite3.connect(writer.run_dir / "run.sqlite")

    def set_meta(**values):
        db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", values.items())
        db.commit()

    with open_run(writer.run_dir) as run:
        set_meta(status="running", hostname="another-machine", heartbeat=str(time.time() - 5))
        assert run.status == "running"
        set_meta(heartbeat=str(time.time() - 600))
        assert run.status == "interrupted"
    db.close()


# -- names, statuses, folders -----------------------------------------------------------------
def test_runs_created_in_the_same_second_get_distinct_folders(runs_dir, monkeypatch):
    monkeypatch.setattr(store.time, "strftime", lambda fmt: "20250102-030405")
    names = []
    for _ in range(3):
        with create_run(runs_dir, "Same Name!", "/c", 1) as writer:
            names.append(writer.run_dir.name)
    assert names == ["20250102-030405-same-name", "20250102-030405-same-name-2",
                     "20250102-030405-same-name-3"]


def test_write_json_replaces_the_file_and_leaves_no_temporary(runs_dir):
    with create_run(runs_dir, "j", "/c", 1) as writer:
        writer.write_json("corpus_report.json", {"files": 1})
        writer.write_json("corpus_report.json", {"files": 2})
        with pytest.raises(ValueError):
            writer.write_json("../escape.json", {})
    assert sorted(p.name for p in writer.run_dir.iterdir() if p.suffix in (".json", ".tmp")) == \
        ["corpus_report.json"]
    with open_run(writer.run_dir) as run:
        assert run.corpus_report == {"files": 2}


def test_default_runs_dir_honours_distill_data_dir(isolated_dirs, monkeypatch):
    data, _ = isolated_dirs
    assert default_runs_dir() == data / "runs"
    monkeypatch.delenv("DISTILL_DATA_DIR")
    assert default_runs_dir().name == "runs" and "distill" in str(default_runs_dir()).lower()
