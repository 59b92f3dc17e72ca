"""What the loss plot is built from: colours and pens per curve, the legend strip (plot_legend)
over the two plots sharing the x axis (losses above; KL weight below, learning rate on its
right-hand axis) with one item per curve, and the row of controls. Built here; LossPlotPanel wires
them to its slots and drives them.
"""
from __future__ import annotations

from dataclasses import dataclass

import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from ..models.loss_data import COMPONENTS, KL_SCHEDULE, SCHEDULE_LABELS, SCHEDULES, X_MODES
from ..widgets.redraw import ReportingGraphicsLayoutWidget
from .plot_legend import STYLE_COLOR, LegendStrip, sample_item

LABELS = {"total": "total", "stft": "STFT", "magnitude": "magnitude", "if": "IF", "level": "level", "kl": "KL",
          **SCHEDULE_LABELS}
_COMPONENT_COLORS = {"total": "#e6e6e6", "stft": "#4c9be8", "magnitude": "#f5a623", "if": "#6cc644",
                     "level": "#c678dd", "kl": "#e8588c"}
#: the KL weight in KL's colour; the other schedules (the learning rate) in a teal far from it in hue
COLORS = {**_COMPONENT_COLORS,
          **{name: _COMPONENT_COLORS["kl"] if name == KL_SCHEDULE else "#35d0c8" for name in SCHEDULES}}
SERIES_LABELS = {"step": "per step", "epoch": "per epoch", "val": "validation", "schedule": "schedules"}
SUFFIX = {"step": "", "schedule": "", "epoch": " (epoch)", "val": " (val)"}
X_LABELS = {"step": "step", "epoch": "epoch", "wall time": "seconds since start"}
RAW_ALPHA_WHEN_SMOOTHED = 60
SYMBOLS = {"epoch": "o", "val": "s"}
AXIS_WIDTH = 64


def plot_item(pen, **style) -> pg.PlotDataItem:
    """A curve item drawing only what is in view, peak-downsampled."""
    item = pg.PlotDataItem(pen=pen, **style)
    item.setDownsampling(auto=True, method="peak")
    item.setClipToView(True)
    return item


def curve_pen(series, key, alpha=255, dense=False):
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


@dataclass
class LossPlots:
    """The plots of a LossPlotPanel and the items drawing its curves (smoothed twins: step losses)."""

    graphics: pg.GraphicsLayoutWidget
    plot: pg.PlotItem
    schedule_plot: pg.PlotItem
    lr_view: pg.ViewBox
    legend: LegendStrip
    items: dict
    smooth_items: dict
    #: legend samples: per component, per line style (series), per schedule
    component_samples: dict
    style_samples: dict
    schedule_samples: dict


def _samples():
    """Legend samples at full strength: a colour per component, a line style per series."""
    components = {key: sample_item(pg.mkPen(COLORS[key], width=2)) for key in COMPONENTS}
    styles = {
        "step": sample_item(pg.mkPen(STYLE_COLOR, width=1)),
        "epoch": sample_item(pg.mkPen(STYLE_COLOR, width=2), SYMBOLS["epoch"], STYLE_COLOR, None, 6),
        "val": sample_item(pg.mkPen(STYLE_COLOR, width=1, style=QtCore.Qt.PenStyle.DashLine),
                           SYMBOLS["val"], None, STYLE_COLOR, 5),
    }
    schedules = {name: sample_item(pg.mkPen(COLORS[name], width=2)) for name in SCHEDULES}
    return components, styles, schedules


