"""Divergence detection: warn once per streak of rising epoch losses (DivergenceDetector), and at
once when a step or epoch loss jumps far above its recent level (SpikeDetector)."""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from .events import DivergenceWarning


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


@dataclass(frozen=True)
class Spike:
    """A loss far above its recent level: `loss` > `factor` x `reference` (the running median)."""

    per: str  # "step" or "epoch"
    epoch: int
    step: int
    loss: float
    reference: float
    factor: float
    history: int  # how many earlier losses the median was taken over


class SpikeDetector:
    """Reports a step or epoch loss above `factor` times the median of the last `window` losses.

    Large-model trainers guard against blow-ups this way: a rising-streak rule waits for several
    epochs, a blow-up shows in one step — often the second (measured: at learning rate 0.03 the
    loss went from 4.7 to 1.7e6 at step 2), so one earlier loss is enough to judge the next: the
    first step (or epoch) is the only one not judged.
    A spiked loss does not enter the median, so the reference stays at the level before the blow-up
    and one blow-up is reported once (by whichever kind sees it first): the episode ends when a
    loss is back under the threshold.
    Non-finite losses are left to the non-finite rule. factor = 0 disables detection.
    """

    def __init__(self, factor: float, window: int):
        self.factor, self.window = float(factor), max(int(window), 1)
        self.steps: list[float] = []
        self.epochs: list[float] = []
        self.in_episode = {"step": False, "epoch": False}
        self.began: tuple[int, int] | None = None  # (epoch, step) where the current blow-up began

    def update_step(self, epoch: int, step: int, loss: float) -> Spike | None:
        """Judge one step's training loss; a Spike when it should be reported."""
        return self._update("step", self.steps, epoch, step, loss)

    def update_epoch(self, epoch: int, step: int, loss: float) -> Spike | None:
        """Judge one epoch's monitored loss; a Spike when it should be reported."""
        return self._update("epoch", self.epochs, epoch, step, loss)

    def _update(self, per, history, epoch, step, loss) -> Spike | None:
        if not math.isfinite(loss):
            return None
        if self.factor <= 0 or not history:
            history.append(loss)
            del history[:-self.window]
            return None
        reference = statistics.median(history)
        if reference > 0 and loss > self.factor * reference:
            if self.in_episode[per]:
                return None
            self.in_episode[per] = True
            if self.began is not None:  # the other kind already reported this blow-up
                return None
            self.began = (epoch, step)
            return Spike(per, epoch, step, loss, reference, self.factor, len(history))
        self.in_episode[per] = False
        if not any(self.in_episode.values()):
            self.began = None
        history.append(loss)
        del history[:-self.window]
        return None

    def state_dict(self) -> dict:
        return {"factor": self.factor, "window": self.window, "steps": list(self.steps), "epochs": list(self.epochs),
                "in_episode": dict(self.in_episode), "began": list(self.began) if self.began else None}

    def load_state_dict(self, state: dict) -> None:
        self.steps = [float(x) for x in state["steps"]][-self.window:]
        self.epochs = [float(x) for x in state["epochs"]][-self.window:]
        self.in_episode = {k: bool(v) for k, v in state["in_episode"].items()}
        self.began = tuple(int(x) for x in state["began"]) if state.get("began") else None


def divergence_warning(rule: str, monitored: str, epoch: int, step: int, state, detector: DivergenceDetector,
                       spikes: SpikeDetector, streak=None, spike: Spike | None = None) -> DivergenceWarning:
    """The warning for `rule` ("rising", "spike", "non-finite"), with where the blow-up began and
    the best checkpoint (from the TrainingState `state`), which a roll back would start from."""
    began = spikes.began or ((streak[0][1], 0) if streak and len(streak[0]) > 1 else (epoch, step))
    if spike is not None:
        streak = ((spike.epoch,), (spike.reference, spike.loss))
    extra = dict(reference_loss=spike.reference, factor=spike.factor, per=spike.per) if spike is not None else {}
    best = state.best_loss
    return DivergenceWarning(
        epoch, step, monitored, detector.patience, *(streak or ((), ())), rule=rule,
        began_epoch=began[0], began_step=began[1], best_epoch=state.best_epoch, best_step=state.best_step,
        best_loss=best if math.isfinite(best) else math.nan, **extra)
