"""Training throughput of the built-in presets "fast (16 kHz)" and "full band (44.1 kHz)".

Trains each preset with the full trainer (events, run store) at batch 32 on a copy of real
recordings (default: every folder of /work/corpora combined: sound effects, desktop sounds, speech), alternating the presets
round by round so a burst of other load does not land on one side only, and prints steps/s,
clip-seconds/s (seconds of audio trained on per second) and the full-band / fast ratio.
Run: .venv/bin/python benchmarks/bench_presets.py [--corpus DIR] [--epochs 10] [--rounds 2]
"""
import argparse
import shutil
import tempfile
import time
from pathlib import Path

import torch

from bench_training import Timing
from distill_engine.config.presets import PRESETS, load_preset
from distill_engine.training.trainer import Trainer


def preset_rate(name, corpus, runs_dir, epochs, batch):
    """(steps/s, clip-seconds/s, input shape) of one full training run of preset `name`."""
    config = load_preset(name)
    config.epochs, config.batch_size, config.device = epochs, batch, "cpu"
    config.validation_fraction, config.checkpoint_interval_s, config.divergence_patience = 0.0, 1e9, 0
    timing = Timing()
    trainer = Trainer(config, corpus, runs_dir=runs_dir, callbacks=[timing])
    trainer.run()
    steps = (trainer.total_steps - 1) / (timing.last_step - timing.first_step)
    return steps, steps * batch * config.chunk_duration, tuple(trainer.train_rep.shape[1:]), trainer.total_steps


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, nargs="+",
                        default=[Path("/work/corpora") / name for name in ("sfx", "freedesktop", "voices")])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    rates = {p.name: [] for p in PRESETS}
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        for folder in args.corpus:
            shutil.copytree(folder, corpus / folder.name)
        for round_ in range(args.rounds):
            for preset in PRESETS:
                steps, clips, shape, trainer_steps = preset_rate(preset.name, corpus, Path(tmp) / f"{preset.name}-{round_}",
                                                  args.epochs, args.batch)
                rates[preset.name].append((steps, clips, shape))
    print(f"corpus {', '.join(map(str, args.corpus))}, {trainer_steps} steps per run, batch {args.batch}, {torch.get_num_threads()} threads, best of {args.rounds}")
    best = {}
    for preset in PRESETS:
        steps, clips, shape = max(rates[preset.name])
        best[preset.name] = clips
        rounds = ", ".join(f"{c:.1f}" for _, c, _ in rates[preset.name])
        print(f"{preset.label:22s} input {list(shape)}: {steps:6.3f} steps/s = {clips:6.1f} clip-seconds/s "
              f"(rounds: {rounds})")
    fast, full = (best[p.name] for p in PRESETS)
    print(f"full band / fast: {full / fast:.2f} (the 44.1 kHz preset trains {fast / full:.1f}x slower)")


if __name__ == "__main__":
    main()
