"""What the window tells a person before and while training: why Train is off (and where the bad
field is), that edits apply to the next run, what a stop is writing, and where file dialogs open."""
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtWidgets import QFileDialog

from distill_engine.runs.reader import list_runs

TIMEOUT = 60_000


def no_audio_folder(root: Path) -> Path:
    """A folder a person might pick by mistake: a text file and a silent WAV."""
    folder = root / "no audio here"
    folder.mkdir()
    (folder / "README.txt").write_text("samples from the session")
    sf.write(folder / "silent take.wav", np.zeros(8000, np.float32), 8000)
    return folder


@pytest.fixture
def window(make_main_window, make_config):
    window = make_main_window()
    window.config_editor.set_config(make_config(epochs=200))
    return window


def load(window, qtbot, folder, signal="report_ready"):
    with qtbot.waitSignal(getattr(window.corpus_panel, signal), timeout=TIMEOUT):
        window.corpus_panel.set_folder(str(folder))


def test_a_folder_without_usable_audio_disables_train_with_the_reason_beside_it(window, qtbot, tmp_path, corpus_dir):
    load(window, qtbot, no_audio_folder(tmp_path), signal="load_failed")
    qtbot.waitUntil(lambda: not window.corpus_panel.is_loading(), timeout=TIMEOUT)
    assert not window.train_action.isEnabled()
    assert "No usable audio" in window.train_action.toolTip()
    assert window.train_hint.isVisible() and "No usable audio" in window.train_hint.plain_text()

    load(window, qtbot, corpus_dir)
    qtbot.waitUntil(window.train_action.isEnabled, timeout=TIMEOUT)
    assert window.train_hint.plain_text() == ""


def test_an_invalid_field_out_of_view_is_named_beside_train_and_the_name_leads_there(window, qtbot, corpus_dir):
    load(window, qtbot, corpus_dir)
    editor = window.config_editor
    editor.field_widget("representation.hop_length").setText("4096")   # the last group: far below
    editor.scroll.verticalScrollBar().setValue(0)
    qtbot.waitUntil(lambda: not editor.field_in_view("representation.hop_length"), timeout=TIMEOUT)
    assert not window.train_action.isEnabled()
    assert window.train_hint.plain_text() == "Cannot train: fix the marked config field: Representation · Hop length"
    assert 'href="representation.hop_length"' in window.train_hint.text()

    window.side_dock.hide()
    window.train_hint.linkActivated.emit("representation.hop_length")   # the person clicks the name
    qtbot.waitUntil(lambda: editor.field_in_view("representation.hop_length"), timeout=TIMEOUT)
    assert window.side_dock.isVisible()
    assert editor.field_widget("representation.hop_length").hasFocus()


def test_save_preset_is_disabled_with_its_reason_while_the_config_is_invalid(window, qtbot):
    editor = window.config_editor
    assert editor.save_button.isEnabled()
    editor.field_widget("learning_rate").setText("-1")
    assert not editor.save_button.isEnabled()
    assert editor.save_button.toolTip() == "Cannot save: fix Learning rate first"
    editor.field_widget("learning_rate").setText("0.001")
    assert editor.save_button.isEnabled()


def test_while_training_the_window_says_edits_apply_to_the_next_run_and_a_stop_names_its_checkpoint(
        window, qtbot, corpus_dir, tmp_path):
    load(window, qtbot, corpus_dir)
    qtbot.waitUntil(window.train_action.isEnabled, timeout=TIMEOUT)
    assert not window.config_editor.running_note.isVisible()
    with qtbot.waitSignal(window.controller.run_started, timeout=TIMEOUT) as started:
        window.train_action.trigger()
    run_dir = started.args[0].run_dir
    assert window.config_editor.running_note.isVisible()
    assert "apply to the next run" in window.config_editor.running_note.text()
    assert window.train_hint.plain_text() == "Training: config edits apply to the next run"

    # Every state the status line shows, in order: the blocker below may return on the worker's
    # signal before the window's own queued slot for that signal has run, so read what was shown.
    shown, set_state = [], window.status.set_state
    window.status.set_state = lambda text: (shown.append(text), set_state(text))
    worker = window.controller.worker
    with qtbot.waitSignal(window.controller.run_finished, timeout=TIMEOUT):
        with qtbot.waitSignal(worker.checkpoint, timeout=TIMEOUT) as saved:
            window.stop_action.trigger()
            assert window.status.text().startswith(f"Stopping: writing the checkpoint in {run_dir}/checkpoints")
    wrote = f"Stopping: wrote {saved.args[0].path}…"
    assert wrote in shown
    assert shown.index(wrote) > shown.index(f"Stopping: writing the checkpoint in {run_dir}/checkpoints…")
    assert not window.config_editor.running_note.isVisible()


