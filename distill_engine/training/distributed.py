"""Data-parallel training under torchrun: the process group, each rank's share, the collectives.

`process_group_from_environment()` returns a `SingleProcess` unless torchrun's variables (RANK,
WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT) say this process is one of several; then it is a
`DataParallelGroup` on NCCL (CUDA, one device per process: cuda:LOCAL_RANK) or gloo (CPU).

The rules the trainer keeps with it (shared/DESIGN.md, "Distributed"):
- `batch_size` is per process. Global batch s of an epoch is positions [s*W*b, (s+1)*W*b) of the
  epoch's shuffled order, which every rank computes alike from the seed; rank r takes the r-th
  b of them. One process with batch W*b therefore sees the same examples in the same steps.
- Rank 0 alone writes the run folder; the other ranks write nothing there.
- One collective per logging interval carries the pending steps' metrics (averaged) and every
  rank's stop request, so a stop is acted on by all ranks after the same step. Validation is
  sharded by batches and its sums reduced in one collective. The end of an epoch agrees once more
  on stopping (a divergence stop is decided there).
- A dead peer makes a collective fail (gloo sees the closed connection at once; otherwise the
  process group's timeout, DISTILL_DIST_TIMEOUT_S, default 300 s, bounds the wait):
  `is_peer_failure` tells the trainer to end the run as interrupted.
"""
from __future__ import annotations

import datetime
import os
import socket

import torch

from .devices import resolve_device

#: torchrun sets all of these for each worker process.
TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
DEFAULT_TIMEOUT_S = 300.0
#: The statuses a stop request can end a run with, by stop code - 1 (0 means no stop).
STOP_STATUSES = ("stopped", "diverged-stopped")


def launched_by_torchrun(environ=os.environ) -> bool:
    """True when torchrun (or another launcher with its variables) started this process."""
    return all(name in environ for name in TORCHRUN_VARIABLES)


def process_group_from_environment(device_name: str, environ=os.environ):
    """SingleProcess, or a DataParallelGroup (not yet joined: call join()) under torchrun."""
    if not launched_by_torchrun(environ) or int(environ["WORLD_SIZE"]) < 1:
        return SingleProcess(device_name)
    return DataParallelGroup(device_name, int(environ["RANK"]), int(environ["WORLD_SIZE"]),
                             int(environ["LOCAL_RANK"]),
                             float(environ.get("DISTILL_DIST_TIMEOUT_S", DEFAULT_TIMEOUT_S)))


def end_worker(code: int) -> int:
    """End a torchrun worker whose run is over with `code`, skipping the interpreter's teardown.

    Everything is written and the group left (Trainer.run), so nothing is lost by os._exit; what is
    skipped is the teardown's freeing of torch's remaining C++ state, where gloo's threads could
    take the GIL of a finalizing interpreter and abort a completed run. Not under torchrun: returns
    `code` for the caller to exit with."""
    if not launched_by_torchrun():
        return code
    import sys

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed or broken pipe: nothing more can be said there
            pass
    os._exit(code)


def stop_code(status: str) -> int:
    """The code a stop request with `status` travels as in the collectives (the higher wins)."""
    return STOP_STATUSES.index(status) + 1 if status in STOP_STATUSES else 1


def continue_with_world_size(state, world_size: int, steps_per_epoch: int, epochs: int,
                             total_steps: int) -> tuple[int, str]:
    """Ready a restored TrainingState for `world_size` processes: (total steps, a note to show).

    A global batch is one batch per process, so a checkpoint taken mid-epoch by another number of
    processes has no share of the epoch's rest to continue with: the epoch starts again from its
    first batch (the last epoch boundary), with the weights and step count the checkpoint holds."""
    if state.world_size == world_size:
        return total_steps, ""
    note = ""
    if state.batch_in_epoch:
        note = (f"the checkpoint was written by {state.world_size} process(es), this run has {world_size}: "
                f"continuing from the start of epoch {state.epoch + 1} (the last epoch boundary) with the "
                f"weights of step {state.step}")
        state.batch_in_epoch = 0
    state.world_size = world_size
    return state.step + (epochs - state.epoch) * steps_per_epoch, note


def describe_device(device: torch.device) -> str:
    """'cuda:0 (NVIDIA H200) on host' / 'cpu on host': what the run store records per rank."""
    name = str(device)
    if device.type == "cuda":
        name += f" ({torch.cuda.get_device_name(device)})"
    return f"{name} on {socket.gethostname()}"


class SingleProcess:
    """The ordinary run: one process, no collectives (every method is the identity)."""

    rank, world_size, is_writer, active = 0, 1, True, False

    def __init__(self, device_name: str):
        self.device_name = device_name

    def resolve_device(self) -> torch.device:
        return resolve_device(self.device_name)

    def join(self, device: torch.device) -> None:
        """Nothing to join."""

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        return model

    def seed_noise(self, seed: int, step: int) -> None:
        """Rank 0 keeps the run's random stream (saved in checkpoints); nothing to do alone."""

    def devices(self, device: torch.device) -> list[str]:
        return [describe_device(device)]

    def batch_slice(self, batch: int, batch_size: int) -> slice:
        """Positions in the epoch's order of this process's examples for batch `batch`."""
        return slice(batch * batch_size, (batch + 1) * batch_size)

    def validation_batches(self, n_batches: int) -> range:
        return range(n_batches)

    def reduce_steps(self, table: torch.Tensor, stop_code: int) -> tuple[list, int]:
        """The pending steps' rows read to the host in one transfer, and the stop code."""
        return table.cpu().tolist(), stop_code

    def reduce_sums(self, sums: torch.Tensor) -> torch.Tensor:
        return sums

    def agree_stop(self, stop_code: int) -> int:
        return stop_code

    def broadcast_text(self, text: str) -> str:
        return text

    def is_peer_failure(self, exc: BaseException) -> bool:
        return False

    def close(self) -> None:
        """Nothing to leave."""


