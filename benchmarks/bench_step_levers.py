"""A/B of training-step levers: variants of the model and step timed in alternating rounds.

Each variant is the trainer's step (forward, combined loss, backward, gradient clipping, fused
AdamW) on the same batch; rounds alternate variant by variant so that other load on the machine
lands on all of them alike. Prints each variant's median step time, clip-seconds/s and its ratio
to the first variant. On a machine shared with other jobs, use --threads 1: then the step's CPU
time (also printed) is its work, whatever else runs, and compares variants without the noise that
oversubscribed thread pools add to wall time.
Run: .venv/bin/python benchmarks/bench_step_levers.py [--preset full|16k] [--rounds 5] [VARIANT ...]
(a variant is an architecture name of build(), optionally +nchw (channels-last activations off)
or +clw (channels-last weights as well))
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from distill_engine import LossConfig, Representation, SpectrogramVAE
from distill_engine.model.losses import compute_combined_loss, create_stft_loss
from distill_engine.model.vae import VAEArchitecture, architecture_for

PRESETS = {"full": (44100, 2048, 512), "16k": (16000, 1024, 256)}
LEAN = ((32, (5, 3), (2, 2)), (64, (5, 3), (2, 2)), (96, (3, 3), (2, 2)))


class ChannelsLast(nn.Module):
    """Runs the wrapped layers on channels-last tensors."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner.to(memory_format=torch.channels_last)

    def forward(self, x):
        return self.inner(x.contiguous(memory_format=torch.channels_last)).contiguous()


def build(variant: str, n_freq: int, n_frames: int) -> nn.Module:
    name, _, option = variant.partition("+")
    arch = {"v1": VAEArchitecture(freq_fold=4), "default": architecture_for(n_freq),
            "fold8": VAEArchitecture(freq_fold=8), "fold8-lean": VAEArchitecture(8, LEAN),
            "fold16": VAEArchitecture(16), "fold16-lean": VAEArchitecture(16, LEAN)}[name]
    model = SpectrogramVAE(n_freq, n_frames, architecture=arch)
    if option == "nchw":  # the model's channels-last activations off
        model.channels_last_on_cpu = False
    elif option == "clw":  # channels-last weights too
        model.encoder, model.decoder = ChannelsLast(model.encoder), ChannelsLast(model.decoder)
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("variants", nargs="*", default=["v1", "default", "fold8-lean", "fold16"])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="full")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=1.5)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sample_rate, n_fft, hop = PRESETS[args.preset]
    g = torch.Generator().manual_seed(0)
    samples = int(args.seconds * sample_rate)
    t = torch.arange(samples) / sample_rate
    audio = 0.3 * (torch.sin(2 * torch.pi * 220 * t) * torch.exp(-2 * t) + 0.1 * torch.randn(args.batch, samples, generator=g))
    rep = Representation(sample_rate, n_fft, hop)
    raw = rep.encode_raw(audio)
    rep.fit(raw)
    target = rep.normalise(raw)
    loss_config = LossConfig()
    stft_loss = create_stft_loss(loss_config)

    steps = {}
    for variant in args.variants:
        torch.manual_seed(0)
        model = build(variant, target.shape[2], target.shape[3])
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4, fused=True)

        def step(model=model, optimizer=optimizer):
            recon, mu, logvar = model(target)
            losses = compute_combined_loss(recon, target, mu, logvar, loss_config, 0.01, stft_loss,
                                           representation=rep, target_audio=audio)
            optimizer.zero_grad(set_to_none=True)
            losses["total"].backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
        step()  # warm-up
        steps[variant] = (step, model.parameter_count())
    times = {v: [] for v in args.variants}
    cpu_times = {v: [] for v in args.variants}
    for _ in range(args.rounds):
        for variant, (step, _) in steps.items():
            start, cpu_start = time.perf_counter(), time.process_time()
            step()
            times[variant].append(time.perf_counter() - start)
            cpu_times[variant].append(time.process_time() - cpu_start)
    print(f"preset {args.preset}: input {tuple(target.shape)}, {args.rounds} alternating rounds, "
          f"{torch.get_num_threads()} threads (machine shared: compare ratios)")
    base = statistics.median(times[args.variants[0]])
    cpu_base = statistics.median(cpu_times[args.variants[0]])
    for variant in args.variants:
        med, cpu = statistics.median(times[variant]), statistics.median(cpu_times[variant])
        print(f"{variant:<18} {steps[variant][1]:>11,} params  wall median {med * 1000:7.0f} ms "
              f"(best {min(times[variant]) * 1000:7.0f}) = {args.batch * args.seconds / med:5.1f} clip-s/s, "
              f"ratio {base / med:5.2f}x | CPU median {cpu * 1000:7.0f} ms, ratio {cpu_base / cpu:5.2f}x")


if __name__ == "__main__":
    main()