def test_stop_while_the_corpus_loads_in_the_window_creates_no_run(window, qtbot, corpus_dir, tmp_path):
    load(window, qtbot, corpus_dir)
    qtbot.waitUntil(window.train_action.isEnabled, timeout=TIMEOUT)
    with qtbot.waitSignal(window.controller.run_finished, timeout=TIMEOUT) as finished:
        window.train_action.trigger()
        assert window.status.text().startswith("Loading corpus")
        window.stop_action.trigger()         # pressed while the corpus is being decoded
        assert window.status.text().startswith("Stopping: cancelling the corpus load")
    result = finished.args[0]
    assert result.status == "stopped" and "no run was created" in result.reason
    assert list_runs(tmp_path / "runs") == []


def test_the_log_shows_line_starts_and_follows_new_lines_only_at_the_bottom(window, qtbot):
    window.tabs.setCurrentWidget(window.log_panel)
    log = window.log_panel
    for i in range(200):
        log.append(f"line {i} " + "corpus file with a long name.wav, " * 12)
    vertical, horizontal = log.view.verticalScrollBar(), log.view.horizontalScrollBar()
    assert horizontal.maximum() > 0 and horizontal.value() == 0      # long lines, shown from their start
    assert vertical.value() == vertical.maximum() > 0                 # following the end
    vertical.setValue(10)                                             # the person scrolls up to read
    log.append("epoch 7: train 1.23, val 1.31")
    assert vertical.value() == 10 and horizontal.value() == 0
    vertical.setValue(vertical.maximum())
    log.append("epoch 8: train 1.20, val 1.30")
    assert vertical.value() == vertical.maximum()
    log.set_wrapping(True)
    assert log.view.horizontalScrollBar().maximum() == 0


def test_the_corpus_dialog_opens_in_home_then_where_the_person_last_chose(make_main_window, qtbot, tmp_path,
                                                                        monkeypatch, corpus_dir):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    opened = []

    def fake_dialog(parent, title, folder, *args):
        opened.append(folder)
        return str(corpus_dir)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(fake_dialog))
    first = make_main_window(tmp_path / "settings.ini")
    assert first.corpus_panel.folder() == ""   # a new user: no corpus chosen yet
    first.corpus_panel.choose_button.click()
    assert opened == [str(tmp_path / "home")]   # not the folder the app was launched from
    qtbot.waitUntil(lambda: not first.corpus_panel.is_loading(), timeout=TIMEOUT)
    first.close()

    second = make_main_window(tmp_path / "settings.ini")   # after a restart
    second.corpus_panel.choose_button.click()
    assert opened[-1] == str(corpus_dir.parent)  # beside the last corpus: its sibling folders
    qtbot.waitUntil(lambda: not second.corpus_panel.is_loading(), timeout=TIMEOUT)


def test_a_save_dialog_suggests_its_file_in_the_folder_last_used_for_that_kind(qtbot, tmp_path, monkeypatch):
    from PySide6.QtCore import QSettings

    from distill_desktop.browser.runs_panel import RunsPanel
    from distill_desktop.widgets import dialog_folders
    from support import train_tiny_runs

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    (tmp_path / "exports").mkdir()
    dialog_folders.use_settings(QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat))
    try:
        [result] = train_tiny_runs(tmp_path, {"epochs": 1})
        panel = RunsPanel([tmp_path / "runs"])
        qtbot.addWidget(panel)
        panel.refresh_now()
        panel.select_runs([result.run_dir])
        suggested = []

        def fake_save(parent, title, path, filters):
            suggested.append(path)
            return str(tmp_path / "exports" / "metrics.csv"), filters
        monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(fake_save))
        run_name = Path(result.run_dir).name
        panel.export_selected_csv()
        panel.export_selected_csv()
        assert suggested == [str(tmp_path / "home" / f"{run_name}.csv"),     # first: home, not the launch folder
                             str(tmp_path / "exports" / f"{run_name}.csv")]  # then: where the last export went
        assert (tmp_path / "exports" / "metrics.csv").is_file()
    finally:
        dialog_folders.use_settings(None)


@pytest.mark.fault("unclear")
def test_closing_the_window_mid_run_from_its_running_event_loop_returns(window, qtbot, corpus_dir, tmp_path):
    """As a person closes it: from inside the event loop. The stop made the runs list refresh, and
    waiting for that listing (queued on a timer of the blocked loop) hung the window forever."""
    from PySide6.QtCore import QEventLoop, QTimer

    load(window, qtbot, corpus_dir)
    qtbot.waitUntil(window.train_action.isEnabled, timeout=TIMEOUT)
    with qtbot.waitSignal(window.controller.run_started, timeout=TIMEOUT) as started:
        window.train_action.trigger()
    closed, loop = [], QEventLoop()

    def close_like_a_person():
        closed.append(window.close())
        loop.quit()
    QTimer.singleShot(0, close_like_a_person)
    loop.exec()
    assert closed == [True] and not window.controller.is_running()
    [run] = list_runs(tmp_path / "runs")
    assert run.status == "stopped" and str(run.run_dir) == started.args[0].run_dir
