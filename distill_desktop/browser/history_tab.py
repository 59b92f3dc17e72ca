"""HistoryTab: past runs and their checkpoints above a plot panel of their own, so browsing old
runs never disturbs the curves of a run that is training."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox, QSplitter, QVBoxLayout, QWidget

from ..panels.loss_plot import LossPlotPanel
from .run_browser import RunBrowser
from ..bridge.worker import RunRequest


class HistoryTab(QWidget):
    """Runs browser + a LossPlotPanel; turns a checkpoint's Resume into a RunRequest."""

    resume_requested = Signal(object)  # RunRequest

    def __init__(self, runs_dirs, parent=None):
        super().__init__(parent)
        self.plot_panel = LossPlotPanel()
        self.browser = RunBrowser(self.plot_panel, runs_dirs)
        splitter = QSplitter(Qt.Vertical)
        splitter.addWidget(self.browser)  # its button rows wrap, so it never widens the window
        splitter.addWidget(self.plot_panel)
        splitter.setChildrenCollapsible(False)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)   # the plot (legend, two plots, readout) gets the larger share
        splitter.setSizes([300, 450])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)
        self.browser.resume_requested.connect(self._on_resume)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.browser.runs.refresh()

    def ask_total_epochs(self, done: int, planned: int) -> int | None:
        """How many epochs in total the resumed run should reach (tests override this)."""
        value, ok = QInputDialog.getInt(self, "Resume training", f"Train up to epoch (done: {done}):",
                                        max(planned, done + 1), done + 1, 1_000_000)
        return value if ok else None

    def ask_corpus_folder(self, missing: str) -> str | None:
        """Where the run's corpus folder went, when `missing` no longer exists (tests override this)."""
        folder = QFileDialog.getExistingDirectory(
            self, f"The corpus folder {missing} is gone: where did it move?", str(Path(missing).parent))
        return folder or None

    def _on_resume(self, run_dir: str, checkpoint_path: str, mode: str) -> None:
        """Continue the run, or start a new run linked to it, through the engine's resume
        (distill_engine.runs.admin.resume_trainer, as `distill-train --resume`)."""
        from distill_engine.checkpoints.format import read_checkpoint_info  # the header only: no torch
        from distill_engine.config.schema import config_from_dict
        from distill_engine.errors import DistillError
        from distill_engine.runs.reader import open_run

        try:
            checkpoint = read_checkpoint_info(checkpoint_path)
            planned = config_from_dict(checkpoint.config).epochs
            with open_run(run_dir) as run:
                corpus = run.corpus_path
        except DistillError as exc:
            QMessageBox.warning(self, "Cannot resume", str(exc))
            return
        epochs = self.ask_total_epochs(checkpoint.epoch, planned)
        if epochs is None:
            return
        moved_to = ""
        if corpus and not Path(corpus).is_dir():
            moved_to = self.ask_corpus_folder(corpus)
            if not moved_to:
                return
        self.resume_requested.emit(RunRequest(resume_run=run_dir, resume_checkpoint=checkpoint_path,
                                              resume_mode=mode, epochs=epochs, corpus_folder=moved_to,
                                              runs_dir=str(self.browser.runs.folders[0])))

    def shutdown(self) -> None:
        self.browser.shutdown()
