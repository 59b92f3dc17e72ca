"""Loss-plot redraw cost with 1,000,000 points per per-step curve (7 of them) and 1,000 per epoch curve.

A full redraw = every curve's setData (the min/max envelope of the visible range, one column per
pixel) + QApplication.processEvents(), which repaints the shown panel once, as on screen (the target,
<= 30 ms); also printed with a second, forced paint (panel.grab()) on top, as the other lines are
measured. Prints the median and max of 10 full redraws, then the same for: a live step (20 new steps, only the changed curves redrawn),
smoothing on, a zoomed-in view, and, for comparison, plain pyqtgraph PlotDataItems handed the whole
1M-point arrays with setDownsampling(auto=True, method='peak') and setClipToView(True).

    .venv/bin/python benchmarks/bench_plot_redraw.py [--points N] [--repeats R]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pyqtgraph as pg  # noqa: E402
from PySide6 import QtWidgets  # noqa: E402

from distill_desktop.models.run_series import rows_of  # noqa: E402
from distill_desktop.panels.loss_plot import LossPlotPanel  # noqa: E402
from distill_engine.training.events import StepMetrics  # noqa: E402

STEP_FIELDS = ("train_loss", "stft_loss", "mag_recon_loss", "if_recon_loss", "kl_loss", "kl_weight",
               "learning_rate")
EPOCH_FIELDS = ("train_loss", "train_stft_loss", "train_mag_recon_loss", "train_if_recon_loss",
                "train_kl_loss", "val_loss", "val_stft_loss", "val_mag_recon_loss", "val_if_recon_loss",
                "val_kl_loss")
T0 = 1_700_000_000.0


def _step(step, rng) -> StepMetrics:
    """A StepMetrics event for the live-step timing."""
    values = {name: float(0.1 + 0.01 * i + 0.01 * rng.random()) for i, name in enumerate(STEP_FIELDS)}
    return StepMetrics(epoch=step // 1000 + 1, step=step, total_steps=0, recon_loss=0.0, step_time_s=0.0,
                       grad_norm=0.0, wall_time=T0 + 0.05 * step, **values)


def synthetic_loss(n, rng, scale):
    steps = np.arange(1, n + 1, dtype=np.float64)
    return scale * (1.0 / np.sqrt(steps) + 0.1) * (1.0 + 0.2 * rng.standard_normal(n))


def timed(app, widget, action, repeats):
    """ms of action() + processEvents() + grab(), `repeats` times."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        app.processEvents()
        widget.grab()
        times.append(1e3 * (time.perf_counter() - start))
    return times


def timed_on_screen(app, panel, action, repeats):
    """ms of action() + processEvents(), which repaints the shown panel once, as on screen (the
    paint is counted through the view's paint hook: a run without one is an error)."""
    view, paints, times = panel._graphics, [0], []
    hook = view.on_painted

    def counted():
        paints[0] += 1
        hook()

    view.on_painted = counted
    for _ in range(repeats):
        paints[0] = 0
        start = time.perf_counter()
        action()
        app.processEvents()
        times.append(1e3 * (time.perf_counter() - start))
        if paints[0] == 0:
            raise RuntimeError("processEvents did not repaint the plot")
    view.on_painted = hook
    return times


def report(label, times):
    print(f"{label:<58} median {statistics.median(times):7.1f} ms   max {max(times):7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    n, repeats = args.points, args.repeats
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    rng = np.random.default_rng(0)
    steps = np.arange(1, n + 1, dtype=np.float64)
    walls = T0 + 0.05 * steps
    values = {name: synthetic_loss(n, rng, 1.0 + i) for i, name in enumerate(STEP_FIELDS)}
    values["train_loss"][n // 3] = 50.0                 # one spike that must stay drawn
    epochs = np.arange(1, 1001, dtype=np.float64)
    epoch_steps = epochs * (n // 1000)

    panel = LossPlotPanel()
    panel.resize(1400, 800)
    panel.show()
    app.processEvents()
    start = time.perf_counter()
    panel.series.extend(
        steps={"step": steps, "wall_time": walls, **values},
        epochs={"epoch": epochs, "step": epoch_steps,
                **{name: 0.3 + 1 / np.sqrt(epochs) + 0.01 * rng.random(1000) for name in EPOCH_FIELDS}})
    load = 1e3 * (time.perf_counter() - start)
    first = timed(app, panel, panel.redraw_now, 1)[0]
    print(f"PySide6 {pg.Qt.QtCore.qVersion()} · pyqtgraph {pg.__version__} · {n:,} points x "
          f"{len(STEP_FIELDS)} step curves + 1,000 x {len(EPOCH_FIELDS)} epoch curves, "
          f"plot {panel.plot.vb.width():.0f} px wide")
    print(f"{'load (bulk rows)':<58} {load:7.1f} ms")
    print(f"{'first redraw (builds min/max pyramids)':<58} {first:7.1f} ms")
    item = panel.plot_items("train_loss")[0]         # xData/yData: what was handed over, before log y
    print(f"{'points handed to pyqtgraph per 1M-point curve':<58} {len(item.xData):7d}"
          f"   (spike kept: {item.yData.max() == 50.0}; y axis {'log' if panel.log_y_box.isChecked() else 'linear'})")

    def full_redraw():
        panel.data.mark_all_dirty()
        panel.redraw_now()

    report("full redraw (all 17 curves) and the paint it causes", timed_on_screen(app, panel, full_redraw, repeats))
    report("full redraw (all 17 curves) + processEvents + grab", timed(app, panel, full_redraw, repeats))
    parts = []
    for _ in range(repeats):
        start = time.perf_counter()
        full_redraw()
        parts.append(1e3 * (time.perf_counter() - start))
        app.processEvents()
    report("  of which envelopes + setData of 17 curves", parts)
    report("  of which one paint (grab alone)", timed(app, panel, lambda: None, repeats))
    next_step = [n + 1]

    def live_step():
        panel.series.extend(steps=rows_of([_step(next_step[0] + i, rng) for i in range(20)]))
        next_step[0] += 20
        panel.redraw_now()

    report("live: 20 new steps, redraw changed curves + grab", timed(app, panel, live_step, repeats))
    start = time.perf_counter()
    panel.set_smoothing(0.9)
    panel.redraw_now()
    print(f"{'smoothing 0.9: first redraw (EMA of 5 x 1M points)':<58} "
          f"{1e3 * (time.perf_counter() - start):7.1f} ms")
    report("smoothing 0.9: full redraw + grab", timed(app, panel, full_redraw, repeats))
    report("smoothing 0.9: live, 20 new steps + grab", timed(app, panel, live_step, repeats))
    panel.set_smoothing(0.0)
    panel.set_x_range(n * 0.4, n * 0.45)
    report("zoomed to 5% of the run: full redraw + grab", timed(app, panel, full_redraw, repeats))
    panel.close()

    # comparison: plain pyqtgraph with every point handed to setData
    widget = pg.PlotWidget()
    widget.resize(1400, 600)
    widget.show()
    items = []
    for _ in STEP_FIELDS:
        item = widget.plot(pen=pg.mkPen("w", width=1))
        item.setDownsampling(auto=True, method="peak")
        item.setClipToView(True)
        items.append(item)

    def native_redraw():
        for item, name in zip(items, STEP_FIELDS):
            item.setData(steps, values[name])

    report("pyqtgraph alone, setData(1M) x 7, peak + clipToView", timed(app, widget, native_redraw, repeats))
    widget.close()


if __name__ == "__main__":
    main()
