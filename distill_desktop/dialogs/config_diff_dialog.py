"""Config diff between two runs: only the fields that differ, side by side (field, A, B)."""
from __future__ import annotations

import json

from PySide6.QtWidgets import (QAbstractItemView, QDialog, QDialogButtonBox, QHeaderView, QLabel,
                               QTableWidget, QTableWidgetItem, QVBoxLayout)

from distill_engine.runs.admin import config_diff

ABSENT = "(absent)"


def format_config_value(value) -> str:
    """A config value as the user wrote it in TOML (lists in brackets, strings unquoted)."""
    if value is None:
        return ABSENT
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


class ConfigDiffDialog(QDialog):
    """Table of (dotted field path, value in run A, value in run B); "No differences" when equal.

    Configs are TrainingConfig objects or config dicts (None: the run has no config.toml).
    """

    def __init__(self, run_a_label: str, config_a, run_b_label: str, config_b, parent=None):
        super().__init__(parent)
        self.setWindowTitle(f"Config: {run_a_label} vs {run_b_label}")
        self.differences = config_diff(config_a, config_b)
        self.table = QTableWidget(len(self.differences), 3)
        self.table.setHorizontalHeaderLabels(["Field", run_a_label, run_b_label])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        for row, (path, a, b) in enumerate(self.differences):
            for column, text in enumerate((path, format_config_value(a), format_config_value(b))):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.table.setItem(row, column, item)
        count = len(self.differences)
        self.summary = QLabel("No differences" if count == 0 else
                              f"{count} field{'s' if count != 1 else ''} differ")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)
        self.table.setVisible(count > 0)
        self.resize(640, 360)

    def rows(self) -> list[tuple[str, str, str]]:
        """The table's text, row by row (what the user sees)."""
        return [tuple(self.table.item(r, c).text() for c in range(3))
                for r in range(self.table.rowCount())]
