"""step_blocks, the columnar copy of step_metrics: what the writer stores, and that reading it gives
exactly what reading the rows gives (real SQLite files in tmp_path, real writer threads)."""
from __future__ import annotations

import json
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

from distill_engine.runs import step_blocks
from distill_engine.runs.reader import open_run
from distill_engine.runs.step_blocks import ALL_STEPS, read_step_blocks
from distill_engine.runs.writer import RunWriter, create_run
from distill_engine.runs.schema import STEP_METRICS, connect_read_only

NAMES = ["train_loss", "recon_loss", "kl_weight", "total_steps", "late_metric", "grad_norm",
         "wall_time", "epoch"]


@pytest.fixture
def runs_dir(tmp_path):
    return tmp_path / "runs"


def blocks_of(run_dir: Path) -> list[tuple]:
    """(first_step, last_step, n, columns, [n, len(columns)] array) per block, in id order."""
    with closing(sqlite3.connect(run_dir / "run.sqlite")) as db:
        rows = db.execute("SELECT first_step, last_step, n, columns, data FROM step_blocks "
                          "ORDER BY id").fetchall()
    return [(f, last, n, json.loads(c), np.frombuffer(d, "<f8").reshape(n, -1))
            for f, last, n, c, d in rows]


def blocks_in_use(run_dir: Path, first=ALL_STEPS) -> bool:
    """True when a reader takes this run's steps >= first from the blocks, not the rows."""
    with closing(connect_read_only(run_dir / "run.sqlite")) as conn:
        conn.execute("BEGIN")
        return read_step_blocks(conn, first, ["train_loss"]) is not None


def rows_only_copy(run_dir: Path, tmp_path: Path) -> Path:
    """A copy of a closed run with step_blocks dropped: the layout before blocks existed."""
    copy = tmp_path / "rows-only" / run_dir.name
    while copy.exists():
        copy = copy.with_name(copy.name + "-again")
    shutil.copytree(run_dir, copy)
    with closing(sqlite3.connect(copy / "run.sqlite")) as db:
        db.execute("DROP TABLE step_blocks")
        db.commit()
    return copy


def assert_same_reads(run_dir: Path, reference: Path, names=NAMES, since=(-1, 0, 3, 17, 40)):
    """Every step read of `run_dir` equals the same read of `reference`, bit for bit."""
    with open_run(run_dir) as run, open_run(reference) as ref:
        stored = set(ref.metric_names("step")) | {"wall_time", "epoch"} | set(STEP_METRICS)
        names = [name for name in names if name in stored]
        for name in names:
            for got, want in zip(run.metric(name, per="step"), ref.metric(name, per="step")):
                assert got.dtype == want.dtype and got.tobytes() == want.tobytes(), name
        for step in since:
            steps, values = run.metrics_since(step, names + ["kl_loss"])
            ref_steps, ref_values = ref.metrics_since(step, names + ["kl_loss"])
            assert steps.dtype == np.int64 and steps.tolist() == ref_steps.tolist(), step
            assert values.keys() == ref_values.keys()
            for name, array in values.items():
                assert array.dtype == np.float64 and array.flags.c_contiguous
                assert array.tobytes() == ref_values[name].tobytes(), (step, name)


def log(writer: RunWriter, steps, loss=1.0, **extra) -> None:
    for step in steps:
        writer.log_step({"step": step, "epoch": step // 10, "train_loss": loss / (step + 1),
                         "recon_loss": None if step % 7 == 3 else -0.0 if step % 5 == 0 else 0.5,
                         "kl_weight": np.float32(step / 30), "total_steps": 2 ** 53 + 1,
                         **extra})
    writer.flush()


