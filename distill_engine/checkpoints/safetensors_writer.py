"""The safetensors byte format, written by streaming each tensor's own memory (no whole-file copy)."""
from __future__ import annotations

import json
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
