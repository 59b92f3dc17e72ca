"""Divergence detection: warn once per streak of rising epoch losses."""
from __future__ import annotations

import math


class DivergenceDetector:
    """Tracks the monitored epoch loss and reports when it has risen `patience` epochs in a row.

    A rise is a loss greater than the previous epoch's (a non-finite loss counts as a rise). One
    report per streak: after reporting, the streak must end (a non-rise) before it can report
    again. patience = 0 disables detection.
    """

    def __init__(self, patience: int):
        self.patience = int(patience)
        self.history: list[tuple[int, float]] = []  # (epoch, loss) of the current streak, with its start
        self.reported = False

    def update(self, epoch: int, loss: float) -> tuple[tuple[int, ...], tuple[float, ...]] | None:
        """Record one epoch's loss; returns (epochs, losses) of the streak when it should be reported."""
        rising = bool(self.history) and (not math.isfinite(loss) or loss > self.history[-1][1])
        if rising:
            self.history.append((epoch, loss))
        else:
            self.history = [(epoch, loss)]
            self.reported = False
        rises = len(self.history) - 1
        if self.patience > 0 and rises >= self.patience and not self.reported:
            self.reported = True
            return tuple(e for e, _ in self.history), tuple(l for _, l in self.history)
        return None

    def state_dict(self) -> dict:
        return {"patience": self.patience, "history": [list(p) for p in self.history], "reported": self.reported}

    def load_state_dict(self, state: dict) -> None:
        self.patience = int(state["patience"])
        self.history = [(int(e), float(l)) for e, l in state["history"]]
        self.reported = bool(state["reported"])