def test_each_commit_is_stored_as_one_block_of_float64_rows(runs_dir):
    with create_run(runs_dir, "format", "/c", 1) as writer:
        log(writer, range(0, 2))
        log(writer, range(2, 5), grad_norm=2.0)
    (block,) = blocks_of(writer.run_dir)  # the 3-row batch absorbed the smaller block before it
    first, last, n, columns, data = block
    assert (first, last, n) == (0, 4, 5)
    assert columns[0] == "step" and set(columns) == {
        "step", "epoch", "wall_time", "train_loss", "recon_loss", "kl_weight", "total_steps",
        "grad_norm"}
    column = dict(zip(columns, data.T))
    assert column["step"].tolist() == [0, 1, 2, 3, 4]
    assert column["train_loss"].tolist() == [1.0, 0.5, 1 / 3, 0.25, 0.2]
    assert np.isnan(column["recon_loss"][3]) and not np.signbit(column["recon_loss"][0])
    assert np.isnan(column["grad_norm"][:2]).all() and column["grad_norm"][2:].tolist() == [2.0] * 3
    assert column["total_steps"][0] == 2.0 ** 53  # an int rounded as SQLite's REAL column does


def test_blocks_read_exactly_what_the_rows_read(runs_dir, tmp_path):
    writer = create_run(runs_dir, "same", "/c", 1)
    for start in range(0, 40, 6):  # several commits of several blocks
        log(writer, range(start, min(start + 6, 40)), late_metric=start * 0.1 if start else None)
    writer.close("completed")
    assert blocks_in_use(writer.run_dir) and len(blocks_of(writer.run_dir)) > 1
    assert_same_reads(writer.run_dir, rows_only_copy(writer.run_dir, tmp_path))


def test_a_metric_first_logged_mid_run_reads_nan_before_it_from_blocks(runs_dir, tmp_path):
    with create_run(runs_dir, "grows", "/c", 1) as writer:
        log(writer, range(0, 1500))  # big enough not to be merged with what follows
        log(writer, range(1500, 1510), late_metric=3.0)
    has_late_metric = ["late_metric" in b[3] for b in blocks_of(writer.run_dir)]
    assert has_late_metric[-1] and not has_late_metric[0]
    with open_run(writer.run_dir) as run:
        steps, values = run.metric("late_metric")
        assert steps.tolist() == list(range(1510))
        assert np.isnan(values[:1500]).all() and (values[1500:] == 3.0).all()
    assert_same_reads(writer.run_dir, rows_only_copy(writer.run_dir, tmp_path),
                      since=(-1, 1499, 1505))


def test_a_resumed_run_keeps_the_last_written_value_of_each_step(runs_dir, tmp_path):
    writer = create_run(runs_dir, "resumed", "/c", 1)
    log(writer, range(0, 30), loss=1.0)
    writer.close("stopped")
    for loss, steps in ((2.0, range(20, 35)), (3.0, range(10, 25))):  # two resumes, overlapping
        resumed = RunWriter.reopen(writer.run_dir)
        log(resumed, steps, loss=loss)
        resumed.log_step({"step": 12, "train_loss": 9.0})  # the same step twice in one batch
        resumed.log_step({"step": 12, "train_loss": 8.0})
        resumed.close("stopped")
    assert len({b[0] for b in blocks_of(writer.run_dir)}) > 1 and blocks_in_use(writer.run_dir)
    with open_run(writer.run_dir) as run:
        steps, loss = run.metric("train_loss")
        assert steps.tolist() == list(range(35))
        expected = [1.0 / (s + 1) for s in range(10)] + [3.0 / (s + 1) for s in range(10, 25)] \
            + [2.0 / (s + 1) for s in range(25, 35)]
        expected[12] = 8.0
        assert loss.tolist() == expected
        assert np.isnan(run.metric("recon_loss")[1][12])  # the replacing row had no recon_loss
    assert_same_reads(writer.run_dir, rows_only_copy(writer.run_dir, tmp_path),
                      since=(-1, 0, 9, 12, 24, 33, 34, 50))


