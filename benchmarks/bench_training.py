"""Training throughput of both presets beside the followed engine's 37 clip-seconds per second.

Prints, for each preset (16 kHz: n_fft 1024, hop 256; full band: 44.1 kHz, n_fft 2048, hop 512)
at batch 32 and 1.5 s chunks, with the default model and loss:
  - the bare step loop (forward, combined loss, backward, AdamW; no metric reads, no events, no store)
  - the full trainer (metric reads, events, run store, a no-op subscriber, epoch ends; previews off,
    they are budgeted and measured by bench_preview_cost.py) on the same batches
as steps/s and clip-seconds/s, their ratio (target >= 0.97), and the targets: full band bare loop
>= 37 clip-seconds/s (the followed engine's step on this 2-core machine; stretch 50), 16 kHz no
slower than before this model (54.0 measured on the same machine). Measurements alternate bare and
full rounds, and keep each one's best, so a burst of other load does not land on one side only;
on a machine shared with other jobs the absolute figures are low, the ratios still hold.
Run: .venv/bin/python benchmarks/bench_training.py [--preset both|16k|full] [--steps 12] [--rounds 2]
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

FOLLOWED_ENGINE = 37.0  # clip-seconds/s of the followed engine's step, batch 32, this machine
PRESETS = {"16k": (16000, 1024, 256, 54.0), "full": (44100, 2048, 512, 14.7)}  # ..., before this model


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


def measure(preset: str, args, tmp: Path) -> dict:
    sample_rate, n_fft, hop, before = PRESETS[preset]
    corpus = make_corpus(tmp / f"corpus-{preset}", n_files=args.batch * args.steps_per_epoch, seconds=1.5,
                         sample_rate=sample_rate)
    epochs = max(1, args.steps // args.steps_per_epoch)
    # Previews off: their cost has its own budget and benchmark (bench_preview_cost.py).
    config = TrainingConfig(epochs=epochs, batch_size=args.batch, validation_fraction=0.0, device="cpu",
                            checkpoint_interval_s=1e9, preview_interval_s=0.0)
    config.representation.sample_rate, config.representation.n_fft = sample_rate, n_fft
    config.representation.hop_length = hop
    clip_seconds = args.batch * config.chunk_duration
    bare_rates, full_rates = [], []
    for round_ in range(args.rounds):
        bare_rates.append(bare_loop_rate(config, corpus, tmp / f"bare-{preset}-{round_}", args.batch, epochs))
        timing = Timing()
        full = Trainer(config, corpus, runs_dir=tmp / f"full-{preset}-{round_}", callbacks=[timing])
        full.run()
        full_rates.append((full.total_steps - 1) / (timing.last_step - timing.first_step))
    bare_rate, full_rate = max(bare_rates), max(full_rates)
    print(f"\n{preset} preset: {sample_rate} Hz, n_fft {n_fft}, hop {hop}; model {full.model.parameter_count():,} "
          f"parameters, input [2, {full.train_rep.shape[2]}, {full.train_rep.shape[3]}], batch {args.batch}, "
          f"{torch.get_num_threads()} threads")
    print(f"  bare step loop : {bare_rate:6.3f} steps/s = {bare_rate * clip_seconds:6.1f} clip-seconds/s "
          f"(rounds: {', '.join(f'{r * clip_seconds:.1f}' for r in bare_rates)})")
    print(f"  full trainer   : {full_rate:6.3f} steps/s = {full_rate * clip_seconds:6.1f} clip-seconds/s "
          f"(rounds: {', '.join(f'{r * clip_seconds:.1f}' for r in full_rates)})")
    print(f"  ratio full / bare: {full_rate / bare_rate:.3f} (target >= 0.97)")
    return {"bare": bare_rate * clip_seconds, "full": full_rate * clip_seconds, "before": before}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", choices=("both", *PRESETS), default="both")
    parser.add_argument("--steps", type=int, default=12, help="training steps per measurement")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps-per-epoch", type=int, default=4, help="corpus size in batches (an epoch's end "
                        "costs a metric flush, the best weights' copy and an event)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating bare/full measurements")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    presets = list(PRESETS) if args.preset == "both" else [args.preset]
    with tempfile.TemporaryDirectory() as tmp:
        results = {preset: measure(preset, args, Path(tmp)) for preset in presets}
    print(f"\nsummary, bare step loop in clip-seconds/s (batch {args.batch}, 1.5 s chunks; the followed engine's "
          f"step: {FOLLOWED_ENGINE:g}):")
    for preset, r in results.items():
        target = (f"target >= {FOLLOWED_ENGINE:g}, stretch 50" if preset == "full"
                  else f"target >= {r['before']:g}, the model before")
        print(f"  {preset:>4}: {r['bare']:6.1f}  = {r['bare'] / FOLLOWED_ENGINE:4.2f}x the followed engine "
              f"({target}; before this model: {r['before']:g}); full trainer {r['full']:.1f} "
              f"= {r['full'] / r['bare']:.3f}x bare")


if __name__ == "__main__":
    main()
