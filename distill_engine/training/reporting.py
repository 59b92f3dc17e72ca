"""Plain-text lines for events, shared by the terminal (`distill-train`) and the desktop log."""
from __future__ import annotations

import math

from .events import PHASES, WEIGHTED_TERMS, EpochMetrics, describe, metric_names, term_fields


def fmt_loss(value: float) -> str:
    """A loss value with 4 decimals, or 'n/a' when not available (NaN)."""
    return "n/a" if not math.isfinite(value) else f"{value:.4f}"


def format_duration(seconds: float) -> str:
    """'1h 02m', '3m 05s' or '12s'."""
    if not math.isfinite(seconds) or seconds < 0:
        return "n/a"
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds}s"


def format_epoch_line(e) -> str:
    """One line per epoch with every labelled field of the schema (EpochMetrics metadata): per
    phase its total and terms, e.g. `train 1.2345 (stft … mag … if … kl …)`, then the other
    labelled figures (`mrstft …`, `kl-raw …`, `eta 3m 05s`)."""
    parts = [f"epoch {e.epoch:>4}/{e.total_epochs}"]
    for phase in PHASES:
        terms = term_fields(EpochMetrics, phase)
        total = terms.pop("total", None)
        inner = " ".join(f"{describe(EpochMetrics, terms[t])['label']} {fmt_loss(getattr(e, terms[t]))}"
                         for t in WEIGHTED_TERMS if t in terms and describe(EpochMetrics, terms[t])["label"])
        if total is not None:
            parts.append(f"{describe(EpochMetrics, total)['label']} {fmt_loss(getattr(e, total))}"
                         + (f" ({inner})" if inner else ""))
    others = [n for n in metric_names(EpochMetrics) if describe(EpochMetrics, n)["kind"] != "loss"]
    for name in sorted(others, key=lambda n: describe(EpochMetrics, n)["kind"] == "progress"):
        info = describe(EpochMetrics, name)   # measures, then progress (the ETA last)
        if info["label"]:
            value = getattr(e, name)
            parts.append(f"{info['label']} {format_duration(value) if info['unit'] == 's' else fmt_loss(value)}")
    return "  ".join(parts)


def monitored_name(field_name: str) -> str:
    """What a monitored EpochMetrics field is called in a sentence: "validation loss" for the
    validation total, "training loss" for the training total, else the field with spaces."""
    for phase, words in (("val", "validation loss"), ("train", "training loss")):
        if term_fields(EpochMetrics, phase).get("total") == field_name:
            return words
    return field_name.replace("_", " ")


def format_divergence(e) -> str:
    """What diverged: the streak's epochs and losses, the spike and its reference, or the non-finite steps."""
    losses = " -> ".join(fmt_loss(v) for v in e.streak_losses)
    name = monitored_name(e.monitored)
    rule = getattr(e, "rule", "rising")
    if rule == "spike":
        where = f"at step {e.step} (epoch {e.epoch})" if e.per == "step" else f"in epoch {e.epoch}"
        ratio = e.streak_losses[-1] / e.reference_loss if e.reference_loss else float("inf")
        return (f"The {name} jumped to {fmt_loss(e.streak_losses[-1])} {where}: {ratio:.3g}x its recent median "
                f"{fmt_loss(e.reference_loss)} (the spike factor is {e.factor:g}).")
    if rule == "non-finite":
        return f"The training loss or gradient was not finite for several consecutive steps (up to step {e.step})."
    return (f"The {name} has risen for {e.patience} consecutive epochs "
            f"(epochs {e.streak_epochs[0]}-{e.streak_epochs[-1]}: {losses}).")
