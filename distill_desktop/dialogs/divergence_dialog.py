"""Ask the user what to do when the engine reports that the monitored loss keeps rising.

The dialog only formats the engine's `DivergenceWarning` and returns the user's choice; acting on
it (stopping, rolling back with half the learning rate) is the worker's and the engine's job.
"""
from __future__ import annotations

import math

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QDialog, QHBoxLayout, QHeaderView, QLabel, QPushButton,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from distill_engine.training.events import DivergenceWarning
from distill_engine.training.reporting import monitored_name

KEEP = "keep"
STOP = "stop"
ROLLBACK = "rollback"


def _loss(x: float) -> str:
    return f"{x:.5g}" if math.isfinite(x) else str(x)


def streak_rows(event: DivergenceWarning) -> list[tuple[int | None, float, float | None]]:
    """(epoch, loss, rise from the previous row) for the epoch before the streak and each rise.

    `streak_losses` starts with the loss of the epoch before the streak; `streak_epochs` either
    names the same epochs or only the rising ones (then the first epoch is one before them)."""
    losses = [float(x) for x in event.streak_losses]
    epochs: list[int | None] = [int(e) for e in event.streak_epochs]
    if len(epochs) == len(losses) - 1:
        epochs.insert(0, epochs[0] - 1 if epochs else None)
    epochs += [None] * (len(losses) - len(epochs))
    return [(epochs[i], loss, None if i == 0 else loss - losses[i - 1]) for i, loss in enumerate(losses)]


def streak_sentence(event: DivergenceWarning) -> str:
    """e.g. "The validation loss has risen for 5 consecutive epochs (epoch 12 → 17)"."""
    rows = streak_rows(event)
    what = monitored_name(event.monitored)
    n = max(len(rows) - 1, 0) or event.patience
    text = f"The {what} has risen for {n} consecutive epoch{'s' if n != 1 else ''}"
    if rows and rows[0][0] is not None and rows[-1][0] is not None:
        text += f" (epoch {rows[0][0]} → {rows[-1][0]})"
    if len(rows) >= 2:
        text += f", from {_loss(rows[0][1])} to {_loss(rows[-1][1])}"
    return text + "."


class DivergenceDialog(QDialog):
    """Show a divergence streak and ask: keep training, stop, or roll back to the best checkpoint.

    Use non-modally with `open()` and the `finished` (or `choice_made`) signal, or modally with
    `exec()`; then read `choice()`. Closing or Esc means KEEP.
    """

    choice_made = Signal(str)

    def __init__(self, event: DivergenceWarning, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.divergence = event  # (not "event": that would shadow QObject.event())
        self._choice = KEEP
        self.setWindowTitle("Training is diverging")

        self.sentence_label = QLabel(streak_sentence(event))
        self.sentence_label.setWordWrap(True)
        font = self.sentence_label.font()
        font.setBold(True)
        self.sentence_label.setFont(font)
        detail = QLabel(f"Epoch {event.epoch}, step {event.step}; the divergence patience is "
                        f"{event.patience} epoch{'s' if event.patience != 1 else ''}. Keep training if "
                        "you expect it to recover; otherwise stop, or roll back to the best checkpoint.")
        detail.setWordWrap(True)

        rows = streak_rows(event)
        self.table = QTableWidget(len(rows), 3)
        self.table.setHorizontalHeaderLabels(["Epoch", monitored_name(event.monitored).capitalize(),
                                              "Rise"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        for r, (epoch, loss, rise) in enumerate(rows):
            cells = ["?" if epoch is None else str(epoch), _loss(loss),
                     "—" if rise is None else f"{rise:+.3g}"
                     + (f" ({rise / abs(loss - rise):+.1%})" if rise is not None and loss - rise else "")]
            for c, text in enumerate(cells):
                self.table.setItem(r, c, QTableWidgetItem(text))
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.table.resizeRowsToContents()
        self.table.setMinimumHeight(min(400, self.table.horizontalHeader().sizeHint().height()
                                        + self.table.verticalHeader().length() + 2 * self.table.frameWidth()))

        self.keep_button = QPushButton("Keep training")
        self.stop_button = QPushButton("Stop (keep the best checkpoint)")
        self.rollback_button = QPushButton("Roll back (restart from the best checkpoint with half the learning rate)")
        self.keep_button.setDefault(True)
        self.keep_button.clicked.connect(lambda: self._choose(KEEP))
        self.stop_button.clicked.connect(lambda: self._choose(STOP))
        self.rollback_button.clicked.connect(lambda: self._choose(ROLLBACK))
        buttons = QHBoxLayout()
        for button in (self.keep_button, self.stop_button, self.rollback_button):
            buttons.addWidget(button)

        layout = QVBoxLayout(self)
        layout.addWidget(self.sentence_label)
        layout.addWidget(detail)
        layout.addWidget(self.table)
        layout.addLayout(buttons)

    def choice(self) -> str:
        """KEEP, STOP or ROLLBACK (KEEP until a button is pressed, and after Esc/close)."""
        return self._choice

    def table_rows(self) -> list[tuple[str, str, str]]:
        """The streak table as shown: (epoch, loss, rise) texts."""
        return [tuple(self.table.item(r, c).text() for c in range(3)) for r in range(self.table.rowCount())]

    def _choose(self, choice: str) -> None:
        self._choice = choice
        self.accept()

    def done(self, result: int) -> None:  # every way of closing ends here
        if result != QDialog.DialogCode.Accepted:
            self._choice = KEEP
        super().done(result)
        self.choice_made.emit(self._choice)
