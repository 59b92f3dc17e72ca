"""LogPanel: the run's text log (config summary at start, then one line per epoch, warnings).

It behaves as a log viewer does: lines start at the left edge (long ones scroll sideways, or wrap
with "Wrap long lines"), and new lines keep the view following the end only while it is at the
bottom; a person who scrolled up to read stays where they are.
"""
from __future__ import annotations

import time

from PySide6.QtGui import QFontDatabase, QTextCursor
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QPlainTextEdit, QVBoxLayout, QWidget

MAX_BLOCKS = 20_000


class LogPanel(QWidget):
    """Read-only, monospace, bounded log view; follows new lines only while scrolled to the bottom."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.view = QPlainTextEdit(readOnly=True)
        self.view.setFont(QFontDatabase.systemFont(QFontDatabase.FixedFont))
        self.view.setMaximumBlockCount(MAX_BLOCKS)
        self.view.setLineWrapMode(QPlainTextEdit.NoWrap)
        self._has_text = False
        self.wrap_box = QCheckBox("Wrap long lines")
        self.wrap_box.toggled.connect(self.set_wrapping)
        options = QHBoxLayout()
        options.setContentsMargins(4, 2, 4, 0)
        options.addWidget(self.wrap_box)
        options.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(options)
        layout.addWidget(self.view)

    def set_wrapping(self, wrap: bool) -> None:
        self.view.setLineWrapMode(QPlainTextEdit.WidgetWidth if wrap else QPlainTextEdit.NoWrap)
        if self.wrap_box.isChecked() != wrap:
            self.wrap_box.setChecked(wrap)

    def append(self, text: str, stamp: bool = True) -> None:
        vertical, horizontal = self.view.verticalScrollBar(), self.view.horizontalScrollBar()
        following = vertical.value() >= vertical.maximum() - 1
        left, top = horizontal.value(), vertical.value()
        prefix = time.strftime("%H:%M:%S  ") if stamp else ""
        cursor = QTextCursor(self.view.document())  # not the view's cursor: the view does not jump
        cursor.movePosition(QTextCursor.MoveOperation.End)
        for line in text.splitlines() or [""]:
            if self._has_text:
                cursor.insertBlock()
            self._has_text = True
            cursor.insertText(prefix + line)
            prefix = " " * len(prefix)
        horizontal.setValue(left)
        vertical.setValue(vertical.maximum() if following else top)

    def text(self) -> str:
        return self.view.toPlainText()

    def clear(self) -> None:
        self.view.clear()
        self._has_text = False
