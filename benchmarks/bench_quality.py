"""Quality at equal training time: train on a folder for a fixed budget, then measure validation.

Trains the engine's model with the real Trainer (full band by default: 44.1 kHz, n_fft 2048, hop
512, batch 32, 1.5 s chunks, the default loss) until --minutes of training time have passed, then
prints the steps made and the validation set's MR-STFT distance (resolutions 512/1024/2048, the
trainer's `val_mrstft_distance`) of the model's reconstructions decoded to audio.

Training time is this process's CPU time divided by the threads torch uses (--clock cpu, the
default), so a machine shared with other jobs does not shorten one model's budget more than the
other's; --clock wall uses the wall clock (for a quiet machine). The KL weight is constant
(warm-up 0) because the run has no fixed number of steps to warm up over.
Run against two checkouts of the engine (PYTHONPATH=CHECKOUT) on the same folder to compare models:
  .venv/bin/python benchmarks/bench_quality.py FOLDER [--minutes 4] [--clock cpu|wall]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from distill_engine import TrainingConfig
from distill_engine.model.losses import MultiResolutionSTFTLoss
from distill_engine.training.events import Callback
from distill_engine.training.trainer import DISTANCE_RESOLUTIONS, Trainer


class TrainingBudget(Callback):
    """Stops the run once the budget of training time is spent (checked after each step)."""

    def __init__(self, seconds: float, clock: str):
        self.seconds, self.clock = seconds, clock
        self.threads = torch.get_num_threads()
        self.start = None
        self.steps = 0

    def now(self) -> float:
        return time.process_time() / self.threads if self.clock == "cpu" else time.perf_counter()

    def on_run_started(self, trainer, event):
        self.start = self.now()
        self.wall_start = time.perf_counter()

    def on_step(self, trainer, event):
        self.steps = event.step
        if self.now() - self.start >= self.seconds and not trainer._stop.is_set():
            self.wall = time.perf_counter() - self.wall_start
            trainer.request_stop("stopped", "training time budget spent")


@torch.no_grad()
def validation_distance(trainer) -> float:
    """Mean MR-STFT distance between validation chunks and their decoded reconstructions."""
    distance = MultiResolutionSTFTLoss(*DISTANCE_RESOLUTIONS)
    trainer.model.eval()
    total, count = 0.0, 0
    for start in range(0, len(trainer.val_rep), 16):
        rep, audio = trainer.val_rep[start:start + 16], trainer.val_audio[start:start + 16]
        decoded = trainer.representation.decode(trainer.model(rep)[0], audio.shape[-1])
        total += float(distance(decoded, audio)) * len(rep)
        count += len(rep)
    return total / count


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--minutes", type=float, default=4.0)
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    parser.add_argument("--sample-rate", type=int, default=44100)
    parser.add_argument("--n-fft", type=int, default=2048)
    parser.add_argument("--hop", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    config = TrainingConfig(epochs=100_000, batch_size=32, device="cpu", checkpoint_interval_s=1e9,
                            seed=args.seed, divergence_patience=1_000_000)
    config.representation.sample_rate, config.representation.n_fft = args.sample_rate, args.n_fft
    config.representation.hop_length = args.hop
    config.loss.kl.warmup_fraction = 0.0
    budget = TrainingBudget(60 * args.minutes, args.clock)
    with tempfile.TemporaryDirectory() as runs:
        trainer = Trainer(config, args.folder, runs_dir=runs, callbacks=[budget])
        outcome = trainer.run()
        score = validation_distance(trainer)
    print(f"engine {Path(__import__('distill_engine').__file__).parent}")
    print(f"model {trainer.model.parameter_count():,} parameters, input {tuple(trainer.train_rep.shape[1:])}, "
          f"{len(trainer.train_rep)} training / {len(trainer.val_rep)} validation chunks")
    print(f"budget {args.minutes:g} min of {args.clock} time: {budget.steps} steps "
          f"({budget.steps / (60 * args.minutes):.2f} steps/s), {getattr(budget, 'wall', float('nan')):.0f} s wall; "
          f"finished: {outcome.status} ({outcome.reason})")
    print(f"validation MR-STFT distance: {score:.4f}")


if __name__ == "__main__":
    main()
