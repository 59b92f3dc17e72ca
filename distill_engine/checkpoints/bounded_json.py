"""JSON from a file header that may be hostile: nesting is measured before json.loads runs (which
recurses once per level), so a header of 10^6 brackets is refused instead of exhausting the stack.
Used by the checkpoint reader (checkpoints/format.py)."""
from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

MAX_JSON_DEPTH = 64  # a Distill header nests ~6 levels; json.loads recurses once per level
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def _bracket_steps():
    steps = np.zeros(256, np.int8)
    steps[[ord("["), ord("{")]], steps[[ord("]"), ord("}")]] = 1, -1
    return steps


_BRACKET_STEP = _bracket_steps()


def bounded_json(text) -> Any:
    """json.loads that refuses nesting deeper than MAX_JSON_DEPTH before parsing (ValueError);
    a parse that still runs out of stack or into a huge number is a ValueError too."""
    if isinstance(text, (bytes, bytearray)):
        text = text.decode("utf-8")
    if not isinstance(text, str):
        raise TypeError(f"expected JSON text, not {type(text).__name__}")
    depth = json_nesting_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"JSON nested {depth} levels deep (at most {MAX_JSON_DEPTH})")
    try:
        return json.loads(text)
    except (RecursionError, OverflowError) as exc:
        raise ValueError(str(exc)) from None


def json_nesting_depth(text: str) -> int:
    """The deepest [ / { nesting of JSON text, brackets inside strings not counted (a linear scan)."""
    bare = _JSON_STRING.sub('""', text) if '"' in text else text  # strings hold no structure
    codes = np.frombuffer(bare.encode("utf-8", "replace"), np.uint8)
    depth = deepest = 0
    for start in range(0, len(codes), 1 << 20):  # in 1 MiB pieces: memory stays bounded
        running = np.cumsum(_BRACKET_STEP[codes[start:start + (1 << 20)]], dtype=np.int64) + depth
        if len(running):
            deepest, depth = max(deepest, int(running.max())), int(running[-1])
    return deepest
