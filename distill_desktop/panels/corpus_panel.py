"""The corpus panel: choose a folder of sounds and see what the engine makes of it.

Loading decodes audio (seconds for a real folder), so `load_corpus` runs as a background job
(bridge.background; a newer load supersedes and cancels an older one); the panel
shows the engine's `CorpusReport` (files used, duration, train/validation split, every skipped file
with its reason) or the `CorpusError` message. Only the report crosses back to the GUI thread.
"""
from __future__ import annotations

import copy
import os
from pathlib import Path

from PySide6.QtCore import QCoreApplication, Qt, QTimer, Signal
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QPushButton, QToolButton, QVBoxLayout, QWidget

from distill_engine.audio.band_loss import loss_warning, rates_line
from distill_engine.config.schema import TrainingConfig
from distill_engine.errors import CorpusError

from ..bridge.background import BackgroundJobs
from ..gc_pauses import import_torch_frozen
from ..widgets import dialog_folders
from ..widgets.audio_player import AudioPlayer
from .corpus_files import USED_COLUMNS, bounded_table, fill_skipped, fill_used, relative
from .corpus_player import CorpusPlayer

# Fields of the config that change what load_corpus produces; other edits do not reload.
_CORPUS_FIELDS = ("representation", "chunk_duration", "max_file_seconds", "validation_fraction", "seed")
_RELOAD_DELAY_MS = 400

class _Cancelled(Exception):
    """Raised from the progress callback to abandon a load nobody wants any more."""


def _load_report(job, folder: str, config: TrainingConfig):
    """The engine's CorpusReport of `folder` (a background job: progress reported, cancellable)."""
    def progress(done: int, total: int, path: str) -> None:
        if job.cancelled:
            raise _Cancelled
        job.report((done, total, path))

    import_torch_frozen()       # torch loads on this thread, not at start-up (see gc_pauses)
    from distill_engine.audio.corpus import load_corpus

    try:
        return load_corpus(folder, config, progress=progress).report
    except _Cancelled:
        return None


