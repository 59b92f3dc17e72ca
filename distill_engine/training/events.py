"""Events the trainer publishes, the Callback base class subscribers override, and the metric schema.

Every payload is a frozen dataclass of plain ints, floats and strings (no tensors), so it can cross
into another thread (the desktop's Qt signals) or a database row as it is. NaN means "not
available" (e.g. validation values of a run without a validation set).

Event               hook                 emitted
RunStarted          on_run_started       once, before the first step (also on resume); carries the
                                         run's own loss config and term weights
StepMetrics         on_step              for every optimizer step, in bursts every
                                         `log_interval_steps` (CUDA/MPS) or every step (CPU)
EpochMetrics        on_epoch             after each epoch's validation
DivergenceWarning   on_divergence        when the monitored epoch loss has risen for `patience`
                                         consecutive epochs (once per streak); at once when a step
                                         or epoch loss spikes above `divergence_spike_factor` x its
                                         running median (once per blow-up); and just before a run
                                         fails on consecutive non-finite steps (rule "non-finite")
NonFiniteStep       on_non_finite        for each step whose loss or gradient was not finite (that
                                         step made no update)
CheckpointSaved     on_checkpoint        after a checkpoint file is safely on disk
PreviewRendered     on_preview           after an epoch's audio previews are written and their rows
                                         queued (before that epoch's EpochMetrics, which carries
                                         the sample-quality figures)
PreviewFailed       on_preview_failed    when previews could not be rendered or written (disk
                                         full, permissions); training goes on
RunFinished         on_run_finished      once, last, whatever the outcome

The metric schema: StepMetrics and EpochMetrics are the one list of metric names and their order.
The run store's columns, the reader's names, the terminal's epoch line, the plots' curves, the
Contributions chart's inputs and the CSV columns are all derived from their fields (the functions
at the end of this module); a new metric is a new field here, with its metadata:
  kind   "key" (the row's epoch, step, wall time: table keys, not metrics), "loss" (a term of the
         combined loss), "measure" (another quality figure), "schedule" (a value the trainer sets:
         KL weight, learning rate) or "progress" (counters and timings)
  term   for kind "loss": which term of the combined loss (model.losses: total, recon, stft,
         magnitude, if, level, kl)
  phase  "train" (the training batches; every StepMetrics field) or "val" (the validation set)
  label  the short name views show it under; the terminal's epoch line prints the EpochMetrics
         fields that have one
  unit   "s" for a duration in seconds ("" otherwise)
  weight_of  for a schedule: the loss term it weights at each step
"""
from __future__ import annotations

from dataclasses import Field, asdict, dataclass, field, fields

NAN = float("nan")
KINDS = ("key", "loss", "measure", "schedule", "progress")


#: The terms of the combined loss (model.losses computes each under these names): the total,
#: the reconstruction term (magnitude and IF together), and the five weighted terms.
LOSS_TERMS = ("total", "recon", "stft", "magnitude", "if", "level", "kl")
#: The terms whose weighted sum is the total, in the order views show them.
WEIGHTED_TERMS = ("stft", "magnitude", "if", "level", "kl")
PHASES = ("train", "val")


def metric(kind: str, *, term: str = "", phase: str = "train", label: str = "", unit: str = "",
           weight_of: str = "") -> Field:
    """A schema field: required (no default), described by its metadata (see the module docstring)."""
    if kind not in KINDS or phase not in PHASES or (term and term not in LOSS_TERMS) \
            or (weight_of and weight_of not in WEIGHTED_TERMS) or (kind == "loss") != bool(term):
        raise ValueError(f"bad metric description: kind={kind!r} term={term!r} phase={phase!r} "
                         f"weight_of={weight_of!r}")
    return field(metadata={"kind": kind, "term": term, "phase": phase, "label": label, "unit": unit,
                           "weight_of": weight_of})


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
    #: the run's own loss config (config_to_dict of TrainingConfig.loss): what this run trains on
    loss_config: dict = field(default_factory=dict)
    #: each weighted term's weight in the total for this run (model.losses.term_weights); the KL
    #: term's weight anneals, so views read it per step (the schedule whose weight_of is "kl")
    term_weights: dict = field(default_factory=dict)
    world_size: int = 1  # processes training together (torchrun); batch_size is per process
    resume_note: str = ""  # how a resume continues when it cannot simply go on (e.g. a new world size)


@dataclass(frozen=True)
class StepMetrics:
    epoch: int = metric("key")
    step: int = metric("key")
    total_steps: int = metric("progress")
    train_loss: float = metric("loss", term="total")
    recon_loss: float = metric("loss", term="recon")
    kl_loss: float = metric("loss", term="kl")
    kl_weight: float = metric("schedule", label="KL weight", weight_of="kl")
    learning_rate: float = metric("schedule", label="learning rate")
    step_time_s: float = metric("progress", unit="s")
    stft_loss: float = metric("loss", term="stft")
    mag_recon_loss: float = metric("loss", term="magnitude")
    if_recon_loss: float = metric("loss", term="if")
    level_loss: float = metric("loss", term="level")
    grad_norm: float = metric("measure")
    wall_time: float = metric("key", unit="s")


