"""Export plot… of a finished run in the Runs tab (issue 10 §2: under 2 s, at the on-screen size).

Writes a finished run (--rows step rows, 100 epochs, every plotted metric) with RunWriter, opens the
window at its default size (1320x820), opens the run in the Runs tab as a person does (Open, read
off the GUI thread), then times RunBrowser.export_plot (the Export plot… action without its file
dialog) --repeat times as PNG and as SVG. Prints the medians, the image size against the view's and
the file sizes; the target is <= 2 s for the PNG.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_plot_export.py [--rows 200000] [--repeat 5]
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

import numpy as np  # noqa: E402
from PySide6.QtCore import QEventLoop, QSettings, QTimer  # noqa: E402
from PySide6.QtGui import QImage  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from distill_engine.runs.writer import create_run  # noqa: E402
from distill_engine.training.events import EpochMetrics, StepMetrics, metric_names  # noqa: E402


def write_run(runs: Path, rows: int) -> Path:
    """A finished run: every step metric and epoch metric, losses decaying with noise."""
    writer = create_run(runs, "export", "/corpus", total_epochs=100)
    writer.log_event("run_started", {"steps_per_epoch": rows // 100, "start_step": 0, "start_epoch": 0})
    rng = np.random.default_rng(0)
    step_names, epoch_names = metric_names(StepMetrics), metric_names(EpochMetrics)
    per_epoch = rows // 100
    for i in range(rows):
        step = i + 1
        x = 1.0 / step ** 0.3 + 0.05 * rng.random()
        writer.log_step({"step": step, "epoch": i // per_epoch + 1, "wall_time": 1e9 + 0.1 * step,
                         **{name: x * (1 + k) for k, name in enumerate(step_names)}})
        if step % per_epoch == 0:
            writer.log_epoch({"epoch": step // per_epoch, "step": step, "wall_time": 1e9 + 0.1 * step,
                              **{name: x * (1 + k) for k, name in enumerate(epoch_names)}})
    writer.close("completed")
    return writer.run_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="copy the last PNG there (to look at it)")
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory(prefix="bench-plot-export-") as tmp:
        tmp = Path(tmp)
        os.environ["DISTILL_DATA_DIR"] = str(tmp / "data")
        t = time.perf_counter()
        run_dir = write_run(tmp / "runs", args.rows)
        print(f"wrote a finished run of {args.rows:,} steps in {time.perf_counter() - t:.1f} s")
        from distill_desktop.main_window import MainWindow

        window = MainWindow(settings=QSettings(str(tmp / "settings.ini"), QSettings.IniFormat),
                            runs_dir=tmp / "runs")
        window.show()
        window.tabs.setCurrentWidget(window.history_tab)
        browser = window.history_tab.browser
        loop = QEventLoop()
        browser.run_loaded.connect(lambda _d: loop.quit())
        QTimer.singleShot(0, lambda: browser.open_run_dir(run_dir))
        loop.exec()
        browser.plot.redraw_now()
        app.processEvents()
        view = browser.plot.view.viewport().size()
        print(f"window {window.width()}x{window.height()}, plot view {view.width()}x{view.height()}")
        for suffix in ("png", "svg"):
            times = []
            for i in range(args.repeat):
                path = tmp / f"plot-{i}.{suffix}"
                start = time.perf_counter()
                browser.export_plot(path)
                times.append(time.perf_counter() - start)
            size = path.stat().st_size
            extra = ""
            if suffix == "png":
                image = QImage(str(path))
                extra = f", image {image.width()}x{image.height()}"
            print(f"Export plot… {suffix.upper():3s}: median {statistics.median(times):.3f} s, max "
                  f"{max(times):.3f} s ({args.repeat} exports; {size / 1024:.0f} KiB{extra})")
            if args.keep and suffix == "png":
                args.keep.write_bytes(path.read_bytes())
        window.close()
    print("target: PNG at the on-screen size in <= 2 s")


if __name__ == "__main__":
    main()
