"""The QThread bridge: runs an engine Trainer off the GUI thread and turns its events into signals.

`TrainingWorker` lives on its own QThread; its `QtBridge` callback runs on that thread and emits
queued signals that the GUI thread receives. Steps are batched (at most every 50 ms) so the
signal rate never follows the step rate. Control (stop/pause/resume) goes straight to the
trainer's thread-safe requests. Every exception from the engine becomes `failed(message,
traceback)`; `finished` always fires, last.
"""
from __future__ import annotations

import os
import sqlite3
import threading
import time
import traceback
from dataclasses import dataclass, field

from PySide6.QtCore import QCoreApplication, QObject, Qt, QThread, Signal, Slot

from distill_engine.errors import DistillError
from distill_engine.training.events import Callback
from distill_engine.runs.reader import open_run

from ..gc_pauses import import_torch_frozen
from .background import lower_this_threads_priority
from ..models.run_curves import read_run_rows

STEP_BATCH_SECONDS = 0.05


@dataclass
class RunRequest:
    """What to train: a new run, a new run from a checkpoint (linked to its run), or a resume."""

    config: object = None  # TrainingConfig
    corpus_folder: str = ""
    runs_dir: str | None = None
    init_checkpoint: str | None = None
    parent_run: str | None = None
    resume_run: str | None = None  # go on from a checkpoint of this run (runs.admin.resume_trainer)
    resume_checkpoint: str | None = None  # which checkpoint (default: the run's latest)
    resume_mode: str = "continue"  # "continue" the same run, or a "new" run linked to it
    epochs: int | None = None  # for resume: train up to this many epochs
    run_name: str | None = None  # a new run's name (None: the engine's default, runs.naming)
    extra_callbacks: list = field(default_factory=list)


class QtBridge(Callback):
    """Engine callback on the training thread that forwards events through the worker's signals."""

    def __init__(self, worker: "TrainingWorker"):
        self.worker = worker
        self._steps: list = []
        self._last_emit = 0.0

    def _flush_steps(self) -> None:
        if self._steps:
            steps, self._steps = self._steps, []
            self.worker.steps.emit(steps)
        self._last_emit = time.monotonic()

    def on_run_started(self, trainer, event):
        req = self.worker.request
        if req.resume_run and req.resume_mode == "continue" and event.start_step > 0:
            self.worker.history.emit(*_read_history(event))   # before any new step: x stays in order
        self.worker.run_started.emit(event)

    def on_step(self, trainer, event):
        self._steps.append(event)
        if time.monotonic() - self._last_emit >= STEP_BATCH_SECONDS:
            self._flush_steps()

    def on_epoch(self, trainer, event):
        self._flush_steps()
        self.worker.epoch.emit(event)

    def on_divergence(self, trainer, event):
        # The run waits at the end of this epoch until the window answers (resume, stop, rollback).
        self._flush_steps()
        if self.worker.pause_on_divergence:
            trainer.request_pause()
        self.worker.divergence.emit(event)

    def on_non_finite(self, trainer, event):
        self.worker.non_finite.emit(event)

    def on_checkpoint(self, trainer, event):
        self.worker.checkpoint.emit(event)

    def on_preview(self, trainer, event):
        self.worker.preview.emit(event)

    def on_preview_failed(self, trainer, event):
        self.worker.preview_failed.emit(event)

    def on_run_finished(self, trainer, event):
        self._flush_steps()


def _read_history(event) -> tuple[dict | None, str]:
    """The resumed run's stored rows up to the checkpoint it continues from (later rows are
    written again), for the live series (RunSeries.extend); (None, reason) when they cannot be read."""
    try:
        with open_run(event.run_dir) as run:
            return read_run_rows(run, until_step=event.start_step, until_epoch=event.start_epoch), ""
    except (DistillError, sqlite3.Error, KeyError) as exc:
        return None, str(exc)


