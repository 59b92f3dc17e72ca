"""GUI-thread responsiveness of the live loss plot: lateness of a 16 ms QTimer on the GUI thread.

Phase (a): the plot holds 1,000,000 points per per-step curve and new steps arrive at 20 steps/s in
bursts (5 steps every 250 ms, an epoch every 10 s), redrawn by the panel's own 100 ms timer.
Phase (b): the same while a background Python thread runs torch matmuls flat out (standing in for
training in a QThread; torch releases the GIL inside each matmul) with torch's default thread
count; phase (c): the same with torch limited to one thread, leaving a core to the GUI; phase (d):
as (b) with the training thread at nice 10 (a lower CPU priority than the GUI thread).
Prints p50 / p99 / max lateness in ms for each phase and the number of redraws that ran.

    .venv/bin/python benchmarks/bench_gui_responsiveness.py [--seconds S] [--points N]
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from PySide6 import QtCore, QtWidgets  # noqa: E402

from distill_desktop.panels.contributions import ContributionPanel  # noqa: E402
from distill_desktop.panels.loss_plot import LossPlotPanel  # noqa: E402
from distill_engine.config import LossConfig  # noqa: E402
from distill_engine.events import EpochMetrics, StepMetrics  # noqa: E402

TICK_MS = 16
STEP_FIELDS = ("train_loss", "stft_loss", "mag_recon_loss", "if_recon_loss", "kl_loss", "kl_weight",
               "learning_rate")


class LatenessProbe(QtCore.QObject):
    """A precise single-shot 16 ms timer re-armed on every tick; records how late each tick fires."""

    def __init__(self):
        super().__init__()
        self.lateness_ms: list[float] = []
        self._timer = QtCore.QTimer(self, singleShot=True, timerType=QtCore.Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._tick)
        self._due = 0.0

    def start(self):
        self.lateness_ms.clear()
        self._arm()

    def stop(self):
        self._timer.stop()

    def _arm(self):
        self._due = time.perf_counter() + TICK_MS / 1e3
        self._timer.start(TICK_MS)

    def _tick(self):
        self.lateness_ms.append(max(0.0, 1e3 * (time.perf_counter() - self._due)))
        self._arm()


class LiveFeeder(QtCore.QObject):
    """Feeds the panels bursts of StepMetrics (and an EpochMetrics every 10 s) from a QTimer."""

    def __init__(self, panels, first_step, steps_per_epoch):
        super().__init__()
        self.panels, self.step, self.steps_per_epoch = panels, first_step, steps_per_epoch
        self._rng = np.random.default_rng(1)
        self._timer = QtCore.QTimer(self, interval=250)
        self._timer.timeout.connect(self._burst)
        self._epoch_timer = QtCore.QTimer(self, interval=10_000)
        self._epoch_timer.timeout.connect(self._epoch)

    def start(self):
        self._timer.start()
        self._epoch_timer.start()

    def stop(self):
        self._timer.stop()
        self._epoch_timer.stop()

    def _burst(self):
        events = []
        for _ in range(5):
            self.step += 1
            loss = 0.1 + 1 / np.sqrt(self.step) * (1 + 0.2 * self._rng.standard_normal())
            events.append(StepMetrics(self.step // self.steps_per_epoch + 1, self.step, 2_000_000, loss,
                                      0.2 * loss, 5.0, 0.01, 1e-3, 0.05, 0.7 * loss, 0.5 * loss, 0.4 * loss,
                                      1.0, time.time()))
        for panel in self.panels:
            panel.add_steps(events)

    def _epoch(self):
        values = {name: 0.3 for name in EpochMetrics.__dataclass_fields__}
        values.update(epoch=self.step // self.steps_per_epoch, total_epochs=2000, step=self.step,
                      skipped_steps=0, wall_time=time.time())
        self.panels[0].add_epoch(EpochMetrics(**values))


def background_training(stop: threading.Event, counter: list, nice: int = 0):
    """Matmuls in a Python thread until stopped (torch releases the GIL while it multiplies).
    nice > 0 lowers this thread's CPU priority (Linux: per thread; torch's pool threads that this
    thread starts inherit it)."""
    import torch
    if nice and hasattr(os, "setpriority"):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
    a, b = torch.randn(512, 512), torch.randn(512, 512)
    while not stop.is_set():
        (a @ b).sum()
        counter[0] += 1


def run_phase(app, label, seconds, probe, feeder, counter_box):
    redraws = counter_box[0]
    probe.start()
    feeder.start()
    loop = QtCore.QEventLoop()
    QtCore.QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()
    feeder.stop()
    probe.stop()
    late = np.array(probe.lateness_ms)
    print(f"{label:<45} ticks {len(late):4d}   lateness p50 {np.percentile(late, 50):5.1f} ms   "
          f"p99 {np.percentile(late, 99):5.1f} ms   max {late.max():6.1f} ms   "
          f"redraws {counter_box[0] - redraws}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument("--points", type=int, default=1_000_000)
    args = parser.parse_args()
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    n, steps_per_epoch = args.points, 1000
    rng = np.random.default_rng(0)
    steps = np.arange(1, n + 1, dtype=np.float64)
    walls = time.time() - 0.05 * (n - steps)
    window = QtWidgets.QWidget()
    layout = QtWidgets.QVBoxLayout(window)
    plot, contributions = LossPlotPanel(), ContributionPanel(LossConfig())
    layout.addWidget(plot, 3)
    layout.addWidget(contributions, 1)
    for i, name in enumerate(STEP_FIELDS):
        values = (1 + i) * (0.1 + 1 / np.sqrt(steps)) * (1 + 0.2 * rng.standard_normal(n))
        plot.add_step_arrays(name, steps, values, wall_times=walls)
    epochs = np.arange(1, n // steps_per_epoch + 1, dtype=np.float64)
    for name in ("train_loss", "val_loss", "train_stft_loss", "val_stft_loss"):
        plot.add_epoch_arrays(name, epochs, 0.3 + 1 / np.sqrt(epochs), steps=epochs * steps_per_epoch)
    window.resize(1400, 1000)
    window.show()
    counter_box = [0]
    original = plot.redraw_now

    def counted_redraw():
        counter_box[0] += 1
        original()

    plot._timer.timeout.disconnect()
    plot._timer.timeout.connect(counted_redraw)
    start = time.perf_counter()
    plot.redraw_now()
    contributions.redraw_now()
    app.processEvents()
    print(f"{n:,} points x {len(STEP_FIELDS)} step curves loaded and first drawn in "
          f"{time.perf_counter() - start:.2f} s; {os.cpu_count()} CPUs")
    probe = LatenessProbe()
    feeder = LiveFeeder([plot, contributions], n, steps_per_epoch)
    run_phase(app, "(a) live feeding, 1M points, 100 ms redraws", args.seconds, probe, feeder, counter_box)
    import torch
    default_threads = torch.get_num_threads()
    for label, threads, nice in (("(b) same + torch matmuls in a thread", default_threads, 0),
                                 ("(c) same, torch limited to 1 thread", 1, 0),
                                 ("(d) as (b), the training thread at nice 10", default_threads, 10)):
        torch.set_num_threads(threads)
        stop, matmuls = threading.Event(), [0]
        worker = threading.Thread(target=background_training, args=(stop, matmuls, nice), daemon=True)
        worker.start()
        run_phase(app, label, args.seconds, probe, feeder, counter_box)
        stop.set()
        worker.join()
        print(f"    background thread: {matmuls[0] / args.seconds:.0f} matmuls/s of 512x512 "
              f"with {threads} torch thread(s)")
    window.close()


if __name__ == "__main__":
    main()