def test_small_batches_merge_into_few_blocks_and_read_the_same(runs_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(step_blocks, "MERGE_BELOW_ROWS", 16)
    with create_run(runs_dir, "slow", "/c", 1) as writer:
        for step in range(100):  # one commit per step, like a slow trainer
            log(writer, [step])
    blocks = blocks_of(writer.run_dir)
    sizes = [b[2] for b in blocks]
    assert sum(sizes) == 100 and len(blocks) <= 100 // 16 + 4, sizes
    assert all(b[1] < c[0] for b, c in zip(blocks, blocks[1:]))  # in step order, no overlap
    assert_same_reads(writer.run_dir, rows_only_copy(writer.run_dir, tmp_path),
                      since=(-1, 50, 98, 99))


def test_large_batches_are_split_into_blocks(runs_dir, monkeypatch):
    monkeypatch.setattr(step_blocks, "MAX_BLOCK_ROWS", 10)
    monkeypatch.setattr(step_blocks, "MERGE_BELOW_ROWS", 4)
    with create_run(runs_dir, "burst", "/c", 1) as writer:
        log(writer, range(25))
    sizes = [b[2] for b in blocks_of(writer.run_dir)]
    assert sum(sizes) == 25 and max(sizes) == 10 and len(sizes) >= 3
    with open_run(writer.run_dir) as run:
        assert run.metrics_since(13, ["train_loss"])[0].tolist() == list(range(14, 25))


def test_a_database_without_step_blocks_reads_rows_and_gets_the_table_on_reopen(runs_dir,
                                                                               tmp_path):
    with create_run(runs_dir, "old layout", "/c", 1) as writer:
        log(writer, range(20))
    old = rows_only_copy(writer.run_dir, tmp_path)
    with open_run(old) as run:
        assert run.metric("train_loss")[0].tolist() == list(range(20))
        assert run.metrics_since(15, ["train_loss"])[0].tolist() == [16, 17, 18, 19]
    resumed = RunWriter.reopen(old)  # as an upgraded Distill resuming an older run
    log(resumed, range(20, 25))
    resumed.close("stopped")
    assert [b[2] for b in blocks_of(old)] == [5]
    assert not blocks_in_use(old) and blocks_in_use(old, first=20)  # blocks cover 20.. only
    resumed = RunWriter.reopen(old)  # re-logs 20 steps: as many block rows as there are rows,
    log(resumed, range(5, 25), loss=2.0)  # but steps 0..4 are still in rows only
    resumed.close("completed")
    assert not blocks_in_use(old) and blocks_in_use(old, first=5)
    with open_run(old) as run:
        steps, loss = run.metric("train_loss")
        assert steps.tolist() == list(range(25)) and loss[-1] == 2.0 / 25
        assert run.metrics_since(-1, ["train_loss"])[0].tolist() == list(range(25))
    assert_same_reads(old, rows_only_copy(old, tmp_path), since=(-1, 4, 10, 19, 22))


def test_rows_changed_by_a_writer_without_blocks_are_read_from_rows(runs_dir):
    with create_run(runs_dir, "downgraded", "/c", 1) as writer:
        log(writer, range(10))
    db_path = writer.run_dir / "run.sqlite"
    with closing(sqlite3.connect(db_path)) as db:  # what an older Distill's resume does
        db.execute("INSERT OR REPLACE INTO meta VALUES ('heartbeat', '123.0')")
        db.execute("INSERT OR REPLACE INTO step_metrics (step, train_loss) VALUES (5, 7.0)")
        db.commit()
    with open_run(writer.run_dir) as run:
        assert run.metric("train_loss")[1][5] == 7.0
        assert run.metrics_since(4, ["train_loss"])[1]["train_loss"][0] == 7.0
    resumed = RunWriter.reopen(writer.run_dir)  # drops the stale blocks
    log(resumed, range(10, 12))
    resumed.close("completed")
    assert [b[0] for b in blocks_of(writer.run_dir)] == [10]
    with open_run(writer.run_dir) as run:
        assert run.metric("train_loss")[1][5] == 7.0


def test_a_damaged_block_falls_back_to_the_rows(runs_dir):
    with create_run(runs_dir, "damaged", "/c", 1) as writer:
        log(writer, range(10))
    with closing(sqlite3.connect(writer.run_dir / "run.sqlite")) as db:
        db.execute("UPDATE step_blocks SET data = substr(data, 1, 16)")
        db.commit()
    assert not blocks_in_use(writer.run_dir)
    with open_run(writer.run_dir) as run:
        assert run.metric("train_loss")[1].tolist() == [1.0 / (s + 1) for s in range(10)]
