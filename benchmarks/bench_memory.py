"""Peak resident memory of a full-band training run on a 500-file corpus.

Writes --files WAV files (44.1 kHz, --seconds each: decaying tones in noise) to a temporary folder,
loads them as the trainer does (full band: n_fft 2048, hop 512, 1.5 s chunks) and trains --steps
steps at batch 32 with the real Trainer (run store, events, checkpoint at the end). Prints the
process's peak resident set size after each phase, beside the bound it should keep to:
  corpus arrays: training/validation audio + raw representation (the trainer that loads its own
    corpus, as distill-train and the window do, normalises the representation in place)
  load peak: the corpus arrays plus one file's (each file's arrays are released once joined)
  step working set: model, AdamW state, activations and their gradients at batch 32
The corpus is loaded once alone (to measure the load), dropped, and loaded again by the Trainer
itself from the decode cache, as a run does.
Run: .venv/bin/python benchmarks/bench_memory.py [--files 500] [--seconds 2.0] [--steps 3]
"""
from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

MB = 1024 * 1024


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def write_corpus(folder: Path, n_files: int, seconds: float, sample_rate: int) -> None:
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    folder.mkdir(parents=True)
    for i in range(n_files):
        tone = np.sin(2 * np.pi * 55 * (i % 23 + 2) * t) * np.exp(-(1 + i % 5) * t)
        audio = 0.4 * tone + 0.05 * rng.standard_normal(t.size)
        sf.write(folder / f"sound_{i:03d}.wav", audio.astype(np.float32), sample_rate, subtype="PCM_16")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=2.0, help="length of each file")
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    import torch

    from distill_engine import TrainingConfig
    from distill_engine.audio.corpus import load_corpus
    from distill_engine.training.events import Callback
    from distill_engine.training.trainer import Trainer

    class StopAfter(Callback):
        def on_step(self, trainer, event):
            if event.step >= args.steps:
                trainer.request_stop()

    config = TrainingConfig(batch_size=32, device="cpu", checkpoint_interval_s=1e9)
    config.representation.sample_rate, config.representation.n_fft = 44100, 2048
    config.representation.hop_length = 512
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_corpus(tmp / "corpus", args.files, args.seconds, 44100)
        base = peak_rss_mb()
        started = time.perf_counter()
        corpus = load_corpus(tmp / "corpus", config, cache_dir=tmp / "cache")
        loaded = peak_rss_mb()
        load_s = time.perf_counter() - started
        tensors = (corpus.train_audio, corpus.val_audio, corpus.train_raw, corpus.val_raw)
        audio_mb = sum(t.numel() * t.element_size() for t in tensors[:2]) / MB
        raw_mb = sum(t.numel() * t.element_size() for t in tensors[2:]) / MB
        n_chunks = len(corpus.train_audio) + len(corpus.val_audio)
        del corpus, tensors
        os.environ["DISTILL_CACHE_DIR"] = str(tmp / "cache")   # the trainer loads from the same cache
        trainer = Trainer(config, tmp / "corpus", runs_dir=tmp / "runs", callbacks=[StopAfter()])
        outcome = trainer.run()
        trained = peak_rss_mb()
        params_mb = sum(p.numel() * p.element_size() for p in trainer.model.parameters()) / MB
    print(f"corpus: {args.files} files x {args.seconds:g} s at 44.1 kHz -> {n_chunks} chunks of 1.5 s "
          f"(loaded in {load_s:.0f} s); audio {audio_mb:.0f} MB, raw representation {raw_mb:.0f} MB "
          f"({raw_mb / n_chunks:.2f} MB a chunk)")
    print(f"model {params_mb:.0f} MB of weights (AdamW keeps 2 more copies); {outcome.step} steps at batch 32, "
          f"{torch.get_num_threads()} threads; run {outcome.status}")
    print(f"peak RSS: {base:7.0f} MB before loading (Python, torch, numpy)")
    print(f"          {loaded:7.0f} MB after loading the corpus (+{loaded - base:.0f} MB; the arrays are "
          f"{audio_mb + raw_mb:.0f} MB)")
    print(f"          {trained:7.0f} MB after training (+{trained - loaded:.0f} MB: weights + AdamW {3 * params_mb:.0f} MB "
          f"and the step's activations; the representation is normalised in place)")


if __name__ == "__main__":
    main()
