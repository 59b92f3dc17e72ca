"""MR-STFT loss forward+backward: Distill's implementation vs auraloss 0.4.0 on the same audio.

Prints milliseconds per call for each and the speed ratio (auraloss time / ours; > 1 means ours
is faster). Run: .venv/bin/python benchmarks/bench_stft_loss.py [--batch 32] [--seconds 1.5]
"""
import argparse
import statistics
import time

import torch

from distill_engine import LossConfig, create_stft_loss


def time_call(fn, repeats):
    fn()  # warm-up
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=1.5)
    parser.add_argument("--sample-rate", type=int, default=16000)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    import auraloss

    cfg = LossConfig().stft
    torch.manual_seed(0)
    samples = int(args.seconds * args.sample_rate)
    target = torch.randn(args.batch, samples)
    pred = (target + 0.1 * torch.randn_like(target)).requires_grad_(True)
    ours = create_stft_loss(LossConfig(), "cpu")
    theirs = auraloss.freq.MultiResolutionSTFTLoss(list(cfg.fft_sizes), list(cfg.hop_sizes), list(cfg.win_lengths))

    def run_ours():
        pred.grad = None
        ours(pred, target).backward()

    def run_theirs():
        pred.grad = None
        theirs(pred.unsqueeze(1), target.unsqueeze(1)).backward()

    t_ours = time_call(run_ours, args.repeats)
    t_theirs = time_call(run_theirs, args.repeats)
    print(f"batch {args.batch} x {samples} samples, resolutions {list(zip(cfg.fft_sizes, cfg.hop_sizes, cfg.win_lengths))}")
    print(f"distill  forward+backward: {t_ours * 1000:8.1f} ms")
    print(f"auraloss forward+backward: {t_theirs * 1000:8.1f} ms")
    print(f"speed ratio (auraloss / distill): {t_theirs / t_ours:.2f}x")


if __name__ == "__main__":
    main()
