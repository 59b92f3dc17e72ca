"""The numbers behind the loss plot (no Qt): every point of every curve, its x in each x mode, and
its smoothed twin, kept in growing arrays so feeding a burst of steps costs O(burst).

Curve names are "step:<StepMetrics field>" and "epoch:<EpochMetrics field>" (train_* and val_*).
Which fields are curves comes from the metric schema (distill_engine.training.events): the total and
the weighted loss terms per step, per epoch and on validation, and the per-step schedules.
"""
from __future__ import annotations

import math

import numpy as np

from distill_engine.training.events import (WEIGHTED_TERMS, EpochMetrics, StepMetrics, describe,
                                            metric_names, term_fields, weight_field)

from .series import EmaState, GrowingArray, MinMaxPyramid, envelope

COMPONENTS = ("total", *WEIGHTED_TERMS)
#: the per-step schedules (KL weight, learning rate), drawn in the plot below the losses
SCHEDULES = metric_names(StepMetrics, kind="schedule")
#: the schedule that weights the KL term (drawn on the schedules plot's left axis, in KL's colour)
KL_SCHEDULE = weight_field(StepMetrics, "kl")
SCHEDULE_LABELS = {name: describe(StepMetrics, name)["label"] or name for name in SCHEDULES}


def _components(event_type, phase: str) -> dict:
    terms = term_fields(event_type, phase)
    return {key: terms[key] for key in COMPONENTS if key in terms}


#: event field of each component per series: StepMetrics, EpochMetrics (train), EpochMetrics (val)
FIELDS = {
    "step": _components(StepMetrics, "train"),
    "epoch": _components(EpochMetrics, "train"),
    "val": _components(EpochMetrics, "val"),
    "schedule": {name: name for name in SCHEDULES},
}
X_MODES = ("step", "epoch", "wall time")
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


class Clock:
    """x coordinates shared by the curves fed from the same events: step, wall time, epoch."""

    def __init__(self):
        self.step, self.wall, self.epoch = GrowingArray(), GrowingArray(), GrowingArray()
        self.epoch_x, self.epoch_x_version = GrowingArray(), -1   # fractional epochs of step clocks

    def __len__(self):
        return len(self.step)

    def extend(self, steps, walls, epochs):
        for array, values in ((self.step, steps), (self.wall, walls), (self.epoch, epochs)):
            array.extend(values)

    def copy(self, size: int) -> "Clock":
        clock = Clock()
        clock.extend(self.step.data[:size], self.wall.data[:size], self.epoch.data[:size])
        return clock

    def clear(self):
        for array in (self.step, self.wall, self.epoch, self.epoch_x):
            array.clear()


class CurveData:
    """One curve's values (y may be shorter than its clock: the curve lacks the latest points)."""

    def __init__(self, series: str, key: str, clock: Clock):
        self.series, self.key, self.clock = series, key, clock
        self.field = FIELDS[series][key]
        self.per_step = series in ("step", "schedule")
        self.y, self.pyramid = GrowingArray(), MinMaxPyramid()
        self.smoothed, self.smooth_pyramid, self.ema = GrowingArray(), MinMaxPyramid(), None
        self.dirty = False

    def reset(self, clock: Clock):
        self.clock, self.ema, self.dirty = clock, None, True
        for part in (self.y, self.pyramid, self.smoothed, self.smooth_pyramid):
            part.clear()


