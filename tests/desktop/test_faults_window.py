"""Fault suite, the window's side (issue 11 items 2, 7, 10, 13): continuing a killed run from the
Runs tab is the engine's resume, row for row the terminal's; a moved corpus can be pointed at."""
import shutil
import sqlite3

import pytest
from PySide6.QtCore import Qt

from distill_engine import cli
from distill_engine.runs.reader import open_run

from support import as_another_user, finished_demo_run, shared_temp_folder, train_tiny_runs

TIMEOUT = 300_000  # a hang guard: this 2-core machine is shared
TIMING = {"wall_time", "step_time_s", "eta_seconds", "elapsed_seconds"}


def rows(run_dir, table):
    db = sqlite3.connect(f"file:{run_dir}/run.sqlite?mode=ro", uri=True)
    try:
        cursor = db.execute(f"SELECT * FROM {table} ORDER BY 1")
        names = [d[0] for d in cursor.description]
        return [{n: v for n, v in zip(names, row) if n not in TIMING} for row in cursor]
    finally:
        db.close()


@pytest.fixture(scope="module")
def killed_run(tmp_path_factory):
    """A 3-epoch run as a kill -9 after epoch 3's rows but before its checkpoint leaves it: rows
    up to step 6, latest checkpoint at epoch 2, status running with a dead writer."""
    root = tmp_path_factory.mktemp("killed")
    result, = train_tiny_runs(root, {"epochs": 3, "checkpoints_kept": 5})
    run = root / "runs" / "killed"
    shutil.copytree(result.run_dir, run)
    for path in (run / "checkpoints").glob("epoch-00003-*"):
        path.unlink()
    db = sqlite3.connect(run / "run.sqlite")
    db.execute("UPDATE meta SET value = 'running' WHERE key = 'status'")
    db.commit()
    db.close()
    return root, run


@pytest.mark.fault("data_loss")
def test_continuing_a_killed_run_in_the_window_replays_the_terminals_rows_exactly(
        killed_run, tmp_path, make_main_window, qtbot, monkeypatch):
    root, run = killed_run
    monkeypatch.setenv("DISTILL_CACHE_DIR", str(root / "cache"))
    original_steps, original_epochs = rows(run, "step_metrics"), rows(run, "epoch_metrics")
    terminal, window_run = tmp_path / "terminal", tmp_path / "window"
    shutil.copytree(run, terminal)
    shutil.copytree(run, window_run)

    assert cli.main(["--resume", str(terminal)]) == 0

    window = make_main_window()
    window.history_tab.ask_total_epochs = lambda done, planned: planned
    latest = max((c for c in open_run(window_run).checkpoints() if not c.is_best), key=lambda c: c.step)
    with qtbot.waitSignal(window.controller.run_finished, timeout=TIMEOUT) as finished:
        window.history_tab.browser.checkpoints.resume_requested.emit(str(window_run), str(latest.path), "continue")
    assert finished.args[0].status == "completed"

    for table, original in (("step_metrics", original_steps), ("epoch_metrics", original_epochs)):
        from_terminal, from_window = rows(terminal, table), rows(window_run, table)
        assert from_window == from_terminal, table          # row for row, every metric bit for bit
        assert from_terminal == original, table             # and both replay what the killed run wrote
    with open_run(window_run) as a, open_run(terminal) as b:
        assert a.status == b.status == "completed"


@pytest.mark.fault("unclear")
def test_a_new_linked_run_from_the_window_is_named_as_the_engine_names_it(
        killed_run, tmp_path, make_main_window, qtbot, monkeypatch):
    root, run = killed_run
    monkeypatch.setenv("DISTILL_CACHE_DIR", str(root / "cache"))
    source = tmp_path / "source"
    shutil.copytree(run, source)
    window = make_main_window()
    window.history_tab.ask_total_epochs = lambda done, planned: 3
    first = min((c for c in open_run(source).checkpoints() if not c.is_best), key=lambda c: c.step)
    with qtbot.waitSignal(window.controller.run_finished, timeout=TIMEOUT) as finished:
        window.history_tab.browser.checkpoints.resume_requested.emit(str(source), str(first.path), "new")
    result = finished.args[0]
    with open_run(result.run_dir) as child, open_run(source) as parent:
        assert child.name == f"{parent.name} from epoch 1"          # runs.admin.resume_trainer's name
        assert child.parent_run == str(source)


@pytest.mark.fault("unclear")
def test_the_window_points_a_run_at_its_moved_corpus(killed_run, tmp_path, make_main_window, qtbot, monkeypatch):
    root, run = killed_run
    monkeypatch.setenv("DISTILL_CACHE_DIR", str(root / "cache"))
    moved_run, moved_corpus = tmp_path / "run", tmp_path / "moved corpus"
    shutil.copytree(run, moved_run)
    shutil.copytree(root / "corpus", moved_corpus)
    db = sqlite3.connect(moved_run / "run.sqlite")
    db.execute("UPDATE meta SET value = ? WHERE key = 'corpus_path'", (str(tmp_path / "gone"),))
    db.commit()
    db.close()
    window = make_main_window()
    asked = []
    window.history_tab.ask_total_epochs = lambda done, planned: planned
    window.history_tab.ask_corpus_folder = lambda missing: asked.append(missing) or str(moved_corpus)
    latest = max((c for c in open_run(moved_run).checkpoints() if not c.is_best), key=lambda c: c.step)
    with qtbot.waitSignal(window.controller.run_finished, timeout=TIMEOUT) as finished:
        window.history_tab.browser.checkpoints.resume_requested.emit(str(moved_run), str(latest.path), "continue")
    assert finished.args[0].status == "completed"
    assert asked == [str(tmp_path / "gone")]
    with open_run(moved_run) as resumed:
        assert resumed.corpus_path == str(moved_corpus)


