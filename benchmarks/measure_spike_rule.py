"""How far above its running median a step loss goes in healthy training and at a blow-up, on
real recordings: the measurement behind the spike rule's defaults (divergence_spike_factor,
divergence_spike_window).

Trains the default model (spike and streak warnings off) on a copy of real recordings at healthy
learning rates and at rates that blow up, then replays each run's stored per-step training loss
and per-epoch monitored loss through the SpikeDetector for several windows, printing:
  - healthy runs: the largest ratio loss / running median seen (a factor must stay above it)
  - blow-ups: the ratio at the jump, the step of the jump (first loss 10x its median) and, per
    candidate factor, the step the rule would warn at.
Run: .venv/bin/python benchmarks/measure_spike_rule.py [--epochs 8] [--batch 8] [--corpus DIR ...]
"""
import argparse
import shutil
import statistics
import tempfile
from pathlib import Path

import numpy as np

from distill_engine import TrainingConfig
from distill_engine.runs.reader import open_run
from distill_engine.training.divergence import SpikeDetector
from distill_engine.training.trainer import Trainer

HEALTHY = (1e-3, 3e-3)
BLOW_UPS = (0.03, 0.5)
FACTORS = (2.0, 3.0, 5.0, 10.0)
WINDOWS = (20, 50, 100)


def train(corpus, runs_dir, lr, epochs, batch):
    config = TrainingConfig(epochs=epochs, batch_size=batch, learning_rate=lr, device="cpu",
                            checkpoint_interval_s=1e9, divergence_patience=0, divergence_spike_factor=0.0)
    result = Trainer(config, corpus, runs_dir=runs_dir, run_name=f"lr{lr:g}").run()
    with open_run(result.run_dir) as run:
        steps, losses = run.metric("train_loss")
        _, val = run.metric("val_loss", per="epoch")
        epoch_steps = run.metric("step", per="epoch")[1]
    return result.status, np.asarray(steps), np.asarray(losses), np.asarray(val), np.asarray(epoch_steps)


def max_ratio(losses, window):
    """The largest loss / median(previous finite losses, up to `window`), from the second loss on."""
    history, worst = [], 0.0
    for loss in losses:
        if not np.isfinite(loss):
            continue
        if history:
            worst = max(worst, loss / statistics.median(history))
        history = (history + [loss])[-window:]
    return worst


def first_warning(steps, losses, factor, window):
    detector = SpikeDetector(factor, window)
    for step, loss in zip(steps, losses):
        if detector.update_step(0, int(step), float(loss)):
            return int(step)
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, nargs="+",
                        default=[Path("/work/corpora") / name for name in ("sfx", "freedesktop", "voices")])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        for folder in args.corpus:
            shutil.copytree(folder, corpus / folder.name)
        runs = {}
        for lr in HEALTHY + BLOW_UPS:
            runs[lr] = train(corpus, Path(tmp) / "runs", lr, args.epochs, args.batch)
            print(f"trained lr {lr:g}: losses {np.array2string(runs[lr][2], precision=3, max_line_width=10**6)}",
                  flush=True)
    print(f"corpus {', '.join(map(str, args.corpus))}; default model, batch {args.batch}, {args.epochs} epochs")
    for lr, (status, steps, losses, val, _) in runs.items():
        finite = losses[np.isfinite(losses)]
        print(f"lr {lr:<6g} {status:9s} {len(steps)} steps, train loss {finite[:1]} -> {finite[-1:]}, "
              f"non-finite steps {int((~np.isfinite(losses)).sum())}, val per epoch {np.array2string(val, precision=3)}")
    for window in WINDOWS:
        print(f"window {window} steps:")
        for lr in HEALTHY:
            _, steps, losses, val, _ = runs[lr]
            print(f"  healthy lr {lr:<6g}: largest step ratio {max_ratio(losses, window):7.2f}, "
                  f"largest epoch ratio {max_ratio(val, 2 * window):6.2f}")
        for lr in BLOW_UPS:
            _, steps, losses, _, epoch_steps = runs[lr]
            ratios = [(s, l / statistics.median(losses[:i][np.isfinite(losses[:i])][-window:]))
                      for i, (s, l) in enumerate(zip(steps, losses))
                      if i >= 1 and np.isfinite(l) and np.isfinite(losses[:i]).sum()]
            jump = next((s for s, r in ratios if r >= 10), None)
            peak = max((r for _, r in ratios), default=float("nan"))
            warns = ", ".join(f"x{f:g}: step {first_warning(steps, losses, f, window)}" for f in FACTORS)
            print(f"  blow-up lr {lr:<6g}: jump (first 10x) at step {jump}, peak ratio {peak:.3g}; "
                  f"warning at {warns}; epochs end at steps {epoch_steps[:4].astype(int).tolist()}")


if __name__ == "__main__":
    main()
