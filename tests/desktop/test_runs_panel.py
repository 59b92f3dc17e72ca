"""The runs panel and the run browser on real run folders: two runs trained by the real Trainer
(different learning rates), a run left "running" by a process that died, a damaged database and a
folder that is not a run at all."""
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from distill_desktop.panels.loss_plot import LossPlotPanel
from distill_desktop.browser.runs_panel import RunsPanel
from distill_desktop.browser.run_browser import RunBrowser
from distill_engine.runs.reader import list_runs, open_run
from distill_engine.runs.writer import create_run
from support import tiny_config, train_tiny_runs


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """runs/: 'slow' (lr 1e-3) and 'fast' (lr 5e-4) trained 2 epochs, 'crashed' (stored status
    running, writer gone), 'broken' (random bytes for a database) and 'holiday-photos' (no run)."""
    root = tmp_path_factory.mktemp("library")
    runs = root / "runs"
    slow, fast = train_tiny_runs(root, {"run_name": "slow", "epochs": 2},
                                 {"run_name": "fast", "epochs": 2, "learning_rate": 5e-4})
    writer = create_run(runs, "crashed", str(root / "corpus"), 10)
    for s in range(1, 4):
        writer.log_step({"step": s, "epoch": 1, "train_loss": 2.0 / s})
    writer.close("completed")
    with sqlite3.connect(writer.run_dir / "run.sqlite") as conn:   # what a kill -9 leaves behind
        conn.execute("UPDATE meta SET value = 'running' WHERE key = 'status'")
    broken = runs / "broken"
    broken.mkdir()
    (broken / "run.sqlite").write_bytes(np.random.default_rng(1).bytes(8192))
    photos = runs / "holiday-photos"
    photos.mkdir()
    (photos / "beach.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    return {"root": root, "runs": runs, "slow": Path(slow.run_dir), "fast": Path(fast.run_dir),
            "crashed": writer.run_dir, "broken": broken, "photos": photos}


def snapshot(folder):
    return {p: p.read_bytes() for p in sorted(Path(folder).rglob("*")) if p.is_file()}


@pytest.fixture
def panel(qtbot, library):
    panel = RunsPanel([library["runs"]])
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.refreshed, timeout=10_000):
        panel.refresh()
    yield panel
    panel.wait()


@pytest.fixture
def own_runs(tmp_path, library):
    """A private copy of the two trained runs, for actions that change files."""
    runs = tmp_path / "own"
    runs.mkdir()
    for key in ("slow", "fast"):
        shutil.copytree(library[key], runs / library[key].name)
    return runs


def table(panel):
    """What the table shows, in view order: one dict per row, column name -> text."""
    model = panel.table.model()
    return [{c: model.index(r, i).data() for i, c in enumerate(panel.model.columns)} for r in range(model.rowCount())]


def row_of(panel, name):
    return next(r for r, row in enumerate(table(panel)) if row["Name"] == name)


def test_lists_every_run_with_its_summary_and_badges_the_unreadable_one(panel, library):
    rows = {row["Name"]: row for row in table(panel)}
    assert set(rows) == {"slow", "fast", "crashed", "broken"}          # the photo folder is ignored
    slow = rows["slow"]
    summary = next(s for s in list_runs(library["runs"]) if s.name == "slow")
    assert slow["Corpus"] == "corpus" and slow["Status"] == "completed" and slow["Epochs"] == "2"
    assert slow["Best val loss"] == f"{summary.best_val_loss:.4g}"
    assert slow["Duration"].endswith(" s") and slow["Started"].startswith(summary.created_at[:10])
    assert rows["crashed"]["Status"] == "interrupted"
    assert rows["broken"]["Status"] == "unreadable"
    index = panel.table.model().index(row_of(panel, "broken"), 0)
    assert "damaged" in index.data(Qt.ItemDataRole.ToolTipRole)
    assert index.data(Qt.ItemDataRole.DecorationRole) is not None      # the error badge
    assert panel.table.model().index(row_of(panel, "slow"), 0).data(Qt.ItemDataRole.DecorationRole) is None
    assert "4 runs, 1 unreadable" in panel.status_label.text()


def test_listing_never_modifies_broken_or_foreign_folders(qtbot, library):
    before = {key: snapshot(library[key]) for key in ("broken", "photos")}
    panel = RunsPanel([library["runs"]])
    qtbot.addWidget(panel)
    panel.refresh_now()
    panel.select_runs([str(library["broken"])])
    for action in (panel.open_selected, panel.follow_selected, panel.rename_selected,
                   panel.export_selected_csv, panel.compare_selected):
        action()
    assert not panel.buttons["Open"].isEnabled()
    assert {key: snapshot(library[key]) for key in ("broken", "photos")} == before


