"""Encode -> decode round trip of the magnitude + IF representation, with no model, per file.

Prints each file's SNR (dB) and multi-resolution STFT distance (the default loss resolutions),
then the worst of each. Targets: SNR >= 30 dB, distance <= 0.01.
Run: .venv/bin/python benchmarks/bench_representation.py [FOLDER ...] [--sample-rate 16000]
(default folder: the bundled demo corpus; any folder of real recordings works; files are mixed to
mono and resampled to the engine's rate first, as training does).
"""
import argparse
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch

from distill_engine import LossConfig, Representation, create_stft_loss


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folders", nargs="*", type=Path,
                        default=[Path(__file__).resolve().parents[1] / "resources" / "demo_corpus"])
    parser.add_argument("--sample-rate", type=int, default=16000)
    parser.add_argument("--n-fft", type=int, default=1024)
    parser.add_argument("--hop", type=int, default=256)
    args = parser.parse_args()
    rep = Representation(args.sample_rate, args.n_fft, args.hop)
    distance = create_stft_loss(LossConfig())
    snrs, distances = [], []
    for folder in args.folders:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            try:
                audio, rate = sf.read(path, dtype="float32", always_2d=True)
            except Exception:
                continue
            audio = audio.mean(axis=1)
            if rate != args.sample_rate:
                audio = soxr.resample(audio, rate, args.sample_rate, quality="HQ").astype(np.float32)
            if audio.size < 2 * 2048 or not np.any(audio):
                continue
            x = torch.from_numpy(np.ascontiguousarray(audio)).unsqueeze(0)
            y = rep.decode(rep.encode(x), x.shape[-1])
            snr = float(10 * torch.log10(x.pow(2).sum() / (x - y).pow(2).sum().clamp(min=1e-30)))
            dist = float(distance(y, x))
            snrs.append(snr)
            distances.append(dist)
            print(f"{path.name:<32} {audio.size / args.sample_rate:6.2f} s  SNR {snr:7.1f} dB  MR-STFT distance {dist:.2e}")
    if snrs:
        print(f"\n{len(snrs)} files: worst SNR {min(snrs):.1f} dB (target >= 30), "
              f"worst MR-STFT distance {max(distances):.2e} (target <= 0.01)")


if __name__ == "__main__":
    main()
