"""Open the runs panel over 500 runs: RunsPanel construction + refresh() (listing off the GUI
thread) until the table shows every run; also the synchronous refresh_now() for comparison.

The 500 runs are written with RunWriter (a few step and epoch rows each; every 7th failed, every
50th has a damaged database) into a temporary data directory.

    .venv/bin/python benchmarks/bench_runs_panel.py [--runs 500] [--repeat 3]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtCore import QEventLoop, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from distill_desktop.browser.runs_panel import RunsPanel  # noqa: E402
from distill_engine.runs.writer import create_run  # noqa: E402


def make_runs(runs: Path, count: int) -> None:
    for i in range(count):
        if i % 50 == 49:
            broken = runs / f"broken-{i}"
            broken.mkdir(parents=True)
            (broken / "run.sqlite").write_bytes(os.urandom(4096))
            continue
        writer = create_run(runs, f"run {i}", f"/corpora/set-{i % 9}", 3)
        for step in range(1, 6):
            writer.log_step({"step": step, "epoch": 1 + step // 3, "train_loss": 1.0 / step})
        for epoch in range(1, 3):
            writer.log_epoch({"epoch": epoch, "step": 3 * epoch, "val_loss": 0.5 / epoch + i * 1e-4})
        writer.close("failed" if i % 7 == 0 else "completed")


def open_panel(app, runs: Path, count: int, threaded: bool) -> float:
    t0 = time.perf_counter()
    panel = RunsPanel([runs])
    panel.resize(1000, 600)
    panel.show()
    if threaded:
        loop = QEventLoop()
        panel.refreshed.connect(loop.quit)
        QTimer.singleShot(30_000, loop.quit)
        panel.refresh()
        loop.exec()
    else:
        panel.refresh_now()
    app.processEvents()                      # the table paints its rows
    elapsed = time.perf_counter() - t0
    shown = panel.table.model().rowCount()
    assert shown == count, f"the table shows {shown} runs, expected {count}"
    panel.wait()
    panel.close()
    panel.deleteLater()
    app.processEvents()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory(prefix="bench-runs-panel-") as tmp:
        runs = Path(tmp) / "runs"
        t = time.perf_counter()
        make_runs(runs, args.runs)
        print(f"made {args.runs} runs in {time.perf_counter() - t:.1f} s")
        first = open_panel(app, runs, args.runs, threaded=True)
        threaded = [open_panel(app, runs, args.runs, threaded=True) for _ in range(args.repeat)]
        direct = [open_panel(app, runs, args.runs, threaded=False) for _ in range(args.repeat)]
    print(f"  first open (creates SQLite's -shm files): {first:.3f} s")
    print(f"  refresh() on a QThread: median {statistics.median(threaded):.3f} s "
          f"(runs: {', '.join(f'{v:.3f}' for v in threaded)})")
    print(f"  refresh_now() on the GUI thread: median {statistics.median(direct):.3f} s")
    print(f"runs panel with {args.runs} runs opens in {statistics.median(threaded):.3f} s (target <= 1 s)")


if __name__ == "__main__":
    main()
