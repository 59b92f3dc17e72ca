"""TrainingController: starts runs, routes a worker's signals to the views, answers its warnings.

Divergence: the worker pauses the run at the end of the epoch; the controller opens the dialog
and carries out the answer — keep (resume), stop (status diverged-stopped; the best checkpoint
stays), or roll back (stop, then a new run linked to this one, from its best checkpoint with the
learning rate halved). Failures open the error dialog; the app stays usable.
"""
from __future__ import annotations

import copy
import dataclasses

from PySide6.QtCore import QObject, Signal

from distill_engine.training.reporting import format_divergence, format_epoch_line

from ..dialogs import KEEP, ROLLBACK, STOP, DivergenceDialog, rollback_factor, show_error
from ..models.run_series import rows_of
from .worker import RunRequest, TrainingSession


class TrainingController(QObject):
    """Glue between one TrainingSession and the views that show a live run."""

    running_changed = Signal(bool)
    paused_changed = Signal(bool)  # the trainer's pause state, after a press or a divergence warning
    run_finished = Signal(object)  # RunFinished or None
    run_started = Signal(object)  # RunStarted (the live run's folder is in it)
    preview = Signal(object)  # PreviewRendered of the live run

    def __init__(self, window, plot, contributions, log, status, parent=None):
        super().__init__(parent)
        self.window, self.plot, self.contributions, self.log, self.status = window, plot, contributions, log, status
        self.series = plot.series       # the live run's series: the plot and the Contributions chart read it
        self.session = TrainingSession(self)
        self.session.stopped.connect(self._on_stopped)
        self.worker = None
        self.last_request: RunRequest | None = None
        self.divergence_dialog: DivergenceDialog | None = None
        self.error_dialog = None
        self._rollback_from: RunRequest | None = None
        self._rollback_factor = 0.5
        self._failure_offered = False  # a non-finite failure got the divergence dialog, not the error box
        self.last_result = None
        self._run_dir = ""  # the live run's folder, once it has started
        self._stopping = ""  # the status line's stopping text while a stop writes its checkpoints

    def is_running(self) -> bool:
        return self.session.is_running()

    def start(self, request: RunRequest) -> None:
        """Start a run; the views are cleared for it."""
        self.last_request = request
        self._failure_offered = False
        self._run_dir, self._stopping = "", ""
        self.plot.clear()
        self.contributions.clear()      # weighted with the run's own weights once it starts
        self.log.append(f"Starting training on {request.corpus_folder or request.resume_run}")
        self.status.reset("Loading corpus…")
        worker = self.worker = self.session.start(request)
        worker.history.connect(self._on_history)
        worker.run_started.connect(self._on_run_started)
        worker.steps.connect(self._on_steps)
        worker.epoch.connect(self._on_epoch)
        worker.divergence.connect(self._on_divergence)
        worker.non_finite.connect(self._on_non_finite)
        worker.checkpoint.connect(self._on_checkpoint)
        worker.preview.connect(self.preview)
        worker.preview_failed.connect(self._on_preview_failed)
        worker.failed.connect(self._on_failed)
        self.running_changed.emit(True)

    def stop(self) -> None:
        self._show_stopping("Stopping")
        self.session.stop("stopped", "stopped from the app")

    def _show_stopping(self, what: str) -> None:
        """Say that the run is stopping and where its checkpoint is being written."""
        self._stopping = what
        where = f" in {self._run_dir}/checkpoints" if self._run_dir else ""
        self.status.set_state(f"{what}: writing the checkpoint{where}…" if self._run_dir else
                              f"{what}: cancelling the corpus load…")

    def toggle_pause(self) -> bool:
        """Pause or resume (by the trainer's own state); returns True when now paused."""
        if self.session.paused:
            self.session.resume()
            self.status.set_state("Training")
        else:
            self.session.pause()
            self.status.set_state("Paused")
        paused = self.session.paused
        self.paused_changed.emit(paused)
        return paused

    def shutdown(self) -> bool:
        """Stop the run cooperatively and wait for its checkpoint (window closing)."""
        if self.divergence_dialog is not None:
            self.divergence_dialog.close()
        return self.session.stop_and_wait()

    # -- worker signals ---------------------------------------------------------------------------
    def _on_run_started(self, event) -> None:
        self._run_dir = event.run_dir
        self.run_started.emit(event)
        self.status.run_started(event)
        self.contributions.set_run_weights(event.term_weights)
        self.series.extend(steps_per_epoch=event.steps_per_epoch)
        self.log.append(f"Run {event.run_id} on {event.device}: {event.parameter_count:,} parameters, "
                        f"{event.steps_per_epoch} steps of batch {event.batch_size} per epoch\n"
                        f"Run folder: {event.run_dir}")
        self.log.append(event.config_summary, stamp=False)
        self.log.append(event.corpus_summary, stamp=False)

    def _on_history(self, rows, error: str) -> None:
        """A resumed run: its earlier steps go under the new ones."""
        if rows is None:
            self.log.append(f"warning: the run's earlier steps cannot be shown ({error})")
            return
        self.series.extend(**rows)
        shown = len(rows["steps"].get("step", ())) if rows["steps"] else 0
        self.log.append(f"Continuing the run: its {shown:,} earlier steps are shown too.")

    def _on_steps(self, events: list) -> None:
        self.series.extend(steps=rows_of(events))
        self.status.steps(events)

    def _on_epoch(self, event) -> None:
        self.series.extend(epochs=rows_of([event]))
        self.status.epoch(event)
        self.log.append(format_epoch_line(event))

    def _on_non_finite(self, event) -> None:
        self.log.append(f"warning: step {event.step} had a non-finite loss or gradient and was skipped "
                        f"({event.consecutive} in a row)")

    def _on_checkpoint(self, event) -> None:
        kind = "best checkpoint" if event.is_best else f"checkpoint ({event.reason})"
        self.log.append(f"Saved {kind} at epoch {event.epoch}, step {event.step}: {event.path}")
        if self._stopping:
            self.status.set_state(f"{self._stopping}: wrote {event.path}…")

    def _on_preview_failed(self, event) -> None:
        self.log.append(f"warning: the audio previews of epoch {event.epoch} could not be written "
                        f"({event.reason}); training goes on")

    def _on_divergence(self, event) -> None:
        ended = getattr(event, "rule", "rising") == "non-finite"
        self.log.append(f"DIVERGENCE WARNING: {format_divergence(event)} "
                        + ("The run has stopped." if ended else "Training is paused."))
        self._failure_offered = ended
        self.status.set_state("Failed: non-finite loss" if ended else "Paused: divergence")
        if self.divergence_dialog is not None:
            self.divergence_dialog.close()
        self.paused_changed.emit(self.session.paused)   # the bridge paused the trainer already
        dialog = self.divergence_dialog = DivergenceDialog(event, self.window)
        dialog.choice_made.connect(lambda choice, d=dialog: self._on_divergence_choice(choice, d))
        dialog.open()

    def _on_divergence_choice(self, choice: str, dialog=None) -> None:
        if dialog is not None and dialog is not self.divergence_dialog:
            return  # a dialog replaced by a newer warning
        self.divergence_dialog = None
        self._rollback_factor = rollback_factor(dialog.divergence) if dialog is not None else 0.5
        if not self.is_running():  # a run that already ended (non-finite losses)
            if choice == ROLLBACK and self.last_request is not None and self.last_result is not None:
                self.log.append("Rolling back: a new linked run from the last good checkpoint at a lower rate.")
                self.start(rollback_request(self.last_request, self.last_result, self._rollback_factor))
            return
        if choice == KEEP:
            self.log.append("Keep training (chosen after the divergence warning).")
            self.session.resume()
            self.status.set_state("Training")
            self.paused_changed.emit(self.session.paused)
        elif choice == STOP:
            self.log.append("Stopping after the divergence warning; the best checkpoint is kept.")
            self._show_stopping("Stopping")
            self.session.stop("diverged-stopped", "stopped after a divergence warning")
        elif choice == ROLLBACK:
            self.log.append(f"Rolling back: stopping, then restarting from the best checkpoint with "
                            f"{self._rollback_factor:g}x the learning rate as a new linked run.")
            self._show_stopping("Stopping to roll back")
            self._rollback_from = self.last_request
            self.session.stop("diverged-stopped", "rolled back to the best checkpoint after a divergence warning")

    def _on_failed(self, message: str, details: str) -> None:
        self.log.append(f"ERROR: {message}")
        if self._failure_offered and not details:
            return  # the divergence dialog already offers a roll back for this failure
        self.error_dialog = show_error(self.window, "Training failed", message, details)

    def _on_stopped(self, result) -> None:
        self.last_result = result
        if result is not None:
            self.log.append(f"Run {result.status}: {result.reason}. Run folder: {result.run_dir}")
        self.status.set_state("Ready" if result is None else f"Run {result.status}")
        self.running_changed.emit(False)
        self.run_finished.emit(result)
        previous, self._rollback_from = self._rollback_from, None
        if previous is not None and result is not None:
            self.start(rollback_request(previous, result, self._rollback_factor))


def rollback_request(previous: RunRequest, result, factor: float = 0.5) -> RunRequest:
    """A new run from `result`'s best checkpoint (from the start when it has none) with the learning
    rate times `factor`, linked to its run."""
    config = copy.deepcopy(previous.config) if previous.config is not None else None
    if config is None:
        from distill_engine.config.schema import load_run_config
        config = load_run_config(f"{result.run_dir}/config.toml")
    config.learning_rate = config.learning_rate * factor
    corpus = previous.corpus_folder
    if not corpus:
        from distill_engine.runs.reader import open_run
        with open_run(result.run_dir) as run:
            corpus = run.corpus_path
    return dataclasses.replace(previous, config=config, corpus_folder=corpus, init_checkpoint=result.best_checkpoint or None,
                               parent_run=result.run_dir, resume_run=None, epochs=None, run_name=None,
                               runs_dir=previous.runs_dir)
