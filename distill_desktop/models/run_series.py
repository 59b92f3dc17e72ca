"""One run's metrics in the window (no Qt): a columnar model, fed through one entry point.

`RunSeries` holds two growing tables, `steps` (one row per step, keyed by "step") and `epochs` (one
row per epoch, keyed by "epoch"), each `{column: float64 array}` of equal length, and the run's one
step -> fractional epoch mapping (`fractional_epochs`, anchored on the epochs table's steps). Every
source feeds it the same way, `RunSeries.extend(steps=rows, epochs=rows, steps_per_epoch=n)` with
rows = `{column: array}`:

- the live steps: the worker's StepMetrics / EpochMetrics events, turned into rows by `rows_of`;
- a stored history (continuing a run, opening one in the Runs tab, an overlay): models.run_curves;
- a followed run: the rows bridge.run_follower reads after each poll.

A column the rows lack reads NaN for those rows; a column the model does not keep is ignored. The
column names come from the metric schema (distill_engine.training.events); the views reading the
model (loss plot, Contributions chart, overlays) subscribe to its changes.
"""
from __future__ import annotations

import math
from dataclasses import fields, is_dataclass

import numpy as np

from distill_engine.training.events import EpochMetrics, StepMetrics, key_names

from .series import GrowingArray

STEP_KEY, EPOCH_KEY, WALL_TIME = "step", "epoch", "wall_time"
#: the key columns each table keeps: a step row's step and wall time (its integer epoch is not kept:
#: fractional_epochs places every step), an epoch row's epoch, step and wall time
STEP_KEYS = tuple(k for k in key_names(StepMetrics) if k != EPOCH_KEY)
EPOCH_KEYS = key_names(EpochMetrics)
CHANGES = ("steps", "epochs", "pace", "cleared")
_NAN = math.nan


def fractional_epochs(steps, anchors: dict, steps_per_epoch=None) -> np.ndarray:
    """The window's one step -> fractional epoch mapping (live curves, stored runs, overlays).

    anchors: {epoch: the step it ended at} (the EpochMetrics rows). Linear between anchors; outside
    them at `steps_per_epoch` (given, else inferred from the anchors; from one anchor alone, with
    the run assumed to start at step 0). NaN when neither gives a pace."""
    steps = np.asarray(steps, dtype=np.float64)
    pairs = sorted((float(s), float(e)) for e, s in anchors.items() if math.isfinite(s))
    spe = steps_per_epoch or None
    if spe is None and len(pairs) >= 2:
        spe = (pairs[-1][0] - pairs[0][0]) / (pairs[-1][1] - pairs[0][1])
    elif spe is None and pairs:
        spe = pairs[0][0] / pairs[0][1] if pairs[0][1] > 0 else pairs[0][0]
    if not spe or spe <= 0:
        return np.full(len(steps), _NAN)
    if not pairs:
        return steps / spe
    a_steps, a_epochs = np.array(pairs).T
    out = np.interp(steps, a_steps, a_epochs)
    before, after = steps < a_steps[0], steps > a_steps[-1]
    out[before] = a_epochs[0] + (steps[before] - a_steps[0]) / spe
    out[after] = a_epochs[-1] + (steps[after] - a_steps[-1]) / spe
    return out


def rows_of(events, names=None) -> dict:
    """{column: float64 array} of metric events (StepMetrics, EpochMetrics or anything with the
    attributes): every dataclass field, or `names`; a missing attribute reads NaN."""
    events = list(events)
    if not events:
        return {}
    if names is None:
        names = [f.name for f in fields(events[0])] if is_dataclass(events[0]) else []
    return {name: np.fromiter((getattr(e, name, _NAN) for e in events), np.float64, len(events))
            for name in names}


class Table:
    """Growing columns of equal length keyed by one of them (`key`)."""

    def __init__(self, key: str, names):
        self.key = key
        self.names = tuple(dict.fromkeys((key, *names)))
        self.columns = {name: GrowingArray() for name in self.names}

    def __len__(self) -> int:
        return len(self.columns[self.key])

    def __getitem__(self, name: str) -> np.ndarray:
        """A view of one column (valid until the table grows)."""
        return self.columns[name].data

    def extend(self, rows: dict) -> int:
        """Append rows {column: values}; they must hold the key; returns how many were appended."""
        if not rows:
            return 0
        if self.key not in rows:
            raise KeyError(f"rows without their key column {self.key!r}: {sorted(rows)}")
        count = len(rows[self.key])
        for name in self.names:              # checked first: a refused append changes nothing
            if name in rows and len(rows[name]) != count:
                raise ValueError(f"column {name!r} has {len(rows[name])} rows, {self.key!r} has {count}")
        for name, column in self.columns.items():
            values = rows.get(name)
            column.extend(np.full(count, _NAN) if values is None else values)
        return count

    def clear(self) -> None:
        for column in self.columns.values():
            column.clear()


