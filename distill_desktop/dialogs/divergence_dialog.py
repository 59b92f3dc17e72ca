"""Ask the user what to do when the engine reports a divergence: the monitored loss keeps rising,
a loss spiked far above its recent level, or the run failed on non-finite losses.

The dialog only formats the engine's `DivergenceWarning` and returns the user's choice; acting on
it (stopping, rolling back with a lower learning rate) is the worker's and the engine's job. It
names the checkpoint a roll back starts from and warns when that checkpoint is itself from after
the blow-up began.
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

#: a roll back's learning-rate multiple by rule: a slow rise halves it; a blow-up means it is far too high
ROLLBACK_FACTORS = {"rising": 0.5, "spike": 0.1, "non-finite": 0.1}
_FACTOR_WORDS = {0.5: "half", 0.1: "a tenth of"}


def rollback_factor(event: DivergenceWarning) -> float:
    """The multiple of the learning rate a roll back after `event` trains with."""
    return ROLLBACK_FACTORS.get(getattr(event, "rule", "rising"), 0.5)


def checkpoint_after_blowup(event: DivergenceWarning) -> bool:
    """True when the best checkpoint was written at or after the step (or epoch) the blow-up began."""
    if event.best_epoch <= 0 or event.began_epoch <= 0:
        return False
    if event.began_step > 0 and event.best_step > 0:
        return event.best_step >= event.began_step
    return event.best_epoch >= event.began_epoch


def rollback_sentence(event: DivergenceWarning) -> str:
    """Which checkpoint a roll back starts from (epoch, validation loss) and at which rate."""
    rate = f"{_FACTOR_WORDS.get(rollback_factor(event), rollback_factor(event))} the learning rate"
    if event.best_epoch <= 0:
        return (f"Roll back: there is no checkpoint from before the blow-up, so a new linked run starts "
                f"from the beginning with {rate}.")
    what = "validation loss" if monitored_name(event.monitored) == "validation loss" else "loss"
    text = (f"Roll back starts a new linked run from the best checkpoint: epoch {event.best_epoch} "
            f"({what} {_loss(event.best_loss)}), with {rate}.")
    if checkpoint_after_blowup(event):
        step = f", step {event.began_step}" if event.began_step > 0 else ""
        text += (f"\n⚠ That checkpoint is from after the blow-up began (epoch {event.began_epoch}{step}): its "
                 f"weights may already be broken. Consider stopping and starting a new run at a lower learning rate.")
    return text


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
    rule = getattr(event, "rule", "rising")
    what = monitored_name(event.monitored)
    if rule == "spike":
        loss, reference = event.streak_losses[-1], event.reference_loss
        where = f"at step {event.step} (epoch {event.epoch})" if event.per == "step" \
            else f"in epoch {event.epoch}"
        ratio = f"{loss / reference:.3g}×" if reference else "far above"
        return f"The {what} jumped to {_loss(loss)} {where}: {ratio} its recent median of {_loss(reference)}."
    if rule == "non-finite":
        return (f"The run stopped at step {event.step}: the training loss or its gradient was not finite "
                "(NaN or infinite) for several consecutive steps.")
    rows = streak_rows(event)
    what = monitored_name(event.monitored)
    n = max(len(rows) - 1, 0) or event.patience
    text = f"The {what} has risen for {n} consecutive epoch{'s' if n != 1 else ''}"
    if rows and rows[0][0] is not None and rows[-1][0] is not None:
        text += f" (epoch {rows[0][0]} → {rows[-1][0]})"
    if len(rows) >= 2:
        text += f", from {_loss(rows[0][1])} to {_loss(rows[-1][1])}"
    return text + "."


def spike_rows(event: DivergenceWarning) -> list[tuple[str, float, float | None]]:
    """(when, loss, rise) for the recent median and the spiking loss."""
    reference, loss = event.reference_loss, event.streak_losses[-1]
    per = "steps" if event.per == "step" else "epochs"
    when = f"step {event.step}" if event.per == "step" else f"epoch {event.epoch}"
    return [(f"median of recent {per}", reference, None), (when, loss, loss - reference)]


def _detail(event: DivergenceWarning) -> str:
    rule = getattr(event, "rule", "rising")
    if rule == "spike":
        return (f"A loss above {event.factor:g}× its recent median counts as a blow-up (the spike factor). "
                "Keep training if you expect it to recover; otherwise stop, or roll back.")
    if rule == "non-finite":
        return "No update was made at those steps. You can roll back to the last good checkpoint at a lower rate."
    return (f"Epoch {event.epoch}, step {event.step}; the divergence patience is {event.patience} "
            f"epoch{'s' if event.patience != 1 else ''}. Keep training if you expect it to recover; otherwise "
            "stop, or roll back to the best checkpoint.")


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
        rule = getattr(event, "rule", "rising")
        detail = QLabel(_detail(event))
        detail.setWordWrap(True)
        self.rollback_label = QLabel(rollback_sentence(event))
        self.rollback_label.setWordWrap(True)
        if checkpoint_after_blowup(event):
            self.rollback_label.setStyleSheet("color: #b71c1c;")

        rows = streak_rows(event) if rule == "rising" else spike_rows(event) if rule == "spike" else []
        self.table = QTableWidget(len(rows), 3)
        self.table.setHorizontalHeaderLabels(["Epoch" if rule == "rising" else "When",
                                              monitored_name(event.monitored).capitalize(),
                                              "Rise"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        for r, (epoch, loss, rise) in enumerate(rows):
            base = None if rise is None else loss - rise
            relative = "" if not base else f" ({loss / base:.3g}×)" if rule == "spike" else f" ({rise / abs(base):+.1%})"
            cells = ["?" if epoch is None else str(epoch), _loss(loss),
                     "—" if rise is None else f"{rise:+.3g}{relative}"]
            for c, text in enumerate(cells):
                self.table.setItem(r, c, QTableWidgetItem(text))
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.table.resizeRowsToContents()
        self.table.setMinimumHeight(min(400, self.table.horizontalHeader().sizeHint().height()
                                        + self.table.verticalHeader().length() + 2 * self.table.frameWidth()))

        rate = _FACTOR_WORDS.get(rollback_factor(event), f"{rollback_factor(event):g}x")
        start = "the best checkpoint" if event.best_epoch > 0 or rule == "rising" else "the beginning"
        self.keep_button = QPushButton("Keep training")
        self.stop_button = QPushButton("Close" if rule == "non-finite" else "Stop (keep the best checkpoint)")
        self.rollback_button = QPushButton(f"Roll back (restart from {start} with {rate} the learning rate)")
        self.keep_button.setVisible(rule != "non-finite")  # that run has already ended
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
        if rows:
            layout.addWidget(self.table)
        else:
            self.table.hide()
        layout.addWidget(self.rollback_label)
        layout.addLayout(buttons)

    def rollback_text(self) -> str:
        return self.rollback_label.text()

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