def build_plots(curves: dict) -> LossPlots:
    """The loss plot over the schedules plot, one item per curve of `curves` (LossCurves.curves)."""
    graphics = ReportingGraphicsLayoutWidget()
    legend = LegendStrip(graphics.ci, row=0, left_margin=AXIS_WIDTH)
    plot = graphics.addPlot(row=1, col=0)
    schedule_plot = graphics.addPlot(row=2, col=0)
    graphics.ci.layout.setRowStretchFactor(1, 3)
    graphics.ci.layout.setRowStretchFactor(2, 1)
    schedule_plot.setXLink(plot)
    plot.setLabel("left", "loss")
    schedule_plot.setLabel("left", LABELS[KL_SCHEDULE])
    schedule_plot.setLabel("bottom", X_LABELS["step"])
    for p in (plot, schedule_plot):   # no grid: it costs ~25 ms a paint at 1400 px
        p.getAxis("left").enableAutoSIPrefix(False)
        p.showAxis("right")        # equal axis widths, so both views span the same x range
        p.getAxis("left").setWidth(AXIS_WIDTH)
        p.getAxis("right").setWidth(AXIS_WIDTH)
        p.setDownsampling(auto=True, mode="peak")   # PlotItem.addItem imposes its own on items
        p.setClipToView(True)
    plot.getAxis("right").setStyle(showValues=False)
    lr_view = pg.ViewBox(enableMenu=False)        # pyqtgraph's MultiplePlotAxes pattern
    schedule_plot.scene().addItem(lr_view)
    schedule_plot.getAxis("right").linkToView(lr_view)
    schedule_plot.getAxis("right").setLabel(", ".join(LABELS[n] for n in SCHEDULES if n != KL_SCHEDULE))
    schedule_plot.getAxis("right").enableAutoSIPrefix(False)
    lr_view.setXLink(schedule_plot)
    items, smooth_items = {}, {}
    for name, curve in curves.items():
        series, key = curve.series, curve.key
        item = items[name] = plot_item(curve_pen(series, key))
        if series == "epoch":
            item.setSymbolSize(6), item.setSymbolBrush(COLORS[key]), item.setSymbolPen(None)
        elif series == "val":
            item.setSymbolSize(5), item.setSymbolBrush(None), item.setSymbolPen(COLORS[key])
        if series == "schedule":
            if key != KL_SCHEDULE:   # a linked ViewBox's range lags; the envelope clips anyway
                item.setClipToView(False)
            (schedule_plot if key == KL_SCHEDULE else lr_view).addItem(item)
            continue
        plot.addItem(item)
        if series == "step":
            smooth = smooth_items[name] = plot_item(curve_pen(series, key))
            smooth.setVisible(False)
            plot.addItem(smooth)
    return LossPlots(graphics, plot, schedule_plot, lr_view, legend, items, smooth_items, *_samples())


@dataclass
class LossPlotControls:
    """The controls above the plots: `rows` holds them laid out in two rows."""

    component_boxes: dict
    series_boxes: dict
    log_y_box: QtWidgets.QCheckBox
    outliers_box: QtWidgets.QCheckBox
    smoothing_slider: QtWidgets.QSlider
    smoothing_label: QtWidgets.QLabel
    x_mode_combo: QtWidgets.QComboBox
    rows: list


def build_controls() -> LossPlotControls:
    """A checkbox (with its colour) per component and per series, log y, ignore outliers, the
    smoothing slider and the x-mode combo; nothing connected yet."""
    component_boxes, series_boxes = {}, {}
    rows = [QtWidgets.QHBoxLayout() for _ in range(2)]
    for key in COMPONENTS:
        box = component_boxes[key] = QtWidgets.QCheckBox(LABELS[key], checked=True)
        swatch = QtGui.QPixmap(12, 12)
        swatch.fill(pg.mkColor(COLORS[key]))
        box.setIcon(QtGui.QIcon(swatch))
        rows[0].addWidget(box)
    rows[0].addSpacing(16)
    for series, label in SERIES_LABELS.items():
        box = series_boxes[series] = QtWidgets.QCheckBox(label, checked=True)
        rows[0].addWidget(box)
    log_y_box = QtWidgets.QCheckBox("log y")
    outliers_box = QtWidgets.QCheckBox("ignore outliers")
    smoothing_slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal, minimum=0, maximum=99)
    smoothing_slider.setMaximumWidth(160)
    smoothing_label = QtWidgets.QLabel("0.00")
    x_mode_combo = QtWidgets.QComboBox()
    x_mode_combo.addItems(X_MODES)
    for widget in (log_y_box, outliers_box, QtWidgets.QLabel("smoothing"), smoothing_slider,
                   smoothing_label, QtWidgets.QLabel("x axis"), x_mode_combo):
        rows[1].addWidget(widget)
    for row in rows:
        row.addStretch(1)
    return LossPlotControls(component_boxes, series_boxes, log_y_box, outliers_box, smoothing_slider,
                            smoothing_label, x_mode_combo, rows)
