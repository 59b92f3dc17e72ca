"""Follow a run that another thread or process is writing: poll its folder off the GUI thread and
emit what is new.

The polling is a background job (bridge.background) at a lower CPU priority: every `interval_ms`
(250 ms) one summary query (status, epochs done), the step rows after the last one seen
(`Run.metrics_since`), the epoch table only when an epoch was added, and the events after the last
id. Each is a short query on a read-only connection, so the writer is never blocked and nothing in
the run folder is modified. A run folder whose database does not exist yet (a sync still arriving)
or cannot be read is retried on every poll; `error` says why it could not be read.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from distill_engine.errors import RunStoreError
from distill_engine.runs.reader import open_run
from distill_engine.runs.schema import EPOCH_METRICS, STEP_METRICS
from distill_engine.training.events import EpochMetrics, StepMetrics, key_names

from ..models.run_curves import aligned
from .background import BackgroundJobs

STEP_KEY, EPOCH_KEY = "step", "epoch"
EPOCH_KEYS = key_names(EpochMetrics)
#: Step columns sent with steps_added (besides the step: the metrics and the other step keys).
STEP_NAMES = STEP_METRICS + tuple(k for k in key_names(StepMetrics) if k != STEP_KEY)
#: Linux nice value of the polling thread (0 normal, 19 lowest).
FOLLOWER_NICE = 10
#: Epoch columns sent with epochs_added (besides the epoch: the metrics and the other epoch keys).
EPOCH_NAMES = EPOCH_METRICS + tuple(k for k in EPOCH_KEYS if k != EPOCH_KEY)


class _RunPoller:
    """What one poll of a run folder found new, as (RunFollower signal name, payload) pairs."""

    def __init__(self, run_dir: Path, step_names: tuple):
        self.run_dir, self.step_names = run_dir, list(step_names)
        self.run = None
        self.last_step, self.last_epoch, self.last_event_id = -1, 0, 0
        self.status, self.last_error = None, None

    def poll(self) -> list:
        try:
            reports = self._poll_once()
            self.last_error = None
            return reports
        except (RunStoreError, OSError) as exc:
            self.close()
            if str(exc) != self.last_error:
                self.last_error = str(exc)
                return [("error", str(exc))]
            return []

    def close(self) -> None:
        if self.run is not None:
            self.run.close()
            self.run = None

    def _poll_once(self) -> list:
        if self.run is None:
            self.run = open_run(self.run_dir)
        run, reports = self.run, []
        summary = run.summary()
        steps, values = run.metrics_since(self.last_step, self.step_names)
        if len(steps):
            self.last_step = int(steps[-1])
            reports.append(("steps_added", {STEP_KEY: steps.astype(np.float64), **values}))
        if summary.epochs_done > self.last_epoch:
            reports += self._poll_epochs(run)
        events = run.events(after_id=self.last_event_id)
        if events:
            self.last_event_id = events[-1].id
            reports.append(("events_added", events))
        if summary.status != self.status:
            self.status = summary.status
            reports.append(("status_changed", summary.status))
        return reports

    def _poll_epochs(self, run) -> list:
        present = set(run.metric_names("epoch")) | set(EPOCH_KEYS)
        epochs = None
        added = {}
        for name in EPOCH_NAMES:
            if name in present:
                keys, values = run.metric(name, per="epoch")
                if epochs is None:
                    epochs = keys[keys > self.last_epoch]
                # each column is its own read: the writer may commit an epoch between two of them
                added[name] = aligned(epochs, keys, values)
        if epochs is None or not len(epochs):
            return []
        self.last_epoch = int(epochs[-1])
        return [("epochs_added", {EPOCH_KEY: epochs.astype(np.float64), **added})]


def _follow(job, run_dir: Path, interval_s: float, step_names: tuple) -> None:
    """The polling loop (a background job): report what each poll found until cancelled."""
    poller = _RunPoller(run_dir, step_names)
    try:
        while True:
            for report in poller.poll():
                job.report(report)
            if job.sleep(interval_s):   # the next poll starts after this one: polls never pile up
                return
    finally:
        poller.close()


class RunFollower(QObject):
    """Emits the rows, events and status changes of a run folder as they are committed.

    steps_added: rows for RunSeries.extend, {"step": steps, name: values} (float64) for each of
    `step_names` (default: every step metric, "wall_time" and "epoch"); the first emission after
    start() holds the whole history. Fewer names make each poll cheaper.
    epochs_added: rows {"epoch": epochs, name: values} for each epoch column ("step", "wall_time"
    included).
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
        self.jobs = BackgroundJobs(niceness=FOLLOWER_NICE)

    @property
    def running(self) -> bool:
        return self.jobs.is_running()

    def start(self, run_dir) -> None:
        """Follow `run_dir` (stops following the previous one first)."""
        self.stop()
        self.run_dir = Path(run_dir)
        self.jobs.start(_follow, self.run_dir, self.interval_ms / 1000, self.step_names,
                        on_progress=self._relay, on_error=self._on_failed)

    def stop(self) -> None:
        """Stop polling and wait for the poll in progress to end (safe to call when not following);
        what it still reports is dropped."""
        self.jobs.cancel()
        self.jobs.wait()

    def _relay(self, report) -> None:
        name, payload = report
        getattr(self, name).emit(payload)

    def _on_failed(self, exc: Exception, details: str) -> None:
        self.error.emit(f"following stopped: {type(exc).__name__}: {exc}")
