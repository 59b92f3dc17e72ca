"""The types of config fields: the `Problem` record, values written as TOML, the schema read from the
dataclasses in `schema.py`, and the per-field type checks that `validation` builds on.

The checks take a value that may be of any type (the desktop editor sets fields from text boxes),
append a `Problem` for each thing wrong and never raise.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import typing
from dataclasses import dataclass
from typing import Any

__all__ = ["BAD", "Problem", "check_int_list", "check_scalar", "field_names", "format_value",
           "is_int_list", "kind_of", "number_text", "type_hints"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a configuration.

    `path` is the dotted field path (`loss.stft.hop_sizes[1]`, `epochs`; empty for the file as a
    whole), `message` says what is allowed, and `value` is the offending value as text (None when
    the problem is not about one value). `str(problem)` gives the full line:
    `loss.stft.hop_sizes[1] = 300: must not exceed loss.stft.win_lengths[1] = 256`.
    """

    path: str
    message: str
    value: str | None = None

    def __str__(self) -> str:
        if self.value is not None:
            return f"{self.path} = {self.value}: {self.message}"
        if self.path:
            return f"{self.path}: {self.message}"
        return self.message


# --- value formatting ------------------------------------------------------------------------


def format_value(value: Any) -> str:
    """Render a value the way it would be written in the TOML file (repr-like, lists for tuples)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {format_value(v)}" for k, v in value.items()) + "}"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return f"<{type(value).__name__}>"
    try:
        return repr(value)
    except Exception:  # a broken __repr__ must not break validation
        return f"<{type(value).__name__}>"


def kind_of(value: Any) -> str:
    """What a value is, for messages: "an integer", "a list", "a table", ..."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict) or dataclasses.is_dataclass(value):
        return "a table"
    if value is None:
        return "empty"
    return f"a {type(value).__name__}"


def number_text(x: float) -> str:
    """A bound as a message shows it: integral floats without the ".0"."""
    return str(int(x)) if isinstance(x, float) and x.is_integer() and abs(x) < 1e15 else repr(x)


# --- schema from the dataclasses ---------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def type_hints(cls: type) -> dict[str, Any]:
    """Field name -> declared type of a config dataclass (cached)."""
    return typing.get_type_hints(cls)


def is_int_list(t: Any) -> bool:
    """Whether a declared type is a list of ints (`tuple[int, ...]`)."""
    return typing.get_origin(t) is tuple


def field_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


# --- type checks -------------------------------------------------------------------------------

BAD = object()  # what a check returns for a value of the wrong type


def check_scalar(path: str, t: Any, value: Any, problems: list[Problem]) -> Any:
    """`value` checked against the scalar type `t` (ints widened to float), or BAD."""
    if t is bool:
        if isinstance(value, bool):
            return value
        problems.append(Problem(path, f"must be true or false, not {kind_of(value)}", format_value(value)))
        return BAD
    if t is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        problems.append(Problem(path, f"must be an integer, not {kind_of(value)}", format_value(value)))
        return BAD
    if t is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                value = float(value)
            except OverflowError:
                problems.append(Problem(path, "is too large", format_value(value)))
                return BAD
            if not math.isfinite(value):
                problems.append(Problem(path, "must be finite", format_value(value)))
                return BAD
            return value
        problems.append(Problem(path, f"must be a number, not {kind_of(value)}", format_value(value)))
        return BAD
    if t is str:
        if isinstance(value, str):
            return value
        problems.append(Problem(path, f"must be a string, not {kind_of(value)}", format_value(value)))
        return BAD
    return value  # no other field types exist today


def check_int_list(path: str, value: Any, problems: list[Problem]) -> Any:
    """Type-check a list of positive ints; bad entries become None so relations can skip them."""
    if not isinstance(value, (list, tuple)):
        problems.append(Problem(path, f"must be a list of integers, not {kind_of(value)}",
                                format_value(value)))
        return BAD
    if not value:
        problems.append(Problem(path, "must hold at least one resolution", format_value(value)))
        return BAD
    out: list[int | None] = []
    for i, item in enumerate(value):
        item_path = f"{path}[{i}]"
        if isinstance(item, bool) or not isinstance(item, int):
            problems.append(Problem(item_path, f"must be an integer, not {kind_of(item)}",
                                    format_value(item)))
            out.append(None)
        elif item < 1:
            problems.append(Problem(item_path, "must be a positive integer", format_value(item)))
            out.append(None)
        else:
            out.append(item)
    return tuple(out)
