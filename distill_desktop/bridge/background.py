"""The window's short background jobs (scan a corpus folder, list runs, open a run, follow a run):
one helper over superqt's thread workers, with one cancellation and clean-up pattern.

A view owns a `BackgroundJobs`. `start(function, *args, on_result=..., on_error=..., on_progress=...)`
runs `function(job, *args)` on a thread of Qt's global pool (a superqt `FunctionWorker`, which keeps
itself referenced while it runs, so nothing is destroyed under a running job) and calls back on the
GUI thread. Starting a job supersedes the view's previous one: that one is asked to stop
(`job.cancelled`, `job.sleep` returns early) and whatever it still reports is dropped, so a view
only ever shows its newest job. `cancel()` does that to every job of the view; `wait()` blocks until
they have ended (closing the window, tests). A job started while the event loop runs is queued by
superqt on a 1 ms timer, which cannot fire while `wait()` blocks that loop: `wait()` cancels such a
job instead of waiting for it (if it starts later, it returns at once), so closing the window
right after starting a job (a runs listing when a run stops) never hangs. An exception from a job reaches `on_error(exception,
traceback)` on the GUI thread; it never escapes into the event loop.

Jobs may lower their thread's CPU priority (`niceness`, Linux/macOS): a follower polling a run that
trains in this process then never competes with the training. The training thread uses the same
`lower_this_threads_priority`.
"""
from __future__ import annotations

import os
import threading
import traceback

os.environ.setdefault("QT_API", "pyside6")   # superqt goes through qtpy: use the app's binding

from PySide6.QtCore import QObject, QThread, QThreadPool, Signal
from superqt.utils import FunctionWorker

#: Pool threads for background jobs: a follower holds one for as long as it follows, and a corpus
#: scan must not queue behind a runs listing on a 2-core machine (the pool's default is the core count).
MIN_POOL_THREADS = 8


def lower_this_threads_priority(niceness: int) -> None:
    """Give the calling thread a lower CPU priority (a nice value; Linux/macOS, where QThread
    priorities are ignored for normal threads); nothing where it is not permitted or supported."""
    if niceness <= 0:
        return
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
    except (AttributeError, OSError):   # Windows, or not permitted
        pass


class Job:
    """What a running job sees of itself: whether it was cancelled, a cancellable sleep, and a way
    to report progress to the GUI thread."""

    def __init__(self, niceness: int):
        self.niceness = niceness
        self.thread_id: int | None = None    # the pool thread running it (tests check it is not the GUI's)
        self.queued_on_timer = False         # superqt starts it from the event loop (see the module docstring)
        self.started = False
        self._cancel, self._done = threading.Event(), threading.Event()
        self.delivered = False               # its result (or error) reached the GUI thread
        self._progress = _Progress()         # made on the GUI thread: its slots run there

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def cancel(self) -> None:
        self._cancel.set()

    def sleep(self, seconds: float) -> bool:
        """Wait `seconds` unless cancelled first; True when cancelled."""
        return self._cancel.wait(seconds)

    def report(self, value) -> None:
        """Send `value` to the job's on_progress (GUI thread; dropped once the job is superseded)."""
        self._progress.value.emit(value)

    def _run(self, function, args):
        self.thread_id = threading.get_ident()
        self.started = True
        if self._cancel.is_set():   # cancelled before it began (e.g. by wait(), see the module docstring)
            self._done.set()
            return None
        old = None
        if self.niceness > 0:
            try:
                old = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
            except (AttributeError, OSError):
                old = None
            lower_this_threads_priority(self.niceness)
        try:
            return function(self, *args)
        finally:
            if old is not None:    # a pool thread goes back to where it was, where that is permitted
                try:
                    os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), old)
                except OSError:
                    pass
            self._done.set()


class _Progress(QObject):
    value = Signal(object)


class BackgroundJobs:
    """The background jobs of one view; see the module docstring."""

    def __init__(self, niceness: int = 0):
        self.niceness = niceness
        self._jobs: list[Job] = []
        pool = QThreadPool.globalInstance()
        if pool.maxThreadCount() < MIN_POOL_THREADS:
            pool.setMaxThreadCount(MIN_POOL_THREADS)

    def start(self, function, *args, on_result=None, on_error=None, on_progress=None) -> Job:
        """Run function(job, *args) off the GUI thread, superseding this view's previous jobs.

        on_result(value) gets its return value, on_error(exception, traceback text) its exception,
        on_progress(value) what it reports; all on the GUI thread, only while it is the newest."""
        self.cancel()
        job = Job(self.niceness)
        worker = FunctionWorker(job._run, function, args)
        current = lambda: bool(self._jobs) and self._jobs[-1] is job and not job.cancelled  # noqa: E731
        if on_result is not None:
            worker.returned.connect(lambda value: current() and on_result(value))
        worker.errored.connect(lambda exc: current() and on_error is not None and on_error(
            exc, "".join(traceback.format_exception(exc))))
        if on_progress is not None:
            job._progress.value.connect(lambda value: current() and on_progress(value))
        worker.finished.connect(lambda: self._delivered(job))
        self._jobs.append(job)
        job.queued_on_timer = bool(QThread.currentThread().loopLevel())   # superqt's start() does the same test
        worker.start()
        return job

    def cancel(self) -> None:
        """Ask every job of this view to stop; nothing they report afterwards is delivered."""
        for job in self._jobs:
            job.cancel()

    @property
    def current(self) -> Job | None:
        """The newest job (None before the first)."""
        return self._jobs[-1] if self._jobs else None

    def is_running(self) -> bool:
        """True until the newest job's result has reached the GUI thread (False once cancelled)."""
        return bool(self._jobs) and not self._jobs[-1].delivered and not self._jobs[-1].cancelled

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until every job of this view has ended; False if one was still running at the timeout."""
        for job in self._jobs:
            if job.queued_on_timer and not job.started:   # its timer cannot fire while this blocks
                job.cancel()
        ended = all(job._done.wait(timeout_s) for job in list(self._jobs)
                    if job.started or not job.queued_on_timer)
        self._forget_done()
        return ended

    def _delivered(self, job: Job) -> None:
        job.delivered = True
        self._forget_done()

    def _forget_done(self) -> None:
        newest = self._jobs[-1] if self._jobs else None
        self._jobs = [j for j in self._jobs if not j.done or j is newest]


def all_jobs_ended(timeout_ms: int = 0) -> bool:
    """True once no background job of any view runs (the pool is idle); waits up to timeout_ms."""
    return QThreadPool.globalInstance().waitForDone(timeout_ms)
