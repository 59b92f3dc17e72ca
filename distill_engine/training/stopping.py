"""Stopping and pausing a run: the thread-safe requests a window or a signal handler makes, and,
under torchrun, the agreement that makes every process stop after the same step (the stop codes
travel with the metrics' all-reduce; see distributed.py).

`StopControl` is a part of `Trainer` (a mixin over the trainer's `_stop`, `_resume`,
`_stop_status`, `_agreed_stop` and `group`).
"""
from __future__ import annotations

from .distributed import STOP_STATUSES, stop_code


class StoppedBeforeStart(Exception):
    """A stop requested while the corpus loads: no run folder is created."""


class StopControl:
    """See the module docstring."""

    # -- thread-safe control ----------------------------------------------------------------------
    def request_stop(self, status: str = "stopped", reason: str = "stopped by request") -> None:
        """Stop after the current step, writing a checkpoint; status 'stopped' or 'diverged-stopped'."""
        self._stop_status = (status, reason)
        self._stop.set()
        self._resume.set()

    def request_pause(self) -> None:
        """Pause before the next step until resume() or request_stop()."""
        self._resume.clear()

    def resume_training(self) -> None:
        self._resume.set()

    @property
    def paused(self) -> bool:
        return not self._resume.is_set()

    def _stop_if_asked(self, *_progress) -> None:
        if self._stop.is_set():
            raise StoppedBeforeStart

    # -- stopping: under torchrun every rank stops after the same step --------------------------------
    def _local_stop_code(self) -> int:
        return stop_code(self._stop_status[0]) if self._stop.is_set() else 0

    def _take_agreed_stop(self, code: int) -> None:
        if code and not self._stop.is_set():  # another rank was asked to stop
            self._stop_status = (STOP_STATUSES[code - 1], "stopped by a request to another process")
        self._agreed_stop = code

    def _stop_agreed(self, epoch_end: bool = False) -> bool:
        """Alone: whether a stop was requested. Under torchrun: what all ranks agreed at the last
        metrics collective, or (at an epoch's end, where a divergence stop is decided) now."""
        if not self.group.active:
            return self._stop.is_set()
        if epoch_end:
            self._take_agreed_stop(self.group.agree_stop(self._local_stop_code()))
        return bool(self._agreed_stop)

    def _stop_with_checkpoint(self) -> tuple[str, str]:
        self._save_checkpoint("stop")
        return self._stop_status