@dataclass(frozen=True)
class EpochMetrics:
    epoch: int = metric("key")
    total_epochs: int = metric("progress")
    step: int = metric("key")
    train_loss: float = metric("loss", term="total", label="train")
    val_loss: float = metric("loss", term="total", phase="val", label="val")
    val_recon_loss: float = metric("loss", term="recon", phase="val")
    val_kl_loss: float = metric("loss", term="kl", phase="val", label="kl")
    kl_divergence: float = metric("measure", phase="val", label="kl-raw")
    overfitting_gap: float = metric("measure", phase="val")   # val_loss - train_loss
    learning_rate: float = metric("schedule")
    eta_seconds: float = metric("progress", label="eta", unit="s")
    elapsed_seconds: float = metric("progress", unit="s")
    val_stft_loss: float = metric("loss", term="stft", phase="val", label="stft")
    val_mag_recon_loss: float = metric("loss", term="magnitude", phase="val", label="mag")
    val_if_recon_loss: float = metric("loss", term="if", phase="val", label="if")
    val_mrstft_distance: float = metric("measure", phase="val", label="mrstft")
    train_recon_loss: float = metric("loss", term="recon")
    train_kl_loss: float = metric("loss", term="kl", label="kl")
    train_stft_loss: float = metric("loss", term="stft", label="stft")
    train_mag_recon_loss: float = metric("loss", term="magnitude", label="mag")
    train_if_recon_loss: float = metric("loss", term="if", label="if")
    kl_weight: float = metric("schedule", weight_of="kl")
    skipped_steps: int = metric("progress")
    wall_time: float = metric("key", unit="s")
    # sample quality of the epoch's audio previews (distill_engine.previews.quality); NaN on
    # epochs without a preview
    sample_fidelity: float = metric("measure", phase="val")
    sample_coverage: float = metric("measure", phase="val")
    sample_loudness_db: float = metric("measure", phase="val")
    # the frame-level term (added after the fields above: older runs read it as NaN)
    val_level_loss: float = metric("loss", term="level", phase="val", label="level")
    train_level_loss: float = metric("loss", term="level", label="level")
    # the gain a preview raised its samples by (previews/sample_level.py; older runs read NaN)
    sample_gain_db: float = metric("measure", phase="val")


@dataclass(frozen=True)
class DivergenceWarning:
    epoch: int
    step: int
    monitored: str  # the EpochMetrics field watched: the validation total, else the training total
    patience: int
    streak_epochs: tuple[int, ...]
    streak_losses: tuple[float, ...]  # the monitored loss at the epoch before the streak, then each rise
    rule: str = "rising"  # "rising" (the streak), "spike" (a loss >> its running median), "non-finite"
    per: str = "epoch"  # "step" when a step's training loss spiked; else an epoch's monitored loss
    reference_loss: float = NAN  # spike: the running median the loss was compared with
    factor: float = NAN  # spike: the configured multiple
    began_epoch: int = 0  # where the blow-up began (0 = not known)
    began_step: int = 0
    best_epoch: int = 0  # the best checkpoint, which a roll back starts from (0 = none yet)
    best_step: int = 0
    best_loss: float = NAN


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
class PreviewRendered:
    epoch: int
    step: int
    files: tuple[str, ...]  # paths relative to the run folder, in the order written


@dataclass(frozen=True)
class PreviewFailed:
    epoch: int
    step: int
    reason: str  # names the file or step that failed and the error


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
        """Called when the loss rose for `patience` epochs, spiked, or went non-finite (see `rule`)."""

    def on_non_finite(self, trainer, event: NonFiniteStep) -> None:
        """Called for each step skipped because its loss or gradient was not finite."""

    def on_checkpoint(self, trainer, event: CheckpointSaved) -> None:
        """Called after a checkpoint is written."""

    def on_preview(self, trainer, event: PreviewRendered) -> None:
        """Called after an epoch's audio previews are written."""

    def on_preview_failed(self, trainer, event: PreviewFailed) -> None:
        """Called when an epoch's previews could not be rendered or written."""

    def on_run_finished(self, trainer, event: RunFinished) -> None:
        """Called once at the very end, whatever the outcome."""

    def state_dict(self) -> dict:
        """JSON-able state saved in checkpoints."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore what state_dict returned."""


# -- the metric schema, read from the fields' metadata --------------------------------------
def schema_fields(event_type) -> tuple[Field, ...]:
    """The described fields of a metrics event type (StepMetrics, EpochMetrics), in order."""
    return tuple(f for f in fields(event_type) if "kind" in f.metadata)


def key_names(event_type) -> tuple[str, ...]:
    """The fields that locate a row (epoch, step, wall time): table keys, not metrics."""
    return tuple(f.name for f in schema_fields(event_type) if f.metadata["kind"] == "key")


def metric_names(event_type, kind: str | None = None, phase: str | None = None) -> tuple[str, ...]:
    """The metric fields (every kind but "key"), optionally of one kind and/or phase, in order."""
    return tuple(f.name for f in schema_fields(event_type) if f.metadata["kind"] != "key"
                 and (kind is None or f.metadata["kind"] == kind)
                 and (phase is None or f.metadata["phase"] == phase))


def term_fields(event_type, phase: str = "train") -> dict[str, str]:
    """{loss term: field name} of one phase, in LOSS_TERMS order (terms it lacks left out)."""
    found = {f.metadata["term"]: f.name for f in schema_fields(event_type)
             if f.metadata["kind"] == "loss" and f.metadata["phase"] == phase}
    return {term: found[term] for term in LOSS_TERMS if term in found}


def weight_field(event_type, term: str) -> str | None:
    """The schedule field holding `term`'s weight at each row, or None (a fixed weight)."""
    return next((f.name for f in schema_fields(event_type) if f.metadata["weight_of"] == term), None)


def describe(event_type, name: str) -> dict:
    """The metadata of one field (kind, term, phase, label, unit, weight_of); KeyError if unknown."""
    for f in schema_fields(event_type):
        if f.name == name:
            return dict(f.metadata)
    raise KeyError(f"{event_type.__name__} has no field {name!r}")

