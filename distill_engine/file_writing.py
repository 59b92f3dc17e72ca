"""Writing files safely: a safetensors file streamed from tensor memory, and atomic replacement
(temp file beside the target, fsync, rename, fsync of the folder), so a crash or a full disk never
leaves a half-written file in place of a good one.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import pathlib
import secrets
from typing import Any

_SAFETENSORS_DTYPES = {"float64": "F64", "float32": "F32", "float16": "F16", "bfloat16": "BF16",
                       "int64": "I64", "int32": "I32", "int16": "I16", "int8": "I8", "uint8": "U8",
                       "bool": "BOOL"}


def safetensors_chunks(tensors: dict, metadata: dict[str, str]) -> list:
    """The safetensors file for `tensors` (contiguous CPU tensors) as buffers to write in order: the
    length-prefixed JSON header, then each tensor's own memory, uncopied. (safetensors' `save`
    builds one bytes object of the whole file while holding the GIL: 50-100 ms for this model, in
    which the window's thread cannot run; os.write releases the GIL for each buffer.)"""
    import torch

    header: dict[str, Any] = {"__metadata__": metadata}
    views, offset = [], 0
    for name, t in tensors.items():
        dtype = _SAFETENSORS_DTYPES.get(str(t.dtype).removeprefix("torch."))
        if dtype is None:
            raise TypeError(f"checkpoint tensor {name!r} has dtype {t.dtype}, which safetensors cannot "
                            f"store; convert it to one of {sorted(_SAFETENSORS_DTYPES)}")
        raw = t.reshape(-1).view(torch.uint8).numpy()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + raw.nbytes]}
        offset += raw.nbytes
        if raw.nbytes:
            views.append(memoryview(raw))
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-(8 + len(text)) % 8)        # tensor data starts 8-byte aligned
    return [len(text).to_bytes(8, "little") + text, *views]


def fsync_directory(folder: pathlib.Path) -> None:
    """Make the rename durable; skipped where directories cannot be opened or synced."""
    try:
        fd = os.open(folder, os.O_RDONLY) if os.name == "posix" else None
    except OSError:
        return
    if fd is not None:
        try:
            os.fsync(fd)
        except OSError as exc:
            if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EBADF):
                raise
        finally:
            os.close(fd)


def atomic_write(path: pathlib.Path, chunks: list) -> pathlib.Path:
    """Write the buffers to a hidden temp file beside ``path``, fsync it, then rename it over ``path``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        try:
            for chunk in chunks:
                view = memoryview(chunk).cast("B")
                while view:
                    view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):  # never hide the original error (e.g. ENOSPC)
            tmp.unlink()
        raise
    fsync_directory(path.parent)
    return path
