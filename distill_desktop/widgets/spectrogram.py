"""SpectrogramView: a log-magnitude spectrogram (models.audio_clips.Spectrogram) drawn with
pyqtgraph's ImageItem, time in seconds along x and frequency in Hz along y, on colour levels the
owner sets (so many views share one scale), with a playhead line while its clip plays."""
from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QRectF

COLORMAP = "inferno"


def colour_bar_pixmap(width: int = 160, height: int = 12):
    """The spectrograms' colour map as a horizontal bar (low dB left), for a legend."""
    import numpy as np
    from PySide6.QtGui import QImage, QPixmap

    lut = pg.colormap.get(COLORMAP).getLookupTable(nPts=width, alpha=False).astype(np.uint8)
    rows = np.ascontiguousarray(np.repeat(lut[np.newaxis, :, :], height, axis=0))
    image = QImage(rows.data, width, height, 3 * width, QImage.Format.Format_RGB888)
    return QPixmap.fromImage(image.copy())


class SpectrogramView(pg.GraphicsLayoutWidget):
    """One spectrogram; `set_spectrogram(spec)`, `set_levels(low_db, high_db)`, `set_playhead(s)`.

    Built from a ViewBox and two AxisItems rather than a PlotItem: a PlotItem builds its options
    menus (~35 ms each), and a Listen tab shows a dozen of these."""

    def __init__(self, parent=None, height: int = 150):
        super().__init__(parent)
        self.setBackground("#111")
        self.setMinimumHeight(height)
        self.setMaximumHeight(int(height * 1.6))
        self.ci.setContentsMargins(2, 2, 6, 2)
        self.box = pg.ViewBox(enableMenu=False, enableMouse=False, defaultPadding=0.0)
        self.left_axis = pg.AxisItem("left")
        self.bottom_axis = pg.AxisItem("bottom")
        for axis, label in ((self.left_axis, "Hz"), (self.bottom_axis, "s")):
            axis.enableAutoSIPrefix(False)
            axis.setLabel(label)
            axis.linkToView(self.box)
        self.ci.addItem(self.left_axis, row=0, col=0)
        self.ci.addItem(self.box, row=0, col=1)
        self.ci.addItem(self.bottom_axis, row=1, col=1)
        self.image = pg.ImageItem(axisOrder="col-major")
        self.image.setColorMap(pg.colormap.get(COLORMAP))
        self.box.addItem(self.image)
        self.playhead = pg.InfiniteLine(0.0, angle=90, pen=pg.mkPen("#7fd4ff", width=2))
        self.playhead.hide()
        self.box.addItem(self.playhead)
        self.spectrogram = None
        self.levels = (-90.0, 0.0)

    def set_spectrogram(self, spectrogram) -> None:
        """Show `spectrogram` (None clears the image)."""
        self.spectrogram = spectrogram
        if spectrogram is None:
            self.image.clear()
            return
        self.image.setImage(spectrogram.db, levels=self.levels, autoLevels=False)
        self.image.setRect(QRectF(0.0, 0.0, spectrogram.duration_s, spectrogram.top_hz))
        self.box.setRange(xRange=(0, spectrogram.duration_s), yRange=(0, spectrogram.top_hz), padding=0)

    def set_levels(self, low_db: float, high_db: float) -> None:
        self.levels = (float(low_db), float(high_db))
        if self.spectrogram is not None:
            self.image.setLevels(self.levels)

    def set_playhead(self, seconds: float | None) -> None:
        """Draw the playhead at `seconds` (None hides it)."""
        if seconds is None:
            self.playhead.hide()
        else:
            self.playhead.setValue(seconds)
            self.playhead.show()
