"""Default run names that tell runs apart: the corpus, the learning rate and the start time.

Every run used to be named after its corpus folder, so a list of runs on one corpus read the same
name over and over. The default is now "<corpus> · lr <rate> · <HH:MM>", e.g. "kicks · lr 3e-3 ·
14:05": the corpus says what was trained, the rate is the value people change most between runs,
and the time separates runs with the same rate. A person's own name (the window's Name field,
`distill-train --name`) replaces it.
"""
from __future__ import annotations

import time
from pathlib import Path


def short_number(value: float) -> str:
    """A learning rate as people write it: 0.001 -> "1e-3", 0.0003 -> "3e-4", 0.05 -> "0.05"."""
    if value == 0 or 1e-2 <= abs(value) < 1e4:
        return f"{value:g}"
    mantissa, exponent = f"{value:.1e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def default_run_name(corpus_folder, learning_rate: float, started: float | None = None) -> str:
    """The name of a run nobody named: "<corpus folder name> · lr <rate> · <HH:MM local time>"."""
    corpus = Path(str(corpus_folder)).name or "run"
    clock = time.strftime("%H:%M", time.localtime(started if started is not None else time.time()))
    return f"{corpus} · lr {short_number(learning_rate)} · {clock}"
