"""LogPanel: the run's text log (config summary at start, then one line per epoch, warnings)."""
from __future__ import annotations

import time

from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QPlainTextEdit, QVBoxLayout, QWidget

MAX_BLOCKS = 20_000


class LogPanel(QWidget):
    """Read-only, monospace, bounded log view that keeps the newest lines in sight."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.view = QPlainTextEdit(readOnly=True)
        self.view.setFont(QFontDatabase.systemFont(QFontDatabase.FixedFont))
        self.view.setMaximumBlockCount(MAX_BLOCKS)
        self.view.setLineWrapMode(QPlainTextEdit.NoWrap)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)

    def append(self, text: str, stamp: bool = True) -> None:
        prefix = time.strftime("%H:%M:%S  ") if stamp else ""
        for line in text.splitlines() or [""]:
            self.view.appendPlainText(prefix + line)
            prefix = " " * len(prefix)

    def text(self) -> str:
        return self.view.toPlainText()

    def clear(self) -> None:
        self.view.clear()
