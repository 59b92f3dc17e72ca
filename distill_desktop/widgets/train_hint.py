"""TrainHint: the line beside ▶ Train that says why training cannot start, or what a run does now.

When the reason is an invalid config field, the field's name is a link: clicking it asks the
window (`field_requested(path)`) to scroll the editor to the field and focus it — the field may be
scrolled out of view, or the side dock hidden.
"""
from __future__ import annotations

import html

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import QLabel, QSizePolicy

MIN_WIDTH = 240


class TrainHint(QLabel):
    """Rich-text reason line; emits `field_requested(dotted path)` when its field link is clicked."""

    field_requested = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("train_hint")
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.LinksAccessibleByMouse
                                     | Qt.TextInteractionFlag.LinksAccessibleByKeyboard)
        # takes the toolbar's free width but never asks for more (the bar would hide it in its
        # overflow menu): a reason longer than the free width is cut, whole in the tooltip
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setMinimumWidth(MIN_WIDTH)
        self.setContentsMargins(8, 0, 8, 0)
        self.linkActivated.connect(self.field_requested)
        self._plain = ""

    def show_reason(self, reason: str, field: tuple[str, str] | None = None, problem: bool = True) -> None:
        """Show `reason` ("" hides the line); `field` (path, words) is named as a clickable link."""
        plain = reason + (f": {field[1]}" if field else "")
        self._plain = plain
        if not plain:
            self.clear()
            self.setToolTip("")
            return
        color = "#d32f2f" if problem else "#6d6d6d"
        text = html.escape(reason)
        if field:
            text += f': <a href="{html.escape(field[0])}">{html.escape(field[1])}</a>'
        self.setText(f'<span style="color:{color}">{text}</span>')
        self.setToolTip(plain + ("\n(click the field's name to go to it)" if field else ""))

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt name)
        return QSize(MIN_WIDTH, super().sizeHint().height())

    def plain_text(self) -> str:
        """The line as plain text (what a person reads)."""
        return self._plain
