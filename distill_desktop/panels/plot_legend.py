"""The loss plot's legend: a strip of its own above the plots (never on the curves), part of the
plot's graphics so an export shows it.

It says what each colour is (the components; the KL weight and learning rate schedules) and what
each line style is (per step thin, per epoch thick with dots, validation dashed with squares), and
names each overlaid run. Its samples are items of their own drawn at full strength, so they stay
visible when smoothing makes the raw curves faint. Clicking a component's sample toggles that
component (`component_clicked`).
"""
from __future__ import annotations

import pyqtgraph as pg
from pyqtgraph.graphicsItems.LegendItem import ItemSample
from PySide6 import QtCore

SAMPLE_WIDTH = 34
STYLE_COLOR = "#c8c8c8"
LEGEND_BRUSH = (0, 0, 0, 0)


class WideSample(ItemSample):
    """A legend sample wide enough to show a dashed line and a marker on it."""

    def __init__(self, item):
        super().__init__(item)
        self.setFixedWidth(SAMPLE_WIDTH)

    def boundingRect(self):
        return QtCore.QRectF(0, 0, SAMPLE_WIDTH, 20)

    def paint(self, p, *args):
        if not self.item.isVisible():
            super().paint(p, *args)          # pyqtgraph's "hidden" eye
            return
        opts = self.item.opts
        p.setRenderHint(p.RenderHint.Antialiasing)
        p.setPen(pg.mkPen(opts["pen"]))
        p.drawLine(QtCore.QPointF(1, 11), QtCore.QPointF(SAMPLE_WIDTH - 1, 11))
        if opts.get("symbol") is not None:
            scatter = self.item.scatter.opts
            p.translate(SAMPLE_WIDTH / 2, 11)
            pg.graphicsItems.ScatterPlotItem.drawSymbol(p, opts["symbol"], scatter["size"],
                                                        pg.mkPen(scatter["pen"]), pg.mkBrush(scatter["brush"]))


def sample_item(pen, symbol=None, brush=None, symbol_pen=None, size=7) -> pg.PlotDataItem:
    """A curve item that is only a legend sample (never added to a plot)."""
    item = pg.PlotDataItem(pen=pen)
    if symbol is not None:
        item.setSymbol(symbol)
        item.setSymbolSize(size)
        item.setSymbolBrush(brush)
        item.setSymbolPen(symbol_pen)
    return item


class _Strip(pg.GraphicsWidget):
    """The layout cell holding the legend: re-fits it when resized."""

    def __init__(self, on_resized):
        super().__init__()
        self._on_resized = on_resized

    def resizeEvent(self, event):
        super().resizeEvent(event)
        self._on_resized()


class LegendStrip:
    """A row of the plot's GraphicsLayout holding a LegendItem, laid out in as many columns as fit.

    `set_entries(entries, max_columns)` replaces what it lists: [(sample item, label)]."""

    def __init__(self, layout: pg.GraphicsLayout, row: int, left_margin: float):
        self.strip = _Strip(self._fit)
        layout.addItem(self.strip, row=row, col=0)
        self.legend = pg.LegendItem(brush=LEGEND_BRUSH, pen=None, sampleType=WideSample,
                                    labelTextSize="9pt", horSpacing=14, frame=False)
        self.legend.setParentItem(self.strip)
        self.legend.setPos(left_margin, 0)
        self.left_margin = left_margin
        self.entries: list = []
        self.max_columns = 0

    def set_entries(self, entries, max_columns: int = 0) -> None:
        """max_columns: at most this many entries a row (0: as many as fit)."""
        entries = list(entries)
        if [(id(i), t) for i, t in entries] == [(id(i), t) for i, t in self.entries] \
                and max_columns == self.max_columns:
            return
        self.entries, self.max_columns = entries, max_columns
        self.legend.clear()
        for item, label in entries:
            self.legend.addItem(item, label)
        self._fit()

    def labels(self) -> list[str]:
        return [label.text for _, label in self.legend.items]

    def _fit(self) -> None:
        """As many columns as the widest entry allows in the strip's width; the strip as tall as
        the legend's rows."""
        if not hasattr(self, "legend"):      # (the layout sizes the strip before the legend exists)
            return
        items = self.legend.items
        available = max(self.strip.size().width() - self.left_margin, 100)
        if items:
            widest = max(sample.width() + label.width() + 14 for sample, label in items)
            columns = max(1, min(len(items), int(available // max(widest, 1)), self.max_columns or len(items)))
            self.legend.setColumnCount(columns)      # (re-flows when the count changes)
        self.legend.updateSize()
        height = self.legend.height() if items else 0
        if abs(self.strip.maximumHeight() - height) > 0.5:
            self.strip.setMaximumHeight(height)
            self.strip.setMinimumHeight(height)
