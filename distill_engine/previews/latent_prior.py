"""Where samples' latent vectors come from: the aggregate posterior of the training set.

Decoding z ~ N(0, I) gives near-silence with this model: the KL weight is small (0.01, free bits),
so the encoder's means sit far from the standard normal and the decoder never saw that region.
Samples come instead from the aggregate posterior q(z) = mean over training chunks x of
q(z | x) = N(mu(x), sigma(x)^2), sampled as it is (`PosteriorMixture`): pick a training chunk's
posterior, draw from it. In 12 of 13 five-minute runs on real recordings
(benchmarks/bench_sample_quality.py, 256 samples each) its samples were 0.6-8.3 dB louder (median
6.0) than those of the Gaussian with the same mean and covariance (`LatentPrior`, the means'
covariance plus the mean posterior variance, sampled through its principal axes, as the followed
engine's latent analysis fits PCA to the means), and nearer the corpus (fidelity) in all 13: the
decoder is trained on z near the chunks' posteriors, and between them it hedges towards silence.
(The 13th: a model whose training reconstructions had collapsed to silence, -89 dB.) The Gaussian
stays for checkpoints that carry one (written before the mixture). Samples are `prior.latents(eps)`
for fixed standard-normal `eps` (fixed_noise), so epoch k and epoch k+1 decode the same point of the
fitted distribution.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

#: Training chunks encoded to fit the prior (evenly spread when there are more).
MAX_FIT_CHUNKS = 256
#: Standard deviations of the fitted Gaussian scaled by this (1 = the fitted spread).
DEFAULT_TEMPERATURE = 1.0


@dataclass
class LatentPrior:
    """z = mean + (eps[:, :k] * scales) @ axes: a Gaussian through its principal axes.

    mean [D]; axes [k, D] orthonormal principal directions; scales [k] standard deviations.
    kind "standard" (mean 0, identity axes) is N(0, I)."""

    mean: torch.Tensor
    axes: torch.Tensor
    scales: torch.Tensor
    kind: str = "gaussian"

    def latents(self, eps: torch.Tensor, temperature: float = DEFAULT_TEMPERATURE) -> torch.Tensor:
        """Latent vectors [n, D] for standard-normal eps [n, D] (only the first k columns used)."""
        k = self.scales.shape[0]
        eps = eps.to(self.mean.device, self.mean.dtype)
        return self.mean + (eps[:, :k] * self.scales * temperature) @ self.axes

    @property
    def latent_dim(self) -> int:
        return self.mean.shape[0]

    def to(self, device) -> "LatentPrior":
        return LatentPrior(self.mean.to(device), self.axes.to(device), self.scales.to(device), self.kind)

    def tensors(self) -> dict[str, torch.Tensor]:
        """For a checkpoint's extra tensors (see from_tensors)."""
        return {"latent_prior/mean": self.mean.detach().cpu(), "latent_prior/axes": self.axes.detach().cpu(),
                "latent_prior/scales": self.scales.detach().cpu()}

    @classmethod
    def from_tensors(cls, tensors: dict) -> "LatentPrior | None":
        try:
            mean, axes, scales = (tensors[f"latent_prior/{n}"].float() for n in ("mean", "axes", "scales"))
        except KeyError:
            return None
        if mean.dim() != 1 or axes.dim() != 2 or axes.shape != (scales.shape[0], mean.shape[0]):
            return None
        return cls(mean, axes, scales)

    @classmethod
    def standard(cls, latent_dim: int, device="cpu") -> "LatentPrior":
        """N(0, I): what a VAE's samples are by definition (near-silent for this model)."""
        return cls(torch.zeros(latent_dim, device=device), torch.eye(latent_dim, device=device),
                   torch.ones(latent_dim, device=device), kind="standard")


