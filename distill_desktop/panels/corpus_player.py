"""CorpusPlayer: every file of a corpus report, to hear and see one at a time, as a sample browser
shows them: the used files (with their length and split), then the skipped ones (with the reason,
so a person can hear for themselves what was called silent). The chosen file is decoded off the
GUI thread and shown in a ClipView (spectrogram, play, export) through the window's AudioPlayer.
Arrow keys move through the list; Enter or a double click plays.
"""
from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QDialog, QLabel, QListWidget, QListWidgetItem, QSplitter, QVBoxLayout

from ..bridge.background import BackgroundJobs
from ..models.audio_clips import AudioClip, format_dbfs, read_clip, shared_levels
from ..widgets.clip_view import ClipView


class CorpusPlayer(QDialog):
    """A non-modal window over one CorpusReport; `set_report(report)` refills it."""

    shown = Signal(str)     # the path now on screen (tests)

    def __init__(self, player, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Corpus files")
        self.setModal(False)
        self.player = player
        self.jobs = BackgroundJobs()
        self.heading = QLabel("")
        self.files = QListWidget()
        self.files.currentItemChanged.connect(self._on_chosen)
        self.files.itemActivated.connect(lambda _item: self.clip_view.toggle_play())
        self.clip_view = ClipView(player, height=220)
        self.clip_view.exported.connect(lambda path: self.heading.setText(f"Exported {path}"))
        self.clip_view.export_failed.connect(self.heading.setText)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.files)
        splitter.addWidget(self.clip_view)
        splitter.setSizes([220, 320])
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(splitter, 1)
        self.resize(760, 620)

    def set_report(self, report) -> None:
        """List the files of `report` (a CorpusReport) and show the first."""
        self.files.blockSignals(True)
        self.files.clear()
        for used in report.used:
            rate = f" · {used.source_rate} Hz" if used.source_rate else ""
            self._add(used.path, f"{os.path.relpath(used.path, report.folder)}   ·   {used.duration_s:.2f} s{rate} · "
                                 f"{used.split}")
        for skipped in report.skipped:
            item = self._add(skipped.path, f"{os.path.relpath(skipped.path, report.folder)}   ·   skipped: {skipped.reason}")
            item.setForeground(Qt.GlobalColor.gray)
        self.files.blockSignals(False)
        self.heading.setText(f"{Path(report.folder).name}: {len(report.used)} files used, "
                             f"{len(report.skipped)} skipped")
        if self.files.count():
            self.files.setCurrentRow(0)
        else:
            self.clip_view.set_clip(None)

    def _add(self, path: str, text: str) -> QListWidgetItem:
        item = QListWidgetItem(text)
        item.setData(Qt.ItemDataRole.UserRole, path)
        item.setToolTip(path)
        self.files.addItem(item)
        return item

    def show_file(self, path) -> None:
        """Decode `path` off the GUI thread and show it."""
        self.clip_view.set_title(Path(path).name)
        self.clip_view.set_clip(None, key="")
        self.jobs.start(_read_clip_job, Path(path), on_result=self._on_read,
                        on_error=lambda exc, _details: self.heading.setText(f"Cannot read the file: {exc}"))

    def _on_chosen(self, item, _previous=None) -> None:
        if item is not None:
            self.show_file(item.data(Qt.ItemDataRole.UserRole))

    def _on_read(self, clip) -> None:
        if isinstance(clip, AudioClip):
            self.clip_view.set_title(clip.path.name, f"{clip.sample_rate} Hz · {clip.duration_s:.2f} s · "
                                                     f"RMS {format_dbfs(clip.rms)}")
            self.clip_view.set_levels(*shared_levels([clip.spectrogram]))
        self.clip_view.set_clip(clip, key=f"corpus|{clip.path}")
        self.shown.emit(str(clip.path))

    def shutdown(self) -> None:
        self.jobs.cancel()
        self.jobs.wait()
        self.clip_view.shutdown()

    def closeEvent(self, event) -> None:
        self.clip_view.shutdown()
        super().closeEvent(event)


def _read_clip_job(_job, path):
    return read_clip(path)
