"""GUI-thread responsiveness of the app while it trains and its loss plot holds 1 M points per curve:
the lateness of a precise 16 ms QTimer on the GUI thread (target: p99 <= 16 ms, max <= 100 ms).

The real main window (1320 x 820, the "Loss curves" tab in front) gets 1,000,000 points on each
per-step curve, then new steps in bursts (5 steps every 250 ms, 20 steps/s, and an epoch every 10 s:
more than CPU training sends), which its panels draw as they do in a run.
Phase (a): no training (the corpus panel loads the demo corpus, importing torch, meanwhile).
Phase (b): the same while a real training run (the bundled demo corpus, the default config but a
checkpoint every 10 s instead of 60 s, so that saves fall inside the phase, on the CPU) goes on in the
app's own TrainingSession: a QThread at the app's training priority; its events are not drawn, so
the plots keep their 1 M points.
Phase (c): the same while the window's audio player plays a demo-corpus clip over and over
(QtMultimedia; only where an audio output exists, else it says so).
Prints p50 / p99 / max lateness for each phase, how many redraws ran and what each cost (GUI-thread
CPU of redraw + paint), and the GUI thread's CPU share.

    .venv/bin/python benchmarks/bench_gui_responsiveness.py [--seconds S] [--points N]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from PySide6 import QtCore, QtWidgets  # noqa: E402

from distill_engine.training.events import EpochMetrics, StepMetrics  # noqa: E402
from distill_desktop.models.run_series import rows_of  # noqa: E402

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
    """Feeds the window's series (read by the loss plot and the Contributions chart) bursts of
    StepMetrics (and an EpochMetrics every 10 s) from a QTimer, as the training controller does."""

    def __init__(self, series, first_step, steps_per_epoch):
        super().__init__()
        self.series, self.step, self.steps_per_epoch = series, first_step, steps_per_epoch
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
            events.append(StepMetrics(
                epoch=self.step // self.steps_per_epoch + 1, step=self.step, total_steps=2_000_000,
                train_loss=loss, recon_loss=0.2 * loss, kl_loss=5.0, kl_weight=0.01, learning_rate=1e-3,
                step_time_s=0.05, stft_loss=0.7 * loss, mag_recon_loss=0.5 * loss, if_recon_loss=0.4 * loss,
                grad_norm=1.0, wall_time=time.time()))
        self.series.extend(steps=rows_of(events))

    def _epoch(self):
        values = {name: 0.3 for name in EpochMetrics.__dataclass_fields__}
        values.update(epoch=self.step // self.steps_per_epoch, total_epochs=2000, step=self.step,
                      skipped_steps=0, wall_time=time.time())
        self.series.extend(epochs=rows_of([EpochMetrics(**values)]))


class FirstStep(QtCore.QObject):
    """Receives the training worker's step batches on the GUI thread; quits a loop at the first."""

    def __init__(self, loop):
        super().__init__()
        self.loop, self.steps = loop, 0

    @QtCore.Slot(list)
    def on_steps(self, events):
        self.steps += len(events)
        self.loop.quit()


