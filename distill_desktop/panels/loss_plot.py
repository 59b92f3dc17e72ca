"""The live loss plot: per-step, per-epoch and validation curves of the loss and its components, with
the KL-weight and learning-rate schedules in a small plot below that shares the x axis (learning
rate on that plot's right-hand axis).

Feeding (`add_steps`, `add_epoch`, `add_*_arrays`) only appends to the growing arrays of a
LossSeries; a single-shot QTimer redraws the changed curves at most every 100 ms. Every point is
kept; a redraw hands pyqtgraph the min/max envelope of the visible range at about one column per
pixel (series.envelope over a MinMaxPyramid), so it costs O(pixels) whatever the length of the run,
and a one-step spike is drawn at any zoom.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from ..series import robust_range
from .loss_data import COMPONENTS, FIELDS, X_MODES, LossSeries

LABELS = {"total": "total", "stft": "STFT", "magnitude": "magnitude", "if": "IF", "kl": "KL",
          "kl_weight": "KL weight", "learning_rate": "learning rate"}
COLORS = {"total": "#e6e6e6", "stft": "#4c9be8", "magnitude": "#f5a623", "if": "#6cc644",
          "kl": "#e8588c", "kl_weight": "#e8588c", "learning_rate": "#b48ead"}
SERIES_LABELS = {"step": "per step", "epoch": "per epoch", "val": "validation", "schedule": "schedules"}
SUFFIX = {"step": "", "schedule": "", "epoch": " (epoch)", "val": " (val)"}
X_LABELS = {"step": "step", "epoch": "epoch", "wall time": "seconds since start"}
RAW_ALPHA_WHEN_SMOOTHED = 60
SYMBOLS = {"epoch": "o", "val": "s"}
MAX_MARKERS = 200
X_HEADROOM = 0.05
AXIS_WIDTH = 64


def _item(pen, **style) -> pg.PlotDataItem:
    item = pg.PlotDataItem(pen=pen, **style)
    item.setDownsampling(auto=True, method="peak")
    item.setClipToView(True)
    return item


def _pen(series, key, alpha=255, dense=False):
    """Same colour per component; per step thin, per epoch thick (with dots), validation dashed.

    Only 1-px dashes: Qt strokes wider dashed (or translucent wide) pens ~20x slower; a dense
    epoch curve (hundreds of points) is drawn thin too, for the same reason."""
    color = pg.mkColor(COLORS[key])
    color.setAlpha(alpha)
    if series == "epoch":
        return pg.mkPen(color, width=1 if dense else 2)
    if series == "val":
        return pg.mkPen(color, width=1, style=QtCore.Qt.PenStyle.DashLine)
    return pg.mkPen(color, width=1)


class LossPlotPanel(QtWidgets.QWidget):
    """Loss curves of one run (plus overlays of others), fed numbers, redrawn at most at 10 Hz.

    Curve names: "step:<StepMetrics field>" and "epoch:<EpochMetrics field>"; methods taking a name
    also accept the bare field name (step curves first).
    """

    REDRAW_INTERVAL_MS = 100

    def __init__(self, parent=None):
        super().__init__(parent)
        self.data = LossSeries()
        self._x_mode, self._smoothing, self._ignore_outliers = "step", 0.0, False
        self._follow = True      # the x range follows the data until the user zooms or pans
        self._visible = {name: True for name in self.data.curves}
        self._overlays, self._dense, self._drawn = [], {}, {}
        self._build_plots()
        self._build_controls()
        self._timer = QtCore.QTimer(self, singleShot=True, interval=self.REDRAW_INTERVAL_MS)
        self._timer.timeout.connect(self.redraw_now)
        self._mouse_proxy = pg.SignalProxy(self._graphics.scene().sigMouseMoved, rateLimit=20,
                                           slot=self._on_mouse_moved)

    # -- construction ------------------------------------------------------------------------
    def _build_plots(self):
        self._graphics = pg.GraphicsLayoutWidget()
        self.plot = self._graphics.addPlot(row=0, col=0)
        self.schedule_plot = self._graphics.addPlot(row=1, col=0)
        self._graphics.ci.layout.setRowStretchFactor(0, 3)
        self.schedule_plot.setXLink(self.plot)
        self.plot.setLabel("left", "loss")
        self.schedule_plot.setLabel("left", "KL weight")
        self.schedule_plot.setLabel("bottom", X_LABELS["step"])
        for plot in (self.plot, self.schedule_plot):   # no grid: it costs ~25 ms a paint at 1400 px
            plot.getAxis("left").enableAutoSIPrefix(False)
            plot.showAxis("right")        # equal axis widths, so both views span the same x range
            plot.getAxis("left").setWidth(AXIS_WIDTH)
            plot.getAxis("right").setWidth(AXIS_WIDTH)
            plot.setDownsampling(auto=True, mode="peak")   # PlotItem.addItem imposes its own on items
            plot.setClipToView(True)
        self.plot.getAxis("right").setStyle(showValues=False)
        self.lr_view = pg.ViewBox(enableMenu=False)        # pyqtgraph's MultiplePlotAxes pattern
        self.schedule_plot.scene().addItem(self.lr_view)
        self.schedule_plot.getAxis("right").linkToView(self.lr_view)
        self.schedule_plot.getAxis("right").setLabel("learning rate")
        self.schedule_plot.getAxis("right").enableAutoSIPrefix(False)
        self.lr_view.setXLink(self.schedule_plot)
        self.schedule_plot.vb.sigResized.connect(self._sync_lr_view)
        self.legend = self.plot.addLegend(offset=(-10, 10), brush=(0, 0, 0, 150))
        self.legend.sigSampleClicked.connect(self._on_legend_clicked)
        schedule_legend = self.schedule_plot.addLegend(offset=(10, 5))
        self._items, self._smooth_items = {}, {}
        for name, curve in self.data.curves.items():
            series, key = curve.series, curve.key
            item = self._items[name] = _item(_pen(series, key))
            if series == "epoch":
                item.setSymbolSize(6), item.setSymbolBrush(COLORS[key]), item.setSymbolPen(None)
            elif series == "val":
                item.setSymbolSize(5), item.setSymbolBrush(None), item.setSymbolPen(COLORS[key])
            if series == "schedule":
                if key == "learning_rate":   # a linked ViewBox's range lags; the envelope clips anyway
                    item.setClipToView(False)
                (self.schedule_plot if key == "kl_weight" else self.lr_view).addItem(item)
                schedule_legend.addItem(item, LABELS[key])
                continue
            self.plot.addItem(item)
            if series == "step":
                self.legend.addItem(item, LABELS[key])
                smooth = self._smooth_items[name] = _item(_pen(series, key))
                smooth.setVisible(False)
                self.plot.addItem(smooth)
        for view in (self.plot.vb, self.schedule_plot.vb, self.lr_view):
            view.enableAutoRange(x=False)     # see _follow_data: autoscrolling costs a repaint per burst
            view.sigRangeChangedManually.connect(self._stop_following)
        for plot in (self.plot, self.schedule_plot):
            plot.autoBtn.clicked.connect(self.follow_data)
        self.plot.vb.sigXRangeChanged.connect(self._on_x_range_changed)
        self.plot.vb.sigResized.connect(self._mark_all_dirty)

    def _build_controls(self):
        self._component_boxes, self._series_boxes = {}, {}
        rows = [QtWidgets.QHBoxLayout() for _ in range(2)]
        for key in COMPONENTS:
            box = self._component_boxes[key] = QtWidgets.QCheckBox(LABELS[key], checked=True)
            swatch = QtGui.QPixmap(12, 12)
            swatch.fill(pg.mkColor(COLORS[key]))
            box.setIcon(QtGui.QIcon(swatch))
            rows[0].addWidget(box)
        rows[0].addSpacing(16)
        for series, label in SERIES_LABELS.items():
            box = self._series_boxes[series] = QtWidgets.QCheckBox(label, checked=True)
            rows[0].addWidget(box)
        for box in (*self._component_boxes.values(), *self._series_boxes.values()):
            box.toggled.connect(self._apply_visibility)
        self.log_y_box = QtWidgets.QCheckBox("log y", toggled=self.set_log_y)
        self.outliers_box = QtWidgets.QCheckBox("ignore outliers", toggled=self.set_ignore_outliers)
        self.smoothing_slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal, minimum=0, maximum=99)
        self.smoothing_slider.setMaximumWidth(160)
        self.smoothing_slider.valueChanged.connect(lambda value: self.set_smoothing(value / 100))
        self._smoothing_label = QtWidgets.QLabel("0.00")
        self.x_mode_combo = QtWidgets.QComboBox()
        self.x_mode_combo.addItems(X_MODES)
        self.x_mode_combo.currentTextChanged.connect(self.set_x_mode)
        for widget in (self.log_y_box, self.outliers_box, QtWidgets.QLabel("smoothing"),
                       self.smoothing_slider, self._smoothing_label, QtWidgets.QLabel("x axis"),
                       self.x_mode_combo):
            rows[1].addWidget(widget)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        for row in rows:
            row.addStretch(1)
            layout.addLayout(row)
        layout.addWidget(self._graphics, 1)
        self.readout = QtWidgets.QLabel(" ", textFormat=QtCore.Qt.TextFormat.RichText, wordWrap=True)
        layout.addWidget(self.readout)

    def _sync_lr_view(self):
        self.lr_view.setGeometry(self.schedule_plot.vb.sceneBoundingRect())
        self.lr_view.linkedViewChanged(self.schedule_plot.vb, self.lr_view.XAxis)

    # -- feeding -----------------------------------------------------------------------------
    def add_steps(self, events: list) -> None:
        """Append StepMetrics-like events (anything with the attributes; missing ones read as NaN)."""
        if events:
            self.data.add_steps(events)
            self._mark_dirty()

    def add_epoch(self, event) -> None:
        """Append one EpochMetrics-like event; its point also sits at its `.step` on the step axis."""
        self.data.add_epoch(event)
        self._mark_dirty()

    def add_step_arrays(self, name, steps, values, wall_times=None) -> None:
        """Bulk-append one per-step series (a stored run); series with equal steps share x arrays."""
        self.data.add_step_arrays(name, steps, values, wall_times)
        self._mark_dirty()

    def add_epoch_arrays(self, name, epochs, values, steps=None, wall_times=None) -> None:
        """Bulk-append one per-epoch series; name: an EpochMetrics field (train_* or val_*)."""
        self.data.add_epoch_arrays(name, epochs, values, steps, wall_times)
        self._mark_dirty()

    def set_steps_per_epoch(self, steps_per_epoch: int | None) -> None:
        """Steps per epoch (RunStarted.steps_per_epoch), for placing steps on the epoch axis."""
        self.data.set_steps_per_epoch(steps_per_epoch)
        self._mark_dirty()

    def clear(self) -> None:
        """Forget every point (overlays stay: see clear_overlays)."""
        self.data.clear()
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
    def _mark_dirty(self):
        if not self._timer.isActive():
            self._timer.start()

    def _mark_all_dirty(self, *_):
        self.data.mark_all_dirty()
        self._mark_dirty()

    def _on_x_range_changed(self, *_):
        if not self._follow:          # zoomed or panned: the envelope must be recomputed
            self._mark_all_dirty()

    def _stop_following(self, *_):
        self._follow = False          # (the user zoomed or panned: redraw at the new resolution)
        self._mark_all_dirty()

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
                    item.setPen(_pen(curve.series, curve.key, dense=dense))
                item.setData(x, y)
        if self._follow:
            self._fit_x()
        if self._ignore_outliers:
            self._apply_robust_range()

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
        if self._ignore_outliers:
            self._apply_robust_range()

    def _on_legend_clicked(self, item):
        name = next((n for n, it in self._items.items() if it is item), None)
        if name is not None:     # pyqtgraph toggled that one item: apply it to its component
            self.set_component_visible(self.data.curves[name].key, item.isVisible())
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
            self._items[name].setPen(_pen("step", self.data.curves[name].key, alpha))
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
    def _on_mouse_moved(self, args):
        pos = args[0]
        if any(p.sceneBoundingRect().contains(pos) for p in (self.plot, self.schedule_plot)):
            self.readout.setText(self.readout_at(self.plot.vb.mapSceneToView(pos).x()))

    def readout_at(self, x: float) -> str:
        """Rich text: x, then each visible curve's value at its point nearest x."""
        parts = [f"{self._x_mode} {x:.6g}"]
        for name, curve in self.data.curves.items():
            i = self.data.nearest(curve, self._x_mode, x) if self._items[name].isVisible() else None
            if i is None:
                continue
            text = f"{LABELS[curve.key]}{SUFFIX[curve.series]} {curve.y.data[i]:.4g}"
            if name in self._smooth_items and self._smoothing > 0 and i < len(curve.smoothed):
                text += f" (smoothed {curve.smoothed.data[i]:.4g})"
            parts.append(f'<span style="color:{COLORS[curve.key]}">■</span> {text}')
        return " · ".join(parts)

    # -- overlays ----------------------------------------------------------------------------
    def add_run_overlay(self, run_label, name, x, y, color) -> pg.PlotDataItem:
        """Draw another run's curve (x already in the current x mode) with a legend entry naming it."""
        item = _item(pg.mkPen(color, width=1.5))
        self.plot.addItem(item)           # before setData: clip-to-view needs its ViewBox
        item.setData(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
        self.legend.addItem(item, f"{run_label} · {name}")
        self._overlays.append(item)
        return item

    def clear_overlays(self) -> None:
        for item in self._overlays:
            self.legend.removeItem(item)
            self.plot.removeItem(item)
        self._overlays = []


__all__ = ["LossPlotPanel", "COMPONENTS", "FIELDS", "X_MODES"]
