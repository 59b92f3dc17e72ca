"""Events the trainer publishes, and the Callback base class subscribers override.

Every payload is a frozen dataclass of plain ints, floats and strings (no tensors), so it can cross
into another thread (the desktop's Qt signals) or a database row as it is. NaN means "not
available" (e.g. validation values of a run without a validation set).

Event               hook                 emitted
RunStarted          on_run_started       once, before the first step (also on resume)
StepMetrics         on_step              for every optimizer step, in bursts every
                                         `log_interval_steps` (CUDA/MPS) or every step (CPU)
EpochMetrics        on_epoch             after each epoch's validation
DivergenceWarning   on_divergence        when the monitored epoch loss has risen for `patience`
                                         consecutive epochs; once per streak
NonFiniteStep       on_non_finite        for each step whose loss or gradient was not finite (that
                                         step made no update)
CheckpointSaved     on_checkpoint        after a checkpoint file is safely on disk
RunFinished         on_run_finished      once, last, whatever the outcome
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

NAN = float("nan")


@dataclass(frozen=True)
class RunStarted:
    run_dir: str
    run_id: str
    config_summary: str
    corpus_summary: str
    device: str
    parameter_count: int
    total_epochs: int
    total_steps: int
    steps_per_epoch: int
    batch_size: int
    start_epoch: int
    start_step: int
    parent_run: str = ""
    world_size: int = 1  # processes training together (torchrun); batch_size is per process
    resume_note: str = ""  # how a resume continues when it cannot simply go on (e.g. a new world size)


@dataclass(frozen=True)
class StepMetrics:
    epoch: int
    step: int
    total_steps: int
    train_loss: float
    recon_loss: float
    kl_loss: float
    kl_weight: float
    learning_rate: float
    step_time_s: float
    stft_loss: float
    mag_recon_loss: float
    if_recon_loss: float
    grad_norm: float
    wall_time: float


@dataclass(frozen=True)
class EpochMetrics:
    epoch: int
    total_epochs: int
    step: int
    train_loss: float
    val_loss: float
    val_recon_loss: float
    val_kl_loss: float
    kl_divergence: float
    overfitting_gap: float
    learning_rate: float
    eta_seconds: float
    elapsed_seconds: float
    val_stft_loss: float
    val_mag_recon_loss: float
    val_if_recon_loss: float
    val_mrstft_distance: float
    train_recon_loss: float
    train_kl_loss: float
    train_stft_loss: float
    train_mag_recon_loss: float
    train_if_recon_loss: float
    kl_weight: float
    skipped_steps: int
    wall_time: float


@dataclass(frozen=True)
class DivergenceWarning:
    epoch: int
    step: int
    monitored: str  # "val_loss" or "train_loss"
    patience: int
    streak_epochs: tuple[int, ...]
    streak_losses: tuple[float, ...]  # the monitored loss at the epoch before the streak, then each rise


@dataclass(frozen=True)
class NonFiniteStep:
    epoch: int
    step: int
    consecutive: int
    total_skipped: int


@dataclass(frozen=True)
class CheckpointSaved:
    epoch: int
    step: int
    path: str
    is_best: bool
    reason: str  # "interval", "stop", "end", "best"


@dataclass(frozen=True)
class RunFinished:
    status: str  # completed, stopped, failed, diverged-stopped
    reason: str
    run_dir: str
    epochs_done: int
    step: int
    best_loss: float
    best_checkpoint: str
    elapsed_seconds: float


def event_to_dict(event) -> dict:
    """A JSON-able dict of an event's fields (tuples become lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(event).items()}


def field_names(event_type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(event_type))


class Callback:
    """Base class of training subscribers: every hook does nothing; override what you need.

    Hooks run on the training thread, between steps: keep them quick (queue work elsewhere).
    A subscriber with state implements state_dict/load_state_dict so it survives resume.
    """

    def on_run_started(self, trainer, event: RunStarted) -> None:
        """Called once when the run starts or resumes, before the first step."""

    def on_step(self, trainer, event: StepMetrics) -> None:
        """Called for each optimizer step, in bursts every log interval."""

    def on_epoch(self, trainer, event: EpochMetrics) -> None:
        """Called after each epoch's validation."""

    def on_divergence(self, trainer, event: DivergenceWarning) -> None:
        """Called when the monitored loss has risen for `patience` consecutive epochs."""

    def on_non_finite(self, trainer, event: NonFiniteStep) -> None:
        """Called for each step skipped because its loss or gradient was not finite."""

    def on_checkpoint(self, trainer, event: CheckpointSaved) -> None:
        """Called after a checkpoint is written."""

    def on_run_finished(self, trainer, event: RunFinished) -> None:
        """Called once at the very end, whatever the outcome."""

    def state_dict(self) -> dict:
        """JSON-able state saved in checkpoints."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore what state_dict returned."""