def load_history(plot, n: int, steps_per_epoch: int) -> None:
    rng = np.random.default_rng(0)
    steps = np.arange(1, n + 1, dtype=np.float64)
    walls = time.time() - 0.05 * (n - steps)
    rows = {"step": steps, "wall_time": walls}
    for i, name in enumerate(STEP_FIELDS):
        rows[name] = (1 + i) * (0.1 + 1 / np.sqrt(steps)) * (1 + 0.2 * rng.standard_normal(n))
    epochs = np.arange(1, n // steps_per_epoch + 1, dtype=np.float64)
    epoch_rows = {"epoch": epochs, "step": epochs * steps_per_epoch}
    for name in ("train_loss", "val_loss", "train_stft_loss", "val_stft_loss"):
        epoch_rows[name] = 0.3 + 1 / np.sqrt(epochs)
    plot.series.extend(steps=rows, epochs=epoch_rows)


def run_phase(label, seconds, probe, feeder, plot):
    frames, costs = plot.redraw_count, len(plot.frame_costs)
    cpu, wall = time.thread_time(), time.perf_counter()
    probe.start()
    feeder.start()
    loop = QtCore.QEventLoop()
    QtCore.QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()
    feeder.stop()
    probe.stop()
    share = (time.thread_time() - cpu) / (time.perf_counter() - wall)
    late = np.array(probe.lateness_ms)
    frame_ms = 1e3 * np.array(plot.frame_costs[costs + 1:] or [np.nan])
    print(f"{label:<38} ticks {len(late):4d}  lateness p50 {np.percentile(late, 50):5.1f} ms  "
          f"p99 {np.percentile(late, 99):5.1f} ms  max {late.max():6.1f} ms  "
          f"redraws {plot.redraw_count - frames:3d} (GUI CPU per frame median {np.median(frame_ms):4.1f} ms, "
          f"max {frame_ms.max():4.1f} ms)  GUI thread {100 * share:4.1f} % of a core", flush=True)


def play_clips_during_phase(player, corpus, seconds, probe, feeder, plot) -> None:
    """Phase (c): phase (b) while `player` plays a corpus clip again each time it ends."""
    if not player.available:
        print(f"(c) while a clip plays: not measured ({player.unavailable_reason})")
        return
    from distill_desktop.models.audio_clips import read_clip

    clip = read_clip(sorted(corpus.glob("*.wav"))[0])
    plays = []

    def play_again(_key=""):
        plays.append(player.play("bench", clip.samples, clip.sample_rate))

    player.stopped.connect(play_again)
    play_again()
    run_phase("(c) the same while a clip plays", seconds, probe, feeder, plot)
    player.stopped.disconnect(play_again)
    player.stop()
    print(f"    playback: {sum(plays)} plays of {clip.path.name} ({clip.duration_s:.2f} s) during phase (c)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase")
    parser.add_argument("--points", type=int, default=1_000_000)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="distill-bench-gui-"))
    os.environ["DISTILL_DATA_DIR"] = str(tmp / "data")
    os.environ["DISTILL_CACHE_DIR"] = str(tmp / "cache")
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    from distill_desktop.gc_pauses import freeze_long_lived_objects
    from distill_desktop.main_window import MainWindow
    from distill_desktop.paths import demo_corpus_dir
    from distill_desktop.bridge.worker import RunRequest, TrainingSession
    from distill_engine.config.schema import TrainingConfig

    window = MainWindow(settings=QtCore.QSettings(str(tmp / "settings.ini"), QtCore.QSettings.IniFormat),
                        runs_dir=tmp / "runs")
    window.show()
    plot = window.plot_panel
    original = plot.redraw_now
    plot.redraw_count, plot.frame_costs = 0, []

    def counted_redraw():
        plot.redraw_count += 1
        plot.frame_costs.append(plot.frame_cpu_seconds())     # the frame before this one
        original()

    plot.redraw_now = counted_redraw
    start = time.perf_counter()
    load_history(plot, args.points, steps_per_epoch=1000)
    plot.redraw_now()
    app.processEvents()
    freeze_long_lived_objects()     # as distill-desktop does once its window is up
    print(f"{args.points:,} points x {len(STEP_FIELDS)} step curves loaded and drawn in "
          f"{time.perf_counter() - start:.2f} s; window {window.width()} x {window.height()}; "
          f"{os.cpu_count()} CPUs")
    probe = LatenessProbe()
    feeder = LiveFeeder(plot.series, args.points, 1000)
    run_phase("(a) 1M points, steps arriving", args.seconds, probe, feeder, plot)

    session = TrainingSession()
    loop = QtCore.QEventLoop()
    first = FirstStep(loop)
    config = TrainingConfig(epochs=10_000, device="cpu", checkpoint_interval_s=10.0)   # saves inside (b)
    worker = session.start(RunRequest(config=config,
                                      corpus_folder=str(demo_corpus_dir()), runs_dir=str(tmp / "runs")))
    worker.steps.connect(first.on_steps)
    loop.exec()                     # until the run's first step
    before = first.steps
    run_phase("(b) the same while training", args.seconds, probe, feeder, plot)
    trained = first.steps - before
    play_clips_during_phase(window.player, demo_corpus_dir(), args.seconds, probe, feeder, plot)
    session.stop_and_wait()
    saved = len(list((tmp / "runs").glob("*/checkpoints/*.safetensors")))
    print(f"    training: {trained} steps during phase (b), demo corpus, default config, CPU; "
          f"{saved} checkpoint files in the run folder")
    window.close()


if __name__ == "__main__":
    main()