class RunSeries:
    """One run's metrics: `steps` and `epochs` tables and the step -> epoch mapping; fed by `extend`.

    step_names / epoch_names: the metric columns kept (the key columns always are). Subscribers
    are called with the set of changes (CHANGES) after each `extend` or `clear`.
    """

    def __init__(self, step_names=(), epoch_names=()):
        self.steps = Table(STEP_KEY, (*STEP_KEYS, *step_names))
        self.epochs = Table(EPOCH_KEY, (*EPOCH_KEYS, *epoch_names))
        self.steps_per_epoch: int | None = None
        self.t0 = _NAN                        # the run's first wall time
        self.anchor_version = 0               # changes whenever the step -> epoch mapping does
        self._anchors: dict[float, float] = {}
        self._step_epochs, self._step_epochs_version = GrowingArray(), -1
        self._subscribers: list = []

    def subscribe(self, callback) -> None:
        """Call callback(changes: set) after every change."""
        self._subscribers.append(callback)

    def table(self, per: str) -> Table:
        """The "step" or "epoch" table."""
        return self.steps if per == STEP_KEY else self.epochs

    # -- the entry point ---------------------------------------------------------------------
    def extend(self, steps: dict | None = None, epochs: dict | None = None,
               steps_per_epoch: int | None = None) -> None:
        """Append step rows and/or epoch rows ({column: values}, with their key column) and/or
        set the run's steps per epoch (RunStarted.steps_per_epoch)."""
        changes = set()
        if steps_per_epoch and steps_per_epoch != self.steps_per_epoch:
            self.steps_per_epoch = int(steps_per_epoch)
            self.anchor_version += 1
            changes.add("pace")
        for name, table, rows in (("steps", self.steps, steps), ("epochs", self.epochs, epochs)):
            if rows and table.extend(rows):
                changes.add(name)
                if self._note_wall_times(rows.get(WALL_TIME)):
                    changes.add("pace")
        if epochs and "epochs" in changes and self._note_anchors(epochs):
            changes.add("pace")
        if changes:
            self._changed(changes)

    def clear(self) -> None:
        self.steps.clear()
        self.epochs.clear()
        self._anchors.clear()
        self.steps_per_epoch, self.t0 = None, _NAN
        self.anchor_version += 1
        self._changed({"cleared"})

    def _changed(self, changes: set) -> None:
        for callback in self._subscribers:
            callback(changes)

    def _note_wall_times(self, walls) -> bool:
        if walls is None:
            return False
        walls = np.asarray(walls, dtype=np.float64)
        finite = walls[np.isfinite(walls)]
        if len(finite) and not finite.min() >= self.t0:
            self.t0 = float(finite.min())
            return True
        return False

    def _note_anchors(self, epochs: dict) -> bool:
        steps = epochs.get(STEP_KEY)
        if steps is None:
            return False
        moved = False
        for epoch, step in zip(np.asarray(epochs[EPOCH_KEY], np.float64), np.asarray(steps, np.float64)):
            if math.isfinite(step) and self._anchors.get(float(epoch)) != step:
                self._anchors[float(epoch)] = float(step)
                moved = True
        if moved:
            self.anchor_version += 1
        return moved

    # -- reading -----------------------------------------------------------------------------
    @property
    def anchors(self) -> dict:
        """{epoch: the step it ended at}."""
        return dict(self._anchors)

    def steps_to_epochs(self, steps) -> np.ndarray:
        """Fractional epochs of steps (fractional_epochs with this run's anchors and pace)."""
        return fractional_epochs(steps, self._anchors, self.steps_per_epoch)

    def step_epochs(self) -> np.ndarray:
        """The fractional epoch of every step row (kept up to date incrementally)."""
        if self._step_epochs_version != self.anchor_version:
            self._step_epochs.clear()
            self._step_epochs_version = self.anchor_version
        done, steps = len(self._step_epochs), self.steps[STEP_KEY]
        if done < len(steps):
            self._step_epochs.extend(self.steps_to_epochs(steps[done:]))
        return self._step_epochs.data

    def offset(self, mode: str) -> float:
        """What `x` subtracts in an x mode: the run's first wall time for "wall time", else 0."""
        return self.t0 if mode == "wall time" and math.isfinite(self.t0) else 0.0

    def x(self, per: str, mode: str) -> np.ndarray:
        """The x of every row of a table in an x mode ("step", "epoch", "wall time"), absolute
        (wall time: subtract `offset(mode)`)."""
        table = self.table(per)
        if mode == "wall time":
            return table[WALL_TIME]
        if mode == "epoch":
            return self.step_epochs() if per == STEP_KEY else table[EPOCH_KEY]
        return table[STEP_KEY]

    def xy(self, name: str, per: str, mode: str) -> tuple[np.ndarray, np.ndarray]:
        """(x, values) copies of one column; wall time as seconds since the run's first point."""
        return self.x(per, mode) - self.offset(mode), self.table(per)[name].copy()
