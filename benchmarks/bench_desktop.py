"""Desktop app figures: cold start to window shown, and training throughput with the app attached.

- cold start: a fresh `python` process from launch to the window shown (median of 3). torch is
  imported later, off the GUI thread (corpus loader, training worker). Target <= 2 s.
- throughput: steps/s of the same run (corpus, config) through the app (a fresh process: MainWindow,
  QThread worker, live plots) vs `distill-train` (a fresh process), each read from its run store's
  step wall times; rounds alternate which goes first; ratio target >= 0.97. Each side gets its own
  process, as a person runs them: in one process, a run on a second thread after a run on the main
  thread measured 11-20 % slower than the main-thread run (probably torch's per-thread OpenMP pools;
  in separate processes a thread and the main thread trained equally fast), which measured the
  set-up, not the app.
Run: QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_desktop.py [--epochs 10] [--rounds 4]
"""
import argparse
import os
import sqlite3
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


APP_CHILD = r"""
import sys, time
from pathlib import Path
from PySide6.QtCore import QEventLoop, QSettings
from PySide6.QtWidgets import QApplication
from distill_engine.config.schema import load_config
from distill_desktop.main_window import MainWindow
from distill_desktop.bridge.worker import RunRequest
config_path, corpus, runs_dir = sys.argv[1:4]
app = QApplication([])
window = MainWindow(settings=QSettings(str(Path(runs_dir) / "settings.ini"), QSettings.IniFormat),
                    runs_dir=runs_dir)
window.show()
loop = QEventLoop()
window.corpus_panel.report_ready.connect(lambda _report: loop.quit())
window.corpus_panel.set_folder(corpus)     # as a person does: choose the corpus, then Train
loop.exec()
window.controller.run_finished.connect(lambda _result: loop.quit())
cpu, wall = time.thread_time(), time.perf_counter()
window.controller.start(RunRequest(config=load_config(config_path), corpus_folder=corpus, runs_dir=runs_dir))
loop.exec()
cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
print(f"GUI {cpu:.3f} {wall:.3f}", flush=True)
window.close()
import shiboken6; shiboken6.delete(window)
"""


def step_rate(runs_dir: Path) -> float:
    """Steps/s of the one run under runs_dir, from its store's step wall times (first step left out)."""
    (database,) = Path(runs_dir).glob("*/run.sqlite")
    with sqlite3.connect(database) as conn:
        times = [t for (t,) in conn.execute("SELECT wall_time FROM step_metrics ORDER BY step")][1:]
    return (len(times) - 1) / (times[-1] - times[0])


def run_terminal(config_path: Path, corpus: Path, runs_dir: Path) -> float:
    """`distill-train` in its own process, as from a terminal."""
    cli = Path(sys.executable).with_name("distill-train")
    subprocess.run([str(cli), str(corpus), "--config", str(config_path), "--runs-dir", str(runs_dir)],
                   check=True, capture_output=True, text=True)
    return step_rate(runs_dir)


def run_app(config_path: Path, corpus: Path, runs_dir: Path) -> tuple[float, float]:
    """The desktop app in its own process: window shown, corpus chosen, Train. Returns (steps/s, share
    of one core the GUI thread used while the run went)."""
    runs_dir.mkdir(parents=True)
    out = subprocess.run([sys.executable, "-c", APP_CHILD, str(config_path), str(corpus), str(runs_dir)],
                         check=True, capture_output=True, text=True).stdout
    cpu, wall = (float(v) for v in next(l for l in out.splitlines() if l.startswith("GUI")).split()[1:])
    return step_rate(runs_dir), cpu / wall


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=4)
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

    from distill_engine import TrainingConfig
    from distill_engine.config.schema import save_config

    corpus = make_corpus(tmp / "corpus", n_files=args.batch * 2, seconds=1.5)
    config_path = tmp / "config.toml"
    # divergence warnings off: in the app one would open a dialog and wait for a person
    save_config(TrainingConfig(epochs=args.epochs, batch_size=args.batch, device="cpu",
                               checkpoint_interval_s=1e9, divergence_patience=0), config_path)
    terminal, desktop, gui_share = [], [], []
    for i in range(args.rounds):        # alternate which goes first: the machine drifts
        order = ("terminal", "app") if i % 2 == 0 else ("app", "terminal")
        for side in order:
            if side == "terminal":
                terminal.append(run_terminal(config_path, corpus, tmp / f"terminal{i}"))
            else:
                rate, share = run_app(config_path, corpus, tmp / f"app{i}")
                desktop.append(rate)
                gui_share.append(share)
        print(f"round {i + 1}: terminal {terminal[-1]:.3f}, app {desktop[-1]:.3f} steps/s "
              f"(ratio {desktop[-1] / terminal[-1]:.3f})", flush=True)
    t, d = statistics.mean(terminal), statistics.mean(desktop)
    print(f"terminal (distill-train) : {t:.3f} steps/s ({', '.join(f'{r:.3f}' for r in terminal)})")
    print(f"desktop app              : {d:.3f} steps/s ({', '.join(f'{r:.3f}' for r in desktop)})")
    print(f"GUI thread while training: {100 * statistics.mean(gui_share):.1f} % of one core")
    print(f"ratio app / terminal: {d / t:.3f} (target >= 0.97); median of the rounds' ratios "
          f"{statistics.median(a / b for a, b in zip(desktop, terminal)):.3f} (each round's two runs "
          f"are next to each other in time, so this one is less moved by the machine's drift)")


if __name__ == "__main__":
    main()
