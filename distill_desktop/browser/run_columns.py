"""The runs list's extra columns: the config values that differ between the listed runs, and the
run each one was started from (its parent: a roll back, a new run from a checkpoint).

Runs on one corpus differ in a few values (learning rate, batch size, ...); those are what tell
them apart, so each value that is not the same in every listed run becomes a column headed in the
config editor's words ("Learning rate", "KL · Weight max"). Values come from each run's
config.toml, read as plain TOML (no validation: a run from another version still lists).
"""
from __future__ import annotations

import math
import tomllib
from pathlib import Path

from distill_engine.config.schema import flatten_config
from distill_engine.runs.naming import short_number
from distill_engine.runs.schema import CONFIG_NAME

from ..panels.config_words import field_words

PARENT = "Parent"


def config_values(run_dir) -> dict[str, object]:
    """{dotted path: value} of a run's config.toml ({} when it is missing or unreadable)."""
    try:
        with open(Path(run_dir) / CONFIG_NAME, "rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError):
        return {}
    return {path: tuple(value) if isinstance(value, list) else value for path, value in flatten_config(data).items()}


#: the values people change most between runs come first; the others follow in config order
FIRST = ("learning_rate", "batch_size", "epochs", "representation.sample_rate", "latent_dim")


def differing_paths(values: list[dict[str, object]]) -> list[str]:
    """The paths whose value is not the same in every run that has a config (FIRST, then config order)."""
    known = [v for v in values if v]
    if len(known) < 2:
        return []
    order = list(dict.fromkeys(path for v in known for path in v))
    order.sort(key=lambda path: FIRST.index(path) if path in FIRST else len(FIRST))  # stable: config order
    return [path for path in order if len({repr(v.get(path)) for v in known}) > 1]


def header(path: str, taken: tuple[str, ...]) -> str:
    """The column title of a config path, never one of the `taken` titles ("Epochs" is the epochs done)."""
    words = field_words(path)
    return f"{words} (config)" if words in taken else words


def format_value(path: str, value) -> str:
    if value is None:
        return "—"
    if isinstance(value, tuple):
        return ", ".join(format_value(path, v) for v in value)
    if isinstance(value, float):
        return short_number(value) if path == "learning_rate" and math.isfinite(value) else f"{value:g}"
    return str(value)


def sort_value(value):
    """Numbers before text before missing, each in its own order."""
    if isinstance(value, bool) or value is None:
        return (2, str(value))
    if isinstance(value, (int, float)):
        return (0, float(value))
    return (1, str(value))


def parent_names(summaries) -> dict[Path, str]:
    """{run folder: its parent's name as listed (or the parent folder's name)} of runs with a parent."""
    names = {s.run_dir.resolve(): s.name for s in summaries}
    found = {}
    for s in summaries:
        parent = getattr(s, "parent_run", "")
        if parent:
            found[s.run_dir] = names.get(Path(parent).resolve(), Path(parent).name)
    return found