class DataParallelGroup(SingleProcess):
    """One of world_size processes of a torchrun launch (DistributedDataParallel)."""

    active = True

    def __init__(self, device_name: str, rank: int, world_size: int, local_rank: int, timeout_s: float):
        super().__init__(device_name)
        self.rank, self.world_size, self.local_rank = rank, world_size, local_rank
        self.is_writer = rank == 0
        self.timeout_s = timeout_s
        self._device: torch.device | None = None

    def resolve_device(self) -> torch.device:
        """cuda:LOCAL_RANK for 'auto'/'cuda' when CUDA is there; CPU otherwise (MPS has no DDP)."""
        device = resolve_device(self.device_name)
        if device.type == "cuda":
            device = torch.device("cuda", self.local_rank)
            torch.cuda.set_device(device)
        elif device.type == "mps":
            device = torch.device("cpu")
        return device

    def join(self, device: torch.device) -> None:
        """Join the process group (waits for every rank, up to the timeout)."""
        import torch.distributed as dist

        self._device = device
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                                    timeout=datetime.timedelta(seconds=self.timeout_s),
                                    **({"device_id": device} if device.type == "cuda" else {}))

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        from torch.nn.parallel import DistributedDataParallel

        ids = [self._device.index] if self._device is not None and self._device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    def seed_noise(self, seed: int, step: int) -> None:
        """Ranks other than 0 draw their own reparameterisation noise (and dropout masks): a
        stream seeded by the run's seed, the rank and the step it starts at (not checkpointed)."""
        if self.rank:
            torch.manual_seed((seed * 1_000_003 + 7919 * self.rank + step) % 2**63)

    def devices(self, device: torch.device) -> list[str]:
        import torch.distributed as dist

        gathered = [None] * self.world_size
        dist.all_gather_object(gathered, describe_device(device))
        return [str(d) for d in gathered]

    def batch_slice(self, batch: int, batch_size: int) -> slice:
        start = (batch * self.world_size + self.rank) * batch_size
        return slice(start, start + batch_size)

    def validation_batches(self, n_batches: int) -> range:
        return range(self.rank, n_batches, self.world_size)

    def reduce_steps(self, table: torch.Tensor, stop_code: int) -> tuple[list, int]:
        """The pending steps' rows averaged over ranks, and the stop code any rank asked for (the
        highest): one all_reduce and one transfer to the host.

        The stop codes (0 none, 1 stop, 2 divergence stop) travel as one-hot columns of an extra
        row, so after the sum every rank sees every request."""
        import torch.distributed as dist

        flags = table.new_zeros(1, table.shape[1])
        if stop_code:
            flags[0, stop_code - 1] = 1.0
        packed = torch.cat([table, flags])
        dist.all_reduce(packed)
        *rows, flags = (packed / self.world_size).cpu().tolist()
        requested = [code for code in (2, 1) if flags[code - 1] > 0]
        return rows, requested[0] if requested else 0

    def reduce_sums(self, sums: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        sums = sums.clone()
        dist.all_reduce(sums)
        return sums

    def agree_stop(self, stop_code: int) -> int:
        import torch.distributed as dist

        codes = torch.tensor([stop_code], dtype=torch.int64, device=self._collective_device())
        dist.all_reduce(codes, op=dist.ReduceOp.MAX)
        return int(codes.item())

    def broadcast_text(self, text: str) -> str:
        """Rank 0's `text` on every rank (e.g. the run folder's path)."""
        import torch.distributed as dist

        box = [text]
        dist.broadcast_object_list(box, src=0)
        return str(box[0])

    def is_peer_failure(self, exc: BaseException) -> bool:
        """A collective failed because another rank died, hung or left (the run is interrupted)."""
        import torch.distributed as dist

        if isinstance(exc, getattr(dist, "DistError", ())):
            return True
        text = str(exc).lower()
        return isinstance(exc, RuntimeError) and any(
            word in text for word in ("gloo", "nccl", "connection", "timed out", "timeout", "peer"))

    def close(self) -> None:
        """Leave the group now, while the interpreter is whole: destroy it, then collect what held
        it (reference cycles through the wrapped model), so its threads end here, not in teardown."""
        import gc

        import torch.distributed as dist

        if dist.is_initialized():
            try:
                dist.destroy_process_group()
            except Exception:  # a broken group (dead peer) cannot always be torn down cleanly
                pass
        gc.collect()

    def _collective_device(self) -> torch.device:
        return self._device if self._device is not None and self._device.type == "cuda" else torch.device("cpu")
