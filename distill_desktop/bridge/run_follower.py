"""Follow a run that another thread or process is writing: poll its folder off the GUI thread and
emit what is new.

A worker object living in its own QThread polls every `interval_ms` (250 ms) with its own QTimer:
one summary query (status, epochs done), the step rows after the last one seen
(`Run.metrics_since`), the epoch table only when an epoch was added, and the events after the last
id. Each is a short query on a read-only connection, so the writer is never blocked and nothing in
the run folder is modified. A run folder whose database does not exist yet (a sync still arriving)
or cannot be read is retried on every poll; `error` says why it could not be read.
"""
from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import numpy as np
from PySide6.QtCore import QCoreApplication, QMetaObject, QObject, Qt, QThread, QTimer, Signal, Slot

from distill_engine.errors import RunStoreError
from distill_engine.runs.reader import open_run
from distill_engine.runs.schema import EPOCH_METRICS, STEP_METRICS

#: Step columns sent with steps_added (wall_time and epoch are sent as series too).
STEP_NAMES = STEP_METRICS + ("wall_time", "epoch")
#: Linux nice value of the polling thread (0 normal, 19 lowest).
FOLLOWER_NICE = 10
#: Epoch columns sent with epochs_added (step and wall_time are sent as series too).
EPOCH_NAMES = EPOCH_METRICS + ("step", "wall_time")


def _lower_this_threads_priority() -> None:
    """Linux ignores QThread priorities for normal threads; a nice value per thread works there.
    Under CPU contention the training (writer) then wins over the follower."""
    if sys.platform.startswith("linux"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), FOLLOWER_NICE)
        except OSError:
            pass


class _Poller(QObject):
    """Lives in the follower's thread; every slot runs there."""

    #: (generation, name of the RunFollower signal, payload); one signal keeps them in order
    report = Signal(int, str, object)

    def __init__(self, run_dir: Path, interval_ms: int, generation: int, step_names: tuple):
        super().__init__()
        self.run_dir, self.interval_ms, self.generation = run_dir, interval_ms, generation
        self.step_names = list(step_names)
        self.run = None
        self.last_step, self.last_epoch, self.last_event_id = -1, 0, 0
        self.status, self.last_error = None, None
        self.timer = None

    @Slot()
    def begin(self) -> None:
        _lower_this_threads_priority()
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)   # restarted after each poll: a slow poll never piles up
        self.timer.setInterval(self.interval_ms)
        self.timer.timeout.connect(self.poll)
        self.poll()

    @Slot()
    def finish(self) -> None:
        if self.timer is not None:
            self.timer.stop()
            self.timer = None
        if self.run is not None:
            self.run.close()
            self.run = None
        app = QCoreApplication.instance()
        if app is not None and self.thread() is QThread.currentThread():
            self.moveToThread(app.thread())   # so the GUI thread can delete it once we are done
        QThread.currentThread().quit()

    @Slot()
    def poll(self) -> None:
        if self.timer is None:
            return
        try:
            self._poll_once()
            self.last_error = None
        except (RunStoreError, OSError) as exc:
            if self.run is not None:
                self.run.close()
                self.run = None
            if str(exc) != self.last_error:
                self.last_error = str(exc)
                self.report.emit(self.generation, "error", str(exc))
        if self.timer is not None:
            self.timer.start()

    def _poll_once(self) -> None:
        if self.run is None:
            self.run = open_run(self.run_dir)
        run = self.run
        summary = run.summary()
        steps, values = run.metrics_since(self.last_step, self.step_names)
        if len(steps):
            self.last_step = int(steps[-1])
            added = {name: (steps, v) for name, v in values.items() if not np.isnan(v).all()}
            self.report.emit(self.generation, "steps_added", added)
        if summary.epochs_done > self.last_epoch:
            self._poll_epochs(run)
        events = run.events(after_id=self.last_event_id)
        if events:
            self.last_event_id = events[-1].id
            self.report.emit(self.generation, "events_added", events)
        if summary.status != self.status:
            self.status = summary.status
            self.report.emit(self.generation, "status_changed", summary.status)

    def _poll_epochs(self, run) -> None:
        present = set(run.metric_names("epoch")) | {"step", "wall_time"}
        added = {}
        for name in EPOCH_NAMES:
            if name in present:
                epochs, values = run.metric(name, per="epoch")
                new = epochs > self.last_epoch
                added[name] = (epochs[new], values[new])
        if added:
            epochs = next(iter(added.values()))[0]
            if len(epochs):
                self.last_epoch = int(epochs[-1])
                self.report.emit(self.generation, "epochs_added", added)


class RunFollower(QObject):
    """Emits the rows, events and status changes of a run folder as they are committed.

    steps_added: {name: (steps int64, values float64)} for each of `step_names` (default: every
    step metric, "wall_time" and "epoch") that has values; the first emission after start() holds
    the whole history. Fewer names make each poll cheaper.
    epochs_added: {name: (epochs, values)} for each epoch column ("step", "wall_time" included).
    events_added: list of distill_engine.runs.reader.RunEvent. status_changed: the run's status
    ("running", "completed", "interrupted", ...). error: why the folder cannot be read (retried).
    """

    steps_added = Signal(object)
    epochs_added = Signal(object)
    events_added = Signal(object)
    status_changed = Signal(str)
    error = Signal(str)

    def __init__(self, parent=None, interval_ms: int = 250, step_names=STEP_NAMES):
        super().__init__(parent)
        self.interval_ms, self.step_names = interval_ms, tuple(step_names)
        self.run_dir: Path | None = None
        self._thread: QThread | None = None
        self._poller: _Poller | None = None
        self._generation = 0

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self, run_dir) -> None:
        """Follow `run_dir` (stops following the previous one first)."""
        self.stop()
        self.run_dir = Path(run_dir)
        thread = QThread()
        thread.setObjectName(f"run-follower-{self.run_dir.name}")
        self._generation += 1
        poller = _Poller(self.run_dir, self.interval_ms, self._generation, self.step_names)
        poller.moveToThread(thread)
        poller.report.connect(self._relay)   # queued: self lives in the GUI thread
        thread.started.connect(poller.begin)
        self._thread, self._poller = thread, poller
        thread.start(QThread.Priority.LowPriority)   # Windows/macOS; Linux: see _Poller.begin

    def stop(self) -> None:
        """Stop polling and wait for the thread to end (safe to call when not following)."""
        thread, poller = self._thread, self._poller
        if thread is None:
            return
        self._thread = self._poller = None
        self._generation += 1   # reports of this poller still queued for the GUI thread are dropped
        # finish() runs in the worker thread (a timer is stopped by its own thread), then quits it
        QMetaObject.invokeMethod(poller, "finish", Qt.ConnectionType.QueuedConnection)
        thread.wait()
        poller.report.disconnect(self._relay)
        poller.deleteLater()
        thread.deleteLater()

    @Slot(int, str, object)
    def _relay(self, generation: int, name: str, payload) -> None:
        if generation == self._generation and self._poller is not None:
            getattr(self, name).emit(payload)
