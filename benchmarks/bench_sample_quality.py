"""How good a checkpoint's samples are, for each way of choosing latent vectors.

For a checkpoint inside its run folder (the corpus is read from the run), prints the validation
reconstruction distance (the trainer's val_mrstft_distance) and, for N samples decoded from each
prior, the sample-quality figures the previews store (distill_engine.previews.quality): loudness
(median sample RMS against the corpus' median chunk RMS, dB), fidelity (mean distance to the
nearest corpus chunk, also as a multiple of the reconstruction distance) and coverage.
Priors: N(0, I); a Gaussian of the training set's encoder means; the aggregate posterior's
Gaussian (the means' covariance plus the mean posterior variance: what previews used before the
mixture); the aggregate posterior itself (a training chunk's posterior, sampled: what previews and
distill-render use, latent_prior.PosteriorMixture). Last, the loudness of what a preview of this
checkpoint shows: its MAX_SAMPLES sample files, the draws its figures are measured on (one from
each of up to MEASURED_SAMPLES chunks' posteriors), and N mixture draws, for --noise-seeds sets of
vectors each (how steady the loudness figure is). Every sample figure is printed as the decoder
makes it ("raw") and raised by the sample gain (previews/sample_level.py), which is what previews
and distill-render write.
The issue's targets: loudness within 6 dB of the corpus, fidelity <= 1.5 x reconstruction distance.
Run: .venv/bin/python benchmarks/bench_sample_quality.py CHECKPOINT [--samples 64] [--seed 1234] [--noise-seeds 1]
"""
import argparse
import math
from pathlib import Path

import torch

from distill_engine.audio.corpus import load_corpus
from distill_engine.model.losses import MultiResolutionSTFTLoss
from distill_engine.previews.latent_prior import (PosteriorMixture, encoder_posteriors, fit_aggregate_posterior,
                                                  fixed_noise)
from distill_engine.previews.quality import (DISTANCE_RESOLUTIONS, SpectralDistance, rms, sample_quality,
                                             spread_indices)
from distill_engine.previews.render import load_model
from distill_engine.previews.sample_level import measure_sample_gain, with_gain
from distill_engine.previews.session import MAX_REFERENCE_CHUNKS, MAX_SAMPLES, MEASURED_SAMPLES, NOISE_SEED_OFFSET
from distill_engine.runs.reader import open_run


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--noise-seeds", type=int, default=1,
                        help="the last lines' loudness for this many sets of latent vectors")
    args = parser.parse_args()
    loaded = load_model(args.checkpoint)
    with open_run(args.checkpoint.parent.parent) as run:
        corpus_path = run.corpus_path
    corpus = load_corpus(corpus_path, loaded.config)
    rep, model, length = loaded.representation, loaded.model, loaded.chunk_samples
    train, val = rep.normalise(corpus.train_raw), rep.normalise(corpus.val_raw)
    distance = SpectralDistance("cpu")
    with torch.no_grad():
        recon = rep.decode(model(val)[0], length)
        recon_distance = float(MultiResolutionSTFTLoss(*DISTANCE_RESOLUTIONS)(recon, corpus.val_audio))
        level = 20 * math.log10(float(rms(recon).median()) / float(rms(corpus.val_audio).median()))
        audio = torch.cat([corpus.train_audio, corpus.val_audio])
        reference = distance.targets(distance.magnitudes(audio[spread_indices(len(audio), MAX_REFERENCE_CHUNKS)]))
        corpus_rms = float(rms(audio).median())
        means, variances = encoder_posteriors(model, train)
        train_recon = rep.decode(model.decode(means), length)
        train_level = 20 * math.log10(float(rms(train_recon).median()) / float(rms(corpus.train_audio).median()))
        gain = measure_sample_gain(model, rep, train, corpus.train_audio)
        mixture = PosteriorMixture(means, variances.sqrt())
        noise = fixed_noise(args.samples, loaded.config.latent_dim, args.seed)
        priors = {
            "N(0, I)": noise,
            "Gaussian of the means": fit_aggregate_posterior(means).latents(noise),
            "aggregate posterior's Gaussian": fit_aggregate_posterior(means, variances).latents(noise),
            "aggregate posterior (mixture, used)": mixture.latents(noise),
        }
        print(f"{args.checkpoint} (epoch {loaded.checkpoint.epoch}, step {loaded.checkpoint.step}); corpus "
              f"{corpus_path}: median chunk RMS {20 * math.log10(corpus_rms):.1f} dBFS")
        print(f"validation reconstructions: distance {recon_distance:.3f}, level {level:+.1f} dB against their originals")
        print(f"training reconstructions (z = the encoder's mean): level {train_level:+.1f} dB against their originals")
        print(f"sample gain (what the decoder loses on up to 32 training chunks): {gain:+.1f} dB")
        for name, z in priors.items():
            decoded = rep.decode(model.decode(z), length)
            for how, samples in (("raw", decoded), ("gain", with_gain(decoded, gain))):
                figures = sample_quality(distance.pairwise(distance.magnitudes(samples), reference), rms(samples),
                                         corpus_rms)
                loud, fidelity = figures["sample_loudness_db"], figures["sample_fidelity"]
                coverage = figures["sample_coverage"]
                print(f"  {name:36s} {how:4s} loudness {loud:+6.1f} dB  fidelity {fidelity:.3f} "
                      f"({fidelity / recon_distance:.2f} x reconstruction)  coverage {coverage:.3f}")
        # what a preview of this checkpoint shows (its run's fixed vectors), and how much the
        # loudness figure moves with the noise: --noise-seeds other vectors of each kind
        loudness = {}
        for k in range(args.noise_seeds):
            own = fixed_noise(MEASURED_SAMPLES, loaded.config.latent_dim, loaded.config.seed + NOISE_SEED_OFFSET + k)
            kinds = {f"a preview's {MAX_SAMPLES} sample files": mixture.latents(own[:MAX_SAMPLES]),
                     "a preview's figures (spread draws)": mixture.spread_draws(own),
                     f"{args.samples} mixture draws": mixture.latents(fixed_noise(args.samples, loaded.config.latent_dim,
                                                                                  args.seed + k))}
            for name, z in kinds.items():
                level = float(rms(with_gain(rep.decode(model.decode(z), length), gain)).median())
                loudness.setdefault((name, len(z)), []).append(20 * math.log10(max(level / corpus_rms, 1e-12)))
        for (name, count), values in loudness.items():
            shown = ", ".join(f"{v:+.1f}" for v in values)
            print(f"  {name:36s} gain loudness {shown} dB ({count} samples; {args.noise_seeds} noise seeds)")


if __name__ == "__main__":
    main()
