"""Plain-text lines for events, shared by the terminal (`distill-train`) and the desktop log."""
from __future__ import annotations

import math


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
    """One line per epoch with every component, training and validation."""
    return (f"epoch {e.epoch:>4}/{e.total_epochs}  train {fmt_loss(e.train_loss)} (stft {fmt_loss(e.train_stft_loss)} "
            f"mag {fmt_loss(e.train_mag_recon_loss)} if {fmt_loss(e.train_if_recon_loss)} "
            f"kl {fmt_loss(e.train_kl_loss)})  val {fmt_loss(e.val_loss)} (stft {fmt_loss(e.val_stft_loss)} "
            f"mag {fmt_loss(e.val_mag_recon_loss)} if {fmt_loss(e.val_if_recon_loss)} kl {fmt_loss(e.val_kl_loss)})  "
            f"mrstft {fmt_loss(e.val_mrstft_distance)}  kl-raw {fmt_loss(e.kl_divergence)}  "
            f"eta {format_duration(e.eta_seconds)}")


def format_divergence(e) -> str:
    """What diverged: the streak's epochs and losses, the spike and its reference, or the non-finite steps."""
    losses = " -> ".join(fmt_loss(v) for v in e.streak_losses)
    name = "validation loss" if e.monitored == "val_loss" else "training loss"
    rule = getattr(e, "rule", "rising")
    if rule == "spike":
        where = f"at step {e.step} (epoch {e.epoch})" if e.monitored == "train_loss" else f"in epoch {e.epoch}"
        ratio = e.streak_losses[-1] / e.reference_loss if e.reference_loss else float("inf")
        return (f"The {name} jumped to {fmt_loss(e.streak_losses[-1])} {where}: {ratio:.3g}x its recent median "
                f"{fmt_loss(e.reference_loss)} (the spike factor is {e.factor:g}).")
    if rule == "non-finite":
        return f"The training loss or gradient was not finite for several consecutive steps (up to step {e.step})."
    return (f"The {name} has risen for {e.patience} consecutive epochs "
            f"(epochs {e.streak_epochs[0]}-{e.streak_epochs[-1]}: {losses}).")
