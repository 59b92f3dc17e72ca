"""Validation of training configurations: every problem, with its dotted path, in one pass.

`validate(config)` checks a `TrainingConfig` that may hold wrong-typed values (the desktop editor
sets fields from text boxes) and never raises. `build_config(data)` turns a plain dict (parsed TOML
or JSON) into a `TrainingConfig`, reporting unknown keys and misplaced tables; the values it cannot
convert are kept as they are so that `validate` reports them.

The schema (field names, types, defaults) is read from the dataclasses in `config.py` and the
per-field type checks live in `field_types.py`; the rules below add the allowed ranges and the
relations between fields.
"""
from __future__ import annotations

import dataclasses
import difflib
import re
from typing import Any, Callable

from .field_types import (BAD, Problem, check_int_list, check_scalar, field_names, format_value,
                           is_int_list, kind_of, number_text, type_hints)
from ..errors import DistillError

__all__ = ["ConfigError", "Problem", "build_config", "format_value", "validate"]


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


# --- dict -> dataclass tree --------------------------------------------------------------------


def _unknown_key(cls: type, prefix: str, key: str, value: Any) -> Problem:
    names = field_names(cls)
    table = prefix.rstrip(".")
    what = f"known fields of {table} are" if table else "known top-level fields are"
    message = f"unknown field; {what} {', '.join(names)}"
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
    if close:
        message += f"; did you mean {close[0]}?"
    return Problem(prefix + key, message, format_value(value))


def build_config(data: Any, cls: type | None = None) -> tuple[Any, list[Problem]]:
    """Build a config dataclass tree from a plain dict; missing keys take their defaults.

    Returns the config and the structural problems (unknown keys, a scalar where a table belongs,
    a top level that is not a table). Ints in float fields become floats and lists become tuples;
    any other value is kept unchanged for `validate` to judge.
    """
    if cls is None:
        from .schema import TrainingConfig

        cls = TrainingConfig
    problems: list[Problem] = []
    if not isinstance(data, dict):
        problems.append(Problem("", f"the configuration must be a table of fields, not {kind_of(data)}"))
        return cls(), problems
    return _build(cls, data, "", problems), problems


def _build(cls: type, data: dict, prefix: str, problems: list[Problem]) -> Any:
    hints = type_hints(cls)
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
                    Problem(path, f"must be a table [{path}] with fields {', '.join(field_names(t))}",
                            format_value(value))
                )
        elif t is float and type(value) is int:
            try:
                kwargs[key] = float(value)
            except OverflowError:
                kwargs[key] = value
        elif is_int_list(t) and isinstance(value, list):
            kwargs[key] = tuple(value)
        else:
            kwargs[key] = value
    return cls(**kwargs)


# --- validation --------------------------------------------------------------------------------


def validate(config: Any) -> list[Problem]:
    """Every problem of `config` (a TrainingConfig, possibly holding wrong-typed values).

    An empty list means the config is valid. Never raises.
    """
    problems: list[Problem] = []
    try:
        from .schema import TrainingConfig

        if not isinstance(config, TrainingConfig):
            return [Problem("", f"expected a TrainingConfig, got {type(config).__name__}")]
        good: dict[str, Any] = {}
        _check_tree(config, TrainingConfig, "", problems, good)
        _check_relations(good, problems)
    except Exception as exc:  # pragma: no cover - a validator bug must not crash the editor
        problems.append(Problem("", f"internal validator error: {type(exc).__name__}: {exc}"))
    return problems


def _check_tree(obj: Any, cls: type, prefix: str, problems: list[Problem], good: dict) -> None:
    hints = type_hints(cls)
    for name in field_names(cls):
        path = prefix + name
        t = hints[name]
        value = getattr(obj, name, BAD)
        if value is BAD:
            problems.append(Problem(path, "is missing"))
            continue
        if dataclasses.is_dataclass(t):
            if isinstance(value, t):
                _check_tree(value, t, path + ".", problems, good)
            else:
                problems.append(Problem(path, f"must be a table [{path}], not {kind_of(value)}",
                                        format_value(value)))
            continue
        if is_int_list(t):
            checked = check_int_list(path, value, problems)
        else:
            checked = check_scalar(path, t, value, problems)
        if checked is BAD:
            continue
        rule = _RULES.get(path)
        if rule is None or rule(path, checked, problems):
            good[path] = checked


# Range rules, applied to values of the right type. Each returns True when the value is valid.
Rule = Callable[[str, Any, list], bool]


def _range(lo: float | None = None, hi: float | None = None, lo_open: bool = False,
           hi_open: bool = False) -> Rule:
    if lo is not None and hi is not None:
        text = f"must be between {number_text(lo)} and {number_text(hi)}"
        if hi_open:
            text = f"must be at least {number_text(lo)} and less than {number_text(hi)}"
    elif lo is not None:
        text = f"must be greater than {number_text(lo)}" if lo_open else f"must be at least {number_text(lo)}"
    else:
        text = f"must be at most {number_text(hi)}"

    def rule(path: str, v: Any, problems: list) -> bool:
        ok = ((lo is None or (v > lo if lo_open else v >= lo))
              and (hi is None or (v < hi if hi_open else v <= hi)))
        if not ok:
            problems.append(Problem(path, text, format_value(v)))
        return ok

    return rule


