"""Open the Listen tab of a run with 200 preview epochs: from `set_run` to the newest epoch's
spectrograms drawn on screen (its files read and decoded off the GUI thread, every cell filled,
one paint).

The run is written once into a temporary folder with the layout the engine writes (RunWriter for
the run store, soundfile for the FLAC files: 4 clips and 4 samples of 1.5 s at 16 kHz per epoch,
the defaults), then opened --repeat times in a fresh ListenPanel each time. The first open
(which also builds the panel's cells and imports what it needs) is printed apart from the rest.
In each round the open tab then steps to an older epoch (read, decode, redraw: what the epoch
list costs). A 1-epoch run is opened the same way for the ratio: the open should not depend on how many
epochs the run has.

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


def open_once(app, player, run_dir, step_to=None, step_times=None, cpu_times=None) -> float:
    """Seconds from set_run to the filled tab painted once (a new panel, as when the tab is first
    opened); then, with `step_to`, the seconds to step to that epoch appended to `step_times`."""
    panel = ListenPanel(player)
    panel.resize(1300, 760)
    panel.show()
    app.processEvents()
    loop = QEventLoop()
    panel.shown.connect(lambda _read: loop.quit())
    QTimer.singleShot(30_000, loop.quit)
    start, cpu = time.perf_counter(), time.process_time()
    panel.set_run(run_dir)
    loop.exec()
    panel.repaint()
    for view in panel._views():
        view.view.viewport().repaint()
    elapsed = time.perf_counter() - start
    if cpu_times is not None:
        cpu_times.append(time.process_time() - cpu)     # both threads: what the open itself costs
    assert panel.read is not None and panel.read.shown is not None, "the tab did not open"
    if step_to is not None:
        loop = QEventLoop()
        panel.shown.connect(lambda _read: loop.quit())
        start = time.perf_counter()
        panel.show_epoch(step_to)
        loop.exec()
        for view in panel._views():
            view.view.viewport().repaint()
        step_times.append(time.perf_counter() - start)
        assert panel.shown_epoch() == step_to
    panel.shutdown()
    panel.close()
    panel.deleteLater()
    app.processEvents()
    return elapsed


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
        first = open_once(app, player, big)
        print(f"first open (cold: imports, cells built): {first * 1000:.0f} ms")
        rounds, steps, cpu = [], [], []
        for i in range(args.repeat):       # alternate big/small so a busy machine hits both alike
            rounds.append((open_once(app, player, big, 1 + i, steps, cpu), open_once(app, player, small)))
        big_times = [b for b, _ in rounds]
        small_times = [s for _, s in rounds]
        print(f"open, {args.epochs} epochs: median {statistics.median(big_times) * 1000:.0f} ms "
              f"(min {min(big_times) * 1000:.0f}, max {max(big_times) * 1000:.0f}) over {args.repeat}")
        print(f"  CPU time of those opens (GUI + reading thread): median {statistics.median(cpu) * 1000:.0f} ms; "
              f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(f"open, 1 epoch:    median {statistics.median(small_times) * 1000:.0f} ms")
        print(f"step to another epoch in the open tab, {args.epochs} epochs: median "
              f"{statistics.median(steps) * 1000:.0f} ms")
        print(f"ratio {args.epochs} epochs / 1 epoch: {statistics.median(big_times) / statistics.median(small_times):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
