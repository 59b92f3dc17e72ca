"""Checking that a checkpoint fits the run it is loaded into, before any of it is applied.

A checkpoint from another configuration (latent_dim 16 placed as the latest of a latent_dim 128
run), a damaged optimizer section, extra or missing training-state keys: each is refused with a
CheckpointError that says what differs, instead of torch's RuntimeError/KeyError/TypeError."""
from __future__ import annotations

import dataclasses
from contextlib import contextmanager

from ..checkpoints.format import Checkpoint
from ..config.schema import config_to_dict
from ..errors import CheckpointError
from .state import TrainingState

#: Config fields that decide the model's tensor shapes (named when shapes differ).
SHAPE_FIELDS = ("latent_dim", "chunk_duration", "representation.sample_rate", "representation.n_fft",
                "representation.hop_length")
_FIX = "resume from a checkpoint of this run, or start a new run with the checkpoint's config"


def check_model_fits(checkpoint: Checkpoint, model, config) -> None:
    """CheckpointError listing missing/extra tensors and shape differences (and the config fields
    behind them) when the checkpoint's weights cannot go into `model`."""
    expected = model.state_dict()
    stored = checkpoint.model_state
    missing = sorted(set(expected) - set(stored))
    extra = sorted(set(stored) - set(expected))
    shapes = [f"{name} is {list(stored[name].shape)} in the checkpoint, {list(value.shape)} here"
              for name, value in expected.items() if name in stored and stored[name].shape != value.shape]
    if not (missing or extra or shapes):
        return
    parts = shapes[:3] + ([f"{len(shapes) - 3} more shapes differ"] if len(shapes) > 3 else [])
    if missing:
        parts.append(f"missing tensors: {', '.join(missing[:5])}" + (" …" if len(missing) > 5 else ""))
    if extra:
        parts.append(f"unexpected tensors: {', '.join(extra[:5])}" + (" …" if len(extra) > 5 else ""))
    differing = _config_differences(checkpoint.config, config_to_dict(config))
    because = f" (the configs differ: {'; '.join(differing)})" if differing else ""
    raise CheckpointError(f"{checkpoint.path} does not fit this run's model{because}: "
                          f"{'; '.join(parts)}; {_FIX}.")


def _config_differences(stored: dict, current: dict) -> list[str]:
    out = []
    for dotted in SHAPE_FIELDS:
        a, b = stored, current
        for key in dotted.split("."):
            a = a.get(key) if isinstance(a, dict) else None
            b = b.get(key) if isinstance(b, dict) else None
        if a is not None and a != b:
            out.append(f"{dotted} {a!r} in the checkpoint, {b!r} here")
    return out


def training_state_from(checkpoint: Checkpoint) -> TrainingState:
    """The checkpoint's TrainingState; CheckpointError naming extra, missing or wrong-typed keys."""
    data = checkpoint.extra.get("training_state")
    if not isinstance(data, dict):
        raise CheckpointError(f"{checkpoint.path} is damaged: it holds no training state; {_FIX}.")
    fields = {f.name: f.type for f in dataclasses.fields(TrainingState)}
    extra, missing = sorted(set(data) - set(fields)), sorted(set(fields) - set(data))
    if extra or missing:
        raise CheckpointError(
            f"{checkpoint.path} has a training state this Distill does not know"
            + (f"; unexpected keys: {', '.join(extra)}" if extra else "")
            + (f"; missing keys: {', '.join(missing)}" if missing else "") + f"; {_FIX}.")
    for name, kind in fields.items():
        value = data[name]
        ok = (type(value) is int and 0 <= value < 2 ** 63) if kind in ("int", int) else \
            (value is None and name == "best_loss") or type(value) in (int, float)
        if not ok:
            raise CheckpointError(f"{checkpoint.path} is damaged: training_state.{name} is "
                                  f"{value!r}; {_FIX}.")
    return TrainingState.from_dict(data)


@contextmanager
def refused_as_checkpoint_error(checkpoint: Checkpoint, part: str):
    """Turn an error while applying one part of a checkpoint into a CheckpointError naming it."""
    try:
        yield
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError, OverflowError) as exc:
        raise CheckpointError(f"{checkpoint.path}: its {part} cannot be used here "
                              f"({type(exc).__name__}: {str(exc)[:300]}); {_FIX}.") from None


def check_optimizer_fits(checkpoint: Checkpoint, optimizer) -> None:
    """After optimizer.load_state_dict (which checks only group sizes): every per-parameter state
    tensor of the parameter's shape, else CheckpointError."""
    for group in optimizer.param_groups:
        for param in group["params"]:
            for key, value in optimizer.state.get(param, {}).items():
                if getattr(value, "ndim", 0) and value.shape != param.shape:
                    raise CheckpointError(f"{checkpoint.path}: its optimizer state '{key}' is "
                                          f"{list(value.shape)} for a parameter of {list(param.shape)}; "
                                          f"{_FIX}.")
