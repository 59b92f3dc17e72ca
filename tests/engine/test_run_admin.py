"""Rename, delete, export, compare and resume stored runs (distill_engine.runs.admin) on real run
folders: one trained by the real Trainer, others written with RunWriter."""
import csv
import os
import shutil
from pathlib import Path

import pytest

from distill_engine import CheckpointError, RunStoreError, TrainingConfig
from distill_engine.checkpoints.format import BEST_NAME, read_checkpoint_info
from distill_engine.config.schema import config_to_dict
from distill_engine.runs.admin import (config_diff, delete_checkpoint, delete_run, export_checkpoint,
                                      export_metrics_csv, latest_checkpoint, rename_run,
                                      resume_trainer)
from distill_engine.runs.reader import list_runs, open_run
from distill_engine.runs.writer import create_run
from support import train_tiny_runs


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A run trained for 2 epochs by the real Trainer (read-only for the tests: copy to change)."""
    root = tmp_path_factory.mktemp("trained")
    [result] = train_tiny_runs(root, {"epochs": 2})
    assert result.status == "completed"
    return root, Path(result.run_dir)


def copy_run(run_dir, runs_dir):
    runs_dir.mkdir(parents=True, exist_ok=True)
    return shutil.copytree(run_dir, runs_dir / os.path.basename(run_dir))


def written_run(runs_dir, name="written", steps=5, epochs=1, status="completed"):
    writer = create_run(runs_dir, name, "/corpus", epochs)
    for s in range(1, steps + 1):
        writer.log_step({"step": s, "epoch": 1, "train_loss": 1.0 / s,
                         "grad_norm": None if s == 2 else 0.5})
    for e in range(1, epochs + 1):
        writer.log_epoch({"epoch": e, "step": steps, "val_loss": 0.5 / e})
    if status is None:
        return writer
    writer.close(status)
    return writer.run_dir


def corrupt_run(runs_dir, name="corrupt"):
    folder = runs_dir / name
    folder.mkdir(parents=True)
    (folder / "run.sqlite").write_bytes(os.urandom(4096))
    return folder


# -- rename ----------------------------------------------------------------------------------
def test_rename_sets_the_display_name_and_keeps_the_folder(tmp_path):
    run_dir = written_run(tmp_path, "before")
    rename_run(run_dir, "  after  ")
    assert run_dir.is_dir()
    assert [s.name for s in list_runs(tmp_path)] == ["after"]
    with open_run(run_dir) as run:
        assert run.name == "after" and run.status == "completed"
    with pytest.raises(ValueError):
        rename_run(run_dir, "   ")


def test_rename_a_live_run_and_its_writer_goes_on(tmp_path):
    writer = written_run(tmp_path, "live", status=None)
    rename_run(writer.run_dir, "renamed while training")
    writer.log_step({"step": 6, "train_loss": 0.1})
    writer.close("completed")
    with open_run(writer.run_dir) as run:
        assert run.name == "renamed while training"
        assert run.status == "completed" and run.metric("train_loss")[0][-1] == 6


def test_rename_refuses_an_unreadable_run_and_leaves_it_untouched(tmp_path):
    folder = corrupt_run(tmp_path)
    before = (folder / "run.sqlite").read_bytes()
    with pytest.raises(RunStoreError):
        rename_run(folder, "x")
    assert (folder / "run.sqlite").read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == ["run.sqlite"]


# -- delete ----------------------------------------------------------------------------------
def test_delete_removes_a_finished_run(tmp_path):
    run_dir = written_run(tmp_path)
    delete_run(run_dir)
    assert not run_dir.exists() and list_runs(tmp_path) == []


def test_delete_refuses_a_run_whose_writer_is_alive(tmp_path):
    writer = written_run(tmp_path, status=None)
    with pytest.raises(RunStoreError, match="stop it first"):
        delete_run(writer.run_dir)
    assert (writer.run_dir / "run.sqlite").is_file()
    writer.close("stopped")
    delete_run(writer.run_dir)
    assert not writer.run_dir.exists()


def test_delete_refuses_a_folder_that_is_not_a_run_but_removes_a_damaged_run(tmp_path):
    other = tmp_path / "photos"
    other.mkdir()
    (other / "cat.jpg").write_bytes(b"meow")
    with pytest.raises(RunStoreError, match="not a Distill run folder"):
        delete_run(other)
    assert (other / "cat.jpg").read_bytes() == b"meow"
    damaged = corrupt_run(tmp_path)
    delete_run(damaged)
    assert not damaged.exists()


# -- checkpoints -----------------------------------------------------------------------------
def test_export_copies_without_ever_overwriting(trained, tmp_path):
    _, run_dir = trained
    source = run_dir / "checkpoints" / BEST_NAME
    first = export_checkpoint(source, tmp_path)
    second = export_checkpoint(source, tmp_path)
    assert first.name == f"{run_dir.name}-best.safetensors"
    assert second.name == f"{run_dir.name}-best (2).safetensors"
    assert first.read_bytes() == second.read_bytes() == source.read_bytes()
    assert read_checkpoint_info(second).is_best


def test_export_refuses_damaged_checkpoints_and_writes_nothing(trained, tmp_path):
    _, run_dir = trained
    truncated = tmp_path / "src" / "truncated.safetensors"
    truncated.parent.mkdir()
    truncated.write_bytes((run_dir / "checkpoints" / BEST_NAME).read_bytes()[:5000])
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(CheckpointError, match="truncated"):
        export_checkpoint(truncated, out)
    assert list(out.iterdir()) == []


def test_delete_checkpoint_removes_only_checkpoint_files(tmp_path):
    junk = tmp_path / "notes.txt"
    junk.write_text("keep me")
    with pytest.raises(CheckpointError):
        delete_checkpoint(junk)
    assert junk.read_text() == "keep me"
    damaged = tmp_path / "damaged.safetensors"
    damaged.write_bytes(b"\x00" * 10)
    delete_checkpoint(damaged)
    assert not damaged.exists()


# -- CSV ---------------------------------------------------------------------------------------
def test_metrics_csv_has_one_row_per_step_and_an_epoch_file(tmp_path):
    run_dir = written_run(tmp_path / "runs", steps=7, epochs=2)
    step_csv, epoch_csv = export_metrics_csv(run_dir, tmp_path / "metrics.csv")
    assert epoch_csv.name == "metrics-epochs.csv"
    with open(step_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["step"] for r in rows] == [str(s) for s in range(1, 8)]
    assert {"epoch", "wall_time", "train_loss", "grad_norm"} <= set(rows[0])
    assert float(rows[3]["train_loss"]) == pytest.approx(0.25)
    assert rows[1]["grad_norm"] == ""        # a missing value is an empty cell
    with open(epoch_csv, newline="") as f:
        epochs = list(csv.DictReader(f))
    assert [(r["epoch"], float(r["val_loss"])) for r in epochs] == [("1", 0.5), ("2", 0.25)]


# -- config diff -------------------------------------------------------------------------------
def test_config_diff_lists_only_differing_fields_with_dotted_paths():
    a, b = TrainingConfig(), TrainingConfig()
    b.learning_rate = 3e-4
    b.loss.kl.weight_max = 0.05
    b.loss.stft.fft_sizes = (256, 512, 1024)
    diff = config_diff(a, b)
    assert diff == [("learning_rate", 1e-3, 3e-4), ("loss.stft.fft_sizes", [512, 1024, 2048],
                                                    [256, 512, 1024]),
                    ("loss.kl.weight_max", 0.01, 0.05)]
    assert config_diff(a, config_to_dict(TrainingConfig())) == []
    partial = {"epochs": 50, "loss": {"kl": {"weight_max": 0.01}}}
    assert ("batch_size", 32, None) in config_diff(a, partial)


# -- resume ------------------------------------------------------------------------------------
def test_resume_new_linked_run_from_an_older_checkpoint_trains_to_completion(trained, tmp_path, corpus_dir):
    root, run_dir = trained
    run_dir = copy_run(run_dir, tmp_path / "runs")
    older = sorted((run_dir / "checkpoints").glob("epoch-00001-*.safetensors"))[0]
    with pytest.raises(CheckpointError, match="not the latest"):
        resume_trainer(run_dir, older, "continue")
    trainer = resume_trainer(run_dir, older, "new", epochs=2)
    result = trainer.run()
    assert result.status == "completed" and result.epochs_done == 2
    assert os.path.dirname(result.run_dir) == str(tmp_path / "runs")
    with open_run(result.run_dir) as child:
        assert child.parent_run == str(run_dir)
        assert child.metric("val_loss", per="epoch")[0].tolist() == [2]   # epoch 1 came from the parent
        assert "from epoch 1" in child.name


def test_resume_continue_goes_on_in_the_same_run(trained, tmp_path):
    _, run_dir = trained
    run_dir = copy_run(run_dir, tmp_path / "runs")
    latest = latest_checkpoint(run_dir)
    assert read_checkpoint_info(latest).epoch == 2
    result = resume_trainer(run_dir, latest, "continue", epochs=3).run()
    assert result.status == "completed" and str(result.run_dir) == str(run_dir)
    with open_run(run_dir) as run:
        assert run.metric("val_loss", per="epoch")[0].tolist() == [1, 2, 3]
    assert len(list_runs(tmp_path / "runs")) == 1
