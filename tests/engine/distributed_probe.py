"""Trains a tiny run with the reparameterisation noise fixed per example, then saves the last
step's gradients (rank 0); launched alone or by torchrun from test_distributed.py.

    python distributed_probe.py CORPUS RUNS_DIR GRADIENTS.safetensors --batch B --epochs E [--clip C] [--float64]

The noise of training example i is row i of a fixed table whichever process, batch or step draws
it (the VAE's forward is replaced by one that looks the example up by its content), so one process
with batch 2b and two with batch b each must compute the same gradients. --float64 trains in
double precision: AdamW's first steps are sign steps, so a gradient element that float32 rounding
leaves near zero may step either way; in float64 many steps stay comparable.
"""
import argparse
import dataclasses
import os
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from support import tiny_config  # noqa: E402

from distill_engine.audio.corpus import load_corpus  # noqa: E402
from distill_engine.model.vae import SpectrogramVAE  # noqa: E402
from distill_engine.training.distributed import end_worker  # noqa: E402
from distill_engine.training.trainer import Trainer  # noqa: E402


def fix_noise(trainer: Trainer) -> None:
    """Replace SpectrogramVAE.forward: example i's noise is NOISE[i] (found by its content)."""
    train = trainer.train_rep.flatten(1)
    noise = torch.randn(len(train), trainer.config.latent_dim, generator=torch.Generator().manual_seed(1234))

    def forward(self, x):
        mu, logvar = self.encode(x)
        if not self.training:
            return self.decode(mu), mu, logvar
        rows = torch.cdist(x.flatten(1).double(), train.double()).argmin(dim=1)
        return self.decode(mu + noise[rows] * torch.exp(0.5 * logvar)), mu, logvar

    SpectrogramVAE.forward = forward


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("corpus")
    parser.add_argument("runs_dir")
    parser.add_argument("gradients")
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--clip", type=float, default=1.0)
    parser.add_argument("--float64", action="store_true")
    parser.add_argument("--lr", type=float, default=1e-3)
    args = parser.parse_args()
    config = tiny_config(batch_size=args.batch, epochs=args.epochs, grad_clip_norm=args.clip,
                         checkpoint_interval_s=1e9, learning_rate=args.lr)
    corpus = load_corpus(args.corpus, config)
    if args.float64:
        torch.set_default_dtype(torch.float64)
        corpus = dataclasses.replace(corpus, **{name: getattr(corpus, name).double() for name in
                                                ("train_audio", "val_audio", "train_raw", "val_raw")})
    trainer = Trainer(config, args.corpus, runs_dir=args.runs_dir, corpus=corpus)
    setup = trainer._setup
    trainer._setup = lambda: (setup(), fix_noise(trainer))
    result = trainer.run()
    if os.environ.get("RANK", "0") == "0":
        save_file({name: p.grad.contiguous() for name, p in trainer.model.named_parameters()}, args.gradients)
    left = not torch.distributed.is_initialized() and trainer.train_model is trainer.model
    print(f"probe {result.status} at step {result.step}; group left, wrapper dropped: {left}", flush=True)
    return 0 if result.status == "completed" else 1


if __name__ == "__main__":
    sys.exit(end_worker(main()))
