"""A non-blocking error report: one-line message, traceback behind "Details…", and "Copy details"."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (QDialog, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QStyle, QVBoxLayout,
                               QWidget)

# Parentless dialogs opened by show_error stay referenced here until they close.
_OPEN: set["ErrorDialog"] = set()


class ErrorDialog(QDialog):
    """Title, a one-line message and (when given) the details/traceback behind a toggle."""

    def __init__(self, title: str, message: str, details: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        icon = QLabel()
        icon.setPixmap(self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxCritical).pixmap(32, 32))
        self.message_label = QLabel(message)
        self.message_label.setWordWrap(True)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.details_edit = QPlainTextEdit(details)
        self.details_edit.setReadOnly(True)
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        mono.setStyleHint(QFont.StyleHint.Monospace)
        mono.setFixedPitch(True)
        self.details_edit.setFont(mono)
        self.details_edit.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.details_edit.setMinimumHeight(200)
        self.details_edit.hide()

        self.details_button = QPushButton("Details…")
        self.details_button.setCheckable(True)
        self.details_button.toggled.connect(self.set_details_visible)
        self.copy_button = QPushButton("Copy details")
        self.copy_button.clicked.connect(self.copy_details)
        for button in (self.details_button, self.copy_button):
            button.setVisible(bool(details))
        self.close_button = QPushButton("Close")
        self.close_button.setDefault(True)
        self.close_button.clicked.connect(self.accept)

        top = QHBoxLayout()
        top.addWidget(icon, 0, Qt.AlignmentFlag.AlignTop)
        top.addWidget(self.message_label, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.details_button)
        buttons.addWidget(self.copy_button)
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.details_edit, 1)
        layout.addLayout(buttons)

    def details(self) -> str:
        return self.details_edit.toPlainText()

    def set_details_visible(self, visible: bool) -> None:
        self.details_edit.setVisible(visible)
        if self.details_button.isChecked() != visible:
            self.details_button.setChecked(visible)
        self.details_button.setText("Hide details" if visible else "Details…")
        self.adjustSize()

    def copy_details(self) -> None:
        """Put the title, message and details on the clipboard (for a bug report)."""
        text = f"{self.windowTitle()}\n{self.message_label.text()}\n\n{self.details()}".rstrip() + "\n"
        QGuiApplication.clipboard().setText(text)


def show_error(parent: QWidget | None, title: str, message: str, details: str = "") -> ErrorDialog:
    """Open an ErrorDialog without blocking (it deletes itself when closed) and return it."""
    dialog = ErrorDialog(title, message, details, parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    _OPEN.add(dialog)
    dialog.finished.connect(lambda _result, d=dialog: _OPEN.discard(d))
    dialog.setModal(False)
    dialog.show()
    dialog.raise_()
    return dialog
