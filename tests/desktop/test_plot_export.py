"""Export plot…: the file holds what the view shows, at the view's size, with axes and legend on the
plot's own background — for a normal run (trained by the real Trainer), a run that diverged to
inf/NaN and one whose losses reach 1e30 (which once made a 10^5-px image of a grey void)."""
import math
import re
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSize
from PySide6.QtGui import QImage

from distill_desktop.browser.history_tab import HistoryTab
from distill_desktop.widgets.plot_export import PlotExportError
from distill_engine.runs.writer import create_run
from support import train_tiny_runs


def write_run(runs, name, losses):
    """A stored run whose steps have `losses` (one epoch row every 10 steps)."""
    writer = create_run(runs, name, "/nowhere", 10)
    for step, loss in enumerate(losses, 1):
        writer.log_step({"step": step, "epoch": (step - 1) // 10 + 1, "train_loss": loss, "stft_loss": loss / 2,
                         "kl_loss": 0.1, "learning_rate": 1e-3, "kl_weight": 0.01})
        if step % 10 == 0:
            writer.log_epoch({"epoch": step // 10, "step": step, "train_loss": loss, "val_loss": loss * 1.1})
    writer.close("completed")
    return writer.run_dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    (normal,) = train_tiny_runs(root, {"run_name": "normal", "epochs": 2})
    steps = np.arange(1, 61)
    diverged = list(4.0 / np.sqrt(steps[:30])) + [1.7e7, 3e8, math.inf, math.nan] + [math.nan] * 26
    huge = list(np.geomspace(1.0, 1e30, 60))
    return {"normal": Path(normal.run_dir), "diverged": write_run(root / "runs", "diverged", diverged),
            "huge": write_run(root / "runs", "huge", huge)}


@pytest.fixture
def tab(qtbot, runs):
    tab = HistoryTab([runs["normal"].parent])
    qtbot.addWidget(tab)
    tab.resize(1000, 700)
    tab.show()
    qtbot.waitExposed(tab)
    yield tab
    tab.shutdown()


def open_run(qtbot, tab, run_dir):
    with qtbot.waitSignal(tab.browser.run_loaded, timeout=20_000):
        tab.browser.open_run_dir(run_dir)


def pixels(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_RGB32)
    array = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine() // 4, 4)
    return array[:, :image.width(), :3].astype(float)


@pytest.mark.parametrize("kind", ["normal", "diverged", "huge"])
def test_png_export_has_the_views_size_and_shows_the_plot(qtbot, tab, runs, tmp_path, kind):
    open_run(qtbot, tab, runs[kind])
    view = tab.plot_panel.view
    path = tab.browser.export_plot(tmp_path / f"{kind}.png")
    image = QImage(str(path))
    assert (image.width(), image.height()) == (view.viewport().width(), view.viewport().height())
    array = pixels(image)
    background = np.array(view.backgroundBrush().color().getRgb()[:3], float)
    drawn = np.any(np.abs(array - background) > 30, axis=2)
    assert array.std() > 5                              # not blank
    assert drawn.mean() > 0.01                          # axes, legend and curves are drawn
    h, w = drawn.shape
    assert drawn[: int(h * 0.6), w // 4: 3 * w // 4].any()   # the upper (loss) plot has content mid-image
    assert drawn[:, :w // 10].any() and drawn[-h // 10:, :].any()  # left axis and bottom axis


@pytest.mark.parametrize("kind", ["normal", "huge"])
def test_svg_export_declares_the_views_dimensions(qtbot, tab, runs, tmp_path, kind):
    open_run(qtbot, tab, runs[kind])
    view = tab.plot_panel.view
    text = tab.browser.export_plot(tmp_path / f"{kind}.svg").read_text()
    width = re.search(r'<svg[^>]*\swidth="([\d.]+)(\w*)"', text, re.S)
    height = re.search(r'<svg[^>]*\sheight="([\d.]+)(\w*)"', text, re.S)
    box = re.search(r'viewBox="0 0 ([\d.]+) ([\d.]+)"', text)
    assert box and (float(box.group(1)), float(box.group(2))) == (view.viewport().width(), view.viewport().height())
    per_inch = {"": 96, "px": 96, "mm": 25.4, "cm": 2.54, "in": 1.0}[width.group(2)]
    to_px = lambda v: v / per_inch * 96  # CSS pixels: 96 per inch
    assert to_px(float(width.group(1))) == pytest.approx(view.viewport().width(), rel=0.02)
    assert to_px(float(height.group(1))) == pytest.approx(view.viewport().height(), rel=0.02)


def test_a_chosen_size_is_used_and_a_bad_name_is_a_clear_error(qtbot, tab, runs, tmp_path):
    open_run(qtbot, tab, runs["normal"])
    image = QImage(str(tab.browser.export_plot(tmp_path / "big.png", QSize(1600, 900))))
    assert (image.width(), image.height()) == (1600, 900)
    with pytest.raises(PlotExportError, match=r"plot\.xyz.*\.png"):
        tab.browser.export_plot(tmp_path / "plot.xyz")
    with pytest.raises(PlotExportError, match="missing"):
        tab.browser.export_plot(tmp_path / "missing" / "plot.png")
