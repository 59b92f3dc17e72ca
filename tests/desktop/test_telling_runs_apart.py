"""The runs list tells runs on one corpus apart: the values that differ are columns with their own
headers, a run started from another shows its parent, and the Name field at Train names a run."""
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from distill_desktop.browser.runs_panel import RunsPanel
from distill_engine.runs.reader import list_runs
from distill_engine.training.trainer import Trainer
from support import tiny_config, train_tiny_runs

TIMEOUT = 60_000


@pytest.fixture
def three_runs(tmp_path):
    """Two runs on one corpus that differ in rate and batch, and a run started from the first."""
    first, second = train_tiny_runs(tmp_path, {"epochs": 1}, {"epochs": 1, "learning_rate": 5e-4, "batch_size": 2})
    child = Trainer(tiny_config(epochs=2, learning_rate=1e-4), tmp_path / "corpus", runs_dir=tmp_path / "runs",
                    init_checkpoint=first.best_checkpoint, parent_run=first.run_dir).run()
    return tmp_path / "runs", first, second, child


def table(panel):
    model = panel.model
    headers = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())]
    rows = {model.summary(r).run_dir.name: {h: model.index(r, c).data() for c, h in enumerate(headers)}
            for r in range(model.rowCount())}
    return headers, rows


def test_the_values_that_differ_are_columns_with_distinct_headers_and_the_parent_is_shown(qtbot, three_runs):
    runs_dir, first, second, child = three_runs
    panel = RunsPanel([runs_dir])
    qtbot.addWidget(panel)
    panel.refresh_now()
    headers, rows = table(panel)
    assert len(headers) == len(set(headers))                       # no two columns read the same
    assert {"Learning rate", "Batch size", "Parent"} <= set(headers)
    assert headers[0] == "Name" and max(headers.index(h) for h in ("Learning rate", "Batch size", "Parent")) \
        < headers.index("Corpus")                                  # what tells runs apart comes first
    assert headers[1:5] == ["Learning rate", "Batch size", "Epochs (config)", "Parent"]  # planned epochs: "(config)"
    names = {str(s.run_dir): s.name for s in list_runs(runs_dir)}
    one, two, three = (rows[Path(r.run_dir).name] for r in (first, second, child))
    assert (one["Learning rate"], two["Learning rate"], three["Learning rate"]) == ("1e-3", "5e-4", "1e-4")
    assert (one["Batch size"], two["Batch size"]) == ("4", "2")
    assert three["Parent"] == names[first.run_dir] and one["Parent"] == ""
    assert len({one["Name"], two["Name"], three["Name"]}) == 3     # default names differ too
    column = headers.index("Learning rate")
    assert panel.model.headerData(column, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole).startswith(
        "learning_rate")
    duration_tip = panel.model.headerData(headers.index("Duration"), Qt.Orientation.Horizontal,
                                          Qt.ItemDataRole.ToolTipRole)
    assert "Training time" in duration_tip


def test_runs_with_the_same_config_get_no_extra_columns(qtbot, tmp_path):
    train_tiny_runs(tmp_path, {"epochs": 1}, {"epochs": 1})
    panel = RunsPanel([tmp_path / "runs"])
    qtbot.addWidget(panel)
    panel.refresh_now()
    headers, _ = table(panel)
    assert headers == ["Name", "Corpus", "Started", "Status", "Epochs", "Best val loss", "Duration"]


def test_the_name_field_at_train_names_the_run(make_main_window, qtbot, corpus_dir, make_config, tmp_path):
    window = make_main_window()
    window.config_editor.set_config(make_config(epochs=1, learning_rate=3e-3))
    with qtbot.waitSignal(window.corpus_panel.report_ready, timeout=TIMEOUT):
        window.corpus_panel.set_folder(str(corpus_dir))
    qtbot.waitUntil(window.train_action.isEnabled, timeout=TIMEOUT)
    assert window.name_edit.placeholderText() == "corpus · lr 3e-3 · <start time>"  # the default
    qtbot.keyClicks(window.name_edit, "kick, darker")
    with qtbot.waitSignal(window.controller.run_finished, timeout=TIMEOUT):
        window.train_action.trigger()
    assert window.name_edit.text() == ""            # the next run gets its own name
    [run] = list_runs(tmp_path / "runs")
    assert run.name == "kick, darker"


def test_comparing_two_runs_a_person_gave_the_same_name_labels_them_apart(qtbot, tmp_path):
    a, b = train_tiny_runs(tmp_path, {"run_name": "kit", "epochs": 1}, {"run_name": "kit", "epochs": 1,
                                                                       "learning_rate": 5e-4})
    panel = RunsPanel([tmp_path / "runs"])
    qtbot.addWidget(panel)
    panel.refresh_now()
    panel.select_runs([a.run_dir, b.run_dir])
    panel.compare_selected()
    table = panel.diff_dialog.table
    labels = [table.horizontalHeaderItem(c).text() for c in (1, 2)]
    assert labels[0] != labels[1] and all(label.startswith("kit (") for label in labels)
    panel.diff_dialog.close()
