"""Desktop app figures: cold start to window shown, and training throughput with the app attached.

- cold start: a fresh `python` process from launch to the window painted (median of 3). torch is
  imported later, on the training thread. Target <= 2 s.
- throughput: steps/s of the same run (corpus, config) through the app (MainWindow, QThread worker,
  live plots) vs the terminal trainer (`distill-train`'s reporter), alternated A/B/A/B; ratio target
  >= 0.97.
Run: QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_desktop.py [--epochs 6]
"""
import argparse
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

CHILD = r"""
import sys, time
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
app = QApplication([])
from distill_desktop.main_window import MainWindow
window = MainWindow()
window.show()
def shown():
    print(f"SHOWN {time.time():.6f} torch_loaded={'torch' in sys.modules}", flush=True)
    window.close()
    app.quit()
QTimer.singleShot(0, shown)
app.exec()
import shiboken6; shiboken6.delete(window)
"""


def cold_start_seconds(data_dir: str) -> tuple[float, bool]:
    env = {**os.environ, "DISTILL_DATA_DIR": data_dir}
    start = time.time()
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, env=env, check=True).stdout
    line = next(l for l in out.splitlines() if l.startswith("SHOWN"))
    return float(line.split()[1]) - start, "torch_loaded=True" in line


class StepTimes:
    def __init__(self):
        self.times = []

    def add(self, events):
        self.times.extend(e.wall_time for e in events)

    def rate(self) -> float:
        return (len(self.times) - 1) / (self.times[-1] - self.times[0])


def run_terminal(config, corpus, runs_dir) -> float:
    from distill_engine.cli import TerminalReporter
    from distill_engine.events import Callback
    from distill_engine.trainer import Trainer

    times = StepTimes()

    class Timing(Callback):
        def on_step(self, trainer, event):
            times.add([event])

    Trainer(config, corpus, runs_dir=runs_dir, callbacks=[TerminalReporter(io.StringIO(), progress=False), Timing()]).run()
    return times.rate()


def run_app(app, config, corpus, runs_dir) -> float:
    from PySide6.QtCore import QEventLoop, QSettings

    from distill_desktop.main_window import MainWindow
    from distill_desktop.worker import RunRequest

    window = MainWindow(settings=QSettings(str(Path(runs_dir) / "s.ini"), QSettings.IniFormat), runs_dir=runs_dir)
    window.show()
    loop = QEventLoop()
    window.corpus_panel.report_ready.connect(lambda _report: loop.quit())
    window.corpus_panel.set_folder(str(corpus))  # as a person does: choose the corpus, then Train
    loop.exec()
    window.corpus_panel.report_ready.disconnect()
    times = StepTimes()
    window.controller.run_finished.connect(lambda _r: loop.quit())
    window.controller.start(RunRequest(config=config, corpus_folder=str(corpus), runs_dir=str(runs_dir)))
    window.controller.worker.steps.connect(times.add)
    loop.exec()
    window.close()
    import shiboken6
    shiboken6.delete(window)
    return times.rate()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="distill-bench-desktop-"))
    os.environ["DISTILL_DATA_DIR"] = str(tmp / "data")
    os.environ["DISTILL_CACHE_DIR"] = str(tmp / "cache")

    starts = [cold_start_seconds(str(tmp / "data")) for _ in range(3)]
    print(f"cold start to window shown: median {statistics.median(s for s, _ in starts):.2f} s "
          f"(runs: {', '.join(f'{s:.2f}' for s, _ in starts)}); torch imported before the window: "
          f"{any(t for _, t in starts)}")

    sys.path.insert(0, str(Path(__file__).parent))
    from bench_training import make_corpus
    from PySide6.QtWidgets import QApplication

    from distill_engine import TrainingConfig

    app = QApplication.instance() or QApplication([])
    corpus = make_corpus(tmp / "corpus", n_files=args.batch * 2, seconds=1.5)
    config = TrainingConfig(epochs=args.epochs, batch_size=args.batch, device="cpu", checkpoint_interval_s=1e9)
    terminal, desktop = [], []
    for i in range(args.rounds):
        terminal.append(run_terminal(config, corpus, tmp / f"t{i}"))
        desktop.append(run_app(app, config, corpus, tmp / f"d{i}"))
    t, d = statistics.mean(terminal), statistics.mean(desktop)
    print(f"terminal trainer : {t:.3f} steps/s ({', '.join(f'{r:.3f}' for r in terminal)})")
    print(f"desktop app      : {d:.3f} steps/s ({', '.join(f'{r:.3f}' for r in desktop)})")
    print(f"ratio app / terminal: {d / t:.3f} (target >= 0.97)")


if __name__ == "__main__":
    main()