class CorpusPanel(QWidget):
    """Pick the corpus folder; the engine's report of it is loaded off the GUI thread."""

    folder_changed = Signal(str)
    report_ready = Signal(object)  # CorpusReport
    load_failed = Signal(str)  # the engine's CorpusError message (or an unexpected error's summary)

    def __init__(self, config: TrainingConfig | None = None, parent: QWidget | None = None,
                 player: AudioPlayer | None = None) -> None:
        super().__init__(parent)
        self.player = player if player is not None else AudioPlayer(parent=self)
        self.corpus_player: CorpusPlayer | None = None
        self._config = copy.deepcopy(config) if config is not None else TrainingConfig()
        self._folder = ""
        self._demo_folder = ""
        self._report = None  # the last CorpusReport
        self._error_details = ""
        self._load_error = ""  # the last load's failure message ("" while loading or after a report)
        self.jobs = BackgroundJobs()
        self._reload_timer = QTimer(self, singleShot=True, interval=_RELOAD_DELAY_MS)
        self._reload_timer.timeout.connect(self.reload)
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

        self.folder_label = QLabel("No corpus folder chosen")
        self.folder_label.setWordWrap(True)
        self.choose_button = QPushButton("Choose folder…")
        self.choose_button.clicked.connect(self._choose_folder)
        self.demo_button = QPushButton("Use demo corpus")
        self.demo_button.setEnabled(False)
        self.demo_button.clicked.connect(lambda: self.set_folder(self._demo_folder))
        self.listen_button = QPushButton("Listen to the files…")
        self.listen_button.setToolTip("Hear any file of the corpus and see its spectrogram")
        self.listen_button.clicked.connect(self.show_corpus_player)
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.summary_label = QLabel()
        self.summary_label.setWordWrap(True)
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #d32f2f;")
        self.error_label.hide()
        self.rate_warning = QLabel(objectName="rate_warning", wordWrap=True)
        self.rate_warning.setStyleSheet("color: #b26a00;")
        self.rate_warning.hide()
        self.used_toggle = QToolButton(checkable=True, autoRaise=True)
        self.used_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.used_toggle.toggled.connect(self._show_used_table)
        self.used_table = bounded_table(USED_COLUMNS)
        self.used_table.hide()
        self.skipped_label = QLabel()
        self.skipped_table = bounded_table(("File", "Reason"))

        buttons = QHBoxLayout()
        buttons.addWidget(self.choose_button)
        buttons.addWidget(self.demo_button)
        buttons.addWidget(self.listen_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.folder_label)
        layout.addLayout(buttons)
        for widget in (self.status_label, self.summary_label, self.rate_warning, self.error_label,
                       self.used_toggle, self.used_table, self.skipped_label, self.skipped_table):
            layout.addWidget(widget)
        self._show_report(None)

    # --- public API -----------------------------------------------------------------------------

    def folder(self) -> str:
        return self._folder

    def report(self):
        """The report of the last successful load of the current folder (None while loading/failed)."""
        return self._report

    def error_details(self) -> str:
        """The traceback of the last unexpected load failure ("" for a CorpusError or none)."""
        return self._error_details

    def is_loading(self) -> bool:
        return self.jobs.is_running()

    def unusable_reason(self) -> str:
        """Why the current folder cannot be trained on ("" when it can, or while it loads)."""
        if not self._folder:
            return "choose a corpus folder"
        if self._load_error:
            first = self._load_error.splitlines()[0].rstrip(":")
            return first if len(first) <= 140 else first[:139] + "…"
        return ""

    def set_demo_folder(self, path: str | os.PathLike[str]) -> None:
        """Enable "Use demo corpus", which chooses `path`."""
        self._demo_folder = os.fspath(path)
        self.demo_button.setEnabled(bool(self._demo_folder))
        self.demo_button.setToolTip(self._demo_folder)

    def set_config(self, config: TrainingConfig) -> None:
        """Use `config` for the next load; reload (debounced) if it changes how the corpus is cut."""
        old, self._config = self._config, copy.deepcopy(config)
        if self._folder and any(getattr(old, f) != getattr(config, f) for f in _CORPUS_FIELDS):
            self._reload_timer.start()

    def set_folder(self, path: str | os.PathLike[str]) -> None:
        """Choose the corpus folder and start loading its report in the background."""
        folder = os.fspath(path)
        changed = folder != self._folder
        self._folder = folder
        self.folder_label.setText(f"Corpus folder: {folder}")
        self.folder_label.setToolTip(folder)
        if changed:
            self.folder_changed.emit(folder)
        self.reload()

    def show_corpus_player(self) -> CorpusPlayer | None:
        """Open (or raise) the window that plays the files of the current report."""
        if self._report is None:
            return None
        if self.corpus_player is None:
            self.corpus_player = CorpusPlayer(self.player, self)
        self.corpus_player.set_report(self._report)
        self.corpus_player.show()
        self.corpus_player.raise_()
        return self.corpus_player

    def reload(self) -> None:
        """Load the current folder again (abandoning any load in progress)."""
        self._reload_timer.stop()
        if not self._folder:
            return
        self._report = None
        self._error_details = ""
        self._load_error = ""
        self._show_report(None)
        self.status_label.setText(f"Loading {Path(self._folder).name or self._folder}…")
        self.jobs.start(_load_report, self._folder, copy.deepcopy(self._config), on_result=self._on_loaded,
                        on_error=self._on_error, on_progress=self._on_progress)

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Abandon any load and wait for it; call before the window closes. True if all stopped."""
        self._reload_timer.stop()
        self.jobs.cancel()
        if self.corpus_player is not None:
            self.corpus_player.shutdown()
            self.corpus_player.close()
        return self.jobs.wait(timeout_ms / 1000)

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        self.shutdown()
        super().closeEvent(event)

    # --- internals ------------------------------------------------------------------------------

    def _choose_folder(self) -> None:
        here = str(Path(self._folder).parent) if self._folder else None
        path = QFileDialog.getExistingDirectory(self, "Choose the corpus folder",
                                                dialog_folders.start_folder("corpus", here))
        if path:
            dialog_folders.remember("corpus", Path(path).parent)   # opens beside it: its siblings
            self.set_folder(path)

    def _on_progress(self, progress) -> None:
        done, total, path = progress
        self.status_label.setText(f"Loading… {done}/{total} files ({Path(path).name})")

    def _on_error(self, exc: Exception, details: str) -> None:
        """A CorpusError is the user's to fix (its message alone); anything else is an engine bug,
        reported with its traceback."""
        if isinstance(exc, CorpusError):
            self._on_failed(str(exc), "")
        else:
            self._on_failed(f"Loading the corpus failed: {type(exc).__name__}: {exc}", details)

    def _on_loaded(self, report) -> None:
        if report is None:      # cancelled: a newer load (or closing) superseded it
            return
        self._report = report
        self.status_label.setText("")
        self._show_report(report)
        self.report_ready.emit(report)

    def _on_failed(self, message: str, details: str) -> None:
        self._error_details = details
        self._load_error = message
        self.status_label.setText("")
        self._show_report(None)
        self.error_label.setText(message)
        self.error_label.setToolTip(details)
        self.error_label.show()
        self.load_failed.emit(message)

    def _show_report(self, report) -> None:
        self.error_label.hide()
        self.listen_button.setEnabled(report is not None and bool(report.used or report.skipped))
        if report is not None and self.corpus_player is not None and self.corpus_player.isVisible():
            self.corpus_player.set_report(report)
        self.skipped_table.setRowCount(0)
        if report is None:
            self.summary_label.setText("")
            self.skipped_label.setText("")
            self.rate_warning.hide()
            self.used_toggle.hide()
            self.used_table.hide()
            self.skipped_table.hide()
            return
        n_train = sum(1 for u in report.used if u.split == "train")
        n_used = len(report.used)
        self.summary_label.setText(
            f"{n_used} file{'s' if n_used != 1 else ''} used, {_duration(report.total_duration_s)} in total\n"
            f"{n_train} training file{'s' if n_train != 1 else ''}, {n_used - n_train} validation "
            f"file{'s' if n_used - n_train != 1 else ''} "
            f"({report.n_train_chunks} training chunks, {report.n_val_chunks} validation chunks)"
            + (f"\n{rates[:1].upper()}{rates[1:]}" if (rates := rates_line(report)) else ""))
        warning = loss_warning(report, name=lambda path: relative(path, report.folder))
        self.rate_warning.setText(warning)
        self.rate_warning.setVisible(bool(warning))
        fill_used(self.used_table, report)
        self.used_toggle.show()
        self._show_used_table(self.used_toggle.isChecked())
        self.skipped_label.setText(f"{len(report.skipped)} file{'s' if len(report.skipped) != 1 else ''} "
                                   "skipped" + (":" if report.skipped else ""))
        self.skipped_table.setVisible(bool(report.skipped))
        fill_skipped(self.skipped_table, report)

    def _show_used_table(self, shown: bool) -> None:
        n = len(self._report.used) if self._report is not None else 0
        self.used_toggle.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
        self.used_toggle.setText(f"{'Hide' if shown else 'Show'} the {n} used file{'s' if n != 1 else ''} "
                                 "and their sample rates")
        self.used_table.setVisible(shown and self._report is not None)

    def skipped_rows(self) -> list[tuple[str, str]]:
        """(file, reason) of every row of the skipped-files table, as shown."""
        return [(self.skipped_table.item(r, 0).text(), self.skipped_table.item(r, 1).text())
                for r in range(self.skipped_table.rowCount())]


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"
