"""The metric schema grows by one edit, and runs written before it grew still open.

A copy of the engine whose EpochMetrics has one more field stores, reads back, exports and prints
that field with no other change; a run folder written by the code before the schema was derived
(tests/fixtures/run_written_before_issue_9, made by commit 1b891ea's Trainer) opens, reads, exports
and can be written to again."""
import csv
import math
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from distill_engine.runs.admin import export_metrics_csv
from distill_engine.runs.reader import list_runs, open_run
from distill_engine.runs.schema import EPOCH_METRICS, STEP_METRICS
from distill_engine.runs.writer import RunWriter

ROOT = Path(__file__).resolve().parents[2]
OLD_RUN = ROOT / "tests" / "fixtures" / "run_written_before_issue_9"
#: Epoch fields added to the schema after the fixture was written: an older run reads them as NaN.
ADDED_AFTER_THE_FIXTURE = {"sample_fidelity", "sample_coverage", "sample_loudness_db",  # issue 12
                           "val_level_loss", "train_level_loss",  # the frame-level loss term
                           "sample_gain_db"}  # the samples' gain
STEP_FIELDS_ADDED_AFTER_THE_FIXTURE = {"level_loss"}
NEW_FIELD = '    spectral_flatness: float = metric("measure", phase="val", label="flatness")\n'

SCRIPT = textwrap.dedent('''
    import csv, dataclasses, sys
    from pathlib import Path
    from distill_engine.training import events as ev
    from distill_engine.training.reporting import format_epoch_line
    from distill_engine.runs.recorder import RunRecorder
    from distill_engine.runs.writer import create_run
    from distill_engine.runs.reader import open_run
    from distill_engine.runs.schema import EPOCH_METRICS
    from distill_engine.runs.admin import export_metrics_csv

    tmp, old_run = Path(sys.argv[1]), Path(sys.argv[2])
    values = {f.name: 0.5 for f in dataclasses.fields(ev.EpochMetrics)}
    values.update(epoch=1, total_epochs=3, step=4, spectral_flatness=0.75, wall_time=1.0)
    event = ev.EpochMetrics(**values)
    writer = create_run(tmp / "runs", "grown", "/corpus", 3)
    RunRecorder(writer).on_epoch(None, event)
    writer.close("completed")
    with open_run(writer.run_dir) as run:
        stored = run.metric("spectral_flatness", per="epoch")[1].tolist()
    step_csv, epoch_csv = export_metrics_csv(writer.run_dir, tmp / "grown.csv")
    with open(epoch_csv, newline="") as f:
        exported = list(csv.DictReader(f))[0]["spectral_flatness"]
    with open_run(old_run) as run:
        old = run.metric("spectral_flatness", per="epoch")[1].tolist()
    print("known", "spectral_flatness" in EPOCH_METRICS)
    print("stored", stored)
    print("exported", exported)
    print("line", format_epoch_line(event))
    print("old", old)
''')


def copy_engine_with_one_more_epoch_field(target: Path) -> Path:
    shutil.copytree(ROOT / "distill_engine", target / "distill_engine",
                    ignore=shutil.ignore_patterns("__pycache__"))
    events = target / "distill_engine" / "training" / "events.py"
    text = events.read_text()
    head, sep, tail = text.partition("class EpochMetrics:")
    anchor = '    wall_time: float = metric("key", unit="s")\n'
    assert sep and anchor in tail
    events.write_text(head + sep + tail.replace(anchor, NEW_FIELD + anchor, 1))
    return target


def test_a_field_added_to_the_schema_is_stored_read_back_exported_and_printed(tmp_path):
    src = copy_engine_with_one_more_epoch_field(tmp_path / "src")
    old = shutil.copytree(OLD_RUN, tmp_path / "old-run")
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), str(old)], cwd=src,
                            capture_output=True, text=True, timeout=120,
                            env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines())
    assert lines["known"] == "True"
    assert lines["stored"] == "[0.75]"
    assert lines["exported"] == "0.75"
    assert "flatness 0.7500" in lines["line"]
    assert lines["old"] == "[nan, nan]"      # a run from before the field reads it as NaN


@pytest.fixture
def old_run(tmp_path):
    return shutil.copytree(OLD_RUN, tmp_path / "runs" / OLD_RUN.name)


def test_a_run_written_before_the_schema_was_derived_opens_and_reads(old_run):
    [summary] = list_runs(old_run.parent)
    assert summary.status == "completed" and summary.epochs_done == 2 and summary.error is None
    assert summary.best_val_loss is not None and math.isfinite(summary.best_val_loss)
    with open_run(old_run) as run:
        for name in STEP_METRICS:
            steps, values = run.metric(name, per="step")
            expected = np.isnan if name in STEP_FIELDS_ADDED_AFTER_THE_FIXTURE else np.isfinite
            assert steps.tolist() == [1, 2, 3, 4] and expected(values).all(), name
        for name in EPOCH_METRICS:
            epochs, values = run.metric(name, per="epoch")
            expected = np.isnan if name in ADDED_AFTER_THE_FIXTURE else np.isfinite
            assert epochs.tolist() == [1, 2] and expected(values).all(), name
        assert run.metric("skipped_steps", per="epoch")[1].tolist() == [0.0, 0.0]
        assert run.config.epochs == 2


def test_a_run_written_before_exports_every_schema_column(old_run, tmp_path):
    step_csv, epoch_csv = export_metrics_csv(old_run, tmp_path / "old.csv")
    with open(step_csv, newline="") as f:
        header = next(csv.reader(f))
    assert header == ["step", "epoch", "wall_time", *STEP_METRICS]
    with open(epoch_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["epoch", "step", "wall_time", *EPOCH_METRICS]
    assert [r["total_epochs"] for r in rows] == ["2", "2"]


def test_a_run_written_before_can_be_written_again(old_run):
    writer = RunWriter.reopen(old_run)
    writer.log_epoch({"epoch": 3, "step": 6, "val_loss": 0.25})
    writer.close("completed")
    with open_run(old_run) as run:
        epochs, values = run.metric("val_loss", per="epoch")
        assert epochs.tolist() == [1, 2, 3] and values[-1] == 0.25
