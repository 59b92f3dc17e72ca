"""What each loss term contributes: a stacked area chart over steps of each weighted term's share
of the total (STFT, magnitude, IF, KL; the bands fill 0..100 %), and a label with the latest shares.

Shares are computed as steps arrive (O(burst)) and kept as running sums, so the chart's block means
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

from ..models.series import GrowingArray
from ..widgets.redraw import RedrawWhenShown, ReportingPlotWidget

LABELS = {"stft": "STFT", "magnitude": "magnitude", "if": "IF", "kl": "KL"}
COLORS = {"stft": "#4c9be8", "magnitude": "#f5a623", "if": "#6cc644", "kl": "#e8588c"}
#: StepMetrics fields read per step: each weighted term (TERMS order), then the KL term's weight
_FIELDS = (*(term_fields(StepMetrics)[term] for term in TERMS), weight_field(StepMetrics, "kl"))


def weighted_terms(loss_config, stft, magnitude, inst_freq, kl, kl_weight) -> np.ndarray:
    """(4, n) weighted terms of the combined loss, in TERMS order (see distill_engine.losses)."""
    rec = loss_config.reconstruction
    return np.stack([loss_config.stft.weight * np.asarray(stft, np.float64),
                     rec.weight * rec.magnitude_weight * np.asarray(magnitude, np.float64),
                     rec.weight * rec.if_weight * np.asarray(inst_freq, np.float64),
                     np.asarray(kl_weight, np.float64) * np.asarray(kl, np.float64)])


def shares_of(terms: np.ndarray) -> np.ndarray:
    """Each term divided by their sum, per column; NaN columns where the sum is not finite and > 0."""
    total = terms.sum(axis=0)
    ok = np.isfinite(total) & (total > 0)
    out = np.full(terms.shape, math.nan)
    out[:, ok] = terms[:, ok] / total[ok]
    return out


class ContributionPanel(RedrawWhenShown, QtWidgets.QWidget):
    """Stacked shares of the weighted loss terms over steps, for one LossConfig's weights."""

    REDRAW_INTERVAL_MS = 250    # a share chart moves slowly; off the loss plot's 100 ms beat
    COLUMNS = 2000

    def __init__(self, loss_config, parent=None):
        super().__init__(parent)
        self._config = loss_config
        self._steps = GrowingArray()
        self._raw = {field: GrowingArray() for field in _FIELDS}
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

    # -- feeding -----------------------------------------------------------------------------
    def set_loss_config(self, loss_config) -> None:
        """New weights: every share is recomputed from the stored raw terms."""
        self._config = loss_config
        self._reset_sums()
        self._append_shares(*(self._raw[f].data for f in _FIELDS))
        self._mark_dirty()

    def add_steps(self, events: list) -> None:
        """Append StepMetrics-like events (each carries its own kl_weight)."""
        if not events:
            return
        columns = [np.array([getattr(e, f, math.nan) for e in events], dtype=np.float64) for f in _FIELDS]
        self._append_steps([e.step for e in events], columns)

    def add_step_columns(self, data: dict) -> None:
        """Append stored per-step columns: {field: (steps, values)} as run_curves reads them (all
        with the same steps; a missing field reads as NaN)."""
        if not data:
            return
        steps = next(iter(data.values()))[0]
        columns = [np.asarray(data[f][1], np.float64) if f in data else np.full(len(steps), math.nan)
                   for f in _FIELDS]
        self._append_steps(steps, columns)

    def _append_steps(self, steps, columns) -> None:
        self._steps.extend(steps)
        for field, values in zip(_FIELDS, columns):
            self._raw[field].extend(values)
        self._append_shares(*columns)
        self._data_arrived()

    def clear(self) -> None:
        self._steps.clear()
        for array in self._raw.values():
            array.clear()
        self._reset_sums()
        self._mark_dirty()

    def _reset_sums(self):
        for array in (*self._sums.values(), self._valid):
            array.clear()
            array.append(0.0)
        self._latest = {}

    def _append_shares(self, stft, magnitude, inst_freq, kl, kl_weight):
        shares = shares_of(weighted_terms(self._config, stft, magnitude, inst_freq, kl, kl_weight))
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
        n = len(self._steps)
        edges = np.unique(np.linspace(0, n, min(n, self.COLUMNS) + 1).astype(np.int64))
        if n == 0:
            return np.empty(0), np.empty((len(TERMS), 0))
        lo, hi = edges[:-1], edges[1:]
        steps = self._steps.data
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
