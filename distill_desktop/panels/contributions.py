"""What each loss term contributes: a stacked area chart over steps of each weighted term's share
of the total (STFT, magnitude, IF, KL; the bands fill 0..100 %), and a label with the latest shares.

The weights are the run's own: RunStarted carries them (model.losses.term_weights of the run's loss
config, the KL term's annealed weight per step in StepMetrics), so editing the loss editor never
re-weights a run, and a continued run is weighted as it trains. Until a run's weights arrive (the
earlier steps of a continued run come first) the terms are kept and the shares computed on arrival.

The chart reads the run's series (models.run_series.RunSeries: the window hands the loss plot and
this chart the same one, fed once), so the terms are buffered once. Shares are computed from each new tail of it
(O(burst)) and kept as running sums, so the chart's block means
(about 2000 columns, however long the run) cost O(columns) per redraw; the redraw runs on a QTimer
at most every 250 ms.
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtWidgets

from distill_engine.training.events import WEIGHTED_TERMS as TERMS
from distill_engine.training.events import StepMetrics, term_fields, weight_field

from ..models.loss_data import plot_series
from ..models.run_series import STEP_KEY, RunSeries
from ..models.series import GrowingArray
from ..widgets.redraw import RedrawWhenShown, ReportingPlotWidget

LABELS = {"stft": "STFT", "magnitude": "magnitude", "if": "IF", "level": "level", "kl": "KL"}
COLORS = {"stft": "#4c9be8", "magnitude": "#f5a623", "if": "#6cc644", "level": "#3cc8c8", "kl": "#e8588c"}
#: StepMetrics field of each weighted term (TERMS order), and of the weights that vary per step
_TERM_FIELDS = {term: term_fields(StepMetrics)[term] for term in TERMS}
_WEIGHT_FIELDS = {term: name for term in TERMS if (name := weight_field(StepMetrics, term))}
_FIELDS = (*_TERM_FIELDS.values(), *_WEIGHT_FIELDS.values())


def weighted_terms(term_weights: dict, columns: dict) -> np.ndarray:
    """(len(TERMS), n) weighted terms, TERMS order: each term's column times its weight, the run's
    fixed weight (term_weights, from model.losses.term_weights) or its per-step weight column. A term
    the run's weights lack (a run from before the term existed, whose column reads NaN) adds 0."""
    rows = []
    for term in TERMS:
        weight = columns[_WEIGHT_FIELDS[term]] if term in _WEIGHT_FIELDS else term_weights.get(term, 0.0)
        weight, value = np.asarray(weight, np.float64), np.asarray(columns[_TERM_FIELDS[term]], np.float64)
        rows.append(np.where(weight == 0, 0.0, weight * value))
    return np.stack(rows)


def shares_of(terms: np.ndarray) -> np.ndarray:
    """Each term divided by their sum, per column; NaN columns where the sum is not finite and > 0."""
    total = terms.sum(axis=0)
    ok = np.isfinite(total) & (total > 0)
    out = np.full(terms.shape, math.nan)
    out[:, ok] = terms[:, ok] / total[ok]
    return out


