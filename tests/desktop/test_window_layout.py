"""At the default 1320x820 window and at 1920x1080 every panel of every tab lies inside the window
and is fully visible (no horizontal scrolling to reach the checkpoints or their buttons), with the
corpus/config dock shown or hidden."""
import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QAbstractButton, QApplication

from support import write_corpus


@pytest.fixture
def window(make_main_window, tmp_path, qtbot):
    """A main window whose remembered corpus is a small generated folder (not the demo)."""
    settings = tmp_path / "layout.ini"
    QSettings(str(settings), QSettings.IniFormat).setValue("corpus", str(write_corpus(tmp_path / "c", n_files=2)))
    window = make_main_window(settings)
    qtbot.waitUntil(lambda: window.corpus_panel.report() is not None, timeout=60_000)
    return window


def panels(window):
    browser = window.history_tab.browser
    return {"corpus": window.corpus_panel, "config editor": window.config_editor, "tabs": window.tabs,
            "loss plot": window.plot_panel, "contributions": window.contribution_panel, "log": window.log_panel,
            "runs": browser.runs, "checkpoints": browser.checkpoints, "run plot": window.history_tab.plot_panel}


def outside(window, widget):
    """Why `widget` is not wholly in sight ('' when it is)."""
    inside = window.rect()
    top_left, bottom_right = widget.mapTo(window, widget.rect().topLeft()), widget.mapTo(window, widget.rect().bottomRight())
    if not (inside.contains(top_left) and inside.contains(bottom_right)):
        return f"spans {top_left.toTuple()}-{bottom_right.toTuple()} outside {inside.size().toTuple()}"
    shown = widget.visibleRegion().boundingRect().size()
    if shown != widget.size():
        return f"only {shown.toTuple()} of {widget.size().toTuple()} is visible"
    return ""


@pytest.mark.parametrize("size", [(1320, 820), (1920, 1080)])
def test_every_panel_of_every_tab_is_in_sight(qtbot, window, size):
    window.resize(*size)
    qtbot.waitUntil(lambda: window.size().toTuple() == size)
    problems = []
    for dock_shown in (True, False):
        window.side_dock.setVisible(dock_shown)
        problems += panels_out_of_sight(window, dock_shown)
    assert problems == []


def panels_out_of_sight(window, dock_shown):
    problems = []
    for index in range(window.tabs.count()):
        window.tabs.setCurrentIndex(index)
        tab = window.tabs.tabText(index)
        QApplication.processEvents()
        for name, widget in panels(window).items():
            if widget.isVisible() and (why := outside(window, widget)):
                problems.append(f"{tab}: {name} {why}")
        for button in window.findChildren(QAbstractButton):
            if button.isVisible() and (why := outside(window, button)):
                problems.append(f"{tab}: button {button.text()!r} {why}")
        if tab == "Runs":
            assert window.history_tab.browser.checkpoints.isVisible()
            assert window.history_tab.browser.checkpoints.width() > 300
            assert window.history_tab.browser.checkpoints.table.height() > 60
        if dock_shown:
            assert window.corpus_panel.isVisible() and window.config_editor.isVisible()
    return problems


def test_the_side_dock_toggles_from_the_toolbar_and_is_remembered(qtbot, window, make_main_window, tmp_path):
    assert window.side_dock.isVisible() and window.side_action.isChecked()
    window.side_action.trigger()
    assert not window.side_dock.isVisible()
    window.save_settings()
    again = make_main_window(tmp_path / "layout.ini")
    assert not again.side_dock.isVisible() and not again.side_action.isChecked()