@pytest.mark.fault("traceback")
def test_a_hostile_checkpoint_header_is_a_row_with_its_reason_and_the_run_still_opens(killed_run, tmp_path, qtbot):
    """Item 7 in the window: the panel used to keep the previous run's checkpoints and the status
    stuck at "Opening…" (a RecursionError on the GUI thread)."""
    from distill_desktop.browser.run_browser import RunBrowser
    from distill_desktop.panels.loss_plot import LossPlotPanel
    from distill_desktop.browser.checkpoints_panel import COLUMNS

    root, run = killed_run
    hostile_run = tmp_path / "runs" / "hostile"
    shutil.copytree(run, hostile_run)
    header = b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"     # 10^5 levels of JSON
    (hostile_run / "checkpoints" / "epoch-00009-step-00000099.safetensors").write_bytes(
        len(header).to_bytes(8, "little") + header)
    plot = LossPlotPanel()
    browser = RunBrowser(plot, [tmp_path / "runs"])
    qtbot.addWidget(plot)
    qtbot.addWidget(browser)
    try:
        with qtbot.waitSignal(browser.run_loaded, timeout=TIMEOUT):
            browser.open_run_dir(hostile_run)
        assert browser.status.text().endswith(": interrupted")
        table = browser.checkpoints.table
        names = {table.item(r, 0).text(): r for r in range(table.rowCount())}
        assert {"epoch-00001-step-00000002.safetensors", "epoch-00002-step-00000004.safetensors",
                "epoch-00009-step-00000099.safetensors"} <= set(names)
        row = names["epoch-00009-step-00000099.safetensors"]
        assert "not a Distill checkpoint" in table.item(row, COLUMNS.index("Epoch")).text()
    finally:
        browser.shutdown()


@pytest.mark.fault("traceback")
def test_the_runs_tab_lists_a_folder_it_may_not_read_with_its_reason_and_a_read_only_run(qtbot):
    """Items 10 and 11 in the window: one folder without permission used to leave the Runs tab at
    "Reading runs…" with no rows; a read-only run was called damaged."""
    from distill_desktop.browser.runs_model import COLUMNS
    from distill_desktop.browser.runs_panel import RunsPanel

    status = COLUMNS.index("Status")
    with shared_temp_folder() as folder:
        runs = folder / "runs"
        good, locked, read_only = (finished_demo_run(runs, name) for name in ("good", "locked", "media"))
        good.chmod(0o777)       # this user may write it (root's folders are read-only to nobody)
        (good / "run.sqlite").chmod(0o666)
        locked.chmod(0)
        read_only.chmod(0o555)
        panel = RunsPanel([runs])
        qtbot.addWidget(panel)
        with as_another_user():
            with qtbot.waitSignal(panel.refreshed, timeout=TIMEOUT):
                panel.refresh()
            model = panel.table.model()
            shown = {model.index(r, 0).data(): (model.index(r, status).data(),
                                                model.index(r, 0).data(Qt.ItemDataRole.ToolTipRole))
                     for r in range(model.rowCount())}
        panel.wait()
    assert shown["good"][0] == "completed"
    assert shown["media"][0] == "completed (read-only)"
    assert shown[locked.name][0] == "unreadable" and "Permission denied" in shown[locked.name][1]


def as_killed(run, copy):
    """A copy of `run` as a kill -9 after its last epoch's rows but before that checkpoint."""
    shutil.copytree(run, copy)
    last = max((copy / "checkpoints").glob("epoch-*"))
    last.unlink()
    db = sqlite3.connect(copy / "run.sqlite")
    db.execute("UPDATE meta SET value = 'running' WHERE key = 'status'")
    db.commit()
    db.close()
    return copy


@pytest.mark.fault("data_loss")
def test_a_run_trained_in_the_window_and_killed_is_continued_with_its_own_rows_again(
        make_main_window, corpus_dir, tmp_path, qtbot):
    """Item 2 as reported: the run was trained in the app, the app killed, the run continued from
    the Runs tab; the rows after the checkpoint must be written again bit for bit, as the
    terminal's resume writes them."""
    from support import tiny_config

    window = make_main_window()
    window.config_editor.set_config(tiny_config(epochs=3, checkpoints_kept=5))
    with qtbot.waitSignal(window.corpus_panel.report_ready, timeout=TIMEOUT):
        window.corpus_panel.set_folder(str(corpus_dir))
    qtbot.waitUntil(lambda: window.train_action.isEnabled(), timeout=TIMEOUT)
    with qtbot.waitSignal(window.controller.run_finished, timeout=TIMEOUT) as trained:
        window.train_action.trigger()
    original = trained.args[0].run_dir
    in_window, in_terminal = as_killed(original, tmp_path / "w"), as_killed(original, tmp_path / "t")

    assert cli.main(["--resume", str(in_terminal)]) == 0
    window.history_tab.ask_total_epochs = lambda done, planned: planned
    latest = max((in_window / "checkpoints").glob("epoch-*"))
    with qtbot.waitSignal(window.controller.run_finished, timeout=TIMEOUT) as finished:
        window.history_tab.browser.checkpoints.resume_requested.emit(str(in_window), str(latest), "continue")
    assert finished.args[0].status == "completed"
    for table in ("step_metrics", "epoch_metrics"):
        assert rows(in_window, table) == rows(original, table) == rows(in_terminal, table), table
