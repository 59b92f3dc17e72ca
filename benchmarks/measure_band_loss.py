"""Prints, per real recording, how much of its energy resampling to 16 kHz removes (dB relative to
the whole file), to choose corpus.band_loss.AUDIBLE_LOSS_DB. Synthetic hats/cymbals are added as
the sounds the issue reported (real drum kits are not on this machine).

    .venv/bin/python benchmarks/measure_band_loss.py [--target 16000] [folders...]
"""
from __future__ import annotations

import argparse
import glob
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from distill_engine.audio.band_loss import AUDIBLE_LOSS_DB, energy_above_db

DEFAULT_FOLDERS = ["/work/corpora/freedesktop", "/work/corpora/voices", "/work/corpora/sfx",
                   *glob.glob("/root/.pyenv/versions/*/lib/python3.*/test/audiodata")[:1]]


def synthetic(rate: int = 44100) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    t = np.arange(rate) / rate
    noise = rng.standard_normal(rate)
    spectrum = np.fft.rfft(noise)
    freqs = np.fft.rfftfreq(rate, 1 / rate)
    hat = np.fft.irfft(spectrum * (freqs > 6000), rate) * np.exp(-20 * t)
    ride = np.fft.irfft(spectrum * ((freqs > 3000) & (freqs < 16000)), rate) * np.exp(-2 * t)
    kick = np.sin(2 * np.pi * (50 + 100 * np.exp(-30 * t)) * t) * np.exp(-6 * t)
    return {"synthetic hi-hat": hat, "synthetic ride": ride, "synthetic kick": kick}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("folders", nargs="*", default=DEFAULT_FOLDERS)
    parser.add_argument("--target", type=int, default=16000)
    args = parser.parse_args()
    rows = []
    for folder in args.folders:
        for path in sorted(Path(folder).rglob("*")):
            try:
                audio, rate = sf.read(path, dtype="float32", always_2d=True)
            except (RuntimeError, sf.LibsndfileError, OSError):
                continue
            rows.append((f"{Path(folder).name}/{path.name}", rate, energy_above_db(audio.mean(axis=1), rate, args.target)))
    rows += [(name, 44100, energy_above_db(x, 44100, args.target)) for name, x in synthetic().items()]
    print(f"energy above {args.target / 2:g} Hz, relative to the whole file (warn at >= {AUDIBLE_LOSS_DB:g} dB)")
    for name, rate, loss in rows:
        shown = "nothing removed" if loss is None else f"{loss:7.1f} dB" + ("  WARN" if loss >= AUDIBLE_LOSS_DB else "")
        print(f"  {name:48s} {rate:6d} Hz  {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
