"""A run folder copied while its writer writes (what rsync of a live run on another machine gives):
it opens, shows every step committed before the copy, and reads as running while the writer's
heartbeat is fresh, interrupted once it is not, and its final status once a copy brings it."""
import shutil
import sqlite3
import threading

import numpy as np

from distill_engine.runs import schema
from distill_engine.runs.reader import list_runs, open_run
from distill_engine.runs.writer import create_run


def copy_run_folder(live, copy):
    """The README's order: the write-ahead log first, then the database; no lock, no -shm."""
    copy.mkdir(parents=True, exist_ok=True)
    if (live / "run.sqlite-wal").exists():
        shutil.copyfile(live / "run.sqlite-wal", copy / "run.sqlite-wal.tmp")
        (copy / "run.sqlite-wal.tmp").replace(copy / "run.sqlite-wal")  # rsync renames into place
    else:
        (copy / "run.sqlite-wal").unlink(missing_ok=True)
    shutil.copyfile(live / "run.sqlite", copy / "run.sqlite.tmp")
    (copy / "run.sqlite.tmp").replace(copy / "run.sqlite")


def committed_steps(run_dir) -> int:
    with open_run(run_dir) as run:
        return len(run.metric("train_loss", "step")[0])


def read_from_another_machine(monkeypatch):
    """From now on read as the watching machine would: the run's writer is on another host."""
    monkeypatch.setattr(schema, "this_host", lambda: "watching-machine")


def test_a_run_copied_mid_write_opens_with_every_step_up_to_the_copy(tmp_path, monkeypatch):
    writer = create_run(tmp_path / "gpu-box", "live", "/corpus", 1)
    read_from_another_machine(monkeypatch)
    live, copy = writer.run_dir, tmp_path / "laptop" / writer.run_dir.name
    stop, step = threading.Event(), [0]

    def train():  # steps as fast as the writer takes them, committed in batches by its thread
        while not stop.is_set():
            step[0] += 1
            writer.log_step({"step": step[0], "epoch": 1, "train_loss": 1.0 / step[0], "kl_loss": 0.5})
            if step[0] % 500 == 0:
                writer.log_event("checkpoint", {"step": step[0]}, epoch=1, step=step[0])
                writer.flush()

    def checkpoint_the_log():  # as SQLite's automatic checkpoints do, but often: the log restarts
        db = sqlite3.connect(live / "run.sqlite", timeout=30)
        while not stop.wait(0.1):
            db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        db.close()

    threads = [threading.Thread(target=train), threading.Thread(target=checkpoint_the_log)]
    for thread in threads:
        thread.start()
    try:
        copies = 0
        while copies < 6:
            before = committed_steps(live)
            if before < 2000 * (copies + 1):
                stop.wait(0.05)
                continue
            copy_run_folder(live, copy)
            after = committed_steps(live)
            copies += 1
            with open_run(copy) as run:
                steps, losses = run.metric("train_loss", "step")
                assert before <= len(steps) <= after  # everything committed before the copy
                assert np.array_equal(steps, np.arange(1, len(steps) + 1))
                assert np.allclose(losses, 1.0 / steps)
                assert run.status == "running"  # the heartbeat in the copy is fresh
                assert all(e.step % 500 == 0 for e in run.events("checkpoint"))
            db = sqlite3.connect(f"file:{copy / 'run.sqlite'}?mode=ro", uri=True)
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            db.close()
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    monkeypatch.setattr(schema, "HEARTBEAT_FRESH_S", 0.0)  # as if the writer fell silent long ago
    with open_run(copy) as run:
        assert run.status == "interrupted"
    writer.close("completed")
    copy_run_folder(live, copy)
    (summary,) = list_runs(copy.parent)
    assert summary.status == "completed"
    with open_run(copy) as run:
        assert len(run.metric("train_loss", "step")[0]) == step[0]


def test_following_a_copy_sees_each_new_copy(tmp_path, monkeypatch):
    """rsync replaces the files by renaming: an open Run reads the new copy, not the old file."""
    writer = create_run(tmp_path / "gpu-box", "live", "/corpus", 1)
    read_from_another_machine(monkeypatch)
    live, copy = writer.run_dir, tmp_path / "laptop" / writer.run_dir.name
    try:
        for s in range(1, 11):
            writer.log_step({"step": s, "epoch": 1, "train_loss": 1.0 / s})
        writer.flush()
        copy_run_folder(live, copy)
        with open_run(copy) as run:
            assert len(run.metrics_since(0, ["train_loss"])[0]) == 10
            for s in range(11, 31):
                writer.log_step({"step": s, "epoch": 1, "train_loss": 1.0 / s})
            writer.log_epoch({"epoch": 1, "step": 30, "val_loss": 0.5})
            writer.flush()
            copy_run_folder(live, copy)
            steps, _ = run.metrics_since(10, ["train_loss"])
            assert list(steps) == list(range(11, 31))
            assert run.summary().epochs_done == 1
    finally:
        writer.close("completed")
