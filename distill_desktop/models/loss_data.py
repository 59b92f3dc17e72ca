"""What the loss plot draws from a run's series (no Qt): its curves, each one column of a RunSeries
(models.run_series) with the caches drawing it needs (min/max pyramids, the smoothed twin), kept
up to date incrementally so a burst of steps costs O(burst).

Curve names are "step:<StepMetrics field>" and "epoch:<EpochMetrics field>" (train_* and val_*).
Which fields are curves comes from the metric schema (distill_engine.training.events): the total and
the weighted loss terms per step, per epoch and on validation, and the per-step schedules.
"""
from __future__ import annotations

import math

import numpy as np

from distill_engine.training.events import (WEIGHTED_TERMS, EpochMetrics, StepMetrics, describe,
                                            metric_names, term_fields, weight_field)

from .run_series import EPOCH_KEY, STEP_KEY, RunSeries, fractional_epochs
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
#: the columns of a run the plot draws, per table
PLOT_STEP_NAMES = (*FIELDS["step"].values(), *FIELDS["schedule"].values())
PLOT_EPOCH_NAMES = (*FIELDS["epoch"].values(), *FIELDS["val"].values())
X_MODES = ("step", "epoch", "wall time")

__all__ = ["COMPONENTS", "FIELDS", "KL_SCHEDULE", "PLOT_EPOCH_NAMES", "PLOT_STEP_NAMES", "SCHEDULES",
           "SCHEDULE_LABELS", "X_MODES", "CurveData", "LossCurves", "fractional_epochs", "plot_series"]


def plot_series() -> RunSeries:
    """An empty RunSeries holding the columns the loss plot and the Contributions chart read."""
    return RunSeries(PLOT_STEP_NAMES, PLOT_EPOCH_NAMES)


class CurveData:
    """One curve: a column of one table of the series, and its drawing caches."""

    def __init__(self, series: str, key: str, data: RunSeries):
        self.series, self.key, self.data = series, key, data
        self.field = FIELDS[series][key]
        self.per_step = series in ("step", "schedule")
        self.per = STEP_KEY if self.per_step else EPOCH_KEY
        self.pyramid = MinMaxPyramid()
        self.smoothed, self.smooth_pyramid, self.ema = GrowingArray(), MinMaxPyramid(), None
        self.dirty = False

    @property
    def y(self) -> np.ndarray:
        """Every value of the curve (a view of the series' column)."""
        return self.data.table(self.per)[self.field]

    def reset(self):
        self.ema, self.dirty = None, True
        for part in (self.pyramid, self.smoothed, self.smooth_pyramid):
            part.clear()


class LossCurves:
    """The plot's curves over one RunSeries: marks the curves a change of the series touches
    `dirty`, and computes what to draw (envelopes, smoothing, extents, nearest points)."""

    def __init__(self, data: RunSeries):
        self.data = data
        self.curves: dict[str, CurveData] = {}
        for series, keys in FIELDS.items():
            prefix = STEP_KEY if series in ("step", "schedule") else EPOCH_KEY
            for key, field in keys.items():
                self.curves[f"{prefix}:{field}"] = CurveData(series, key, data)
        data.subscribe(self._on_changes)

    def _on_changes(self, changes: set) -> None:
        if "cleared" in changes:
            for curve in self.curves.values():
                curve.reset()
            return
        if "pace" in changes:               # x moved (epoch mapping, first wall time): all of it
            self.mark_all_dirty()
        for curve in self.curves.values():
            if ("steps" if curve.per_step else "epochs") in changes:
                curve.dirty = True

    @property
    def anchor_version(self) -> int:
        return self.data.anchor_version

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

    def mark_all_dirty(self):
        for curve in self.curves.values():
            curve.dirty = True

    # -- x coordinates and smoothing ---------------------------------------------------------
    def x(self, curve: CurveData, mode: str) -> np.ndarray:
        """The curve's x in an x mode (absolute wall time; subtract `offset(mode)`)."""
        return self.data.x(curve.per, mode)

    def offset(self, mode: str) -> float:
        return self.data.offset(mode)

    def update_smoothed(self, curve: CurveData, smoothing: float) -> None:
        """Bring a curve's smoothed twin up to date (only its new tail is smoothed)."""
        if smoothing <= 0:
            return
        if curve.ema is None or curve.ema.smoothing != smoothing:
            curve.ema = EmaState(smoothing)
            curve.smoothed.clear()
            curve.smooth_pyramid.clear()
        y = curve.y
        if len(curve.smoothed) < len(y):
            curve.smoothed.extend(curve.ema.extend(y[len(curve.smoothed):]))

    # -- what to draw ------------------------------------------------------------------------
    def xy(self, name: str, mode: str) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) copies of every point of a curve; wall time as seconds since the first point."""
        curve = self.curve(name)
        return self.data.xy(curve.field, curve.per, mode)

    def drawn(self, curve: CurveData, mode: str, smoothed: bool, view, columns: int):
        """(x, y, points covered) of the min/max envelope to draw: the whole curve in `columns`
        columns when view is None, else view=(low, high) with a view width either side in
        3 * columns columns. Brings the curve's pyramid up to date first."""
        values, pyramid = (curve.smoothed.data, curve.smooth_pyramid) if smoothed else (curve.y, curve.pyramid)
        x, offset = self.x(curve, mode), self.offset(mode)
        n = min(len(values), len(x))
        pyramid.update(values[:n])
        start, stop = 0, n
        if view is not None:
            low, high = view[0] + offset, view[1] + offset
            start = max(int(np.searchsorted(x[:n], 2 * low - high)) - 1, 0)
            stop = min(int(np.searchsorted(x[:n], 2 * high - low, "right")) + 1, n)
            columns *= 3
        ex, ey = envelope(x, values, pyramid, start, stop, columns)
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
