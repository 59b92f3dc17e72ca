"""What resampling to the training rate removes: the energy above the training Nyquist, measured.

A file recorded at 44.1 kHz and trained at 16 kHz loses everything above 8 kHz. For a kick drum
that is next to nothing; for a hi-hat or a cymbal it is most of the sound. So the corpus report
measures, per file, the share of the file's energy that lies above the new Nyquist frequency (from
its spectrum at its own rate) and warns when that share is significant: at least `AUDIBLE_LOSS_DB`
(1 % of the energy) relative to the whole file. Measured at 16 kHz (benchmarks/measure_band_loss.py,
shared recordings): most speech and desktop chimes lose -23 to -80 dB (not warned); an alarm
clock, a camera shutter, a trash-can rustle and noise-like hats and rides lose -0 to -9 dB, a
speech take with a hissy top -13 dB (warned).
"""
from __future__ import annotations

import math

import numpy as np

AUDIBLE_LOSS_DB = -20.0  # a removed band holding >= 1 % of the energy is heard as duller audio
_MAX_ANALYSED = 1 << 21  # at most ~2 M samples go through one FFT (48 s at 44.1 kHz); longer: a strided view


def energy_above_db(mono: np.ndarray, rate: int, target_rate: int) -> float | None:
    """The energy above `target_rate / 2` as dB relative to the whole signal's energy (None when
    nothing is removed: no downsampling, or a silent signal)."""
    if target_rate >= rate or mono.size == 0:
        return None
    samples = np.asarray(mono, dtype=np.float64)
    if samples.size > _MAX_ANALYSED:  # evenly spaced blocks stand for the whole file
        block = 1 << 16
        starts = np.linspace(0, samples.size - block, _MAX_ANALYSED // block).astype(np.int64)
        samples = np.concatenate([samples[s:s + block] for s in starts])
    window = np.hanning(samples.size) if samples.size > 1 else np.ones(1)
    power = np.abs(np.fft.rfft(samples * window)) ** 2
    freqs = np.fft.rfftfreq(samples.size, 1.0 / rate)
    total = float(power[1:].sum())  # DC is no sound
    if total <= 0 or not math.isfinite(total):
        return None
    removed = float(power[freqs > target_rate / 2].sum())
    return 10 * math.log10(removed / total) if removed > 0 else None


def is_audible_loss(loss_db: float | None) -> bool:
    return loss_db is not None and math.isfinite(loss_db) and loss_db >= AUDIBLE_LOSS_DB


def share_text(loss_db: float) -> str:
    """A removed share in words a person reads at once: -0.4 dB -> "91 %", -27 dB -> "0.2 %"."""
    percent = 100 * 10 ** (loss_db / 10)
    if percent >= 9.5:
        return f"{percent:.0f} %"
    return f"{percent:.1f} %" if percent >= 0.95 else f"{percent:.1g} %"


def audible_losses(report) -> list[tuple[str, float]]:
    """(path, dB removed) of the report's used files whose resampling removed audible content."""
    return [(u.path, u.removed_db) for u in report.used if is_audible_loss(u.removed_db)]


def rate_counts(report) -> list[tuple[int, int]]:
    """(sample rate, number of used files) of the report, the most common rate first."""
    counts: dict[int, int] = {}
    for u in report.used:
        if u.source_rate:
            counts[u.source_rate] = counts.get(u.source_rate, 0) + 1
    return sorted(counts.items(), key=lambda item: (-item[1], -item[0]))


def rates_line(report) -> str:
    """"44100 Hz (3 files), 8000 Hz (1 file); trained at 16000 Hz" ("" for a report without rates)."""
    counts = rate_counts(report)
    if not counts:
        return ""
    files = ", ".join(f"{rate} Hz ({n} file{'s' if n != 1 else ''})" for rate, n in counts)
    return f"files at {files}; trained at {report.sample_rate} Hz"


def loss_warning(report, name=lambda path: path, most: int = 3) -> str:
    """The warning that resampling removes audible content ("" when it removes none)."""
    losses = sorted(audible_losses(report), key=lambda item: -item[1])
    if not losses:
        return ""
    shown = ", ".join(f"{name(path)} ({share_text(db)} of its energy)" for path, db in losses[:most])
    more = f" and {len(losses) - most} more" if len(losses) > most else ""
    n = len(losses)
    return (f"Resampling to {report.sample_rate} Hz removes audible content above {report.sample_rate / 2:g} Hz "
            f"from {n} file{'s' if n != 1 else ''}: {shown}{more}. Choose a higher sample rate (the "
            f"\"full band (44.1 kHz)\" preset) to keep it.")


def resampling_lines(report) -> list[str]:
    """The report's lines about sample rates, for CorpusReport.render."""
    lines = [f"  {line}" for line in (rates_line(report),) if line]
    warning = loss_warning(report, name=lambda path: report._relative(path))
    return lines + ([f"  warning: {warning}"] if warning else [])
