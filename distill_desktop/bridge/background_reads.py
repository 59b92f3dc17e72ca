"""BackgroundReads: short reads (a run's preview index, one epoch's audio files) on a private
thread pool, their results delivered on the GUI thread.

Each `submit` gets a new generation number and drops the requests not yet started; `done(generation, result)` or `failed(generation,
message)` carries it back, so a view drops the answer to a request it has since replaced. An
exception from the function is a bug, not bad input (read functions turn bad files into values),
so `failed` carries the traceback. `shutdown()` waits for what runs (call it before the window
closes).
"""
from __future__ import annotations

import traceback

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal


class _Job(QRunnable):
    def __init__(self, owner: "BackgroundReads", generation: int, fn, args):
        super().__init__()
        self.owner, self.generation, self.fn, self.args = owner, generation, fn, args

    def run(self) -> None:
        try:
            result = self.fn(*self.args)
        except Exception as exc:   # an internal bug: shown with its traceback, never lost
            self.owner.failed.emit(self.generation, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
        else:
            self.owner.done.emit(self.generation, result)


class BackgroundReads(QObject):
    """See the module docstring."""

    done = Signal(int, object)
    failed = Signal(int, str)

    def __init__(self, parent=None, threads: int = 1):
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(threads)
        self.generation = 0

    def submit(self, fn, *args) -> int:
        """Run fn(*args) off the GUI thread; returns the request's generation. Requests still
        queued are dropped: only the newest one's answer would be used (holding an arrow key on
        the epoch list queues one per row)."""
        self.pool.clear()
        self.generation += 1
        self.pool.start(_Job(self, self.generation, fn, args))
        return self.generation

    def is_current(self, generation: int) -> bool:
        return generation == self.generation

    def shutdown(self) -> None:
        self.pool.clear()
        self.pool.waitForDone()