def _within(lo: float, hi: float, lo_open: bool = False) -> Rule:
    """A lower bound, then an upper one, each with its own message ("must be at least 1", "must
    be at most 4096"): the upper bounds keep values that would fail later out of a run."""
    low, high = _range(lo, lo_open=lo_open), _range(hi=hi)
    return lambda path, v, problems: low(path, v, problems) and high(path, v, problems)


def _power_of_two(path: str, v: int, problems: list) -> bool:
    if v >= 16 and v & (v - 1) == 0:
        return True
    problems.append(Problem(path, "must be a power of two of at least 16 (e.g. 512, 1024, 2048)",
                            format_value(v)))
    return False


def _spike_factor(path: str, v: float, problems: list) -> bool:
    if v == 0 or v > 1:
        return True
    problems.append(Problem(path, "must be 0 (off) or greater than 1 (a multiple of the recent median loss)",
                            format_value(v)))
    return False


_DEVICE_RE = re.compile(r"(auto|cpu|cuda|mps|cuda:\d+)")


def _device(path: str, v: str, problems: list) -> bool:
    if _DEVICE_RE.fullmatch(v):
        return True
    problems.append(Problem(path, 'must be one of "auto", "cpu", "cuda", "mps" or "cuda:N" '
                                  '(e.g. "cuda:1")', format_value(v)))
    return False


#: The STFT sizes of the validation MR-STFT distance (training.trainer.DISTANCE_RESOLUTIONS).
DISTANCE_FFT_SIZES = (512, 1024, 2048)

_NON_NEGATIVE = _range(0)
_POSITIVE = _range(0, lo_open=True)
_AT_LEAST_1 = _range(1)

#: Upper bounds: beyond them a value is a typo, or runs out of memory/precision later (an epoch
#: count past 1e6 makes step numbers SQLite cannot store, a seed past 2^32 overflows torch's seed).
MAX_EPOCHS = 1_000_000
MAX_SEED = 2 ** 32 - 1
MAX_LATENT_DIM = 4096
MAX_CHUNK_SECONDS = 60.0
MAX_FFT = 65536

_RULES: dict[str, Rule] = {
    "epochs": _within(1, MAX_EPOCHS),
    "batch_size": _within(1, 4096),
    "learning_rate": _within(0, 10, lo_open=True),
    "weight_decay": _within(0, 10),
    "grad_clip_norm": _POSITIVE,
    "latent_dim": _within(1, MAX_LATENT_DIM),
    "dropout": _range(0, 1, hi_open=True),
    "validation_fraction": _range(0, 0.9),
    "seed": _within(0, MAX_SEED),
    "device": _device,
    "chunk_duration": _within(0, MAX_CHUNK_SECONDS, lo_open=True),
    "max_file_seconds": _within(1, 86_400),
    "checkpoint_interval_s": _within(0, 1e9),
    "checkpoints_kept": _within(1, 10_000),
    "divergence_patience": _within(0, MAX_EPOCHS),
    "divergence_spike_factor": _spike_factor,
    "divergence_spike_window": _within(1, 1_000_000),
    "log_interval_steps": _within(1, 1_000_000),
    "preview_interval_s": _within(0, 1e9),
    "representation.sample_rate": _range(4000, 192000),
    "representation.n_fft": _power_of_two,
    "representation.hop_length": _AT_LEAST_1,
    "loss.stft.weight": _NON_NEGATIVE,
    "loss.stft.fft_sizes": lambda path, v, problems: _each(path, v, problems, _within(16, MAX_FFT)),
    "loss.stft.hop_sizes": lambda path, v, problems: _each(path, v, problems, _within(1, MAX_FFT)),
    "loss.stft.win_lengths": lambda path, v, problems: _each(path, v, problems, _within(1, MAX_FFT)),
    "loss.reconstruction.weight": _NON_NEGATIVE,
    "loss.reconstruction.magnitude_weight": _NON_NEGATIVE,
    "loss.reconstruction.if_weight": _NON_NEGATIVE,
    "loss.level.weight": _NON_NEGATIVE,
    "loss.kl.weight_max": _NON_NEGATIVE,
    "loss.kl.warmup_fraction": _range(0, 1),
    "loss.kl.free_bits": _NON_NEGATIVE,
}


def _each(path: str, values: tuple, problems: list, rule: Rule) -> bool:
    """Apply `rule` to each entry of a checked list (None entries were already reported)."""
    ok = [rule(f"{path}[{i}]", v, problems) for i, v in enumerate(values) if v is not None]
    return all(ok)


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
            f"({number_text(chunk * sr)} samples); must be at least {n_fft / sr!r} s",
            format_value(chunk),
        ))

    fft_sizes = [f for f in good.get("loss.stft.fft_sizes") or () if f is not None]
    fits_n_fft = n_fft is None or (chunk is not None and sr is not None and chunk * sr >= n_fft)
    if chunk is not None and sr is not None and fft_sizes and fits_n_fft:
        # every STFT (loss resolutions, and the validation distance up to 2048) pads its input
        # by half its size on each side: the chunk must be longer than that padding
        need = max([*fft_sizes, *DISTANCE_FFT_SIZES]) // 2 + 1
        if chunk * sr < need:
            problems.append(Problem(
                "chunk_duration",
                f"too short for the STFTs ({number_text(chunk * sr)} samples at {sr} Hz; the largest "
                f"STFT size {2 * (need - 1)} needs at least {need} samples); must be at least "
                f"{need / sr:.4g} s", format_value(chunk)))

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