def test_sort_and_text_filter(panel):
    panel.table.sortByColumn(panel.model.columns.index("Name"), Qt.SortOrder.AscendingOrder)
    assert [row["Name"] for row in table(panel)] == ["broken", "crashed", "fast", "slow"]
    panel.table.sortByColumn(panel.model.columns.index("Epochs"), Qt.SortOrder.DescendingOrder)
    assert [row["Epochs"] for row in table(panel)][:2] == ["2", "2"]
    panel.filter_edit.setText("UNREAD")
    assert [row["Name"] for row in table(panel)] == ["broken"]
    panel.filter_edit.setText("")
    assert len(table(panel)) == 4


def test_added_folders_are_listed_too(qtbot, panel, tmp_path):
    writer = create_run(tmp_path / "synced", "from the lab", "/corpus", 1)
    writer.close("completed")
    with qtbot.waitSignals([panel.refreshed, panel.folder_added]):
        panel.add_folder(tmp_path / "synced")
    assert "from the lab" in [row["Name"] for row in table(panel)]
    other = create_run(tmp_path / "elsewhere", "single run", "/corpus", 1)
    other.close("failed")
    with qtbot.waitSignal(panel.refreshed):
        panel.add_folder(other.run_dir)            # a run folder itself
    assert table(panel)[row_of(panel, "single run")]["Status"] == "failed"


def test_open_follow_and_overlay_emit_the_selected_runs(qtbot, panel, library):
    panel.select_runs([str(library["slow"])])
    with qtbot.waitSignal(panel.run_opened) as opened:
        panel.open_selected()
    assert opened.args == [str(library["slow"])]
    with qtbot.waitSignal(panel.follow_requested) as followed:
        panel.follow_selected()
    assert followed.args == [str(library["slow"])]
    panel.select_runs([str(library["slow"]), str(library["fast"]), str(library["broken"])])
    with qtbot.waitSignal(panel.overlay_requested) as overlay:
        panel.overlay_selected()
    assert sorted(overlay.args[0]) == sorted([str(library["slow"]), str(library["fast"])])


def test_compare_configs_shows_only_the_differing_field(panel, library):
    panel.select_runs([str(library["slow"]), str(library["fast"])])
    panel.compare_selected()
    rows = panel.diff_dialog.rows()
    assert len(rows) == 1 and rows[0][0] == "learning_rate"
    assert sorted(rows[0][1:]) == ["0.0005", "0.001"]
    panel.diff_dialog.close()


def test_rename_and_delete_with_confirmation(qtbot, own_runs, monkeypatch):
    panel = RunsPanel([own_runs])
    qtbot.addWidget(panel)
    panel.refresh_now()
    slow = next(p for p in own_runs.iterdir() if p.name.endswith("slow"))
    panel.select_runs([str(slow)])
    monkeypatch.setattr(panel, "ask_text", lambda *a: "slow but steady")
    panel.rename_selected()
    assert sorted(row["Name"] for row in table(panel)) == ["fast", "slow but steady"]
    with open_run(slow) as run:
        assert run.name == "slow but steady"
    asked = []
    monkeypatch.setattr(panel, "confirm", lambda title, text: asked.append(text) or False)
    panel.select_runs([str(slow)])
    panel.delete_selected()
    assert slow.is_dir() and len(table(panel)) == 2 and "slow but steady" in asked[0]
    monkeypatch.setattr(panel, "confirm", lambda title, text: True)
    panel.select_runs([str(slow)])
    panel.delete_selected()
    assert not slow.exists() and [row["Name"] for row in table(panel)] == ["fast"]


def test_delete_refuses_a_run_still_being_written(qtbot, tmp_path, monkeypatch):
    writer = create_run(tmp_path / "runs", "live", "/corpus", 5)
    try:
        panel = RunsPanel([tmp_path / "runs"])
        qtbot.addWidget(panel)
        panel.refresh_now()
        assert table(panel)[0]["Status"] == "running"
        monkeypatch.setattr(panel, "confirm", lambda *a: True)
        panel.select_runs([str(writer.run_dir)])
        panel.delete_selected()
        assert "stop it first" in panel.last_message.text()
        assert (writer.run_dir / "run.sqlite").is_file()
    finally:
        writer.close("stopped")


