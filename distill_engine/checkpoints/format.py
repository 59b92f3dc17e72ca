"""Checkpoints as single self-contained safetensors files: tensors in the tensor section, everything
else as one JSON document in the header metadata under "distill". Nothing is ever unserialised as
Python objects, so loading a file can never run code from it; each file is written with one atomic
rename, so a crash or a full disk never leaves a half-written checkpoint in place of a good one.

Tensor names: ``model/<name>``, ``optimizer/<param_index>/<state_key>``,
``optimizer_group/<group_index>/<key>`` (rare tensor-valued param-group entries) and
``extra/<name>`` (caller tensors such as ``rng/torch_cpu``).
"""
from __future__ import annotations

import dataclasses
import datetime
import json
import os
import pathlib
import re
from typing import Any

from safetensors import SafetensorError

from ..errors import CheckpointError
from ..atomic_file import atomic_write
from .bounded_json import bounded_json
from .safetensors_writer import safetensors_chunks

FORMAT = "distill-checkpoint"
SCHEMA_VERSION = 1
METADATA_KEY = "distill"
BEST_NAME = "best.safetensors"
_MAX_HEADER_BYTES = 16_000_000  # a Distill header is ~100 KB (safetensors itself allows 100 MB)
_REGULAR_NAME = re.compile(r"^epoch-(\d+)-step-(\d+)\.safetensors$")
_FIX = "choose another checkpoint, or start the run again without resuming"


@dataclasses.dataclass(frozen=True)
class CheckpointInfo:
    """What a checkpoint's header says, read without touching tensor data (for listings)."""

    path: pathlib.Path
    epoch: int
    step: int
    metrics: dict
    is_best: bool
    created_at: str
    size_bytes: int
    config: dict


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint; ``optimizer_state`` goes straight into ``optimizer.load_state_dict``."""

    path: pathlib.Path
    epoch: int
    step: int
    config: dict
    metrics: dict
    is_best: bool
    created_at: str
    extra: dict
    model_state: dict
    optimizer_state: dict | None
    extra_tensors: dict


# ----------------------------------------------------------------------------------------- saving

def _to_chunks(*, model_state, optimizer_state, epoch, step, config, metrics, extra, extra_tensors,
               is_best) -> list:
    import torch  # torch loads only when a checkpoint is written or read in full

    tensors: dict[str, torch.Tensor] = {}
    seen_storage: set[int] = set()

    def put(name: str, value: Any) -> None:
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"checkpoint tensor {name!r} is a {type(value).__name__}, not a tensor")
        t = value.detach().to("cpu").contiguous()
        ptr = t.untyped_storage().data_ptr() if t.numel() else 0
        if ptr and ptr in seen_storage:  # safetensors refuses aliased tensors (e.g. tied weights)
            t = t.clone()
            ptr = t.untyped_storage().data_ptr()
        seen_storage.add(ptr)
        tensors[name] = t

    for name, value in model_state.items():
        put(f"model/{name}", value)
    for name, value in (extra_tensors or {}).items():
        put(f"extra/{name}", value)

    optimizer_doc = None
    if optimizer_state is not None:
        state_values: dict[str, dict] = {}
        for index, param_state in optimizer_state.get("state", {}).items():
            if not isinstance(index, int):
                raise TypeError(f"optimizer state key {index!r} is not a parameter index")
            values = state_values.setdefault(str(index), {})
            for key, value in param_state.items():
                if isinstance(value, torch.Tensor):
                    put(f"optimizer/{index}/{key}", value)
                else:
                    values[key] = value
        groups, tuple_keys = [], []
        for g, group in enumerate(optimizer_state.get("param_groups", [])):
            plain, tuples = {}, []
            for key, value in group.items():
                if isinstance(value, torch.Tensor):
                    put(f"optimizer_group/{g}/{key}", value)
                    continue
                if isinstance(value, tuple):
                    tuples.append(key)
                    value = list(value)
                plain[key] = value
            groups.append(plain)
            tuple_keys.append(tuples)
        optimizer_doc = {"state": state_values, "param_groups": groups, "tuple_keys": tuple_keys}

    now = datetime.datetime.now(datetime.timezone.utc).isoformat()
    document = {"format": FORMAT, "schema_version": SCHEMA_VERSION, "epoch": int(epoch),
                "step": int(step), "created_at": now, "config": config,
                "metrics": {str(k): float(v) for k, v in metrics.items()},
                "is_best": bool(is_best), "optimizer": optimizer_doc, "extra": extra or {}}
    try:
        text = json.dumps(document)
    except TypeError as exc:
        raise TypeError(f"checkpoint config/extra/optimizer must be JSON-serialisable: {exc}")
    return safetensors_chunks(tensors, {METADATA_KEY: text})


def save_checkpoint(path, *, model_state: dict[str, torch.Tensor], optimizer_state: dict | None,
                    epoch: int, step: int, config: dict, metrics: dict, extra: dict | None = None,
                    extra_tensors: dict[str, torch.Tensor] | None = None,
                    is_best: bool = False) -> pathlib.Path:
    """Write one checkpoint file atomically; on any error the previous file at ``path`` is kept.

    ``extra`` is JSON-able trainer state (numpy RNG state must be converted to lists by the caller);
    ``extra_tensors`` are stored as-is, e.g. ``{"rng/torch_cpu": torch.get_rng_state()}``.
    """
    data = _to_chunks(model_state=model_state, optimizer_state=optimizer_state, epoch=epoch,
                      step=step, config=config, metrics=metrics, extra=extra,
                      extra_tensors=extra_tensors, is_best=is_best)
    return atomic_write(pathlib.Path(path), data)


# ---------------------------------------------------------------------------------------- loading

def _not_distill(path, why: str) -> CheckpointError:
    return CheckpointError(f"{path} is not a Distill checkpoint ({why}); {_FIX}.")


def _parse_header(path: pathlib.Path, head: bytes, size: int) -> dict:
    """Validate a safetensors JSON header against the file size; return the Distill document."""
    try:
        header = bounded_json(head)
        end = max([_offset(e["data_offsets"][1]) for k, e in header.items() if k != "__metadata__"]
                  or [0])
    except (UnicodeDecodeError, ValueError, TypeError, KeyError, IndexError, AttributeError):
        raise _not_distill(path, "not a safetensors file") from None
    if 8 + len(head) + end != size:
        raise CheckpointError(f"{path} is damaged or truncated: its header describes "
                              f"{8 + len(head) + end} bytes but the file has {size}; {_FIX}.")
    metadata = header.get("__metadata__")
    if not isinstance(metadata, dict) or METADATA_KEY not in metadata:
        raise _not_distill(path, "a safetensors file without Distill metadata")
    try:
        doc = bounded_json(metadata[METADATA_KEY])
    except (TypeError, ValueError):
        raise CheckpointError(f"{path} is damaged: its Distill metadata is not valid JSON; "
                              f"{_FIX}.") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise _not_distill(path, f"metadata format is not {FORMAT!r}")
    version = doc.get("schema_version")
    if version != SCHEMA_VERSION:
        raise CheckpointError(f"{path} was written by checkpoint schema {version}; this Distill "
                              f"reads schema {SCHEMA_VERSION} — upgrade Distill to load it.")
    return doc


def _read(path: pathlib.Path, header_only: bool) -> tuple[dict, bytes, int]:
    """Check and parse the header (length prefix checked against the file size before parsing);
    return (Distill document, whole file or b"" when header_only, file size)."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            prefix = f.read(8)
            length = int.from_bytes(prefix, "little") if len(prefix) == 8 else 0
            if length < 2 or length > _MAX_HEADER_BYTES or 8 + length > size:
                raise _not_distill(path, "not a safetensors file, or truncated")
            head = f.read(length)
            data = b"" if header_only else prefix + head + f.read()
    except FileNotFoundError:
        raise CheckpointError(f"No checkpoint at {path}: the file does not exist; check the path "
                              f"or pick one from the run's checkpoints folder.") from None
    except OSError as exc:
        raise CheckpointError(f"{path} cannot be read ({exc}); check that it is a file you may "
                              f"read.") from exc
    return _parse_header(path, head, size), data, size


