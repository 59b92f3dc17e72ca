"""RunRecorder: the subscriber that writes a run's events into its run folder's database."""
from __future__ import annotations

from dataclasses import asdict

from ..training.events import Callback, event_to_dict
from ..errors import RunStoreError
from .writer import RunWriter


class RunRecorder(Callback):
    """Appends step/epoch rows and events to the run store (queued; committed off the hot path)."""

    def __init__(self, writer: RunWriter):
        self.writer = writer

    def on_run_started(self, trainer, event):
        self.writer.log_event("run_started", event_to_dict(event), step=event.start_step, epoch=event.start_epoch)

    def on_step(self, trainer, event):
        self.writer.log_step(asdict(event))

    def on_epoch(self, trainer, event):
        self.writer.log_epoch(asdict(event))

    def on_divergence(self, trainer, event):
        self.writer.log_event("divergence", event_to_dict(event), epoch=event.epoch, step=event.step)

    def on_non_finite(self, trainer, event):
        self.writer.log_event("non_finite", event_to_dict(event), epoch=event.epoch, step=event.step)

    def on_checkpoint(self, trainer, event):
        self.writer.log_event("checkpoint", event_to_dict(event), epoch=event.epoch, step=event.step)

    def on_preview(self, trainer, event):
        self.writer.log_event("preview", event_to_dict(event), epoch=event.epoch, step=event.step)

    def on_preview_failed(self, trainer, event):
        self.writer.log_event("preview_failed", event_to_dict(event), epoch=event.epoch, step=event.step)

    def on_run_finished(self, trainer, event):
        try:
            self.writer.log_event("run_finished", event_to_dict(event), epoch=event.epochs_done,
                                  step=event.step)
        except RunStoreError:
            pass  # the store failed earlier; close() still records the final status if it can
        try:
            self.writer.close(event.status, event.reason)
        except RunStoreError:
            if event.status != "failed":  # a failed run's reason already says what went wrong
                raise
