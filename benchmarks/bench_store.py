"""Run store throughput: 1,000,000 step rows of 12 metrics through RunWriter, then read one series.

Prints rows/s on the logging side (throttled by back-pressure once 200,000 rows are queued), total
seconds until everything is committed, the database size and the part of it the step_blocks copy
takes, the seconds to read one 1M-point series with open_run(...).metric, the cost of one log_step
call when the writer keeps up, and how long list_runs takes over 500 small runs (first listing
creates SQLite's -wal/-shm files, so twice).

    .venv/bin/python benchmarks/bench_store.py [--rows N]
"""
from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from distill_engine.runs.writer import create_run, list_runs, open_run  # noqa: E402

METRICS = ("train_loss", "recon_loss", "kl_loss", "kl_weight", "learning_rate", "step_time_s",
           "stft_loss", "mag_recon_loss", "if_recon_loss", "grad_norm", "total_steps", "epoch_frac")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--list-runs", type=int, default=500, help="runs for the list_runs timing")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        runs = Path(tmp) / "runs"
        writer = create_run(runs, "bench", "/corpus", total_epochs=100)
        t0 = time.perf_counter()
        for step in range(args.rows):
            x = 1.0 / (step + 1)
            writer.log_step({"step": step, "epoch": step // 10_000, "train_loss": x,
                             "recon_loss": x, "kl_loss": x, "kl_weight": x, "learning_rate": x,
                             "step_time_s": x, "stft_loss": x, "mag_recon_loss": x,
                             "if_recon_loss": x, "grad_norm": x, "total_steps": x,
                             "epoch_frac": x})
        t_logged = time.perf_counter() - t0
        writer.close("completed")
        t_total = time.perf_counter() - t0
        print(f"write: {args.rows:,} rows x {len(METRICS)} metrics")
        print(f"  logging calls:   {t_logged:7.2f} s  ({args.rows / t_logged:,.0f} rows/s on the "
              f"training thread)")
        print(f"  until committed: {t_total:7.2f} s  ({args.rows / t_total:,.0f} rows/s end to "
              f"end)")
        db = writer.run_dir / "run.sqlite"
        size = sum(p.stat().st_size for p in writer.run_dir.glob("run.sqlite*"))
        print(f"  database size:   {size / 2**20:7.1f} MiB ({size / args.rows:.0f} bytes/row; "
              f"{db.stat().st_size / 2**20:.1f} MiB in run.sqlite)")
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        blocks, blob = conn.execute("SELECT count(*), total(length(data)) "
                                    "FROM step_blocks").fetchone()
        conn.close()
        print(f"  of which step_blocks: {blob / 2**20:.1f} MiB in {blocks} blocks "
              f"(+{blob / max(size - blob, 1):.0%} over the rows alone)")
        for attempt in range(3):
            with open_run(writer.run_dir) as run:
                t0 = time.perf_counter()
                steps, values = run.metric("train_loss")
                t_read = time.perf_counter() - t0
            assert len(steps) == args.rows and values[-1] == 1.0 / args.rows
            print(f"read: metric('train_loss') {len(steps):,} points in {t_read:.3f} s "
                  f"(try {attempt + 1})")

        # What one call costs the training loop when the writer keeps up (no back-pressure).
        with create_run(runs, "hot path", "/corpus", total_epochs=1) as writer:
            row = dict.fromkeys(METRICS, 0.5)
            t0 = time.perf_counter()
            for step in range(100_000):
                writer.log_step({"step": step, "epoch": 0, **row})
            per_call = (time.perf_counter() - t0) / 100_000
        print(f"hot path: {per_call * 1e6:.1f} us per log_step (100,000-row burst, writer thread "
              f"running)")

        for i in range(args.list_runs):
            with create_run(runs, f"small {i}", "/corpus", total_epochs=3) as w:
                w.log_epoch({"epoch": 1, "val_loss": 1.0 / (i + 1)})
        for attempt in ("first", "second"):
            t0 = time.perf_counter()
            summaries = list_runs(runs)
            t_list = time.perf_counter() - t0
            print(f"list_runs: {len(summaries)} runs in {t_list:.3f} s ({attempt} listing)")


if __name__ == "__main__":
    os.environ.setdefault("DISTILL_DATA_DIR", tempfile.gettempdir())
    main()
