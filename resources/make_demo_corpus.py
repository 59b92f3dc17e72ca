"""Synthesise Distill's bundled demo corpus: ten small, varied sounds as 16 kHz mono 16-bit WAV files.

Usage: python resources/make_demo_corpus.py [OUTPUT_FOLDER]   (default: resources/demo_corpus)

Deterministic (fixed seed, numpy only), so running it again writes the same files.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import soundfile as sf

SAMPLE_RATE = 16000
SEED = 20240601


def _time(seconds: float) -> np.ndarray:
    return np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE


def _shape_spectrum(x: np.ndarray, gain) -> np.ndarray:
    """Filter x by multiplying its spectrum with gain(frequencies in Hz)."""
    freqs = np.fft.rfftfreq(len(x), 1 / SAMPLE_RATE)
    return np.fft.irfft(np.fft.rfft(x) * gain(freqs), n=len(x))


def _band(low: float, high: float, slope: float = 200.0):
    """A smooth band-pass gain curve between low and high Hz."""
    return lambda f: 1 / (1 + np.exp(-(f - low) / slope)) * 1 / (1 + np.exp((f - high) / slope))


def karplus_strong(rng, freq: float, seconds: float, decay: float = 0.996) -> np.ndarray:
    """Plucked string: a noise burst recirculating through an averaging delay line of one period."""
    period = int(round(SAMPLE_RATE / freq))
    n = int(seconds * SAMPLE_RATE)
    y = np.zeros(n + period + 1)
    y[:period + 1] = rng.uniform(-1, 1, period + 1)
    for start in range(period + 1, len(y), period):
        stop = min(start + period, len(y))
        y[start:stop] = decay * 0.5 * (y[start - period:stop - period] + y[start - period - 1:stop - period - 1])
    return y[period + 1:]


def bell(seconds: float = 3.0, base: float = 440.0) -> np.ndarray:
    """Inharmonic partials (church-bell ratios), the higher ones dying faster."""
    t = _time(seconds)
    partials = [(0.5, 1.0, 1.2), (1.0, 0.8, 1.6), (1.19, 0.5, 1.0), (1.56, 0.4, 0.8),
                (2.0, 0.35, 0.6), (2.51, 0.25, 0.4), (3.01, 0.2, 0.3), (4.1, 0.12, 0.2)]
    return sum(a * np.sin(2 * np.pi * base * r * t) * np.exp(-t / tau) for r, a, tau in partials)


def marimba(notes=(392.0, 523.25, 659.25, 523.25), step: float = 0.6) -> np.ndarray:
    """Wooden bar: a fundamental plus its 4th partial (ratio 3.93), struck every `step` seconds."""
    out = np.zeros(int((len(notes) * step + 0.4) * SAMPLE_RATE))
    t = _time(1.0)
    for i, f in enumerate(notes):
        tone = np.sin(2 * np.pi * f * t) * np.exp(-t / 0.35) + 0.3 * np.sin(2 * np.pi * 3.93 * f * t) * np.exp(-t / 0.06)
        start = int(i * step * SAMPLE_RATE)
        end = min(start + len(tone), len(out))
        out[start:end] += tone[:end - start]
    return out


def noise_burst(rng, seconds: float = 1.5) -> np.ndarray:
    """Band-passed noise swelling in and out (a breathy whoosh)."""
    t = _time(seconds)
    noise = _shape_spectrum(rng.standard_normal(len(t)), _band(600, 2500))
    return noise * np.sin(np.pi * t / seconds) ** 2


def chirp(seconds: float = 2.0, f0: float = 150.0, f1: float = 5000.0) -> np.ndarray:
    """Exponential sine sweep from f0 to f1 Hz."""
    t = _time(seconds)
    k = np.log(f1 / f0) / seconds
    return np.sin(2 * np.pi * f0 * (np.exp(k * t) - 1) / k) * np.minimum(1, (seconds - t) * 8)


def kicks(rng, seconds: float = 2.0, every: float = 0.5) -> np.ndarray:
    """Kick drums: a sine whose pitch drops from 160 to 45 Hz, with a click of noise at the onset."""
    t = _time(every)
    freq = 45 + 115 * np.exp(-t / 0.04)
    hit = np.sin(2 * np.pi * np.cumsum(freq) / SAMPLE_RATE) * np.exp(-t / 0.18)
    hit[:80] += 0.3 * rng.standard_normal(80) * np.linspace(1, 0, 80)
    return np.tile(hit, int(round(seconds / every)))


def hihats(rng, seconds: float = 2.0, every: float = 0.125) -> np.ndarray:
    """Closed hi-hats: high-passed noise with a fast decay, every other one accented."""
    t = _time(every)
    out = np.concatenate([rng.standard_normal(len(t)) * np.exp(-t / (0.05 if i % 4 == 2 else 0.015))
                          * (1.0 if i % 2 == 0 else 0.5) for i in range(int(round(seconds / every)))])
    return _shape_spectrum(out, _band(6000, 9000, 400))


def vowel(seconds: float = 2.5, pitch: float = 110.0) -> np.ndarray:
    """A sung 'ah': a vibrato pulse train shaped by three formant peaks (730, 1090, 2440 Hz)."""
    t = _time(seconds)
    phase = np.cumsum(pitch * (1 + 0.01 * np.sin(2 * np.pi * 5 * t))) / SAMPLE_RATE
    buzz = (phase % 1.0) * 2 - 1  # sawtooth: every harmonic present
    formants = [(730, 80, 1.0), (1090, 90, 0.5), (2440, 120, 0.25)]
    shaped = _shape_spectrum(buzz, lambda f: sum(a * np.exp(-0.5 * ((f - c) / w) ** 2) for c, w, a in formants))
    return shaped * np.minimum(1, np.minimum(t * 6, (seconds - t) * 4))


def wind(rng, seconds: float = 3.0) -> np.ndarray:
    """Low-passed noise whose loudness and brightness drift slowly."""
    t = _time(seconds)
    low = _shape_spectrum(rng.standard_normal(len(t)), _band(80, 700, 150))
    high = _shape_spectrum(rng.standard_normal(len(t)), _band(700, 3000, 300))
    swell = 0.55 + 0.45 * np.sin(2 * np.pi * 0.5 * t - np.pi / 2)
    return (low + 0.4 * swell * high) * swell


def _finish(x: np.ndarray) -> np.ndarray:
    """Peak-normalise to -2 dBFS with 5 ms fades so no file starts or ends with a click."""
    x = np.asarray(x, dtype=np.float64)
    fade = int(0.005 * SAMPLE_RATE)
    ramp = np.linspace(0, 1, fade)
    x[:fade] *= ramp
    x[-fade:] *= ramp[::-1]
    return (x / np.max(np.abs(x)) * 10 ** (-2 / 20)).astype(np.float32)


def make_demo_corpus(output: Path) -> list[Path]:
    """Write the demo sounds into output (created if needed) and return their paths."""
    rng = np.random.default_rng(SEED)
    sounds = {
        "pluck_a3": karplus_strong(rng, 220.0, 2.0),
        "pluck_e4_bright": karplus_strong(rng, 329.63, 1.5, decay=0.998),
        "bell": bell(),
        "marimba_phrase": marimba(),
        "whoosh": noise_burst(rng),
        "sweep": chirp(),
        "kick_pattern": kicks(rng),
        "hihat_pattern": hihats(rng),
        "vowel_ah": vowel(),
        "wind": wind(rng),
    }
    output.mkdir(parents=True, exist_ok=True)
    written = []
    for name, audio in sounds.items():
        path = output / f"{name}.wav"
        sf.write(path, _finish(audio), SAMPLE_RATE, subtype="PCM_16")
        written.append(path)
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "demo_corpus"
    for written_path in make_demo_corpus(target):
        info = sf.info(written_path)
        print(f"{written_path}  {info.duration:.2f} s")
