"""The trainer's checkpoints: where a run starts from (a resume or a linked run's checkpoint), how
its weights, optimizer and training state are restored and checked, and what each checkpoint file
holds (weights, optimizer, config, training state, representation, divergence and preview state).

`CheckpointWriting` is a part of `Trainer` (a mixin over the trainer's attributes), kept here so
that the training loop reads as the loop.
"""
from __future__ import annotations

import math
import time

from . import events as ev
from ..audio.representation import Representation
from ..checkpoints.format import CheckpointManager, load_checkpoint, save_checkpoint
from ..config.schema import config_to_dict
from ..errors import CheckpointError
from ..model.versions import check_model_version, model_description
from .checkpoint_fit import check_model_fits, check_optimizer_fits, refused_as_checkpoint_error, training_state_from
from .state import TrainingState, restore_rng, rng_tensors, unpack_extra


class CheckpointWriting:
    """Reading the checkpoint a run starts from, and writing the run's checkpoints (rank 0)."""

    # -- where the run starts from -----------------------------------------------------------------
    def _checkpoint_to_start_from(self):
        """The latest checkpoint of the run being resumed, the linked run's checkpoint, or None."""
        if self.resume_run is not None:
            manager = CheckpointManager(self.resume_run / "checkpoints", self.config.checkpoints_kept)
            latest = manager.latest() or manager.best()
            if latest is None:
                raise CheckpointError(f"{self.resume_run} has no checkpoint to resume from")
            return load_checkpoint(latest, map_location=self.device)
        if self.init_checkpoint is not None:
            return load_checkpoint(self.init_checkpoint, map_location=self.device)
        return None

    def _restore(self, checkpoint) -> Representation:
        """Load `checkpoint` into the model, optimizer, detectors and subscribers (each checked
        against this run's config first); returns the checkpoint's representation."""
        cfg = self.config
        check_model_version(self.model, checkpoint)
        check_model_fits(checkpoint, self.model, cfg)
        state = training_state_from(checkpoint)
        with refused_as_checkpoint_error(checkpoint, "optimizer state"):
            if checkpoint.optimizer_state is not None:
                self.optimizer.load_state_dict(checkpoint.optimizer_state)
        check_optimizer_fits(checkpoint, self.optimizer)
        self.model.load_state_dict(checkpoint.model_state)
        for group in self.optimizer.param_groups:
            group["lr"] = cfg.learning_rate
        with refused_as_checkpoint_error(checkpoint, "representation or divergence state"):
            _, rep_state, detector_state, callback_states = unpack_extra(checkpoint)
            self.representation = Representation.from_state_dict(rep_state)
            self.detector.load_state_dict(detector_state)
        self.detector.patience = cfg.divergence_patience
        if "spikes" in checkpoint.extra and self.resume_run is not None:
            self.spikes.load_state_dict(checkpoint.extra["spikes"])
        for i, cb in enumerate(self.callbacks):  # the subscribers given (not yet the recorder)
            if str(i) in callback_states:
                cb.load_state_dict(callback_states[str(i)])
        if self.resume_run is not None:
            self.state = state
            restore_rng(checkpoint.extra_tensors)
        else:
            self.state = TrainingState(epoch=state.epoch, step=state.step)
        return self.representation

    # -- writing checkpoints (rank 0 alone writes the run folder) -------------------------------------
    def _checkpoint_payload(self, metrics: dict) -> dict:
        return dict(
            config=config_to_dict(self.config), metrics=metrics,
            extra={"training_state": self.state.to_dict(), "representation": self.representation.state_dict(),
                   "model": model_description(self.model),
                   "divergence": self.detector.state_dict(), "spikes": self.spikes.state_dict(),
                   "callbacks": {str(i): cb.state_dict() for i, cb in enumerate(self.subscribers)}},
            extra_tensors={**rng_tensors(), **self.previews.checkpoint_tensors()})

    def _snapshot(self, event: ev.EpochMetrics) -> dict:
        """A copy of the current weights and optimizer state, written as best.safetensors later."""
        metrics = {k: v for k, v in ev.event_to_dict(event).items() if isinstance(v, float) and math.isfinite(v)}
        model_state, optimizer_state = self._snapshot_buffers.copy_of(self.model.state_dict(),
                                                                      self.optimizer.state_dict())
        return dict(model_state=model_state, optimizer_state=optimizer_state, epoch=self.state.epoch,
                    step=self.state.step, **self._checkpoint_payload(metrics))

    def _write_pending_best(self) -> None:
        snapshot, self._best_snapshot = self._best_snapshot, None
        if snapshot is not None:
            self.checkpoints.folder.mkdir(parents=True, exist_ok=True)
            path = save_checkpoint(self.checkpoints.folder / "best.safetensors", is_best=True, **snapshot)
            self._emit("on_checkpoint", ev.CheckpointSaved(snapshot["epoch"], snapshot["step"], str(path), True, "best"))

    def _save_checkpoint(self, reason: str) -> None:
        if not self.group.is_writer:  # rank 0 alone writes the run folder
            self._last_checkpoint = time.monotonic()
            return
        self.writer.flush(durable=True)  # the rows up to this step before the file a resume starts from
        self._write_pending_best()
        self.state.elapsed_seconds = self._elapsed()  # a resume goes on from the training time so far
        path = self.checkpoints.save(model_state=self.model.state_dict(), optimizer_state=self.optimizer.state_dict(),
                                     epoch=self.state.epoch, step=self.state.step, **self._checkpoint_payload({}))
        self._last_checkpoint = time.monotonic()
        self._emit("on_checkpoint", ev.CheckpointSaved(self.state.epoch, self.state.step, str(path), False, reason))
