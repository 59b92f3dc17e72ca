"""The training decode's spectrum, fused (audio/fused_polar.py) against the composed torch ops:
forward + backward of Representation.decode(precise=False) on a training batch, alternating
rounds, median CPU time per round (one thread by default, so other load on the machine does not
change the figure) and the ratio.

    .venv/bin/python benchmarks/bench_fused_polar.py [--preset full|16k] [--batch 32] [--rounds 7]
"""
from __future__ import annotations

import argparse
import math
import statistics
import time

import torch

from distill_engine.audio import representation as rep_module
from distill_engine.audio.representation import Representation

PRESETS = {"full": (44100, 2048, 512), "16k": (16000, 1024, 256)}


def composed(r0, phase, std, mean, cap, eps):
    log_mag = torch.clamp(r0 * std + mean, max=cap)
    magnitude = torch.clamp(torch.exp(log_mag) - eps, min=0.0)
    return torch.complex(magnitude * torch.cos(phase), magnitude * torch.sin(phase))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="full")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=1.5)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rate, n_fft, hop = PRESETS[args.preset]
    rep = Representation(rate, n_fft, hop)
    length = int(args.seconds * rate)
    torch.manual_seed(0)
    audio = torch.randn(args.batch, length) * 0.1
    encoded = rep.encode(audio)
    fused = rep_module.magnitude_polar
    variants = {"composed ops": composed, "fused": fused}
    times = {name: [] for name in variants}

    def one(fn):
        rep_module.magnitude_polar = fn
        x = encoded.clone().requires_grad_()
        start = time.process_time()
        rep.decode(x, length, precise=False).pow(2).sum().backward()
        return time.process_time() - start

    try:
        for fn in variants.values():
            one(fn)                                   # warm-up (phase ramps, windows)
        for _ in range(args.rounds):
            for name, fn in variants.items():
                times[name].append(one(fn))
    finally:
        rep_module.magnitude_polar = fused
    base = statistics.median(times["composed ops"])
    print(f"decode forward+backward, {args.preset} ({rate} Hz, n_fft {n_fft}), batch {args.batch} x "
          f"{args.seconds} s, {args.threads} thread(s), median of {args.rounds} alternating rounds (CPU time):")
    for name, values in times.items():
        med = statistics.median(values)
        print(f"  {name:13s} {1000 * med:8.1f} ms   {base / med:5.2f}x")


if __name__ == "__main__":
    main()
