"""Open the Listen tab of a run with 200 preview epochs: from `set_run` to the newest epoch's
spectrograms drawn on screen (its files read and decoded off the GUI thread, every cell filled,
one paint).

The run is written once into a temporary folder with the layout the engine writes (RunWriter for
the run store, soundfile for the FLAC files: 4 clips and 4 samples of 1.5 s at 16 kHz per epoch,
the defaults). Each of --repeat rounds (after one warm-up round) times, wall and CPU:
  first open               a fresh ListenPanel opens the run (the tab's first open in a session:
                           its 12 cells are built)
  step to an older epoch   the open tab shows another epoch (read, decode, redraw)
  open in the open tab     the tab, showing another run, opens this one (a run opened later)
  first open, 1-epoch run  a fresh panel opens a run with one preview epoch, for the ratio: the
                           open should not depend on how many epochs the run has.

    .venv/bin/python benchmarks/bench_listen_tab.py [--epochs 200] [--repeat 5]
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
root = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(root))
sys.path.insert(0, str(root / "tests"))

from PySide6.QtCore import QEventLoop, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from distill_desktop.panels.listen_panel import ListenPanel  # noqa: E402
from distill_desktop.widgets.audio_player import AudioPlayer  # noqa: E402
from support import make_preview_run  # noqa: E402


def timed(app, panel, action) -> tuple[float, float]:
    """(wall s, CPU s of both threads) from `action()` to the tab filled and painted once."""
    loop = QEventLoop()
    panel.shown.connect(loop.quit)
    QTimer.singleShot(30_000, loop.quit)
    start, cpu = time.perf_counter(), time.process_time()
    action()
    loop.exec()
    panel.repaint()
    for view in panel._views():
        view.view.viewport().repaint()
    elapsed = time.perf_counter() - start, time.process_time() - cpu
    panel.shown.disconnect(loop.quit)
    assert panel.read is not None and panel.read.shown is not None, "the tab did not open"
    return elapsed


def one_round(app, player, big, small, older_epoch: int) -> dict:
    """A fresh panel opens `big` (the tab's first open in a session: its cells are built), steps to
    `older_epoch`, then opens `small` and `big` again (a run opened from the Runs tab later on)."""
    panel = ListenPanel(player)
    panel.resize(1300, 760)
    panel.show()
    app.processEvents()
    out = {"first open": timed(app, panel, lambda: panel.set_run(big))}
    out["step to an older epoch"] = timed(app, panel, lambda: panel.show_epoch(older_epoch))
    timed(app, panel, lambda: panel.set_run(small))
    out["open in the open tab"] = timed(app, panel, lambda: panel.set_run(big))
    panel.shutdown()
    panel.close()
    panel.deleteLater()
    app.processEvents()
    fresh_small = ListenPanel(player)
    fresh_small.resize(1300, 760)
    fresh_small.show()
    app.processEvents()
    out["first open, 1-epoch run"] = timed(app, fresh_small, lambda: fresh_small.set_run(small))
    fresh_small.shutdown()
    fresh_small.close()
    fresh_small.deleteLater()
    app.processEvents()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    player = AudioPlayer(output_check=lambda: (None, "benchmark: no playback"))
    with tempfile.TemporaryDirectory(prefix="distill-bench-listen-") as tmp:
        t0 = time.perf_counter()
        big, _ = make_preview_run(Path(tmp) / "runs", list(range(1, args.epochs + 1)), clips=4, samples=4,
                                  seconds=1.5, sample_rate=16000)
        small, _ = make_preview_run(Path(tmp) / "runs", [1], name="one", clips=4, samples=4,
                                    seconds=1.5, sample_rate=16000)
        files = sum(1 for _ in (big / "previews").rglob("*.flac"))
        print(f"wrote a run with {args.epochs} preview epochs ({files} files) in {time.perf_counter() - t0:.1f} s")
        one_round(app, player, big, small, 1)          # imports, first paint of pyqtgraph items
        rounds = [one_round(app, player, big, small, 1 + i) for i in range(args.repeat)]
        load = os.getloadavg()[0]
        for name in rounds[0]:
            walls = [r[name][0] for r in rounds]
            cpus = [r[name][1] for r in rounds]
            print(f"{name:<26} wall median {statistics.median(walls) * 1000:5.0f} ms "
                  f"(min {min(walls) * 1000:4.0f}, max {max(walls) * 1000:4.0f})   "
                  f"CPU median {statistics.median(cpus) * 1000:4.0f} ms")
        ratio = (statistics.median(r["first open"][0] for r in rounds)
                 / statistics.median(r["first open, 1-epoch run"][0] for r in rounds))
        print(f"first open, {args.epochs} epochs / 1 epoch (wall): {ratio:.2f}")
        print(f"{args.repeat} rounds; load average {load:.1f} on {os.cpu_count()} cores while measuring "
              f"(wall times on a shared machine are inflated; CPU is GUI + reading thread)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
