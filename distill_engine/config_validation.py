"""Validation of training configurations: every problem, with its dotted path, in one pass.

`validate(config)` checks a `TrainingConfig` that may hold wrong-typed values (the desktop editor
sets fields from text boxes) and never raises. `build_config(data)` turns a plain dict (parsed TOML
or JSON) into a `TrainingConfig`, reporting unknown keys and misplaced tables; the values it cannot
convert are kept as they are so that `validate` reports them.

The schema (field names, types, defaults) is read from the dataclasses in `config.py`; the rules
below add the allowed ranges and the relations between fields.
"""
from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import re
import typing
from dataclasses import dataclass
from typing import Any, Callable

from .errors import DistillError

__all__ = ["ConfigError", "Problem", "build_config", "format_value", "validate"]


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


class ConfigError(DistillError):
    """A configuration cannot be used; `.problems` lists everything that is wrong."""

    def __init__(self, problems: list[Problem], source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        prefix = f"{source}: " if source else ""
        lines = [f"{prefix}{p}" for p in self.problems] or [f"{prefix}invalid configuration"]
        super().__init__("\n".join(lines))

    def __reduce__(self):  # keep .problems when pickled (e.g. across worker processes)
        return (type(self), (self.problems, self.source))


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


def _kind(value: Any) -> str:
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


def _num(x: float) -> str:
    return str(int(x)) if isinstance(x, float) and x.is_integer() and abs(x) < 1e15 else repr(x)


# --- schema from the dataclasses ---------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _is_int_list(t: Any) -> bool:
    return typing.get_origin(t) is tuple


def _field_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _unknown_key(cls: type, prefix: str, key: str, value: Any) -> Problem:
    names = _field_names(cls)
    table = prefix.rstrip(".")
    what = f"known fields of {table} are" if table else "known top-level fields are"
    message = f"unknown field; {what} {', '.join(names)}"
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
    if close:
        message += f"; did you mean {close[0]}?"
    return Problem(prefix + key, message, format_value(value))


# --- dict -> dataclass tree --------------------------------------------------------------------


def build_config(data: Any, cls: type | None = None) -> tuple[Any, list[Problem]]:
    """Build a config dataclass tree from a plain dict; missing keys take their defaults.

    Returns the config and the structural problems (unknown keys, a scalar where a table belongs,
    a top level that is not a table). Ints in float fields become floats and lists become tuples;
    any other value is kept unchanged for `validate` to judge.
    """
    if cls is None:
        from .config import TrainingConfig

        cls = TrainingConfig
    problems: list[Problem] = []
    if not isinstance(data, dict):
        problems.append(Problem("", f"the configuration must be a table of fields, not {_kind(data)}"))
        return cls(), problems
    return _build(cls, data, "", problems), problems


def _build(cls: type, data: dict, prefix: str, problems: list[Problem]) -> Any:
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        key = str(key)
        if key not in hints:
            problems.append(_unknown_key(cls, prefix, key, value))
            continue
        t = hints[key]
        path = prefix + key
        if dataclasses.is_dataclass(t):
            if isinstance(value, dict):
                kwargs[key] = _build(t, value, path + ".", problems)
            else:
                problems.append(
                    Problem(path, f"must be a table [{path}] with fields {', '.join(_field_names(t))}",
                            format_value(value))
                )
        elif t is float and type(value) is int:
            try:
                kwargs[key] = float(value)
            except OverflowError:
                kwargs[key] = value
        elif _is_int_list(t) and isinstance(value, list):
            kwargs[key] = tuple(value)
        else:
            kwargs[key] = value
    return cls(**kwargs)


# --- validation --------------------------------------------------------------------------------

_BAD = object()


def validate(config: Any) -> list[Problem]:
    """Every problem of `config` (a TrainingConfig, possibly holding wrong-typed values).

    An empty list means the config is valid. Never raises.
    """
    problems: list[Problem] = []
    try:
        from .config import TrainingConfig

        if not isinstance(config, TrainingConfig):
            return [Problem("", f"expected a TrainingConfig, got {type(config).__name__}")]
        good: dict[str, Any] = {}
        _check_tree(config, TrainingConfig, "", problems, good)
        _check_relations(good, problems)
    except Exception as exc:  # pragma: no cover - a validator bug must not crash the editor
        problems.append(Problem("", f"internal validator error: {type(exc).__name__}: {exc}"))
    return problems


def _check_tree(obj: Any, cls: type, prefix: str, problems: list[Problem], good: dict) -> None:
    hints = _hints(cls)
    for name in _field_names(cls):
        path = prefix + name
        t = hints[name]
        value = getattr(obj, name, _BAD)
        if value is _BAD:
            problems.append(Problem(path, "is missing"))
            continue
        if dataclasses.is_dataclass(t):
            if isinstance(value, t):
                _check_tree(value, t, path + ".", problems, good)
            else:
                problems.append(Problem(path, f"must be a table [{path}], not {_kind(value)}",
                                        format_value(value)))
            continue
        if _is_int_list(t):
            checked = _check_int_list(path, value, problems)
        else:
            checked = _check_scalar(path, t, value, problems)
        if checked is _BAD:
            continue
        rule = _RULES.get(path)
        if rule is None or rule(path, checked, problems):
            good[path] = checked


def _check_scalar(path: str, t: Any, value: Any, problems: list[Problem]) -> Any:
    if t is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        problems.append(Problem(path, f"must be an integer, not {_kind(value)}", format_value(value)))
        return _BAD
    if t is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                value = float(value)
            except OverflowError:
                problems.append(Problem(path, "is too large", format_value(value)))
                return _BAD
            if not math.isfinite(value):
                problems.append(Problem(path, "must be finite", format_value(value)))
                return _BAD
            return value
        problems.append(Problem(path, f"must be a number, not {_kind(value)}", format_value(value)))
        return _BAD
    if t is str:
        if isinstance(value, str):
            return value
        problems.append(Problem(path, f"must be a string, not {_kind(value)}", format_value(value)))
        return _BAD
    return value  # no other field types exist today


def _check_int_list(path: str, value: Any, problems: list[Problem]) -> Any:
    """Type-check a list of positive ints; bad entries become None so relations can skip them."""
    if not isinstance(value, (list, tuple)):
        problems.append(Problem(path, f"must be a list of integers, not {_kind(value)}",
                                format_value(value)))
        return _BAD
    if not value:
        problems.append(Problem(path, "must hold at least one resolution", format_value(value)))
        return _BAD
    out: list[int | None] = []
    for i, item in enumerate(value):
        item_path = f"{path}[{i}]"
        if isinstance(item, bool) or not isinstance(item, int):
            problems.append(Problem(item_path, f"must be an integer, not {_kind(item)}",
                                    format_value(item)))
            out.append(None)
        elif item < 1:
            problems.append(Problem(item_path, "must be a positive integer", format_value(item)))
            out.append(None)
        else:
            out.append(item)
    return tuple(out)


# Range rules, applied to values of the right type. Each returns True when the value is valid.
Rule = Callable[[str, Any, list], bool]


def _range(lo: float | None = None, hi: float | None = None, lo_open: bool = False,
           hi_open: bool = False) -> Rule:
    if lo is not None and hi is not None:
        text = f"must be between {_num(lo)} and {_num(hi)}"
        if hi_open:
            text = f"must be at least {_num(lo)} and less than {_num(hi)}"
    elif lo is not None:
        text = f"must be greater than {_num(lo)}" if lo_open else f"must be at least {_num(lo)}"
    else:
        text = f"must be at most {_num(hi)}"

    def rule(path: str, v: Any, problems: list) -> bool:
        ok = ((lo is None or (v > lo if lo_open else v >= lo))
              and (hi is None or (v < hi if hi_open else v <= hi)))
        if not ok:
            problems.append(Problem(path, text, format_value(v)))
        return ok

    return rule


def _power_of_two(path: str, v: int, problems: list) -> bool:
    if v >= 16 and v & (v - 1) == 0:
        return True
    problems.append(Problem(path, "must be a power of two of at least 16 (e.g. 512, 1024, 2048)",
                            format_value(v)))
    return False


_DEVICE_RE = re.compile(r"(auto|cpu|cuda|mps|cuda:\d+)")


def _device(path: str, v: str, problems: list) -> bool:
    if _DEVICE_RE.fullmatch(v):
        return True
    problems.append(Problem(path, 'must be one of "auto", "cpu", "cuda", "mps" or "cuda:N" '
                                  '(e.g. "cuda:1")', format_value(v)))
    return False


_NON_NEGATIVE = _range(0)
_POSITIVE = _range(0, lo_open=True)
_AT_LEAST_1 = _range(1)

_RULES: dict[str, Rule] = {
    "epochs": _AT_LEAST_1,
    "batch_size": _AT_LEAST_1,
    "learning_rate": _POSITIVE,
    "weight_decay": _NON_NEGATIVE,
    "grad_clip_norm": _POSITIVE,
    "latent_dim": _AT_LEAST_1,
    "dropout": _range(0, 1, hi_open=True),
    "validation_fraction": _range(0, 0.9),
    "seed": _NON_NEGATIVE,
    "device": _device,
    "chunk_duration": _POSITIVE,
    "checkpoint_interval_s": _NON_NEGATIVE,
    "checkpoints_kept": _AT_LEAST_1,
    "divergence_patience": _NON_NEGATIVE,
    "log_interval_steps": _AT_LEAST_1,
    "representation.sample_rate": _range(4000, 192000),
    "representation.n_fft": _power_of_two,
    "representation.hop_length": _AT_LEAST_1,
    "loss.stft.weight": _NON_NEGATIVE,
    "loss.reconstruction.weight": _NON_NEGATIVE,
    "loss.reconstruction.magnitude_weight": _NON_NEGATIVE,
    "loss.reconstruction.if_weight": _NON_NEGATIVE,
    "loss.kl.weight_max": _NON_NEGATIVE,
    "loss.kl.warmup_fraction": _range(0, 1),
    "loss.kl.free_bits": _NON_NEGATIVE,
}


def _check_relations(good: dict[str, Any], problems: list[Problem]) -> None:
    """Rules between fields; each is checked only when the fields it reads are valid."""
    hop, n_fft = good.get("representation.hop_length"), good.get("representation.n_fft")
    if hop is not None and n_fft is not None and hop > n_fft:
        problems.append(Problem("representation.hop_length",
                                f"must not exceed representation.n_fft = {n_fft}", format_value(hop)))

    chunk, sr = good.get("chunk_duration"), good.get("representation.sample_rate")
    if chunk is not None and sr is not None and n_fft is not None and chunk * sr < n_fft:
        problems.append(Problem(
            "chunk_duration",
            f"too short to hold one representation.n_fft = {n_fft} window at {sr} Hz "
            f"({_num(chunk * sr)} samples); must be at least {n_fft / sr!r} s",
            format_value(chunk),
        ))

    weights = [good.get(p) for p in ("loss.stft.weight", "loss.reconstruction.weight",
                                     "loss.kl.weight_max")]
    if all(w is not None for w in weights) and sum(weights) <= 0:
        problems.append(Problem("loss", "stft.weight + reconstruction.weight + kl.weight_max is 0; "
                                        "at least one loss weight must be greater than 0"))

    s = "loss.stft."
    fft, hops, wins = good.get(s + "fft_sizes"), good.get(s + "hop_sizes"), good.get(s + "win_lengths")
    if fft is not None:
        for name, lst in (("hop_sizes", hops), ("win_lengths", wins)):
            if lst is not None and len(lst) != len(fft):
                problems.append(Problem(
                    s + name,
                    f"has {len(lst)} entries but {s}fft_sizes has {len(fft)}; "
                    "each resolution needs one fft size, hop size and window length",
                    format_value(lst),
                ))
    if hops is not None and wins is not None:
        for i, (h, w) in enumerate(zip(hops, wins)):
            if h is not None and w is not None and h > w:
                problems.append(Problem(f"{s}hop_sizes[{i}]",
                                        f"must not exceed {s}win_lengths[{i}] = {w}", format_value(h)))
    if wins is not None and fft is not None:
        for i, (w, f) in enumerate(zip(wins, fft)):
            if w is not None and f is not None and w > f:
                problems.append(Problem(f"{s}win_lengths[{i}]",
                                        f"must not exceed {s}fft_sizes[{i}] = {f}", format_value(w)))