class ContributionPanel(RedrawWhenShown, QtWidgets.QWidget):
    """Stacked shares of the weighted loss terms over steps, weighted as the run trains."""

    REDRAW_INTERVAL_MS = 250    # a share chart moves slowly; off the loss plot's 100 ms beat
    COLUMNS = 2000

    def __init__(self, series: RunSeries | None = None, parent=None):
        """series: the run's series to read (the live loss plot's); None makes an empty one."""
        super().__init__(parent)
        self.series = series if series is not None else plot_series()
        self._done = 0                      # steps of the series already turned into shares
        self._weights: dict | None = None   # the run's term weights (RunStarted.term_weights)
        self._sums = {term: GrowingArray() for term in TERMS}   # running sums of shares, from 0
        self._valid = GrowingArray()                             # running count of valid steps
        self._latest: dict[str, float] = {}
        self._reset_sums()
        self.plot = ReportingPlotWidget()
        self.plot.setLabel("left", "share of the loss", units="%")
        self.plot.setLabel("bottom", "step")
        self.plot.setYRange(0, 100, padding=0)
        self.plot.setMouseEnabled(x=False, y=False)   # an overview: it always shows the whole run
        self.plot.getPlotItem().vb.enableAutoRange(x=False)
        self.plot.getPlotItem().hideButtons()
        self.plot.getPlotItem().vb.setLimits(yMin=0, yMax=100)
        legend = self.plot.addLegend(offset=(-10, 10), brush=(0, 0, 0, 150))
        self._bounds = [pg.PlotDataItem(pen=pg.mkPen(0, 0, 0, 120, width=0.5)) for _ in range(len(TERMS) + 1)]
        for bound in self._bounds:
            self.plot.addItem(bound)
        self._fills = []
        for i, term in enumerate(TERMS):
            color = pg.mkColor(COLORS[term])
            color.setAlpha(170)
            fill = pg.FillBetweenItem(self._bounds[i], self._bounds[i + 1], brush=pg.mkBrush(color))
            self.plot.addItem(fill)
            swatch = pg.PlotDataItem([0], [0], pen=None, symbol="s", symbolSize=10, symbolBrush=color,
                                     symbolPen=None)
            legend.addItem(swatch, LABELS[term])     # (a legend cannot draw a FillBetweenItem)
            self._fills.append(fill)
        self.label = QtWidgets.QLabel("no steps yet")
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.label)
        layout.addWidget(self.plot, 1)
        self._init_redraw(self.plot)
        self.series.subscribe(self._on_data)

    # -- feeding -----------------------------------------------------------------------------
    def set_run_weights(self, term_weights: dict) -> None:
        """The run's weights (RunStarted.term_weights): every share is recomputed from the terms."""
        self._weights = dict(term_weights)
        self._reset_sums()
        steps, columns = self._columns()
        self._append_shares(columns)
        self._done = len(steps)
        self._mark_dirty()

    def clear(self) -> None:
        """Forget the run's weights (the series is cleared by its owner)."""
        self._weights = None
        self._reset_sums()
        self._done = 0
        self._mark_dirty()

    def _columns(self) -> tuple[np.ndarray, dict]:
        """(steps, {field: values}) of the series' step rows (views of its columns)."""
        table = self.series.steps
        return table[STEP_KEY], {f: table[f] for f in _FIELDS}

    def _on_data(self, changes: set) -> None:
        if "steps" not in changes and "cleared" not in changes:
            return
        steps, columns = self._columns()
        n = len(steps)
        if n < self._done:          # the series was cleared (a new run)
            self._reset_sums()
            self._done = 0
        if n > self._done:
            self._append_shares({f: v[self._done:] for f, v in columns.items()})
            self._done = n
            self._data_arrived()

    def _reset_sums(self):
        for array in (*self._sums.values(), self._valid):
            array.clear()
            array.append(0.0)
        self._latest = {}

    def _append_shares(self, columns: dict):
        n = len(columns[_FIELDS[0]])
        if self._weights is None:    # not yet known: no share is valid (computed when they arrive)
            shares = np.full((len(TERMS), n), math.nan)
        else:
            shares = shares_of(weighted_terms(self._weights, columns))
        valid = np.isfinite(shares[0])
        self._valid.extend(self._valid.data[-1] + np.cumsum(valid))
        for term, row in zip(TERMS, shares):
            self._sums[term].extend(self._sums[term].data[-1] + np.cumsum(np.where(valid, row, 0.0)))
        if valid.any():
            last = shares[:, np.flatnonzero(valid)[-1]]
            self._latest = {term: float(v) for term, v in zip(TERMS, last)}

    def latest_shares(self) -> dict[str, float]:
        """The last valid step's share of each term (keys: TERMS); empty before any."""
        return dict(self._latest)

    # -- drawing -----------------------------------------------------------------------------
    def band_data(self) -> tuple[np.ndarray, np.ndarray]:
        """(x, means): block-mean step of each column and (len(TERMS), columns) mean shares in
        percent — what the chart draws."""
        steps, _ = self._columns()
        n = min(self._done, len(steps))
        edges = np.unique(np.linspace(0, n, min(n, self.COLUMNS) + 1).astype(np.int64))
        if n == 0:
            return np.empty(0), np.empty((len(TERMS), 0))
        lo, hi = edges[:-1], edges[1:]
        x = 0.5 * (steps[lo] + steps[hi - 1])
        count = self._valid.data[hi] - self._valid.data[lo]
        with np.errstate(invalid="ignore", divide="ignore"):
            means = np.stack([(self._sums[t].data[hi] - self._sums[t].data[lo]) / count for t in TERMS])
        keep = count > 0
        return x[keep], 100.0 * means[:, keep]

    def redraw_now(self) -> None:
        """Redraw the chart and the label now (the timer calls this)."""
        self._timer.stop()
        x, means = self.band_data()
        stacked = np.vstack([np.zeros(len(x)), np.cumsum(means, axis=0)])
        for bound, y in zip(self._bounds, stacked):
            bound.setData(x, y)
        if len(x):    # x grows with 5% headroom, so each burst does not re-lay the axis
            span = max(x[-1] - x[0], 1.0)
            left, right = self.plot.getPlotItem().vb.viewRange()[0]
            if x[-1] > right or x[0] < left or right - left > 1.2 * span:
                self.plot.setXRange(x[0], x[-1] + 0.05 * span, padding=0)
        if self._latest:
            self.label.setText(" · ".join(f"{LABELS[t]} {100 * self._latest[t]:.0f}%" for t in TERMS))
        else:
            self.label.setText("no steps yet")