class TrainingWorker(QObject):
    """Owns one Trainer for one run; `run()` executes on the worker thread."""

    run_started = Signal(object)  # RunStarted
    history = Signal(object, str)  # a resumed run's stored rows up to its checkpoint (run_curves), or None, why
    steps = Signal(list)  # [StepMetrics, ...]
    epoch = Signal(object)  # EpochMetrics
    divergence = Signal(object)  # DivergenceWarning
    non_finite = Signal(object)  # NonFiniteStep
    checkpoint = Signal(object)  # CheckpointSaved
    preview = Signal(object)  # PreviewRendered
    preview_failed = Signal(object)  # PreviewFailed
    failed = Signal(str, str)  # message, traceback
    finished = Signal(object)  # RunFinished, or None when the run never started

    def __init__(self, request: RunRequest, pause_on_divergence: bool = True):
        super().__init__()
        self.request = request
        self.pause_on_divergence = pause_on_divergence
        self.trainer = None
        self._lock = threading.Lock()
        self._stop_before_start: tuple[str, str] | None = None

    @Slot()
    def run(self) -> None:
        result = None
        _lower_this_threads_priority()
        try:
            result = self._train()
            if result.status == "failed":
                self.failed.emit(f"The run failed: {result.reason}", "")
        except Exception as exc:  # every engine error reaches the window, with its traceback
            self.failed.emit(f"{type(exc).__name__}: {exc}", traceback.format_exc())
        finally:
            with self._lock:
                self.trainer = None
            self.finished.emit(result)

    def _train(self):
        import_torch_frozen()              # torch loads here, on the worker thread (see gc_pauses)
        from distill_engine.training.trainer import Trainer
        req = self.request
        callbacks = [QtBridge(self), *req.extra_callbacks]
        if req.resume_run:  # the engine's resume, exactly as the terminal's --resume
            from distill_engine.runs.admin import latest_checkpoint, resume_trainer
            checkpoint = req.resume_checkpoint or latest_checkpoint(req.resume_run)
            if checkpoint is None:
                raise DistillError(f"{req.resume_run} has no checkpoint to resume from")
            trainer = resume_trainer(req.resume_run, checkpoint, req.resume_mode, epochs=req.epochs,
                                     callbacks=callbacks, corpus=req.corpus_folder or None,
                                     runs_dir=req.runs_dir)
        else:
            trainer = Trainer(req.config, req.corpus_folder, runs_dir=req.runs_dir, callbacks=callbacks,
                              init_checkpoint=req.init_checkpoint, parent_run=req.parent_run, run_name=req.run_name)
        with self._lock:
            self.trainer = trainer
            if self._stop_before_start:
                trainer.request_stop(*self._stop_before_start)
        return trainer.run()

    # -- thread-safe control from the GUI thread -----------------------------------------------------
    def request_stop(self, status: str = "stopped", reason: str = "stopped from the app") -> None:
        with self._lock:
            if self.trainer is None:
                self._stop_before_start = (status, reason)
            else:
                self.trainer.request_stop(status, reason)

    def request_pause(self) -> None:
        with self._lock:
            if self.trainer is not None:
                self.trainer.request_pause()

    def request_resume(self) -> None:
        with self._lock:
            if self.trainer is not None:
                self.trainer.resume_training()

    @property
    def paused(self) -> bool:
        """The trainer's own pause state (it may pause itself: QtBridge on a divergence warning)."""
        with self._lock:
            return self.trainer is not None and self.trainer.paused


def _lower_this_threads_priority() -> None:
    """Let the GUI thread win the cores: training runs at a lower CPU priority (Linux/macOS), nice
    DISTILL_TRAINING_NICENESS (default 10). Called before torch starts its intra-op threads from
    this thread, so they inherit it."""
    lower_this_threads_priority(int(os.environ.get("DISTILL_TRAINING_NICENESS", "10")))


class TrainingSession(QObject):
    """GUI-side owner of one worker and its QThread: start, control, and wait on close."""

    started = Signal()
    stopped = Signal(object)  # RunFinished or None, after the thread has ended

    def __init__(self, parent=None):
        super().__init__(parent)
        self.thread: QThread | None = None
        self.worker: TrainingWorker | None = None

    def is_running(self) -> bool:
        return self.thread is not None

    def start(self, request: RunRequest) -> TrainingWorker:
        if self.is_running():
            raise RuntimeError("a run is already in progress")
        self.thread = QThread()
        self.thread.setObjectName("distill-training")
        self.worker = TrainingWorker(request)
        self.worker.moveToThread(self.thread)
        self.thread.started.connect(self.worker.run)
        # The thread's event loop ends as soon as run() returns; the window cleans up when it hears.
        self.worker.finished.connect(self.thread.quit, Qt.DirectConnection)
        self.worker.finished.connect(self._on_finished)
        self.thread.start()
        self.started.emit()
        return self.worker

    def _on_finished(self, result) -> None:
        thread, worker = self.thread, self.worker
        if thread is None:
            return
        thread.wait()
        self.thread = self.worker = None
        worker.deleteLater()
        thread.deleteLater()
        self.stopped.emit(result)

    def stop(self, status: str = "stopped", reason: str = "stopped from the app") -> None:
        if self.worker is not None:
            self.worker.request_stop(status, reason)

    @property
    def paused(self) -> bool:
        """Whether the run is paused, read from its trainer (never a copy that can go stale)."""
        return self.worker is not None and self.worker.paused

    def pause(self) -> None:
        if self.worker is not None:
            self.worker.request_pause()

    def resume(self) -> None:
        if self.worker is not None:
            self.worker.request_resume()

    def stop_and_wait(self, timeout_ms: int = 120_000) -> bool:
        """Stop cooperatively and block until the worker thread has ended (used on close)."""
        if self.thread is None:
            return True
        self.stop("stopped", "the window was closed")
        ended = self.thread.wait(timeout_ms)
        if ended:
            QCoreApplication.sendPostedEvents(self)  # delivers the queued finished -> _on_finished
        return ended
