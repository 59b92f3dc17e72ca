"""Bad input to the run store: invalid statuses and values, foreign folders, damaged or newer
databases, older schemas.

Reading never modifies the user's files (each case compares bytes and mtimes before and after).
"""
from __future__ import annotations

import math
import sqlite3

import numpy as np
import pytest
from support import log_demo_run, snapshot

from distill_engine.runs import writer as store
from distill_engine.errors import RunStoreError
from distill_engine.runs.writer import RunWriter, create_run, list_runs, open_run


@pytest.fixture
def runs_dir(tmp_path):
    return tmp_path / "runs"


def test_reading_a_folder_that_is_not_a_run_names_it(tmp_path):
    plain = tmp_path / "holiday photos"
    plain.mkdir()
    with pytest.raises(RunStoreError, match="holiday photos.*not a Distill run folder"):
        open_run(plain)
    with pytest.raises(RunStoreError, match="missing"):
        open_run(tmp_path / "missing")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(RunStoreError, match="file.txt"):
        open_run(tmp_path / "file.txt")


def test_a_corrupted_database_is_reported_and_left_untouched(runs_dir):
    with create_run(runs_dir, "corrupt", "/c", 1) as writer:
        log_demo_run(writer)
    db = writer.run_dir / "run.sqlite"
    db.write_bytes(np.random.default_rng(0).bytes(8192))
    for sidecar in writer.run_dir.glob("run.sqlite-*"):
        sidecar.unlink()
    before = snapshot(writer.run_dir)
    with pytest.raises(RunStoreError, match=r"corrupt.*damaged: file is not a database"):
        open_run(writer.run_dir)
    [summary] = list_runs(runs_dir)
    assert summary.status == "unreadable" and "damaged" in summary.error
    assert snapshot(writer.run_dir) == before


def test_a_database_from_a_newer_distill_asks_to_upgrade(runs_dir):
    with create_run(runs_dir, "future", "/c", 1) as writer:
        pass
    db = sqlite3.connect(writer.run_dir / "run.sqlite")
    db.execute("UPDATE meta SET value = '7' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    with pytest.raises(RunStoreError, match=r"future.*newer Distill \(schema 7\); upgrade"):
        open_run(writer.run_dir)
    with pytest.raises(RunStoreError, match="newer Distill"):
        RunWriter.reopen(writer.run_dir)
    [summary] = list_runs(runs_dir)
    assert summary.status == "unreadable" and "schema 7" in summary.error


def test_list_runs_newest_first_with_broken_runs_and_without_other_folders(runs_dir, monkeypatch):
    assert list_runs(runs_dir) == []  # the folder does not exist yet
    for stamp, name in (("20250101-000000", "old"), ("20250301-000000", "new")):
        monkeypatch.setattr(store.time, "strftime", lambda fmt, s=stamp: s)
        with create_run(runs_dir, name, "/c", 1) as writer:
            writer.log_epoch({"epoch": 1, "val_loss": 0.5})
    monkeypatch.undo()
    broken = runs_dir / "20250201-000000-broken"
    broken.mkdir()
    (broken / "run.sqlite").write_bytes(b"not sqlite at all" * 100)
    (runs_dir / "notes").mkdir()
    (runs_dir / "stray.txt").write_text("x")
    summaries = list_runs(runs_dir)
    assert {s.run_dir.name: s.status for s in summaries} == {
        "20250101-000000-old": "completed", "20250301-000000-new": "completed",
        "20250201-000000-broken": "unreadable"}
    readable = [s.name for s in summaries if s.error is None]
    assert readable == ["new", "old"]  # newest first


def test_an_older_schema_reads_with_defaults(tmp_path):
    run_dir = tmp_path / "20240101-000000-old-schema"
    run_dir.mkdir()
    db = sqlite3.connect(run_dir / "run.sqlite")
    db.executescript("""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
        INSERT INTO meta VALUES ('schema_version', '1'), ('name', 'old one'),
                                ('status', 'completed');
        CREATE TABLE step_metrics (step INTEGER PRIMARY KEY, epoch INTEGER, wall_time REAL,
                                   train_loss REAL);
        INSERT INTO step_metrics VALUES (1, 0, 100.0, 0.5), (2, 0, 101.0, NULL),
                                        (3, 0, 104.0, 0.25);
        CREATE TABLE epoch_metrics (epoch INTEGER PRIMARY KEY, step INTEGER, wall_time REAL);
        INSERT INTO epoch_metrics VALUES (1, 3, 104.0);
    """)
    db.close()
    with open_run(run_dir) as run:
        assert (run.name, run.id, run.corpus_path, run.total_epochs) == (
            "old one", run_dir.name, "", None)
        steps, loss = run.metric("train_loss")
        assert steps.tolist() == [1, 2, 3] and loss[0] == 0.5 and math.isnan(loss[1])
        steps, grad = run.metric("grad_norm")
        assert steps.tolist() == [1, 2, 3] and np.isnan(grad).all()
        epochs, dist = run.metric("val_mrstft_distance")
        assert epochs.tolist() == [1] and np.isnan(dist).all()
        assert run.events() == [] and run.status == "completed"
        summary = run.summary()
    assert (summary.epochs_done, summary.best_val_loss, summary.duration_s) == (1, None, 4.0)
    assert [s.name for s in list_runs(tmp_path)] == ["old one"]


def test_invalid_status_is_rejected(runs_dir):
    with create_run(runs_dir, "s", "/c", 1) as writer:
        with pytest.raises(ValueError, match="finished"):
            writer.set_status("finished")
        with pytest.raises(ValueError):
            writer.close("done")
    with open_run(writer.run_dir) as run:
        assert run.status == "completed"


def test_a_value_that_is_not_a_number_fails_the_next_call_with_the_run_named(runs_dir):
    writer = create_run(runs_dir, "bad value", "/c", 1)
    writer.log_step({"step": 0, "train_loss": 1.0})
    writer.flush()
    writer.log_step({"step": 1, "train_loss": "oops"})
    with pytest.raises(RunStoreError, match="bad-value.*oops"):
        writer.flush()
    with pytest.raises(RunStoreError):
        writer.log_step({"step": 2, "train_loss": 1.0})
    with pytest.raises(RunStoreError):
        writer.close("completed")
    with open_run(writer.run_dir) as run:  # what was committed before stays readable
        assert run.metric("train_loss")[1].tolist() == [1.0]
        assert run.status == "failed"  # close() recorded why, through a fresh connection
        assert "run.sqlite failed" in run.status_reason and "oops" in run.status_reason
    RunWriter.reopen(writer.run_dir).close("failed", "bad value")
