"""What following a live run costs its writer: RunWriter rows/s for 300,000 step rows (the
trainer's 13 step columns) without a follower, and with a real RunFollower polling the same run at
4 Hz in another process (as the desktop app follows a `distill-train` in a terminal).

Rounds alternate without/with so that drift in machine load hits both alike; the figure is the
median of each and their ratio (target: with / without >= 0.97). "rows/s" counts rows committed:
the clock stops when RunWriter.flush() returns. The follower must have received every row. The
writer's CPU time per row is printed too: on a machine shared with other work, wall-clock rows/s
swings by tens of percent between rounds, CPU time per row much less.

    .venv/bin/python benchmarks/bench_follow_cost.py [--rows 300000] [--rounds 5]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def follow(run_dir: str) -> None:
    """Child process: follow run_dir at 4 Hz. When the parent writes "done N" (all N rows are
    committed) keep following until N rows were seen, then print what it cost and quit."""
    from PySide6.QtCore import QCoreApplication, QSocketNotifier, QTimer

    from distill_desktop.models.run_curves import FOLLOWED_STEP_NAMES
    from distill_desktop.bridge.run_follower import RunFollower

    app = QCoreApplication([])
    state = {"rows": 0, "polls": 0, "target": None}

    def check_done():
        if state["target"] is not None and state["rows"] >= state["target"]:
            state["lag"] = time.perf_counter() - state["done_at"]
            app.quit()

    def on_steps(data):
        state["rows"] += len(data["step"])        # rows for RunSeries.extend
        state["polls"] += 1
        check_done()

    def on_status(status):
        state["cpu0"] = time.process_time()
        print("ready", status, flush=True)

    def on_stdin(*_):
        line = sys.stdin.readline()
        if not line.startswith("done"):        # end of file: the parent closed our stdin
            notifier.setEnabled(False)
            return
        state["done_at"], state["cpu_write"] = time.perf_counter(), time.process_time() - state["cpu0"]
        state["target"] = int(line.split()[1])
        check_done()

    follower = RunFollower(interval_ms=250, step_names=FOLLOWED_STEP_NAMES)   # as RunBrowser does
    follower.steps_added.connect(on_steps)
    follower.status_changed.connect(on_status)
    notifier = QSocketNotifier(sys.stdin.fileno(), QSocketNotifier.Type.Read)
    notifier.activated.connect(on_stdin)
    QTimer.singleShot(120_000, app.quit)
    follower.start(run_dir)
    app.exec()
    follower.stop()
    print(f"seen {state['rows']} {state['polls']} {state['cpu_write']:.3f} {state.get('lag', -1):.3f}",
          flush=True)


def write(runs: Path, rows: int, with_follower: bool):
    """(logging-call rows/s, committed rows/s, and with a follower: (rows it saw, polls that
    brought rows, its CPU seconds while the writer wrote, seconds it lagged behind the last
    commit))."""
    from distill_engine.runs.writer import create_run

    writer = create_run(runs, "follow-cost", "/corpus", 1)
    child = None
    if with_follower:
        child = subprocess.Popen([sys.executable, __file__, "--follow", str(writer.run_dir)],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = child.stdout.readline()
        assert line.startswith("ready"), line
    t0, cpu0 = time.perf_counter(), time.process_time()
    for step in range(1, rows + 1):
        x = 1.0 / step
        writer.log_step({"step": step, "epoch": 1, "total_steps": rows, "train_loss": x,
                         "recon_loss": x, "kl_loss": x, "kl_weight": x, "learning_rate": x,
                         "step_time_s": x, "stft_loss": x, "mag_recon_loss": x,
                         "if_recon_loss": x, "grad_norm": x, "wall_time": time.time()})
    logged = time.perf_counter() - t0
    writer.flush()
    committed = time.perf_counter() - t0
    cpu_us = 1e6 * (time.process_time() - cpu0) / rows
    seen = None
    if child is not None:
        out, _ = child.communicate(f"done {rows}\n", timeout=180)
        rows_seen, polls, cpu_s, lag = out.split("seen ")[1].split()
        seen = (int(rows_seen), int(polls), float(cpu_s), float(lag))
    writer.close("completed")
    return rows / logged, rows / committed, cpu_us, seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--follow", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.follow:
        follow(args.follow)
        return
    results = {False: [], True: []}
    cpu = {False: [], True: []}
    with tempfile.TemporaryDirectory(prefix="bench-follow-") as tmp:
        for _ in range(args.rounds):
            for with_follower in (False, True):
                logged, committed, cpu_us, seen = write(Path(tmp) / "runs", args.rows, with_follower)
                results[with_follower].append(committed)
                cpu[with_follower].append(cpu_us)
                label = "with follower   " if with_follower else "without follower"
                extra = (f"; follower: {seen[1]} polls, {seen[2]:.2f} CPU s while writing, all "
                         f"{seen[0]:,} rows seen {seen[3]:.2f} s after the last commit"
                         if seen is not None else "")
                print(f"  {label}: {committed:10,.0f} rows/s committed "
                      f"({logged:,.0f} rows/s logging calls, writer CPU {cpu_us:.2f} us/row{extra})",
                      flush=True)
                if seen is not None:
                    assert seen[0] == args.rows, f"the follower saw {seen[0]} of {args.rows} rows"
    without, with_ = statistics.median(results[False]), statistics.median(results[True])
    print(f"writer rows/s without follower: {without:,.0f}")
    print(f"writer rows/s with follower:    {with_:,.0f}")
    print(f"ratio with/without: {with_ / without:.3f} (target >= 0.97)")
    cpu_without, cpu_with = statistics.median(cpu[False]), statistics.median(cpu[True])
    print(f"writer CPU per row without/with follower: {cpu_without:.2f} / {cpu_with:.2f} us "
          f"(ratio {cpu_without / cpu_with:.3f}; insensitive to other load on the machine)")


if __name__ == "__main__":
    main()