def test_export_csv_writes_steps_and_epochs(panel, library, tmp_path, monkeypatch):
    monkeypatch.setattr(panel, "ask_save_path", lambda *a: str(tmp_path / "slow.csv"))
    panel.select_runs([str(library["slow"])])
    panel.export_selected_csv()
    lines = (tmp_path / "slow.csv").read_text().splitlines()
    with open_run(library["slow"]) as run:
        assert len(lines) == 1 + len(run.metric("train_loss")[0])
    assert (tmp_path / "slow-epochs.csv").read_text().count("\n") == 3


@pytest.fixture
def browser(qtbot, library):
    plot = LossPlotPanel()
    browser = RunBrowser(plot, [library["runs"]])
    qtbot.addWidget(plot)
    qtbot.addWidget(browser)
    plot.resize(800, 500)
    browser.runs.refresh_now()
    yield browser
    browser.shutdown()


def test_opening_a_run_loads_every_curve_into_the_plot(qtbot, browser, library):
    browser.runs.select_runs([str(library["slow"])])
    with qtbot.waitSignal(browser.run_loaded, timeout=10_000) as loaded:
        browser.runs.open_selected()                      # read off the GUI thread
    assert loaded.args == [str(library["slow"])]
    plot = browser.plot
    with open_run(library["slow"]) as run:
        steps, losses = run.metric("train_loss")
        epochs, val = run.metric("val_loss", per="epoch")
    x, y = plot.curve_data("step:train_loss")
    assert np.array_equal(x, steps) and np.allclose(y, losses)
    x, y = plot.curve_data("epoch:val_loss")
    assert np.allclose(y, val) and len(x) == len(epochs)
    assert len(plot.curve_data("step:learning_rate")[1]) == len(steps)
    assert browser.checkpoints.run_dir == library["slow"]


def test_overlay_draws_one_colour_per_run_with_named_legend_entries(browser, library, tmp_path):
    browser.component_combo.setCurrentIndex(browser.component_combo.findText("stft_loss"))
    browser.runs.select_runs([str(library["slow"]), str(library["fast"])])
    browser.runs.overlay_selected()
    entries = {label.text: sample.item for sample, label in browser.plot.legend.items
               if "·" in label.text}
    assert set(entries) == {"slow · stft_loss", "fast · stft_loss"}
    colors = {item.opts["pen"].color().name() for item in entries.values()}
    assert len(colors) == 2
    with open_run(library["fast"]) as run:
        expected = run.metric("stft_loss")[1]
    assert np.allclose(entries["fast · stft_loss"].yData, expected)
    browser.component_combo.setCurrentIndex(browser.component_combo.findText("val_loss"))
    labels = [label.text for _, label in browser.plot.legend.items if "·" in label.text]
    assert sorted(labels) == ["fast · val_loss", "slow · val_loss"]
    for suffix in ("png", "svg"):
        path = browser.export_plot(tmp_path / f"overlay.{suffix}")
        assert path.stat().st_size > 1000
    assert not QImage(str(tmp_path / "overlay.png")).isNull()
    assert "<svg" in (tmp_path / "overlay.svg").read_text()


def test_opening_a_damaged_run_reports_why_and_draws_nothing(qtbot, browser, library):
    before = snapshot(library["broken"])
    with qtbot.assertNotEmitted(browser.run_loaded, wait=100):
        browser.open_run_dir(library["broken"])
        qtbot.waitUntil(lambda: getattr(browser.runs, "last_message", None) is not None)
    assert "damaged" in browser.runs.last_message.text()
    assert len(browser.plot.curve_data("step:train_loss")[0]) == 0
    assert snapshot(library["broken"]) == before


def test_config_diff_dialog_says_no_differences_for_equal_configs(qtbot):
    from distill_desktop.dialogs.config_diff_dialog import ConfigDiffDialog

    dialog = ConfigDiffDialog("a", tiny_config(), "b", tiny_config())
    qtbot.addWidget(dialog)
    assert dialog.rows() == [] and dialog.summary.text() == "No differences"
    other = tiny_config(batch_size=8)
    other.loss.kl.weight_max = 0.02
    dialog = ConfigDiffDialog("a", tiny_config(), "b", other)
    qtbot.addWidget(dialog)
    assert dialog.rows() == [("batch_size", "4", "8"), ("loss.kl.weight_max", "0.01", "0.02")]
