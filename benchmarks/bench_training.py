"""Training throughput and the monitor's cost inside training.

Prints, for the default model and representation at batch 32 on this machine:
  - the bare step loop (forward, combined loss, backward, AdamW; no metric reads, no events, no store)
  - the full trainer (metric reads, events, run store, a no-op subscriber) on the same batches
as steps/s and clip-seconds/s, and their ratio (target >= 0.97).
Run: .venv/bin/python benchmarks/bench_training.py [--steps 12] [--batch 32]
"""
import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from distill_engine import TrainingConfig
from distill_engine.training.events import Callback
from distill_engine.training.trainer import Trainer


def make_corpus(folder: Path, n_files: int, seconds: float, sample_rate: int = 16000) -> Path:
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    folder.mkdir(parents=True)
    for i in range(n_files):
        audio = np.sin(2 * np.pi * 110 * (i % 7 + 2) * t) * np.exp(-2 * t) + 0.1 * rng.standard_normal(t.size)
        sf.write(folder / f"clip_{i:03d}.wav", (0.4 * audio).astype(np.float32), sample_rate)
    return folder


class Timing(Callback):
    """No-op subscriber that notes when the first and the last step were published."""

    first_step = None

    def on_step(self, trainer, event):
        self.last_step = time.perf_counter()
        if self.first_step is None:
            self.first_step = self.last_step  # the first step (warm-up) is left out, as in the bare loop


def bare_loop_rate(config, corpus, runs_dir, batch, epochs) -> float:
    """Steps/s of the trainer's own step on the same batches, with nothing else (no reads, events, store)."""
    bare = Trainer(config, corpus, runs_dir=runs_dir)
    bare._setup()
    bare.writer.close("completed")
    order = torch.randperm(len(bare.train_rep), generator=torch.Generator().manual_seed(1))
    batches = [order[i * batch:(i + 1) * batch] for i in range(bare.steps_per_epoch)]
    bare._train_step(bare.train_rep[batches[0]], bare.train_audio[batches[0]], 1)  # warm-up
    bare._pending.clear()
    steps = epochs * bare.steps_per_epoch
    start = time.perf_counter()
    for step in range(steps):
        index = batches[step % len(batches)]
        bare._train_step(bare.train_rep[index], bare.train_audio[index], 1)
        bare._pending.clear()
    return steps / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=12, help="training steps per measurement")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2, help="alternating bare/full measurements")
    args = parser.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        corpus = make_corpus(tmp / "corpus", n_files=args.batch * 2, seconds=1.5)
        epochs = max(1, args.steps // 2)
        config = TrainingConfig(epochs=epochs, batch_size=args.batch, validation_fraction=0.0, device="cpu",
                                checkpoint_interval_s=1e9)
        clip_seconds = args.batch * config.chunk_duration

        # Alternate bare and full measurements and keep each one's best, so a burst of other load
        # on the machine does not land on one side only.
        bare_rates, full_rates = [], []
        for round_ in range(args.rounds):
            bare_rates.append(bare_loop_rate(config, corpus, tmp / f"bare-{round_}", args.batch, epochs))
            timing = Timing()
            full = Trainer(config, corpus, runs_dir=tmp / f"full-{round_}", callbacks=[timing])
            full.run()
            full_rates.append((full.total_steps - 1) / (timing.last_step - timing.first_step))
        bare_rate, full_rate = max(bare_rates), max(full_rates)

    print(f"model {full.model.parameter_count():,} parameters, input [2, {full.train_rep.shape[2]}, "
          f"{full.train_rep.shape[3]}], batch {args.batch}, {torch.get_num_threads()} threads")
    print(f"bare step loop : {bare_rate:6.3f} steps/s = {bare_rate * clip_seconds:6.1f} clip-seconds/s "
          f"(rounds: {', '.join(f'{r:.3f}' for r in bare_rates)})")
    print(f"full trainer   : {full_rate:6.3f} steps/s = {full_rate * clip_seconds:6.1f} clip-seconds/s "
          f"(rounds: {', '.join(f'{r:.3f}' for r in full_rates)})")
    print(f"ratio full / bare: {full_rate / bare_rate:.3f} (target >= 0.97)")


if __name__ == "__main__":
    main()
