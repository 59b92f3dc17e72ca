"""The maths behind previews: per-pair MR-STFT distances, the sample-quality figures, the latent
prior samples come from."""
import math

import numpy as np
import pytest
import torch

from distill_engine.model.losses import MultiResolutionSTFTLoss
from distill_engine.previews.latent_prior import (LatentPrior, PosteriorMixture, fit_aggregate_posterior, fixed_noise,
                                                  prior_from_tensors)
from distill_engine.previews.quality import DISTANCE_RESOLUTIONS, SpectralDistance, rms, sample_quality


def clips(n, seed, length=4096, rate=8000):
    rng = np.random.default_rng(seed)
    t = np.arange(length) / rate
    out = [0.3 * np.sin(2 * np.pi * rng.uniform(100, 2000) * t) * np.exp(-rng.uniform(1, 8) * t)
           + 0.02 * rng.standard_normal(length) for _ in range(n)]
    return torch.tensor(np.array(out), dtype=torch.float32)


def test_pairwise_and_paired_distances_are_the_losss_distance_of_each_pair():
    a, b = clips(3, 0), clips(4, 1)
    distance = SpectralDistance("cpu")
    matrix = distance.pairwise(distance.magnitudes(a), distance.targets(distance.magnitudes(b)))
    loss = MultiResolutionSTFTLoss(*DISTANCE_RESOLUTIONS)
    for i in range(3):
        for j in range(4):
            assert float(matrix[i, j]) == pytest.approx(float(loss(a[i:i + 1], b[j:j + 1])), rel=1e-4)
    paired = distance.paired(distance.magnitudes(a), distance.magnitudes(b[:3]))
    assert torch.allclose(paired, torch.diagonal(matrix[:, :3]), rtol=1e-4)
    same = distance.pairwise(distance.magnitudes(a), distance.targets(distance.magnitudes(a)))
    assert torch.all(torch.diagonal(same) < 1e-3) and float(same.min(dim=1).values.max()) < 1e-3


def test_silent_samples_show_as_a_large_loudness_deficit_and_a_worse_fidelity_than_copies():
    corpus = clips(6, 2)
    distance = SpectralDistance("cpu")
    reference = distance.targets(distance.magnitudes(corpus))
    corpus_rms = float(rms(corpus).median())
    silent = 1e-4 * clips(4, 3)
    copies = corpus[:4].clone()
    quiet = sample_quality(distance.pairwise(distance.magnitudes(silent), reference), rms(silent), corpus_rms)
    good = sample_quality(distance.pairwise(distance.magnitudes(copies), reference), rms(copies), corpus_rms)
    assert quiet["sample_loudness_db"] < -70 and abs(good["sample_loudness_db"]) < 3
    assert good["sample_fidelity"] < 1e-3 < quiet["sample_fidelity"]
    assert good["sample_coverage"] < quiet["sample_coverage"]


def test_the_prior_reproduces_the_aggregate_posteriors_mean_and_covariance():
    gen = torch.Generator().manual_seed(0)
    mixing = torch.randn(6, 6, generator=gen)
    means = torch.randn(400, 6, generator=gen) @ mixing + torch.arange(6.0)
    variances = torch.full((400, 6), 0.25)
    prior = fit_aggregate_posterior(means, variances)
    z = prior.latents(torch.randn(20000, 6, generator=gen)).double()
    expected = torch.cov(means.T.double()) + 0.25 * torch.eye(6, dtype=torch.float64)
    assert torch.allclose(z.mean(0), means.mean(0).double(), atol=0.1 * float(expected.diag().sqrt().max()))
    assert torch.allclose(torch.cov(z.T), expected, rtol=0.1, atol=0.1 * float(expected.diag().max()))
    few = fit_aggregate_posterior(means[:3])  # 3 points: a 2-dimensional spread, no variance added
    assert few.scales.shape == (2,) and torch.allclose(few.latents(torch.zeros(1, 6))[0], means[:3].mean(0))


