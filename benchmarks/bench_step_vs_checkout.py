"""This engine's training step against another checkout's, in one process, in alternating rounds.

Copies CHECKOUT/distill_engine to a temporary package `distill_engine_other` (its imports are
relative), builds both engines' model, representation and loss for a preset at batch 32 and 1.5 s
chunks, and times their steps (forward, combined loss, backward, clip, fused AdamW) alternately.
Prints each one's median wall and CPU time and the speed-up; with --threads 1 on a shared machine
the CPU-time ratio is the one to read. Estimated throughput = the other checkout's measured
clip-seconds/s (--other-rate) x the speed-up.
Run: .venv/bin/python benchmarks/bench_step_vs_checkout.py /work/wt-base [--preset full] [--rounds 5]
"""
from __future__ import annotations

import argparse
import importlib
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

PRESETS = {"full": (44100, 2048, 512, 14.7), "16k": (16000, 1024, 256, 54.0)}  # quiet-machine rate before


def engine_step(package: str, sample_rate, n_fft, hop, audio):
    vae = importlib.import_module(f"{package}.model.vae")
    losses = importlib.import_module(f"{package}.model.losses")
    schema = importlib.import_module(f"{package}.config.schema")
    representation = importlib.import_module(f"{package}.audio.representation")
    rep = representation.Representation(sample_rate, n_fft, hop)
    raw = rep.encode_raw(audio)
    rep.fit(raw)
    target = rep.normalise(raw)
    torch.manual_seed(0)
    model = vae.SpectrogramVAE(target.shape[2], target.shape[3])
    loss_config = schema.LossConfig()
    stft_loss = losses.create_stft_loss(loss_config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4, fused=True)

    def step():
        recon, mu, logvar = model(target)
        out = losses.compute_combined_loss(recon, target, mu, logvar, loss_config, 0.01, stft_loss,
                                           representation=rep, target_audio=audio)
        optimizer.zero_grad(set_to_none=True)
        out["total" if "total" in out else "total_loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    step()
    return step, sum(p.numel() for p in model.parameters())


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("checkout", type=Path, help="a checkout whose distill_engine/ is the other engine")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="full")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--other-rate", type=float, default=None,
                        help="the other checkout's clip-seconds/s on a quiet machine (default: the "
                             "figure measured before this model for the preset)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sample_rate, n_fft, hop, before = PRESETS[args.preset]
    other_rate = args.other_rate or before
    g = torch.Generator().manual_seed(0)
    samples = int(1.5 * sample_rate)
    t = torch.arange(samples) / sample_rate
    audio = 0.3 * (torch.sin(2 * torch.pi * 220 * t) * torch.exp(-2 * t) + 0.1 * torch.randn(32, samples, generator=g))
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(args.checkout / "distill_engine", Path(tmp) / "distill_engine_other")
        sys.path.insert(0, tmp)
        steps = {"other": engine_step("distill_engine_other", sample_rate, n_fft, hop, audio),
                 "this": engine_step("distill_engine", sample_rate, n_fft, hop, audio)}
    wall = {k: [] for k in steps}
    cpu = {k: [] for k in steps}
    for _ in range(args.rounds):
        for name, (step, _) in steps.items():
            w, c = time.perf_counter(), time.process_time()
            step()
            wall[name].append(time.perf_counter() - w)
            cpu[name].append(time.process_time() - c)
    print(f"preset {args.preset}, batch 32, 1.5 s chunks, {args.threads} threads, {args.rounds} alternating rounds "
          f"(other engine: {args.checkout})")
    for name, (_, params) in steps.items():
        print(f"  {name:<5} {params:>11,} params: wall median {statistics.median(wall[name]) * 1000:7.0f} ms, "
              f"CPU median {statistics.median(cpu[name]) * 1000:7.0f} ms")
    speed_wall = statistics.median(wall["other"]) / statistics.median(wall["this"])
    speed_cpu = statistics.median(cpu["other"]) / statistics.median(cpu["this"])
    print(f"  speed-up this / other: {speed_wall:.2f}x wall, {speed_cpu:.2f}x CPU time")
    print(f"  estimate: {other_rate:g} clip-seconds/s (other, quiet machine) x {speed_cpu:.2f} = "
          f"{other_rate * speed_cpu:.1f} clip-seconds/s (the followed engine: 37)")


if __name__ == "__main__":
    main()
