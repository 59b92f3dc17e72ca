"""The live loss plot: per-step, per-epoch and validation curves of the loss and its components, with
the KL-weight and learning-rate schedules in a small plot below that shares the x axis (learning
rate on that plot's right-hand axis).

The panel draws one RunSeries (models.run_series, `self.series`: fed by whoever owns the run
through `RunSeries.extend`, read by the Contributions chart too); a change of it only marks curves
dirty, and a single-shot QTimer redraws the changed curves, at most every 100 ms and, while data
streams in, within a CPU budget (widgets.redraw). Every point is
kept; a redraw hands pyqtgraph the min/max envelope of the visible range at about one column per
pixel (series.envelope over a MinMaxPyramid), so it costs O(pixels) whatever the length of the run,
and a one-step spike is drawn at any zoom. The plots, items and controls are built by
loss_plot_widgets; this panel wires them up and decides what they show.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from ..models.series import robust_range
from ..models.loss_data import COMPONENTS, FIELDS, KL_SCHEDULE, SCHEDULES, X_MODES, LossCurves, plot_series
from ..models.run_series import RunSeries
from .loss_plot_widgets import (COLORS, LABELS, RAW_ALPHA_WHEN_SMOOTHED, SERIES_LABELS, SYMBOLS, X_LABELS,
                                build_controls, build_plots, curve_pen, plot_item)
from .plot_readout import HoverReadout
from ..widgets.redraw import RedrawWhenShown

MAX_MARKERS = 200
SCHEDULE_SHARE = 0.25
X_HEADROOM = 0.05


class LossPlotPanel(RedrawWhenShown, QtWidgets.QWidget):
    """Loss curves of one run (plus overlays of others), fed numbers, redrawn at most at 10 Hz.

    Curve names: "step:<StepMetrics field>" and "epoch:<EpochMetrics field>"; methods taking a name
    also accept the bare field name (step curves first).
    """

    REDRAW_INTERVAL_MS = 100

    def __init__(self, series: RunSeries | None = None, parent=None):
        """series: the run's series to draw (a new, empty plot_series() by default)."""
        super().__init__(parent)
        self.series = series if series is not None else plot_series()
        self.data = LossCurves(self.series)      # the curves drawn from it, with their caches
        self._x_mode, self._smoothing, self._ignore_outliers = "step", 0.0, False
        self._follow = True      # the x range follows the data until the user zooms or pans
        self._visible = {name: True for name in self.data.curves}
        self._overlays, self._dense, self._drawn = [], {}, {}
        self._build_plots()
        self._build_controls()
        self._init_redraw(self._graphics)
        self._mouse_proxy = pg.SignalProxy(self._graphics.scene().sigMouseMoved, rateLimit=20,
                                           slot=self._on_mouse_moved)
        self._graphics.viewport().installEventFilter(self)     # the mouse leaving clears the readout
        self.series.subscribe(self._on_series_changed)   # every change schedules a redraw
        self._update_legend()
        # log y by default: the raw KL term (15-50) would flatten STFT, magnitude and IF on a linear axis
        self.set_log_y(True)

    # -- construction ------------------------------------------------------------------------
    def _build_plots(self):
        plots = build_plots(self.data.curves)
        self._graphics, self.plot, self.schedule_plot = plots.graphics, plots.plot, plots.schedule_plot
        self.view = self._graphics  # the QGraphicsView both plots are drawn in (what an export shows)
        self.lr_view, self.legend_strip = plots.lr_view, plots.legend
        self.legend = plots.legend.legend        # the pyqtgraph LegendItem (in its strip, above the plots)
        self._items, self._smooth_items = plots.items, plots.smooth_items
        self._component_samples, self._style_samples = plots.component_samples, plots.style_samples
        self._schedule_samples = plots.schedule_samples
        self.schedule_plot.vb.sigResized.connect(self._sync_lr_view)
        self.legend.sigSampleClicked.connect(self._on_legend_clicked)
        for view in (self.plot.vb, self.schedule_plot.vb, self.lr_view):
            view.enableAutoRange(x=False)     # see _follow_data: autoscrolling costs a repaint per burst
            view.sigRangeChangedManually.connect(self._stop_following)
        for plot in (self.plot, self.schedule_plot):
            plot.autoBtn.clicked.connect(self.follow_data)
        self.plot.vb.sigXRangeChanged.connect(self._on_x_range_changed)
        self.plot.vb.sigResized.connect(self._mark_all_dirty)

    def _build_controls(self):
        controls = build_controls()
        self._component_boxes, self._series_boxes = controls.component_boxes, controls.series_boxes
        for box in (*self._component_boxes.values(), *self._series_boxes.values()):
            box.toggled.connect(self._apply_visibility)
        self.log_y_box, self.outliers_box = controls.log_y_box, controls.outliers_box
        self.log_y_box.toggled.connect(self.set_log_y)
        self.outliers_box.toggled.connect(self.set_ignore_outliers)
        self.smoothing_slider, self._smoothing_label = controls.smoothing_slider, controls.smoothing_label
        self.smoothing_slider.valueChanged.connect(lambda value: self.set_smoothing(value / 100))
        self.x_mode_combo = controls.x_mode_combo
        self.x_mode_combo.currentTextChanged.connect(self.set_x_mode)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        for row in controls.rows:
            layout.addLayout(row)
        layout.addWidget(self._graphics, 1)
        self.readout = HoverReadout([(key, LABELS[key], COLORS[key]) for key in (*COMPONENTS, *SCHEDULES)])
        layout.addWidget(self.readout)

    def _sync_lr_view(self):
        self.lr_view.setGeometry(self.schedule_plot.vb.sceneBoundingRect())
        self.lr_view.linkedViewChanged(self.schedule_plot.vb, self.lr_view.XAxis)

    # -- the series ----------------------------------------------------------------------------
    def clear(self) -> None:
        """Forget every point of the series (overlays stay: see clear_overlays)."""
        self.series.clear()
        self.follow_data()

    # -- what is drawn -----------------------------------------------------------------------
    def curve_data(self, name) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) of every point of a curve in the current x mode (raw values, full length)."""
        return self.data.xy(name, self._x_mode)

    def smoothed_data(self, name) -> tuple[np.ndarray, np.ndarray]:
        """(x, smoothed y) of a per-step loss curve at the current smoothing (raw y when 0)."""
        x, y = self.curve_data(name)
        curve = self.data.curve(name)
        if self._smoothing <= 0 or self.data.name_of(name) not in self._smooth_items:
            return x, y
        self.data.update_smoothed(curve, self._smoothing)
        return x, curve.smoothed.data.copy()

    def plot_items(self, name):
        """(raw item, smoothed item or None) drawing a curve."""
        name = self.data.name_of(name)
        return self._items[name], self._smooth_items.get(name)

    # -- drawing -----------------------------------------------------------------------------
    def _on_series_changed(self, changes: set) -> None:
        if "cleared" in changes:
            self._drawn.clear()
            self.readout.clear()            # a new run: nothing of the last one stays on screen
        self._update_legend()
        self._data_arrived()

    def _update_legend(self) -> None:
        """The legend lists this run's colours, line styles and schedules while the plot has points
        of its own, then each overlaid run."""
        entries = []
        if len(self.series.steps) or len(self.series.epochs):
            entries += [(self._component_samples[k], LABELS[k]) for k in COMPONENTS]
            entries += [(self._style_samples[s], SERIES_LABELS[s]) for s in self._style_samples]
            entries += [(self._schedule_samples[n], LABELS[n]) for n in SCHEDULES]
        entries += [(item, label) for item, label in self._overlays]
        # a row of colours, then a row of line styles and schedules (when the width allows)
        self.legend_strip.set_entries(entries, len(COMPONENTS) if not self._overlays else 0)

    def _mark_all_dirty(self, *_):
        self.data.mark_all_dirty()
        self._mark_dirty()

    def _on_x_range_changed(self, *_):
        if not self._follow:          # zoomed or panned: the envelope must be recomputed
            self._mark_all_dirty()

    def _stop_following(self, *_):
        self._follow = False          # (the user zoomed or panned: redraw at the new resolution)
        self._mark_all_dirty()

    def _fit_schedule_ranges(self) -> None:
        """KL weight and learning rate from 0 to just above their largest value (autorange makes a
        constant learning rate a meaningless band around it)."""
        for name in SCHEDULES:
            view = self.schedule_plot.vb if name == KL_SCHEDULE else self.lr_view
            y = self.plot_items(name)[0].yData  # the drawn envelope (~2 points a pixel), not every step
            top = float(np.nanmax(y)) if y is not None and len(y) and np.isfinite(y).any() else 0.0
            if top > 0 and getattr(view, "_distill_top", None) != top:
                view._distill_top = top
                view.setYRange(0.0, top * 1.1, padding=0)

    def follow_data(self) -> None:
        """Fit x to the whole run again and keep following new steps (the "A" button does this)."""
        self._follow = True
        for view in (self.plot.vb, self.schedule_plot.vb, self.lr_view):
            view.enableAutoRange(x=False)
        self._mark_all_dirty()

    def set_x_range(self, low: float, high: float) -> None:
        """Show x in [low, high] (current x mode) and stop following new steps."""
        self._follow = False
        self.plot.vb.setXRange(low, high, padding=0)
        self._mark_all_dirty()

    def _fit_x(self):
        """While following: x spans the data plus 5% headroom, moved only when the data outgrows it,
        so a burst of steps does not re-lay the axes and repaint everything each time."""
        extent = self.data.extent(self._x_mode, [n for n, it in self._items.items() if it.isVisible()])
        if extent is None:
            return
        low, high = extent
        span = max(high - low, 1.0)
        left, right = self.plot.vb.viewRange()[0]
        outgrown = high > right or not left <= low <= left + 0.01 * span
        if outgrown or right - left > span * (1 + 3 * X_HEADROOM):        # or far too wide
            self.plot.vb.setXRange(low, high + X_HEADROOM * span, padding=0)

    def redraw_now(self) -> None:
        """Redraw every changed curve now (the timer calls this; tests and benchmarks may too)."""
        self._timer.stop()
        columns = max(int(self.plot.vb.width()), 100)
        view = None if self._follow else tuple(self.plot.vb.viewRange()[0])
        state = (view, columns, self._x_mode, self._smoothing, self.data.offset(self._x_mode),
                 self.data.anchor_version)
        for name, curve in self.data.curves.items():
            if not curve.dirty:
                continue
            curve.dirty = False
            drawn_state, drawn_count = self._drawn.get(name, (None, 0))
            if drawn_state == state and self.data.only_beyond(curve, self._x_mode, drawn_count, view):
                continue            # zoomed away from the newest points: nothing visible changed
            self._drawn[name] = (state, len(curve.y))
            targets = [(self._items[name], False)]
            if name in self._smooth_items and self._smoothing > 0:
                self.data.update_smoothed(curve, self._smoothing)
                targets.append((self._smooth_items[name], True))
            for item, smoothed in targets:
                x, y, covered = self.data.drawn(curve, self._x_mode, smoothed, view, columns)
                dense = covered > MAX_MARKERS
                if curve.series in SYMBOLS and self._dense.get(name) != dense:
                    self._dense[name] = dense     # markers only while they can be told apart
                    item.setSymbol(None if dense else SYMBOLS[curve.series])
                    item.setPen(curve_pen(curve.series, curve.key, dense=dense))
                if not np.isfinite(y).any():       # a column this run lacks (NaN): nothing to draw
                    x, y = x[:0], y[:0]
                item.setData(x, y)
        if self._follow:
            self._fit_x()
        if self._ignore_outliers:
            self._apply_robust_range()
        self._fit_schedule_ranges()

    def _apply_robust_range(self):
        left, right = self.plot.vb.viewRange()[0]
        shown = []
        for item in (*self._items.values(), *self._smooth_items.values()):
            if item.getViewBox() is self.plot.vb and item.isVisible():
                x, y = item.getData()              # what is drawn (log10 in log mode)
                if x is not None:
                    shown.append(y[(x >= left) & (x <= right)])
        bounds = robust_range(np.concatenate(shown)) if shown else None
        if bounds is not None:
            self.plot.vb.setYRange(*bounds, padding=0.05)

    # -- controls ----------------------------------------------------------------------------
    def set_curve_visible(self, name, visible: bool) -> None:
        """Show or hide one curve (shown only while its component and series boxes are on too)."""
        self._visible[self.data.name_of(name)] = bool(visible)
        self._apply_visibility()

    def set_component_visible(self, component: str, visible: bool) -> None:
        """component: one of COMPONENTS ("total", "stft", "magnitude", "if", "kl")."""
        self._component_boxes[component].setChecked(visible)

    def set_series_visible(self, series: str, visible: bool) -> None:
        """series: "step", "epoch", "val" or "schedule"."""
        self._series_boxes[series].setChecked(visible)

    def _apply_visibility(self, *_):
        for name, curve in self.data.curves.items():
            box = self._component_boxes.get(curve.key)
            shown = self._visible[name] and self._series_boxes[curve.series].isChecked() and (
                box is None or box.isChecked())
            self._items[name].setVisible(shown)
            if name in self._smooth_items:
                self._smooth_items[name].setVisible(shown and self._smoothing > 0)
        for key, sample in self._component_samples.items():
            sample.setVisible(self._component_boxes[key].isChecked())
        for series, sample in self._style_samples.items():
            sample.setVisible(self._series_boxes[series].isChecked())
        self.legend.update()
        if self._ignore_outliers:
            self._apply_robust_range()

    def _on_legend_clicked(self, item):
        """pyqtgraph toggled a sample's visibility: apply it to its component or series."""
        for samples, boxes in ((self._component_samples, self._component_boxes),
                               (self._style_samples, self._series_boxes)):
            key = next((k for k, it in samples.items() if it is item), None)
            if key is not None:
                boxes[key].setChecked(item.isVisible())
        self._apply_visibility()

    def set_log_y(self, on: bool) -> None:
        self.log_y_box.setChecked(on)
        following, x_range = self._follow, self.plot.vb.viewRange()[0]
        self.plot.setLogMode(x=False, y=bool(on))      # (this turns pyqtgraph's x autorange back on)
        self.follow_data()
        if not following:
            self.set_x_range(*x_range)

    def set_ignore_outliers(self, on: bool) -> None:
        """Fit the loss axis to the 1st..99th percentile of what is drawn instead of everything."""
        self.outliers_box.setChecked(on)
        self._ignore_outliers = bool(on)
        if not on:
            self.plot.vb.enableAutoRange(y=True)
        self._mark_all_dirty()

    def set_smoothing(self, smoothing: float) -> None:
        """Debiased EMA weight 0..0.99 of the per-step loss curves; the raw curves stay faint beneath."""
        smoothing = min(max(float(smoothing), 0.0), 0.99)
        if smoothing == self._smoothing:
            return
        self._smoothing = smoothing
        self.smoothing_slider.blockSignals(True)
        self.smoothing_slider.setValue(round(smoothing * 100))
        self.smoothing_slider.blockSignals(False)
        self._smoothing_label.setText(f"{smoothing:.2f}")
        alpha = RAW_ALPHA_WHEN_SMOOTHED if smoothing > 0 else 255
        for name in self._smooth_items:
            self._items[name].setPen(curve_pen("step", self.data.curves[name].key, alpha))
        self._apply_visibility()
        self._mark_all_dirty()

    def set_x_mode(self, mode: str) -> None:
        """"step", "epoch" or "wall time" (seconds since the run's first point)."""
        if mode not in X_MODES:
            raise ValueError(f"x mode must be one of {X_MODES}, got {mode!r}")
        self.x_mode_combo.setCurrentText(mode)
        if mode != self._x_mode:
            self._x_mode = mode
            self.schedule_plot.setLabel("bottom", X_LABELS[mode])
            self.follow_data()

    # -- hover readout -----------------------------------------------------------------------
    def eventFilter(self, watched, event) -> bool:
        if event.type() == QtCore.QEvent.Type.Leave:
            self.readout.clear()
        elif event.type() == QtCore.QEvent.Type.Resize:
            self._share_height(event.size().height())
        return super().eventFilter(watched, event)

    def _share_height(self, height: int) -> None:
        """The schedules plot takes a quarter of the height (at least 70 px): on a short view the
        layout's stretch alone gives it nearly as much as the losses."""
        self.schedule_plot.setMaximumHeight(max(70.0, SCHEDULE_SHARE * height))

    def _on_mouse_moved(self, args):
        pos = args[0]
        if any(p.vb.sceneBoundingRect().contains(pos) for p in (self.plot, self.schedule_plot)):
            self.readout.show_values(*self.readout_at(self.plot.vb.mapSceneToView(pos).x()))
        else:
            self.readout.clear()             # over the legend or an axis: nothing is pointed at

    def readout_at(self, x: float) -> tuple[str, dict]:
        """(title, {(row, column): text}) for the readout: each visible curve's value at its point
        nearest x (row: "step", "smoothed", "epoch", "val"; column: its component or schedule)."""
        cells = {}
        for name, curve in self.data.curves.items():
            i = self.data.nearest(curve, self._x_mode, x) if self._items[name].isVisible() else None
            if i is None or not np.isfinite(curve.y[i]):
                continue
            cells[("step" if curve.series == "schedule" else curve.series, curve.key)] = f"{curve.y[i]:.4g}"
            if name in self._smooth_items and self._smoothing > 0 and i < len(curve.smoothed):
                cells[("smoothed", curve.key)] = f"{curve.smoothed.data[i]:.4g}"
        # steps are whole numbers (the values shown are the nearest step's); epochs and seconds are not
        where = f"{round(x)}" if self._x_mode == "step" else f"{x:.2f}" if self._x_mode == "epoch" else f"{x:.1f}"
        return f"{X_LABELS[self._x_mode]} {where}", cells

    # -- overlays ----------------------------------------------------------------------------
    def add_run_overlay(self, run_label, name, x, y, color) -> pg.PlotDataItem:
        """Draw another run's curve (x already in the current x mode) with a legend entry naming it."""
        item = plot_item(pg.mkPen(color, width=1.5))
        self.plot.addItem(item)           # before setData: clip-to-view needs its ViewBox
        item.setData(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
        self._overlays.append((item, f"{run_label} · {name}"))
        self._update_legend()
        return item

    def clear_overlays(self) -> None:
        for item, _ in self._overlays:
            self.plot.removeItem(item)
        self._overlays = []
        self._update_legend()


__all__ = ["LossPlotPanel", "COMPONENTS", "FIELDS", "RAW_ALPHA_WHEN_SMOOTHED", "X_MODES"]