def _info(path: pathlib.Path, doc: dict, size: int) -> CheckpointInfo:
    """The header's fields, each type-checked: CheckpointError naming the first wrong one."""
    def field(name: str, check, what: str):
        if name not in doc:
            raise CheckpointError(f"{path} is damaged: its Distill metadata has no {name!r}; {_FIX}.")
        value = doc[name]
        if not check(value):
            raise CheckpointError(f"{path} is damaged: {name!r} in its Distill metadata must be "
                                  f"{what}, not {_describe(value)}; {_FIX}.")
        return value

    def count(v) -> bool:
        return type(v) is int and 0 <= v < 2 ** 63

    def number(v) -> bool:
        return type(v) in (int, float) and (type(v) is float or abs(v) < 2 ** 63)

    metrics = field("metrics", lambda v: isinstance(v, dict) and all(
        isinstance(k, str) and number(x) for k, x in v.items()), "a table of numbers")
    return CheckpointInfo(path=path, epoch=field("epoch", count, "a whole number from 0 to 2^63-1"),
                          step=field("step", count, "a whole number from 0 to 2^63-1"),
                          metrics={k: float(v) for k, v in metrics.items()},
                          is_best=field("is_best", lambda v: type(v) is bool, "true or false"),
                          created_at=field("created_at", lambda v: isinstance(v, str), "text"),
                          size_bytes=size,
                          config=field("config", lambda v: isinstance(v, dict), "a table"))


def _describe(value) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:40] + '…' if len(text) > 40 else text}"


def _offset(value) -> int:
    if type(value) is not int or value < 0:
        raise ValueError(f"data offset {value!r} is not a byte position")
    return value


def read_checkpoint_info(path) -> CheckpointInfo:
    """Read a checkpoint's header only (no tensor data); raises CheckpointError like load."""
    path = pathlib.Path(path)
    doc, _, size = _read(path, header_only=True)
    return _info(path, doc, size)


