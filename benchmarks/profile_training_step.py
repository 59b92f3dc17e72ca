"""Where one training step's time goes: each part of the step timed alone, beside the whole step.

For a preset (full band: 44.1 kHz, n_fft 2048, hop 512; or 16 kHz: n_fft 1024, hop 256) at batch 32
and 1.5 s chunks, prints milliseconds (forward + backward, median of --repeats) of:
  - each convolution / linear layer of the encoder and decoder (with its activation), on an input of
    the shape it gets in the real step, labelled with its output map size
  - the decode to audio (cumsum of IF, polar, ISTFT) that feeds the STFT loss
  - each STFT-loss resolution (prediction and target STFTs, spectral convergence + log-magnitude)
  - the spectrogram L1 and KL terms, gradient clipping and the AdamW step
then their sum beside the measured whole step (the parts overlap little; the difference is what
the isolation leaves out: autograd bookkeeping, allocator, the in-step fold/pad/stack).
Run: .venv/bin/python benchmarks/profile_training_step.py [--preset full|16k] [--repeats 5]
     [--threads 1 --clock cpu]   (on a shared machine)
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from distill_engine import LossConfig, Representation, SpectrogramVAE
from distill_engine.model.losses import MultiResolutionSTFTLoss, compute_combined_loss, kl_per_dimension

PRESETS = {"full": (44100, 2048, 512), "16k": (16000, 1024, 256)}


CLOCK = time.perf_counter  # --clock cpu: time.process_time


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    samples = []
    for _ in range(repeats):
        start = CLOCK()
        fn()
        samples.append(CLOCK() - start)
    return 1000 * statistics.median(samples)


def test_audio(batch: int, samples: int, sample_rate: int) -> torch.Tensor:
    """Decaying harmonic tones in noise: a spectrum with content across the whole band."""
    g = torch.Generator().manual_seed(0)
    t = torch.arange(samples) / sample_rate
    f0 = 110.0 * (2 + torch.arange(batch) % 7).unsqueeze(1)
    tone = sum(torch.sin(2 * torch.pi * k * f0 * t) / k for k in range(1, 6))
    return 0.3 * (tone * torch.exp(-2 * t) + 0.1 * torch.randn(batch, samples, generator=g))


def leaf_stages(model: nn.Module, x: torch.Tensor) -> list[tuple[str, nn.Module, torch.Size, torch.Size]]:
    """(name, module, input shape, output shape) of every parametrised leaf layer, in call order;
    an activation right after a layer is timed with it."""
    calls = []
    hooks = [m.register_forward_hook(lambda mod, inp, out, name=name: calls.append((name, mod, inp[0].shape, out.shape)))
             for name, m in model.named_modules() if not list(m.children())]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    stages = []
    for name, mod, shape_in, shape_out in calls:
        if any(p.requires_grad for p in mod.parameters(recurse=False)):
            stages.append([name, [mod], shape_in, shape_out])
        elif stages and stages[-1][3] == shape_in and shape_in == shape_out:
            stages[-1][1].append(mod)  # an activation / dropout after the layer
    return [(n, nn.Sequential(*mods), si, so) for n, mods, si, so in stages]


def time_stage(module: nn.Module, shape_in, repeats: int) -> float:
    x = torch.randn(shape_in, requires_grad=True)

    def run():
        x.grad = None
        module.zero_grad(set_to_none=True)
        module(x).square().mean().backward()
    return median_ms(run, repeats)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="full")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=1.5)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="cpu: this process's CPU time (with --threads 1, the work of each part "
                             "whatever else runs on a shared machine)")
    args = parser.parse_args()
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    torch.set_num_threads(args.threads)
    sample_rate, n_fft, hop = PRESETS[args.preset]
    torch.manual_seed(0)
    rep = Representation(sample_rate, n_fft, hop)
    audio = test_audio(args.batch, int(args.seconds * sample_rate), sample_rate)
    raw = rep.encode_raw(audio)
    rep.fit(raw)
    target = rep.normalise(raw)
    model = SpectrogramVAE(target.shape[2], target.shape[3])
    loss_config = LossConfig()
    stft_loss = MultiResolutionSTFTLoss(loss_config.stft.fft_sizes, loss_config.stft.hop_sizes,
                                        loss_config.stft.win_lengths)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4, fused=True)

    def whole_step():
        recon, mu, logvar = model(target)
        losses = compute_combined_loss(recon, target, mu, logvar, loss_config, 0.01, stft_loss,
                                       representation=rep, target_audio=audio)
        optimizer.zero_grad(set_to_none=True)
        losses["total" if "total" in losses else "total_loss"].backward()  # key before the metric schema: total_loss
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    rows: list[tuple[str, float]] = []
    for name, module, shape_in, shape_out in leaf_stages(model, target):
        label = f"{name:<12} {type(module[0]).__name__:<15} {tuple(shape_in[1:])} -> {tuple(shape_out[1:])}"
        rows.append((label, time_stage(module, shape_in, args.repeats)))

    recon = target.clone().requires_grad_(True)

    def decode():
        recon.grad = None
        rep.decode(recon, audio.shape[-1], precise=False).square().mean().backward()
    rows.append((f"decode to audio (ISTFT n_fft {n_fft}, hop {hop})", median_ms(decode, args.repeats)))

    pred_audio = rep.decode(target, audio.shape[-1], precise=False).detach().requires_grad_(True)
    for n, h, w in stft_loss.resolutions:
        single = MultiResolutionSTFTLoss([n], [h], [w])

        def one_resolution(single=single):
            pred_audio.grad = None
            single(pred_audio, audio).backward()
        rows.append((f"STFT loss resolution n_fft {n}, hop {h}", median_ms(one_resolution, args.repeats)))

    mu = torch.zeros(args.batch, model.latent_dim, requires_grad=True)

    def spectrogram_terms():
        recon.grad = mu.grad = None
        weights = rep.magnitude(target)
        weights = weights / (weights.mean() + 1e-12)
        loss = (recon[:, 0] - target[:, 0]).abs().mean() + (weights * (recon[:, 1] - target[:, 1]).abs()).mean()
        (loss + kl_per_dimension(mu, mu).sum(dim=1).mean()).backward()
    rows.append(("spectrogram L1 + KL terms", median_ms(spectrogram_terms, args.repeats)))

    whole_step()  # gradients exist for the optimizer timing

    def optimise():
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    rows.append(("grad clip + fused AdamW step", median_ms(optimise, args.repeats)))

    step_ms = median_ms(whole_step, args.repeats)
    parts = sum(ms for _, ms in rows)
    print(f"preset {args.preset}: {sample_rate} Hz, n_fft {n_fft}, hop {hop}; input {tuple(target.shape)}; "
          f"model {model.parameter_count():,} parameters; {torch.get_num_threads()} threads")
    print(f"{'part (forward + backward)':<78} {'ms':>8} {'share':>6}")
    for label, ms in rows:
        print(f"{label:<78} {ms:8.1f} {ms / step_ms:6.1%}")
    print(f"{'sum of parts':<78} {parts:8.1f} {parts / step_ms:6.1%}")
    rate = f"= {args.batch * args.seconds / step_ms * 1000:.1f} clip-seconds/s (the followed engine: 37)"
    print(f"{'whole step (measured, ' + args.clock + ' time)':<78} {step_ms:8.1f}  "
          f"{rate if args.clock == 'wall' else ''}")


if __name__ == "__main__":
    main()
