"""Export what a plot view shows, at the size it has on screen (or a size the caller chooses).

Only the view's visible rectangle is rendered: the scene's own rectangle grows with every item's
bounds, and a run with huge or non-finite losses once made it 10^5 px wide (an 80 s, 5 GB export of
a grey image with a small plot in a corner, or an SVG declaring itself hundreds of km long).
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QRectF, QSize
from PySide6.QtGui import QImage, QImageWriter, QPainter
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import QGraphicsView

from distill_engine.errors import DistillError


class PlotExportError(DistillError):
    """A plot cannot be exported to the chosen file (its format or its folder)."""


def export_view(view: QGraphicsView, path, size: QSize | None = None) -> Path:
    """Write `view`'s visible area to `path`: SVG by the suffix, else an image format Qt writes
    (PNG, JPEG, ...). `size` defaults to the view's on-screen size; the view's own background is
    drawn under the plot. Raises PlotExportError naming the file and what to change."""
    path = Path(path)
    viewport = view.viewport().rect()
    size = size if size is not None and not size.isEmpty() else viewport.size()
    source = view.mapToScene(viewport).boundingRect()
    target = QRectF(0, 0, size.width(), size.height())
    suffix = path.suffix.lower().lstrip(".")
    if suffix == "svg":
        device = QSvgGenerator()
        device.setFileName(str(path))
        device.setSize(size)
        device.setResolution(96)  # CSS pixels: the declared width in mm is `size` px on screen
        device.setViewBox(target)
        device.setTitle("Distill loss plot")
    else:
        if suffix.encode() not in {bytes(f.data()) for f in QImageWriter.supportedImageFormats()}:
            raise PlotExportError(f"cannot export the plot as {path.name}: choose a file name ending in "
                                  ".png, .jpg or .svg")
        device = QImage(size, QImage.Format.Format_ARGB32)
        device.fill(view.backgroundBrush().color())
    painter = QPainter(device)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if suffix == "svg":
            painter.fillRect(target, view.backgroundBrush())
        view.scene().render(painter, target, source)
    finally:
        painter.end()
    if isinstance(device, QImage) and not device.save(str(path)):
        raise PlotExportError(f"cannot write the image {path}: check that the folder {path.parent} exists "
                              "and is writable")
    if suffix == "svg" and not path.exists():
        raise PlotExportError(f"cannot write {path}: check that the folder {path.parent} exists and is writable")
    return path
