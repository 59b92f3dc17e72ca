"""Open a stored run of 1,000,000 steps and draw it: open_run + load_run_into_plot (every loss
component, the schedules and the per-epoch curves) + LossPlotPanel.redraw_now + grab().

The run (1M step rows of the trainer's step metrics, 100 epochs) is written once with RunWriter
into a temporary folder, then opened --repeat times; each phase is printed, then the total. The
same run with its step_blocks table dropped (read from the step_metrics rows, as a run written
before step_blocks is) is then timed the same way, for the ratio.

    .venv/bin/python benchmarks/bench_open_run.py [--rows N] [--repeat 3]
"""
from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from distill_desktop.panels.loss_plot import LossPlotPanel  # noqa: E402
from distill_desktop.models.run_curves import load_run_into_plot  # noqa: E402
from distill_engine.runs.reader import open_run  # noqa: E402
from distill_engine.runs.writer import create_run  # noqa: E402


def write_run(runs: Path, rows: int) -> Path:
    writer = create_run(runs, "million", "/corpus", total_epochs=100)
    per_epoch = rows // 100
    rng = np.random.default_rng(0)
    noise = rng.random(rows).tolist()
    for i in range(rows):
        step, x = i + 1, 1.0 / (i + 1) ** 0.3 + 0.05 * noise[i]
        writer.log_step({"step": step, "epoch": i // per_epoch + 1, "total_steps": rows,
                         "train_loss": x, "recon_loss": 0.2 * x, "kl_loss": 5.0, "kl_weight": step / rows,
                         "learning_rate": 1e-3, "step_time_s": 0.01, "stft_loss": 0.7 * x,
                         "mag_recon_loss": 0.5 * x, "if_recon_loss": 0.4 * x, "grad_norm": 1.0})
        if step % per_epoch == 0:
            epoch = step // per_epoch
            writer.log_epoch({"epoch": epoch, "step": step, **{name: x for name in (
                "train_loss", "train_stft_loss", "train_mag_recon_loss", "train_if_recon_loss",
                "train_kl_loss", "val_loss", "val_stft_loss", "val_mag_recon_loss",
                "val_if_recon_loss", "val_kl_loss")}})
    writer.close("completed")
    return writer.run_dir


def open_and_draw(app, run_dir: Path) -> dict:
    panel = LossPlotPanel()
    panel.resize(1200, 700)
    panel.show()
    app.processEvents()
    t0 = time.perf_counter()
    run = open_run(run_dir)
    t1 = time.perf_counter()
    load_run_into_plot(run, panel)
    t2 = time.perf_counter()
    panel.redraw_now()
    panel.grab()
    t3 = time.perf_counter()
    points = len(panel.curve_data("step:train_loss")[0])
    run.close()
    panel.close()
    panel.deleteLater()
    app.processEvents()
    return {"open": t1 - t0, "read+feed": t2 - t1, "draw": t3 - t2, "total": t3 - t0, "points": points}


def rows_only_copy(run_dir: Path) -> Path:
    """A copy of the run without step_blocks: what a reader finds in a run from before them."""
    copy = run_dir.with_name(run_dir.name + "-rows-only")
    shutil.copytree(run_dir, copy)
    db = sqlite3.connect(copy / "run.sqlite")
    db.execute("DROP TABLE step_blocks")
    db.commit()
    db.close()
    return copy


def report(results: list[dict], rows: int) -> None:
    assert all(r["points"] == rows for r in results), results
    for key in ("open", "read+feed", "draw", "total"):
        values = [r[key] for r in results]
        print(f"  {key:10s} median {statistics.median(values):6.3f} s   "
              f"(runs: {', '.join(f'{v:.3f}' for v in values)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory(prefix="bench-open-run-") as tmp:
        t = time.perf_counter()
        run_dir = write_run(Path(tmp) / "runs", args.rows)
        print(f"wrote {args.rows:,} step rows in {time.perf_counter() - t:.1f} s")
        results = [open_and_draw(app, run_dir) for _ in range(args.repeat)]
        print("from step_blocks:")
        report(results, args.rows)
        rows_dir = rows_only_copy(run_dir)
        rows_results = [open_and_draw(app, rows_dir) for _ in range(args.repeat)]
        print("from step_metrics rows (no step_blocks table):")
        report(rows_results, args.rows)
    total = statistics.median(r["total"] for r in results)
    rows_total = statistics.median(r["total"] for r in rows_results)
    print(f"open a {args.rows:,}-step run and draw it: {total:.3f} s (target <= 1 s); "
          f"{rows_total:.3f} s from rows ({rows_total / total:.1f}x)")


if __name__ == "__main__":
    main()