def _optimizer_state(path, doc, tensors: dict) -> dict | None:
    opt = doc.get("optimizer")
    if opt is None:
        return None
    try:
        state = {int(i): dict(values) for i, values in opt["state"].items()}
        groups = []
        for group, tuples in zip(opt["param_groups"], opt["tuple_keys"]):
            group = dict(group)
            for key in tuples:
                group[key] = tuple(group[key])
            groups.append(group)
        for name, tensor in tensors.items():
            kind, index, key = name.split("/", 2)
            if kind == "optimizer":
                state.setdefault(int(index), {})[key] = tensor
            else:
                groups[int(index)][key] = tensor
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise CheckpointError(f"{path} is damaged: its optimizer state is malformed ({exc}); "
                              f"{_FIX}.") from None
    return {"state": state, "param_groups": groups}


def load_checkpoint(path, map_location="cpu") -> Checkpoint:
    """Load every tensor and the metadata of a checkpoint; never executes code from the file.

    ``map_location`` is a device (``"cpu"``, ``"cuda:0"``, a ``torch.device``) for the tensors.
    """
    import torch  # header-only readers (read_checkpoint_info, list_checkpoints) need no torch
    from safetensors.torch import load as _st_load

    path = pathlib.Path(path)
    doc, data, size = _read(path, header_only=False)
    info = _info(path, doc, size)
    try:
        flat = _st_load(data)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path} is damaged ({exc}); {_FIX}.") from None
    device = torch.device(map_location)
    if device.type != "cpu":
        flat = {name: t.to(device) for name, t in flat.items()}
    groups: dict[str, dict] = {"model": {}, "extra": {}, "optimizer": {}}
    for name, tensor in flat.items():
        prefix, _, rest = name.partition("/")
        if prefix in ("optimizer", "optimizer_group"):
            groups["optimizer"][name] = tensor
        elif prefix in groups:
            groups[prefix][rest] = tensor
    extra = doc.get("extra") or {}
    if not isinstance(extra, dict):
        raise CheckpointError(f"{path} is damaged: its 'extra' state is not a mapping; {_FIX}.")
    return Checkpoint(path=path, epoch=info.epoch, step=info.step, config=info.config,
                      metrics=info.metrics, is_best=info.is_best, created_at=info.created_at,
                      extra=extra, model_state=groups["model"],
                      optimizer_state=_optimizer_state(path, doc, groups["optimizer"]),
                      extra_tensors=groups["extra"])


def list_checkpoints(folder) -> list[CheckpointInfo]:
    """Every readable checkpoint in ``folder`` sorted by step; unreadable files are skipped."""
    folder = pathlib.Path(folder)
    if not folder.is_dir():
        return []
    found = []
    for path in folder.glob("*.safetensors"):
        try:
            if not path.name.startswith(".") and path.is_file():
                found.append(read_checkpoint_info(path))
        except CheckpointError:
            pass  # junk or damaged files are not listed; loading them names the problem
    return sorted(found, key=lambda info: (info.step, info.epoch, info.path.name))


# ---------------------------------------------------------------------------------------- manager

class CheckpointManager:
    """Writes numbered checkpoints into one folder, mirrors the best to ``best.safetensors`` and
    keeps only the ``keep_last`` most recent numbered ones (the best file is never pruned)."""

    def __init__(self, folder, keep_last: int):
        if keep_last < 1:
            raise ValueError(f"keep_last must be at least 1, got {keep_last}")
        self.folder = pathlib.Path(folder)
        self.keep_last = int(keep_last)

    def _regular(self) -> list[tuple[int, int, pathlib.Path]]:
        """(step, epoch, path) of the numbered checkpoints, oldest first, judged by file name."""
        if not self.folder.is_dir():
            return []
        found = []
        for path in self.folder.iterdir():
            match = _REGULAR_NAME.match(path.name)
            if match and path.is_file():
                found.append((int(match.group(2)), int(match.group(1)), path))
        return sorted(found)

    def save(self, *, model_state, optimizer_state, epoch: int, step: int, config: dict,
             metrics: dict, extra: dict | None = None, extra_tensors: dict | None = None,
             is_best: bool = False) -> pathlib.Path:
        """Write ``epoch-EEEEE-step-SSSSSSSS.safetensors`` (and ``best.safetensors`` when best)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        data = _to_chunks(model_state=model_state, optimizer_state=optimizer_state, epoch=epoch,
                          step=step, config=config, metrics=metrics, extra=extra,
                          extra_tensors=extra_tensors, is_best=is_best)
        path = atomic_write(self.folder / f"epoch-{epoch:05d}-step-{step:08d}.safetensors", data)
        if is_best:
            atomic_write(self.folder / BEST_NAME, data)
        others = [p for _, _, p in self._regular() if p != path]
        for old in others[:max(0, len(others) - (self.keep_last - 1))]:
            old.unlink(missing_ok=True)
        return path

    def latest(self) -> pathlib.Path | None:
        """The numbered checkpoint with the highest step, or None."""
        regular = self._regular()
        return regular[-1][2] if regular else None

    def best(self) -> pathlib.Path | None:
        """``best.safetensors`` if one has been written, or None."""
        path = self.folder / BEST_NAME
        return path if path.is_file() else None
