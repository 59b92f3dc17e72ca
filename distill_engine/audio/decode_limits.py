"""Bounds on what one audio file may cost to decode, checked from its header before any sample is
read (shared/DESIGN.md: untrusted bytes are parsed with bounds).

A 1,280-byte float WAV that declares a 1 Hz sample rate would be resampled to 16 kHz into ~1 GB;
a header can declare hours of audio or hundreds of channels. So: the declared sample rate must lie
in MIN_SAMPLE_RATE..MAX_SAMPLE_RATE, the declared duration within the config's max_file_seconds,
the channel count within MAX_CHANNELS; the samples are read in blocks and mixed to mono as they
come, so memory follows the mono signal, not channels x frames. Finite but absurd values (a float
file peaking at 5e29) are refused too: they make every loss they touch non-finite.
"""
from __future__ import annotations

import numpy as np
import soundfile as sf

MIN_SAMPLE_RATE = 4_000
MAX_SAMPLE_RATE = 768_000
MAX_CHANNELS = 64
#: A sample beyond +-MAX_PEAK (60 dB above digital full scale) means the file is not audio.
MAX_PEAK = 1000.0
_BLOCK_FRAMES = 1 << 16


class DecodeRefused(Exception):
    """The file cannot be used, for the reason in the message (the loader's skip reason)."""


def check_header(sound: sf.SoundFile, max_seconds: float) -> None:
    """DecodeRefused when the declared rate, channels or duration is out of bounds."""
    rate, channels, frames = sound.samplerate, sound.channels, sound.frames
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise DecodeRefused(f"declares a sample rate of {rate} Hz; Distill reads "
                            f"{MIN_SAMPLE_RATE // 1000}-{MAX_SAMPLE_RATE // 1000} kHz audio "
                            f"(a rate outside that is a damaged header or not audio)")
    if not 1 <= channels <= MAX_CHANNELS:
        raise DecodeRefused(f"declares {channels} channels; Distill reads 1 to {MAX_CHANNELS}")
    if frames / rate > max_seconds:
        raise DecodeRefused(f"is {frames / rate:.0f} s long, longer than max_file_seconds = "
                            f"{max_seconds:g} s; cut it into shorter files or raise "
                            f"max_file_seconds in the config")


def read_mono(sound: sf.SoundFile) -> tuple[np.ndarray, float]:
    """(the file's samples mixed to mono (channel mean), the largest |sample| of any channel), read
    block by block: memory is the mono signal plus one block. Frames beyond the declared count are
    not read."""
    mono = np.empty(sound.frames, dtype=np.float32)
    filled, channel_peak = 0, 0.0
    while filled < len(mono):
        block = sound.read(min(_BLOCK_FRAMES, len(mono) - filled), dtype="float32", always_2d=True)
        if block.shape[0] == 0:
            break
        mono[filled:filled + block.shape[0]] = block.mean(axis=1, dtype=np.float32)
        channel_peak = max(channel_peak, float(np.max(np.abs(block))))
        filled += block.shape[0]
    return mono[:filled], channel_peak


def check_values(mono: np.ndarray) -> float:
    """The peak |sample|; DecodeRefused for NaN/inf or absurd (beyond MAX_PEAK) samples."""
    peak = float(np.max(np.abs(mono))) if len(mono) else 0.0
    if not np.isfinite(peak):
        raise DecodeRefused("contains NaN/inf samples")
    if peak > MAX_PEAK:
        raise DecodeRefused(f"has samples as large as {peak:.3g}; audio samples lie within -1..1 "
                            f"(a float file this far beyond it is damaged or not audio)")
    return peak
