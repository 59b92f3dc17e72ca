"""Where samples' latent vectors come from: the aggregate posterior of the training set.

Decoding z ~ N(0, I) gives near-silence with this model: the KL weight is small (0.01, free bits),
so the encoder's means sit far from the standard normal and the decoder never saw that region.
A LatentPrior is instead fitted to the aggregate posterior q(z) = mean over training chunks x of
q(z | x) = N(mu(x), sigma(x)^2): the Gaussian with its mean and covariance (the covariance of the
means, as the followed engine's latent analysis fits PCA to them, plus the mean posterior
variance), sampled through its principal axes. Leaving out the posterior variance (a Gaussian of
the means alone) decoded 15 dB quieter on a real corpus: the decoder is trained on z with that
noise. Samples are `prior.latents(eps)` for fixed standard-normal `eps` (fixed_noise), so epoch k
and epoch k+1 decode the same point of the fitted distribution.
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


def fit_latent_prior(model, train_reps: torch.Tensor, max_chunks: int = MAX_FIT_CHUNKS) -> LatentPrior:
    """The aggregate posterior's Gaussian over (up to max_chunks of) the training chunks."""
    if len(train_reps) > max_chunks:
        index = torch.linspace(0, len(train_reps) - 1, max_chunks).round().long().to(train_reps.device)
        train_reps = train_reps[index]
    return fit_aggregate_posterior(*encoder_posteriors(model, train_reps))
