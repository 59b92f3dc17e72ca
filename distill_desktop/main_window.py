"""MainWindow: composes the panels, the toolbar and the status bar, and remembers settings."""
from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QDockWidget, QLabel, QLineEdit, QMainWindow, QMessageBox, QTabWidget, QToolBar,
                               QVBoxLayout, QWidget)

from distill_engine.config.schema import TrainingConfig, config_from_dict, config_to_dict
from distill_engine.errors import DistillError
from distill_engine.runs.naming import default_run_name

from . import paths
from .browser.history_tab import HistoryTab
from .panels.config_editor import ConfigEditorPanel
from .panels.contributions import ContributionPanel
from .panels.corpus_panel import CorpusPanel
from .panels.listen_panel import ListenPanel
from .panels.log_panel import LogPanel
from .panels.loss_plot import LossPlotPanel
from .panels.status_bar import TrainingStatus
from .bridge.training_controller import TrainingController
from .bridge.worker import RunRequest
from .widgets import dialog_folders
from .widgets.audio_player import AudioPlayer
from .widgets.train_hint import TrainHint


class MainWindow(QMainWindow):
    """The Distill window: corpus and loss config on the left, live plots and log on the right."""

    def __init__(self, settings: QSettings | None = None, runs_dir: Path | None = None):
        super().__init__()
        self.setWindowTitle("Distill")
        self.settings = settings or QSettings(str(paths.settings_file()), QSettings.IniFormat)
        self.runs_dir = Path(runs_dir) if runs_dir else paths.runs_dir()
        dialog_folders.use_settings(self.settings)
        config = self._restored_config()

        self.player = AudioPlayer(parent=self)      # one clip at a time, for the whole window
        self.corpus_panel = CorpusPanel(config, player=self.player)
        self.corpus_panel.set_demo_folder(str(paths.demo_corpus_dir()))
        self.config_editor = ConfigEditorPanel(config)
        self.plot_panel = LossPlotPanel()
        self.contribution_panel = ContributionPanel(self.plot_panel.series)   # the live plot's series
        self.log_panel = LogPanel()
        self.listen_panel = ListenPanel(self.player)
        self.status = TrainingStatus()
        self.controller = TrainingController(self, self.plot_panel, self.contribution_panel, self.log_panel,
                                             self.status, parent=self)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.corpus_panel)
        left_layout.addWidget(self.config_editor, 1)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.plot_panel, "Loss curves")
        self.tabs.addTab(self.contribution_panel, "Contributions")
        self.tabs.addTab(self.listen_panel, "Listen")
        self.tabs.addTab(self.log_panel, "Log")
        extra_folders = [f for f in (self.settings.value("run_folders", []) or []) if f]
        self.history_tab = HistoryTab([self.runs_dir, *extra_folders])
        self.tabs.addTab(self.history_tab, "Runs")
        self.history_tab.resume_requested.connect(self.start_request)
        self.history_tab.browser.runs.folder_added.connect(self._save_run_folders)
        # The corpus and config side is a dock a person can hide (toolbar) to give the tabs the width.
        self.side_dock = QDockWidget("Corpus and config", self, objectName="corpus_and_config")
        self.side_dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetClosable
                                   | QDockWidget.DockWidgetFeature.DockWidgetMovable)
        self.side_dock.setWidget(left)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.side_dock)
        self.resizeDocks([self.side_dock], [420], Qt.Orientation.Horizontal)
        self.setCentralWidget(self.tabs)
        browser = self.history_tab.browser
        browser.runs.run_opened.connect(self.listen_panel.set_run)
        browser.runs.follow_requested.connect(lambda run_dir: self.listen_panel.set_run(run_dir, live=True))
        browser.follower.epochs_added.connect(lambda _rows: self.listen_panel.run_grew(browser.followed))
        self.controller.run_started.connect(lambda event: self.listen_panel.set_run(event.run_dir, live=True))
        self.controller.preview.connect(self.listen_panel.preview_added)
        self.statusBar().addPermanentWidget(self.status, 1)
        self._build_toolbar()

        self.config_editor.problems_changed.connect(self._update_actions)
        self.config_editor.config_changed.connect(self.corpus_panel.set_config)
        self.corpus_panel.report_ready.connect(self._update_actions)
        self.corpus_panel.load_failed.connect(self._update_actions)
        self.corpus_panel.folder_changed.connect(self._update_actions)
        self.controller.running_changed.connect(self._update_actions)
        self.controller.paused_changed.connect(self._show_pause_state)
        self.controller.running_changed.connect(lambda _running: self.history_tab.browser.runs.refresh())

        self._restore_geometry()
        self._update_actions()
        # Load the last (or the demo) corpus once the window has been painted: the load imports
        # torch, which holds the GIL for much of a second or two and would delay the first paint.
        self._first_corpus = self.settings.value("corpus", "") or str(paths.demo_corpus_dir())
        self.corpus_panel.folder_label.setText(f"Corpus folder: {self._first_corpus}")

    # -- toolbar -----------------------------------------------------------------------------------
    def _build_toolbar(self) -> None:
        bar = QToolBar("Training", movable=False, objectName="training_toolbar")
        bar.setToolButtonStyle(Qt.ToolButtonTextOnly)
        self.addToolBar(bar)
        self.train_action = QAction("▶ Train", self, shortcut=QKeySequence("Ctrl+Return"))
        self.pause_action = QAction("❚❚ Pause", self, shortcut=QKeySequence("Ctrl+P"))
        self.stop_action = QAction("■ Stop", self, shortcut=QKeySequence("Ctrl+."))
        self.train_action.triggered.connect(self.start_training)
        self.pause_action.triggered.connect(self._toggle_pause)
        self.stop_action.triggered.connect(self.controller.stop)
        self.name_edit = QLineEdit(objectName="run_name", clearButtonEnabled=True, maximumWidth=260)
        self.name_edit.setToolTip("The next run's name in the runs list (empty: the default shown)")
        self.name_edit.returnPressed.connect(self.train_action.trigger)
        bar.addWidget(QLabel(" Run name: "))
        bar.addWidget(self.name_edit)
        for action in (self.train_action, self.pause_action, self.stop_action):
            bar.addAction(action)
        bar.addSeparator()
        self.side_action = self.side_dock.toggleViewAction()
        self.side_action.setText("Corpus && config")
        self.side_action.setToolTip("Show or hide the corpus and config side (Ctrl+B)")
        self.side_action.setShortcut(QKeySequence("Ctrl+B"))
        bar.addAction(self.side_action)
        self.train_hint = TrainHint()       # why Train is off, or what a run does now: the bar's free width
        self.train_hint.field_requested.connect(self.go_to_field)
        bar.addWidget(self.train_hint)

    def _update_actions(self, *_args) -> None:
        running = self.controller.is_running()
        corpus_problem = self.corpus_panel.unusable_reason()
        ready = self.config_editor.is_valid() and not corpus_problem and not running
        self.train_action.setEnabled(ready)
        reason = ("" if ready else "training is running" if running else
                  "fix the marked config field" if not self.config_editor.is_valid() else corpus_problem)
        self.train_action.setToolTip("Start training" if ready else f"Cannot train: {reason}")
        field = self.config_editor.first_invalid_field() if not running else None
        self.train_hint.show_reason("" if ready else "Training: config edits apply to the next run" if running
                                    else f"Cannot train: {reason}", field, problem=not running)
        self.config_editor.set_running(running)
        config = self.config_editor.config()
        if config is not None:      # while the config is invalid the last valid default stays
            default = default_run_name(self.corpus_panel.folder() or "run", config.learning_rate)
            self.name_edit.setPlaceholderText(default.rsplit(" · ", 1)[0] + " · <start time>")
        self.pause_action.setEnabled(running)
        self.stop_action.setEnabled(running)
        if not running:
            self.pause_action.setText("❚❚ Pause")

    def go_to_field(self, path: str) -> None:
        """Show the config side and scroll its editor to the field at `path` (the hint's link)."""
        self.side_dock.show()
        self.config_editor.reveal_field(path)

    def start_training(self) -> None:
        """Train on the chosen corpus with the edited config (Train button)."""
        config = self.config_editor.config()
        if config is None:
            return
        name = self.name_edit.text().strip() or None
        self.start_request(RunRequest(config=config, corpus_folder=self.corpus_panel.folder(),
                                      runs_dir=str(self.runs_dir), run_name=name))
        self.name_edit.clear()      # the next run gets its own name

    def start_request(self, request: RunRequest) -> None:
        """Start a run (new, resumed or from a checkpoint) unless one is already running."""
        if self.controller.is_running():
            self.statusBar().showMessage("A run is already in progress; stop it first.", 5000)
            return
        self.tabs.setCurrentWidget(self.plot_panel)
        self.controller.start(request)

    def _save_run_folders(self, _folder: str) -> None:
        folders = [str(f) for f in self.history_tab.browser.runs.folders[1:]]
        self.settings.setValue("run_folders", folders)

    def _toggle_pause(self) -> None:
        self.controller.toggle_pause()      # paused_changed updates the button

    def _show_pause_state(self, paused: bool) -> None:
        self.pause_action.setText("▶ Resume" if paused else "❚❚ Pause")

    # -- settings and closing ---------------------------------------------------------------------
    def _restored_config(self) -> TrainingConfig:
        text = self.settings.value("config", "")
        if text:
            try:
                return config_from_dict(json.loads(text))
            except (ValueError, DistillError):
                pass  # a config from another version: start from the defaults
        return TrainingConfig()

    def _restore_geometry(self) -> None:
        geometry = self.settings.value("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1320, 820)
        state = self.settings.value("window_state")
        if state is not None:
            self.restoreState(state)

    def save_settings(self) -> None:
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("window_state", self.saveState())
        self.settings.setValue("corpus", self.corpus_panel.folder() or "")
        config = self.config_editor.config()
        if config is not None:
            self.settings.setValue("config", json.dumps(config_to_dict(config)))
        self.settings.sync()

    def confirm_close(self) -> bool:
        """Ask before stopping a run in progress (tests override this)."""
        answer = QMessageBox.question(self, "Stop training?", "A run is in progress. Stop it (a checkpoint is "
                                      "written first) and close Distill?", QMessageBox.Yes | QMessageBox.No)
        return answer == QMessageBox.Yes

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        if self._first_corpus is not None:
            corpus, self._first_corpus = self._first_corpus, None
            QTimer.singleShot(0, lambda: self.corpus_panel.folder() or self.corpus_panel.set_folder(corpus))

    def closeEvent(self, event) -> None:
        if self.controller.is_running():
            if not self.confirm_close():
                event.ignore()
                return
            self.status.set_state("Stopping and writing a checkpoint…")
            self.controller.shutdown()
        self.corpus_panel.shutdown()
        self.listen_panel.shutdown()
        self.history_tab.shutdown()
        self.save_settings()
        dialog_folders.use_settings(None)
        event.accept()
