"""The whole resumable state of a training run in one dataclass, and its checkpoint packing."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

from ..checkpoints.format import Checkpoint


@dataclass
class TrainingState:
    """Where a run stands. epoch counts completed epochs; batch_in_epoch counts the batches of the
    current (unfinished) epoch already trained, so a mid-epoch checkpoint resumes at the next batch;
    world_size is the number of processes that trained them (a batch is one per process)."""

    epoch: int = 0
    step: int = 0
    batch_in_epoch: int = 0
    best_loss: float = math.inf
    best_epoch: int = 0
    best_step: int = 0
    elapsed_seconds: float = 0.0
    consecutive_non_finite: int = 0
    skipped_steps: int = 0
    world_size: int = 1

    def to_dict(self) -> dict:
        data = asdict(self)
        data["best_loss"] = None if not math.isfinite(self.best_loss) else self.best_loss
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "TrainingState":
        data = dict(data)
        data["best_loss"] = math.inf if data.get("best_loss") is None else float(data["best_loss"])
        return cls(**data)


def rng_tensors() -> dict[str, torch.Tensor]:
    """The torch random generators' states (CPU and every CUDA device) as tensors."""
    tensors = {"rng_torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng_cuda_{i}"] = state
    return tensors


def restore_rng(tensors: dict[str, torch.Tensor]) -> None:
    """Put back what rng_tensors captured (CUDA states only where devices exist)."""
    if "rng_torch_cpu" in tensors:
        torch.set_rng_state(tensors["rng_torch_cpu"].to("cpu", torch.uint8))
    cuda = [tensors[k] for k in sorted(tensors) if k.startswith("rng_cuda_")]
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([t.to("cpu", torch.uint8) for t in cuda])


def unpack_extra(checkpoint: Checkpoint) -> tuple[TrainingState, dict, dict, dict]:
    """(training state, representation state, divergence-detector state, callback states)."""
    extra = checkpoint.extra
    return (TrainingState.from_dict(extra["training_state"]), dict(extra["representation"]),
            dict(extra["divergence"]), dict(extra.get("callbacks", {})))


class SnapshotBuffers:
    """Copies of the model and optimizer state kept in buffers reused from one copy to the next,
    so remembering a new best epoch allocates nothing (the copy is written as best.safetensors at
    the next checkpoint)."""

    def __init__(self):
        self._buffers: dict[tuple, torch.Tensor] = {}

    def copy_of(self, model_state: dict, optimizer_state: dict) -> tuple[dict, dict]:
        model = {k: self._keep(("model", k), v) for k, v in model_state.items()}
        optimizer = {"state": {i: {n: self._keep(("optim", i, n), v) for n, v in s.items()}
                               for i, s in optimizer_state["state"].items()},
                     "param_groups": [dict(g) for g in optimizer_state["param_groups"]]}
        return model, optimizer

    def _keep(self, key: tuple, value):
        if not torch.is_tensor(value):
            return value
        buffer = self._buffers.get(key)
        if buffer is None or buffer.shape != value.shape or buffer.dtype != value.dtype:
            buffer = self._buffers[key] = torch.empty_like(value)
        return buffer.copy_(value.detach())
