"""The Listen tab in the real window: a run trained in the window shows each new preview as it is
written, without a click; a run opened from the Runs tab shows its previews; with no audio
output every play button says why."""
from pathlib import Path

import pytest

from distill_engine.runs.reader import open_run

TIMEOUT = 60_000


@pytest.fixture
def ready_window(make_main_window, corpus_dir, make_config, qtbot):
    def make(**config_overrides):
        window = make_main_window()
        window.config_editor.set_config(make_config(**config_overrides))
        with qtbot.waitSignal(window.corpus_panel.report_ready, timeout=TIMEOUT):
            window.corpus_panel.set_folder(str(corpus_dir))
        qtbot.waitUntil(lambda: window.train_action.isEnabled(), timeout=TIMEOUT)
        return window
    return make


def test_each_new_preview_appears_while_training_without_a_click(ready_window, qtbot):
    window = ready_window(epochs=3, preview_interval_s=1e-6)     # a preview at every epoch end
    listen = window.listen_panel
    window.tabs.setCurrentWidget(listen)
    shown_epochs = []
    listen.shown.connect(lambda read: shown_epochs.append(read.shown.epoch if read.shown else None))
    with qtbot.waitSignal(window.controller.run_finished, timeout=TIMEOUT) as finished:
        window.train_action.trigger()
    result = finished.args[0]
    assert result.status == "completed"
    with open_run(result.run_dir) as run:
        stored = sorted(run.preview_epochs(), reverse=True)
    assert stored == [3, 2, 1]
    qtbot.waitUntil(lambda: listen.epochs() == stored and listen.shown_epoch() == 3, timeout=TIMEOUT)
    assert listen.run_dir == Path(result.run_dir)
    assert [e for e in shown_epochs if e is not None] == sorted(set(e for e in shown_epochs if e is not None))
    rows = [row for row in listen.clip_rows if not row[0].isHidden()]   # the tab itself is behind the plots
    assert rows and all(o.clip is not None and r.clip is not None for o, r, _ in rows)
    assert all(r.figures.text().startswith("distance ") for _, r, _ in rows)
    for view in listen._views():
        if not view.isHidden() and not view.player.available:
            assert not view.play_button.isEnabled() and view.play_button.toolTip() == view.player.unavailable_reason


def test_a_run_opened_from_the_runs_tab_shows_its_previews(ready_window, qtbot):
    window = ready_window(epochs=2, preview_interval_s=1e-6)
    with qtbot.waitSignal(window.controller.run_finished, timeout=TIMEOUT) as finished:
        window.train_action.trigger()
    run_dir = Path(finished.args[0].run_dir)
    window.listen_panel.set_run(None)
    with qtbot.waitSignal(window.listen_panel.shown, timeout=TIMEOUT):
        window.history_tab.browser.runs.run_opened.emit(str(run_dir))
    assert window.listen_panel.run_dir == run_dir and window.listen_panel.epochs() == [2, 1]
    assert "(training)" not in window.listen_panel.title.text()
