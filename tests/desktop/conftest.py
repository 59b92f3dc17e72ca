"""Desktop fixtures: a real MainWindow whose test fails if it leaks a thread, timer or window."""
import pytest
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication

from distill_desktop.bridge.background import all_jobs_ended


@pytest.fixture
def make_main_window(qtbot, tmp_path):
    """Factory for MainWindow(settings in tmp_path, runs under tmp_path/runs); checks for leaks after."""
    from distill_desktop.main_window import MainWindow

    windows = []
    before = set(QApplication.topLevelWidgets())

    def make(settings_path=None):
        settings = QSettings(str(settings_path or tmp_path / "settings.ini"), QSettings.IniFormat)
        window = MainWindow(settings=settings, runs_dir=tmp_path / "runs")
        window.confirm_close = lambda: True
        qtbot.addWidget(window)
        window.show()
        windows.append(window)
        return window

    yield make

    for window in windows:
        window.close()
        assert not window.controller.is_running(), "a training thread is still running after close"
        repeating = [t.objectName() or repr(t) for t in window.findChildren(QTimer)
                     if t.isActive() and not t.isSingleShot()]
        assert repeating == [], f"timers still running after close: {repeating}"
    assert all_jobs_ended(30_000), "background jobs (corpus scan, runs listing, ...) still running"
    leaked = [w for w in QApplication.topLevelWidgets() if w.isVisible() and w not in before and w not in windows]
    for widget in leaked:
        widget.close()
    assert leaked == [], f"top-level windows left open: {[type(w).__name__ for w in leaked]}"