@dataclass
class PosteriorMixture:
    """The aggregate posterior: the equal-weight mixture of N(means[i], diag(stds[i]^2)), [n, D] each.

    latents(eps) maps each standard-normal row to one draw: Phi(eps[r, 0]) * n = k + f picks the
    component k (uniform over the chunks) and its fraction f, uniform and independent of k, gives
    back a standard-normal first coordinate Phi^-1(f); so the same eps always picks the same chunk
    and the draw is an exact sample of the mixture."""

    means: torch.Tensor
    stds: torch.Tensor
    kind: str = "mixture"

    def latents(self, eps: torch.Tensor, temperature: float = DEFAULT_TEMPERATURE) -> torch.Tensor:
        """Latent vectors [n, D] for standard-normal eps [n, D]."""
        eps = eps.to(self.means.device, torch.float64)
        normal = torch.distributions.Normal(torch.zeros((), dtype=torch.float64), torch.ones((), dtype=torch.float64))
        position = normal.cdf(eps[:, 0]) * len(self.means)
        component = position.floor().long().clamp_(0, len(self.means) - 1)
        fraction = (position - component).clamp_(1e-12, 1 - 1e-12)
        eps = torch.cat([normal.icdf(fraction)[:, None], eps[:, 1:]], dim=1).to(self.means.dtype)
        return self.means[component] + eps * self.stds[component] * temperature

    def spread_draws(self, eps: torch.Tensor) -> torch.Tensor:
        """One draw from each of up to len(eps) components spread evenly over the mixture (all of
        them when there are no more), [min(n, len(eps)), D]: a stratified sample, so a figure
        measured on it does not hang on which chunks random draws happened to pick."""
        count = min(len(self.means), len(eps))
        index = torch.linspace(0, len(self.means) - 1, count, device=self.means.device).round().long()
        return self.means[index] + eps[:count].to(self.means.device, self.means.dtype) * self.stds[index]

    def to(self, device) -> "PosteriorMixture":
        return PosteriorMixture(self.means.to(device), self.stds.to(device), self.kind)

    def tensors(self) -> dict[str, torch.Tensor]:
        """For a checkpoint's extra tensors (see prior_from_tensors)."""
        return {"latent_prior/component_means": self.means.detach().cpu(),
                "latent_prior/component_stds": self.stds.detach().cpu()}

    @property
    def latent_dim(self) -> int:
        return self.means.shape[1]


def prior_from_tensors(tensors: dict) -> "PosteriorMixture | LatentPrior | None":
    """The prior a checkpoint's extra tensors carry: a mixture, an older checkpoint's Gaussian, or
    None (none, or tensors of the wrong shapes)."""
    try:
        means, stds = (tensors[f"latent_prior/component_{n}"].float() for n in ("means", "stds"))
    except KeyError:
        return LatentPrior.from_tensors(tensors)
    if means.dim() != 2 or means.shape != stds.shape or len(means) == 0 or not bool((stds >= 0).all()):
        return None
    return PosteriorMixture(means, stds)


def fixed_noise(n: int, latent_dim: int, seed: int) -> torch.Tensor:
    """n standard-normal vectors from `seed` alone (the same every time; global RNG untouched)."""
    return torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(int(seed)))


@torch.no_grad()
def encoder_posteriors(model, reps: torch.Tensor, batch_size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """The encoder's (means, variances), each [n, D], of normalised representations."""
    was_training = model.training
    model.eval()
    try:
        stats = [model.encode(reps[i:i + batch_size]) for i in range(0, len(reps), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat([m for m, _ in stats]), torch.cat([lv for _, lv in stats]).exp()


def fit_aggregate_posterior(means: torch.Tensor, variances: torch.Tensor | None = None) -> LatentPrior:
    """The Gaussian with the mean and covariance of the mixture of N(means[i], diag(variances[i]))
    ([n, D] each; variances None: of the points `means` alone), through its principal axes."""
    means = means.double()
    centre = means.mean(dim=0)
    n, dim = means.shape
    covariance = torch.zeros(dim, dim, dtype=torch.float64, device=means.device)
    if n > 1:
        centred = means - centre
        covariance += centred.T @ centred / (n - 1)
    if variances is not None:
        covariance += torch.diag(variances.double().mean(dim=0))
    eigenvalues, eigenvectors = torch.linalg.eigh(covariance)
    order = eigenvalues.argsort(descending=True)
    scales = eigenvalues[order].clamp(min=0).sqrt()
    keep = scales > 1e-6 * max(float(scales[0]), 1e-30)
    return LatentPrior(centre.float(), eigenvectors[:, order].T[keep].float(), scales[keep].float())


def fit_latent_prior(model, train_reps: torch.Tensor, max_chunks: int = MAX_FIT_CHUNKS) -> PosteriorMixture:
    """The aggregate posterior of (up to max_chunks of, evenly spread) the training chunks."""
    if len(train_reps) > max_chunks:
        index = torch.linspace(0, len(train_reps) - 1, max_chunks).round().long().to(train_reps.device)
        train_reps = train_reps[index]
    means, variances = encoder_posteriors(model, train_reps)
    return PosteriorMixture(means, variances.sqrt())
