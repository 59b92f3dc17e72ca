"""The checkpoints panel on a run trained by the real Trainer, plus the bad files a user may have:
a truncated checkpoint, one from an unknown schema version and one that is not a checkpoint."""
import json
import shutil
import tomllib
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from distill_desktop.browser.checkpoints_panel import COLUMNS, MISSING, CheckpointsPanel
from distill_engine.checkpoints.format import BEST_NAME, read_checkpoint_info
from distill_engine.runs.admin import resume_trainer
from distill_engine.runs.reader import open_run
from support import train_tiny_runs


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A run trained for 3 epochs (checkpoints epoch 1..3 and best); tests work on copies."""
    root = tmp_path_factory.mktemp("ckpt")
    [result] = train_tiny_runs(root, {"run_name": "piano", "epochs": 3})
    assert result.status == "completed"
    return Path(result.run_dir)


@pytest.fixture
def run_dir(trained, tmp_path):
    return Path(shutil.copytree(trained, tmp_path / "runs" / trained.name))


@pytest.fixture
def panel(qtbot, run_dir):
    panel = CheckpointsPanel()
    qtbot.addWidget(panel)
    panel.set_run(run_dir)
    return panel


def cells(panel, name):
    """Column name -> text of the row showing the file `name`."""
    table = panel.table
    row = next(r for r in range(table.rowCount()) if table.item(r, 0).text() == name)
    return {c: (table.item(row, i).text() if table.item(row, i) else "") for i, c in enumerate(COLUMNS)}


def numbered(run_dir, epoch):
    return next((run_dir / "checkpoints").glob(f"epoch-{epoch:05d}-*.safetensors"))


def add_bad_files(run_dir):
    folder = run_dir / "checkpoints"
    good = (folder / BEST_NAME).read_bytes()
    (folder / "truncated.safetensors").write_bytes(good[: len(good) // 2])
    save_file({"model/w": torch.zeros(3)}, folder / "future.safetensors",
              metadata={"distill": json.dumps({"format": "distill-checkpoint", "schema_version": 99,
                                               "epoch": 9, "step": 99})})
    (folder / "notes.safetensors").write_bytes(b"these are my notes, not weights")
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_lists_every_checkpoint_with_its_validation_components_and_the_best(panel, run_dir):
    names = [panel.table.item(r, 0).text() for r in range(panel.table.rowCount())]
    assert sorted(names) == sorted(p.name for p in (run_dir / "checkpoints").glob("*.safetensors"))
    best = read_checkpoint_info(run_dir / "checkpoints" / BEST_NAME)
    row = cells(panel, BEST_NAME)
    assert row["Best"] == "★ best" and row["Epoch"] == str(best.epoch) and row["Step"] == str(best.step)
    for name in ("val_loss", "val_stft_loss", "val_mag_recon_loss", "val_if_recon_loss", "val_kl_loss"):
        assert row[name] == f"{best.metrics[name]:.4g}"
    assert row["Size"].endswith("MB") and row["Saved"][:4].isdigit()
    with open_run(run_dir) as run:
        epochs, val = run.metric("val_loss", per="epoch")
    first = cells(panel, numbered(run_dir, 1).name)     # saved without metrics: the run's value
    assert first["val_loss"] == f"{val[list(epochs).index(1)]:.4g}" and first["Best"] in ("", "= best")
    assert cells(panel, numbered(run_dir, best.epoch).name)["Best"] == "= best"


def test_bad_files_are_rows_with_a_badge_and_a_reason_and_stay_untouched(qtbot, run_dir):
    before = add_bad_files(run_dir)
    panel = CheckpointsPanel()
    qtbot.addWidget(panel)
    panel.set_run(run_dir)
    reasons = {name: cells(panel, name)["Epoch"] for name in before if not name.startswith("epoch")
               and name != BEST_NAME}
    assert "truncated" in reasons["truncated.safetensors"]
    assert "schema 99" in reasons["future.safetensors"]
    assert "not a Distill checkpoint" in reasons["notes.safetensors"]
    table = panel.table
    row = next(r for r in range(table.rowCount()) if table.item(r, 0).text() == "future.safetensors")
    assert not table.item(row, 0).icon().isNull() and "upgrade" in table.item(row, 0).toolTip()
    panel.select_checkpoint(run_dir / "checkpoints" / "future.safetensors")
    assert not panel.buttons["Resume…"].isEnabled() and not panel.buttons["Export…"].isEnabled()
    with qtbot.assertNotEmitted(panel.resume_requested):
        panel.resume_selected()
    panel.export_selected()
    panel.show_config_selected()
    assert panel.config_dialog is None
    assert {p.name: p.read_bytes() for p in (run_dir / "checkpoints").iterdir()} == before


def test_a_run_with_a_damaged_database_still_lists_its_checkpoints(qtbot, run_dir):
    for leftover in run_dir.glob("run.sqlite-*"):
        leftover.unlink()
    (run_dir / "run.sqlite").write_bytes(b"\x00garbage" * 512)
    panel = CheckpointsPanel()
    qtbot.addWidget(panel)
    panel.set_run(run_dir)
    assert cells(panel, numbered(run_dir, 1).name)["val_loss"] == MISSING
    assert cells(panel, BEST_NAME)["Best"] == "★ best"


def test_show_config_displays_the_checkpoint_config_as_toml(panel, run_dir):
    path = numbered(run_dir, 2)
    panel.select_checkpoint(path)
    panel.show_config_selected()
    assert tomllib.loads(panel.config_text.toPlainText()) == read_checkpoint_info(path).config
    assert panel.config_text.isReadOnly()
    panel.config_dialog.close()


def test_resume_asks_the_mode_and_emits_it(qtbot, panel, run_dir, monkeypatch):
    latest = numbered(run_dir, 3)
    answers = iter(["continue", "new", None])
    monkeypatch.setattr(panel, "ask_resume_mode", lambda is_latest=True: next(answers))
    panel.select_checkpoint(latest)
    with qtbot.waitSignal(panel.resume_requested) as signal:
        panel.resume_selected()
    assert signal.args == [str(run_dir), str(latest), "continue"]
    with qtbot.waitSignal(panel.resume_requested) as signal:
        panel.resume_selected()
    assert signal.args[2] == "new"
    with qtbot.assertNotEmitted(panel.resume_requested):
        panel.resume_selected()                                  # cancelled


def test_continuing_from_an_older_checkpoint_starts_a_linked_run_and_says_so(qtbot, panel, run_dir, monkeypatch):
    asked = []
    monkeypatch.setattr(panel, "ask_resume_mode", lambda is_latest=True: asked.append(is_latest) or "continue")
    older = numbered(run_dir, 1)
    panel.select_checkpoint(older)
    with qtbot.waitSignal(panel.resume_requested) as signal:
        panel.resume_selected()
    assert asked == [False] and signal.args == [str(run_dir), str(older), "new"]
    assert "new run linked" in panel.notice.text()
    # the window would now train: the requested run goes to completion through the real Trainer
    result = resume_trainer(*signal.args, epochs=2).run()
    assert result.status == "completed"
    with open_run(result.run_dir) as child:
        assert child.parent_run == str(run_dir)


def test_export_copies_the_checkpoint_into_the_chosen_folder(panel, run_dir, tmp_path, monkeypatch):
    target = tmp_path / "exports"
    target.mkdir()
    monkeypatch.setattr(panel, "ask_export_folder", lambda: str(target))
    panel.select_checkpoint(run_dir / "checkpoints" / BEST_NAME)
    panel.export_selected()
    panel.export_selected()
    exported = sorted(p.name for p in target.iterdir())
    assert exported == [f"{run_dir.name}-best (2).safetensors", f"{run_dir.name}-best.safetensors"]
    assert (target / exported[1]).read_bytes() == (run_dir / "checkpoints" / BEST_NAME).read_bytes()
    assert str(target) in panel.notice.text()


def test_delete_asks_once_and_declining_keeps_the_file(panel, run_dir, monkeypatch):
    path = numbered(run_dir, 1)
    asked = []
    monkeypatch.setattr(panel, "confirm", lambda title, text: asked.append(title) or False)
    panel.select_checkpoint(path)
    panel.delete_selected()
    assert path.exists() and asked == ["Delete checkpoint"]
    monkeypatch.setattr(panel, "confirm", lambda title, text: True)
    panel.delete_selected()
    assert not path.exists()
    assert path.name not in [panel.table.item(r, 0).text() for r in range(panel.table.rowCount())]


def test_deleting_the_best_needs_a_second_confirmation(panel, run_dir, monkeypatch):
    best = run_dir / "checkpoints" / BEST_NAME
    answers, asked = iter([True, False, True, True]), []
    monkeypatch.setattr(panel, "confirm", lambda title, text: asked.append(title) or next(answers))
    panel.select_checkpoint(best)
    panel.delete_selected()
    assert best.exists() and asked == ["Delete checkpoint", "Delete the best checkpoint"]
    panel.select_checkpoint(best)
    panel.delete_selected()
    assert not best.exists() and len(asked) == 4


def test_deleting_a_damaged_file_is_allowed(panel, run_dir, monkeypatch):
    add_bad_files(run_dir)
    panel.reload()
    monkeypatch.setattr(panel, "confirm", lambda *a: True)
    panel.select_checkpoint(run_dir / "checkpoints" / "truncated.safetensors")
    panel.delete_selected()
    assert not (run_dir / "checkpoints" / "truncated.safetensors").exists()
