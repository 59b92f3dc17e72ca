"""The loss plot's hover readout: the values under the mouse as a small table (a column per
component and schedule, a row per series: per step, smoothed per step, per epoch, validation) in an area of fixed
height, so showing or clearing it never resizes the plot. Empty until the mouse is over a plot.
"""
from __future__ import annotations

from PySide6 import QtCore, QtWidgets

ROWS = ("step", "smoothed", "epoch", "val")
ROW_LABELS = {"step": "per step", "smoothed": "smoothed", "epoch": "per epoch", "val": "validation"}
HINT = "Hover over the plot to read the values under the mouse."


class HoverReadout(QtWidgets.QWidget):
    """A fixed-height grid: `show_values(title, cells)` fills it, `clear()` empties it.

    columns: [(key, label, colour)] in display order; cells: {(row, key): text}."""

    def __init__(self, columns, parent=None):
        super().__init__(parent)
        self.columns = list(columns)
        self.setObjectName("hover_readout")      # on the plot's black, where the curves' colours read
        self.setAttribute(QtCore.Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setStyleSheet("#hover_readout { background: black; } QLabel { color: #d8d8d8; }")
        grid = QtWidgets.QGridLayout(self)
        grid.setContentsMargins(4, 2, 4, 2)
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(0)

        def label(align=QtCore.Qt.AlignmentFlag.AlignRight):
            widget = QtWidgets.QLabel("0", textFormat=QtCore.Qt.TextFormat.PlainText)
            widget.setAlignment(align | QtCore.Qt.AlignmentFlag.AlignVCenter)
            # the text never widens the window: a cell too narrow for it is cut, not grown
            widget.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Fixed)
            return widget

        self.title = label(QtCore.Qt.AlignmentFlag.AlignLeft)
        grid.addWidget(self.title, 0, 0)
        self.headers, self.row_labels, self.cells = {}, {}, {}
        for c, (key, text, color) in enumerate(self.columns, start=1):
            header = self.headers[key] = label()
            header.setStyleSheet(f"color: {color}; font-weight: bold")
            header.setProperty("text_when_shown", text)
            grid.addWidget(header, 0, c)
        for r, row in enumerate(ROWS, start=1):
            self.row_labels[row] = label(QtCore.Qt.AlignmentFlag.AlignLeft)
            grid.addWidget(self.row_labels[row], r, 0)
            for c, (key, _, _) in enumerate(self.columns, start=1):
                self.cells[(row, key)] = label()
                grid.addWidget(self.cells[(row, key)], r, c)
        self.hint = label(QtCore.Qt.AlignmentFlag.AlignLeft)   # over the whole first row while empty
        self.hint.setStyleSheet("color: #9a9a9a")
        grid.addWidget(self.hint, 0, 0, 1, len(self.columns) + 1)
        grid.setColumnStretch(0, 2)
        for c in range(1, len(self.columns) + 1):
            grid.setColumnStretch(c, 2)
        self.setFixedHeight(self.sizeHint().height())    # every row present: the height never changes
        self.clear()

    def show_values(self, title: str, cells: dict) -> None:
        self.hint.setText("")
        self.title.setText(title)
        for key, header in self.headers.items():
            header.setText(header.property("text_when_shown"))
        rows = {row for row, _ in cells}
        for row, widget in self.row_labels.items():
            widget.setText(ROW_LABELS[row] if row in rows or row != "smoothed" else "")
        for place, widget in self.cells.items():
            widget.setText(cells.get(place, ""))

    def clear(self) -> None:
        self.hint.setText(HINT)
        for widget in (self.title, *self.headers.values(), *self.row_labels.values(), *self.cells.values()):
            widget.setText("")

    def is_empty(self) -> bool:
        return all(not w.text() for w in self.cells.values())

    def text_at(self, row: str, key: str) -> str:
        """The text of one cell (row: one of ROWS; key: a column key)."""
        return self.cells[(row, key)].text()

    def text(self) -> str:
        """Everything shown, row by row (for logs and tests)."""
        lines = [self.title.text() or self.hint.text()]
        for row in ROWS:
            values = [f"{self.headers[k].text()} {self.cells[(row, k)].text()}"
                      for k, _, _ in self.columns if self.cells[(row, k)].text()]
            if values:
                lines.append(f"{ROW_LABELS[row]}: " + " · ".join(values))
        return "\n".join(lines)