class LossSeries:
    """Every curve of one run, fed events or arrays; marks the curves it changes `dirty` and calls
    its subscribers (the views reading it: the loss plot, the Contributions chart) after each change."""

    def __init__(self):
        self._subscribers: list = []
        self.step_clock, self.epoch_clock = Clock(), Clock()
        self.t0 = _NAN                            # the run's first wall time
        self.anchors: dict[float, float] = {}     # epoch -> step of its EpochMetrics
        self.anchor_version, self.steps_per_epoch = 0, None
        self.curves: dict[str, CurveData] = {}
        for series, keys in FIELDS.items():
            clock = self.step_clock if series in ("step", "schedule") else self.epoch_clock
            prefix = "step" if clock is self.step_clock else "epoch"
            for key, field in keys.items():
                self.curves[f"{prefix}:{field}"] = CurveData(series, key, clock)

    def subscribe(self, callback) -> None:
        """Call callback() after every change (new points, a new pace, cleared)."""
        self._subscribers.append(callback)

    def _changed(self) -> None:
        for callback in self._subscribers:
            callback()

    def curve(self, name: str, per: str = "step") -> CurveData:
        """The curve called `name`, or "<per>:<name>" (then the other prefix)."""
        for candidate in (name, f"{per}:{name}", f"step:{name}", f"epoch:{name}"):
            curve = self.curves.get(candidate)
            if curve is not None:
                return curve
        raise KeyError(f"no curve named {name!r}; known: {', '.join(self.curves)}")

    def name_of(self, name: str) -> str:
        """The full name ("step:…" or "epoch:…") of a curve given by either name."""
        curve = self.curve(name)
        return next(n for n, c in self.curves.items() if c is curve)

    def of(self, per_step: bool) -> list[CurveData]:
        return [c for c in self.curves.values() if c.per_step == per_step]

    def mark_all_dirty(self):
        for curve in self.curves.values():
            curve.dirty = True

    # -- feeding -----------------------------------------------------------------------------
    def add_steps(self, events) -> None:
        steps = np.array([e.step for e in events], dtype=np.float64)
        walls = np.array([getattr(e, "wall_time", _NAN) for e in events], dtype=np.float64)
        epochs = np.array([getattr(e, "epoch", _NAN) for e in events], dtype=np.float64)
        self._append_events(self.step_clock, self.of(per_step=True), events, (steps, walls, epochs))
        self._changed()

    def add_epoch(self, event) -> None:
        step, epoch = float(getattr(event, "step", _NAN)), float(event.epoch)
        self._note_anchors([epoch], [step])
        columns = ([step], [float(getattr(event, "wall_time", _NAN))], [epoch])
        self._append_events(self.epoch_clock, self.of(per_step=False), [event], columns)
        self._changed()

    def _append_events(self, shared: Clock, curves, events, columns):
        self._note_wall_times(np.asarray(columns[1], dtype=np.float64))
        shared.extend(*columns)
        for curve in curves:
            values = np.array([getattr(e, curve.field, _NAN) for e in events], dtype=np.float64)
            if curve.clock is not shared:
                curve.clock.extend(*columns)
            else:   # a curve loaded shorter than its clock gets NaN where it has no value
                curve.y.extend(np.full(len(shared) - len(events) - len(curve.y), _NAN))
            curve.y.extend(values)
            curve.dirty = True

    def add_step_arrays(self, name, steps, values, wall_times=None) -> None:
        steps = np.asarray(steps, dtype=np.float64)
        walls = np.full(len(steps), _NAN) if wall_times is None else np.asarray(wall_times, np.float64)
        self._note_wall_times(walls)
        self._extend(self.curve(name, "step"), self.step_clock, steps, values,
                     (steps, walls, np.full(len(steps), _NAN)), key_column=0)
        self._changed()

    def add_epoch_arrays(self, name, epochs, values, steps=None, wall_times=None) -> None:
        epochs = np.asarray(epochs, dtype=np.float64)
        steps = np.full(len(epochs), _NAN) if steps is None else np.asarray(steps, np.float64)
        walls = np.full(len(epochs), _NAN) if wall_times is None else np.asarray(wall_times, np.float64)
        self._note_wall_times(walls)
        self._note_anchors(epochs, steps)
        self._extend(self.curve(name, "epoch"), self.epoch_clock, epochs, values,
                     (steps, walls, epochs), key_column=2)
        self._changed()

    def _extend(self, curve, shared, keys, values, columns, key_column):
        """Append to one curve, sharing the clock while its keys (steps or epochs) agree with it."""
        have, clock = len(curve.y), curve.clock
        if clock is shared and have + len(keys) <= len(clock):
            clock_keys = (clock.step, clock.wall, clock.epoch)[key_column].data[have:have + len(keys)]
            if not np.array_equal(clock_keys, keys, equal_nan=True):
                curve.clock = shared.copy(have)          # its own clock from here on
                curve.clock.extend(*columns)
        else:
            if clock is shared and have < len(clock):
                curve.clock = shared.copy(have)
            curve.clock.extend(*columns)
        curve.y.extend(np.asarray(values, dtype=np.float64))
        curve.dirty = True

    def set_steps_per_epoch(self, steps_per_epoch) -> None:
        self.steps_per_epoch = steps_per_epoch or None
        self.anchor_version += 1
        self.mark_all_dirty()
        self._changed()

    def clear(self) -> None:
        self.step_clock.clear()
        self.epoch_clock.clear()
        for curve in self.curves.values():
            curve.reset(self.step_clock if curve.per_step else self.epoch_clock)
        self.anchors.clear()
        self.anchor_version += 1
        self.t0 = _NAN
        self._changed()

    def _note_wall_times(self, walls):
        finite = walls[np.isfinite(walls)]
        if len(finite) and not finite.min() >= self.t0:
            self.t0 = float(finite.min())
            self.mark_all_dirty()

    def _note_anchors(self, epochs, steps):
        for epoch, step in zip(epochs, steps):
            if math.isfinite(step) and self.anchors.get(float(epoch)) != step:
                self.anchors[float(epoch)] = float(step)
                self.anchor_version += 1

    # -- x coordinates and smoothing ---------------------------------------------------------
    def x(self, curve: CurveData, mode: str) -> np.ndarray:
        """The curve's clock in an x mode (absolute wall time; subtract `offset(mode)`)."""
        clock = curve.clock
        if mode == "step":
            return clock.step.data
        if mode == "wall time":
            return clock.wall.data
        if not curve.per_step:
            return clock.epoch.data
        if clock.epoch_x_version != self.anchor_version:
            clock.epoch_x.clear()
            clock.epoch_x_version = self.anchor_version
        if len(clock.epoch_x) < len(clock):
            clock.epoch_x.extend(self.steps_to_epochs(clock.step.data[len(clock.epoch_x):]))
        return clock.epoch_x.data

    def offset(self, mode: str) -> float:
        return self.t0 if mode == "wall time" and math.isfinite(self.t0) else 0.0

    def steps_to_epochs(self, steps: np.ndarray) -> np.ndarray:
        """Fractional epochs of steps (fractional_epochs with this run's anchors and pace)."""
        return fractional_epochs(steps, self.anchors, self.steps_per_epoch)

    def update_smoothed(self, curve: CurveData, smoothing: float) -> None:
        """Bring a curve's smoothed twin up to date (only its new tail is smoothed)."""
        if smoothing <= 0:
            return
        if curve.ema is None or curve.ema.smoothing != smoothing:
            curve.ema = EmaState(smoothing)
            curve.smoothed.clear()
            curve.smooth_pyramid.clear()
        if len(curve.smoothed) < len(curve.y):
            curve.smoothed.extend(curve.ema.extend(curve.y.data[len(curve.smoothed):]))

    # -- what to draw ------------------------------------------------------------------------
    def xy(self, name: str, mode: str) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) copies of every point of a curve; wall time as seconds since the first point."""
        curve = self.curve(name)
        n = len(curve.y)
        return self.x(curve, mode)[:n] - self.offset(mode), curve.y.data.copy()

    def drawn(self, curve: CurveData, mode: str, smoothed: bool, view, columns: int):
        """(x, y, points covered) of the min/max envelope to draw: the whole curve in `columns`
        columns when view is None, else view=(low, high) with a view width either side in
        3 * columns columns. Brings the curve's pyramid up to date first."""
        values, pyramid = (curve.smoothed, curve.smooth_pyramid) if smoothed else (curve.y, curve.pyramid)
        x, offset = self.x(curve, mode), self.offset(mode)
        n = min(len(values), len(x))
        pyramid.update(values.data[:n])
        start, stop = 0, n
        if view is not None:
            low, high = view[0] + offset, view[1] + offset
            start = max(int(np.searchsorted(x[:n], 2 * low - high)) - 1, 0)
            stop = min(int(np.searchsorted(x[:n], 2 * high - low, "right")) + 1, n)
            columns *= 3
        ex, ey = envelope(x, values.data, pyramid, start, stop, columns)
        return (ex - offset if offset else ex), ey, stop - start

    def only_beyond(self, curve: CurveData, mode: str, since: int, view) -> bool:
        """True if the curve got points after index `since` and all lie right of what `drawn`
        covers for `view` (a zoomed view away from the newest steps need not be redrawn)."""
        if view is None or not 0 < since < len(curve.y):
            return False
        low, high = view
        return bool(self.x(curve, mode)[since] - self.offset(mode) > 2 * high - low)

    def extent(self, mode: str, names) -> tuple[float, float] | None:
        """(first x, last x) over the named curves that have points (None if none)."""
        firsts, lasts = [], []
        for name in names:
            curve = self.curves[name]
            if len(curve.y):
                x = self.x(curve, mode)
                firsts.append(x[0])
                lasts.append(x[len(curve.y) - 1])
        firsts = [v for v in firsts if math.isfinite(v)]
        lasts = [v for v in lasts if math.isfinite(v)]
        if not firsts or not lasts:
            return None
        return min(firsts) - self.offset(mode), max(lasts) - self.offset(mode)

    def nearest(self, curve: CurveData, mode: str, x: float) -> int | None:
        """Index of the curve's point nearest x (current mode's x), None if it has none."""
        n = len(curve.y)
        if n == 0:
            return None
        xs = self.x(curve, mode)[:n] - self.offset(mode)
        i = min(int(np.searchsorted(xs, x)), n - 1)
        if i > 0 and abs(xs[i - 1] - x) <= abs(xs[i] - x):
            i -= 1
        return i if math.isfinite(xs[i]) else None