def test_the_mixture_draws_each_chunks_posterior_equally_and_the_same_noise_picks_the_same_chunk():
    gen = torch.Generator().manual_seed(0)
    means = torch.tensor([[-10.0, 0.0, 0.0], [0.0, 10.0, 0.0], [0.0, 0.0, 10.0], [10.0, 10.0, 10.0]])
    stds = torch.tensor([[0.5, 1.0, 2.0], [1.0, 1.0, 1.0], [0.1, 0.2, 0.3], [2.0, 0.5, 1.0]])
    mixture = PosteriorMixture(means, stds)
    eps = torch.randn(40000, 3, generator=gen)
    z = mixture.latents(eps)
    nearest = torch.cdist(z, means).argmin(dim=1)  # the components are far apart: each draw's own
    counts = torch.bincount(nearest, minlength=4).double() / len(z)
    assert torch.allclose(counts, torch.full((4,), 0.25, dtype=torch.float64), atol=0.01)
    for k in range(4):  # within a component, a draw is N(means[k], stds[k]^2) in every coordinate
        draws = z[nearest == k].double()
        assert torch.allclose(draws.mean(0), means[k].double(), atol=0.05 * float(stds[k].max()) + 0.02)
        assert torch.allclose(draws.std(0), stds[k].double(), rtol=0.05)
    assert torch.equal(mixture.latents(eps[:5]), z[:5])  # fixed noise: the same chunks, the same points
    assert torch.equal(mixture.latents(torch.zeros(1, 3), temperature=0.0), means[2:3])  # Phi(0) * 4 = 2


def test_spread_draws_take_one_draw_from_each_chunks_posterior_or_from_chunks_spread_over_them():
    means = torch.arange(10.0)[:, None] * torch.tensor([[100.0, 0.0]])  # 10 far-apart posteriors
    stds = torch.full((10, 2), 0.5)
    mixture = PosteriorMixture(means, stds)
    eps = torch.randn(32, 2, generator=torch.Generator().manual_seed(3))
    every = mixture.spread_draws(eps)  # more noise rows than components: each component once
    assert every.shape == (10, 2) and torch.equal(torch.cdist(every, means).argmin(dim=1), torch.arange(10))
    assert torch.allclose(every, means + eps[:10] * stds)
    spread = mixture.spread_draws(eps[:4])  # fewer: components spread from the first to the last
    assert torch.cdist(spread, means).argmin(dim=1).tolist() == [0, 3, 6, 9]


def test_fixed_noise_is_the_same_every_time_and_leaves_the_global_rng_alone():
    state = torch.get_rng_state()
    first, second = fixed_noise(4, 8, 11), fixed_noise(4, 8, 11)
    assert torch.equal(first, second) and not torch.equal(first, fixed_noise(4, 8, 12))
    assert torch.equal(torch.get_rng_state(), state)


def test_a_prior_survives_a_checkpoint_round_trip_and_bad_tensors_are_ignored(tmp_path):
    from distill_engine.checkpoints.format import load_checkpoint, save_checkpoint

    prior = fit_aggregate_posterior(torch.randn(10, 4), torch.rand(10, 4))
    path = save_checkpoint(tmp_path / "c.safetensors", model_state={"w": torch.zeros(1)}, optimizer_state=None,
                           epoch=1, step=1, config={}, metrics={}, extra_tensors=prior.tensors())
    loaded = LatentPrior.from_tensors(load_checkpoint(path).extra_tensors)
    eps = torch.randn(3, 4)
    assert torch.allclose(loaded.latents(eps), prior.latents(eps))
    assert LatentPrior.from_tensors({}) is None
    assert LatentPrior.from_tensors({"latent_prior/mean": torch.zeros(4), "latent_prior/axes": torch.zeros(2, 3),
                                     "latent_prior/scales": torch.zeros(2)}) is None
    mixture = PosteriorMixture(torch.randn(10, 4), torch.rand(10, 4))
    path = save_checkpoint(tmp_path / "m.safetensors", model_state={"w": torch.zeros(1)}, optimizer_state=None,
                           epoch=1, step=1, config={}, metrics={}, extra_tensors=mixture.tensors())
    assert torch.equal(prior_from_tensors(load_checkpoint(path).extra_tensors).latents(eps), mixture.latents(eps))
    assert isinstance(prior_from_tensors(prior.tensors()), LatentPrior)  # an older checkpoint's Gaussian
    assert prior_from_tensors({}) is None
    assert prior_from_tensors({"latent_prior/component_means": torch.zeros(3, 4),
                               "latent_prior/component_stds": torch.zeros(3, 5)}) is None
    assert prior_from_tensors({"latent_prior/component_means": torch.zeros(3, 4),
                               "latent_prior/component_stds": -torch.ones(3, 4)}) is None
    standard = LatentPrior.standard(4)
    assert torch.equal(standard.latents(eps), eps) and math.isclose(float(standard.scales.sum()), 4.0)
