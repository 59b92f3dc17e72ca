"""Measuring previews: per-clip MR-STFT distance and RMS, and the sample-quality figures.

The distance is the trainer's validation distance (spectral convergence + log-magnitude L1 over
DISTANCE_RESOLUTIONS, as model/losses.py's MultiResolutionSTFTLoss) taken per pair of clips, so a
clip's figure equals `MultiResolutionSTFTLoss(...)(pred[None], target[None])`.

sample_fidelity     mean over the samples of the distance to the nearest reference chunk
sample_coverage     mean over the reference chunks of the distance to the nearest sample
sample_loudness_db  20 log10(median sample RMS / median RMS of the corpus' chunks)
"""
from __future__ import annotations

import math

import torch

from ..config.validation import DISTANCE_FFT_SIZES
from ..model.losses import MAG_FLOOR

#: (fft sizes, hop sizes, window lengths) of the distance; the trainer's val_mrstft_distance too.
DISTANCE_RESOLUTIONS = (DISTANCE_FFT_SIZES, (128, 256, 512), DISTANCE_FFT_SIZES)  # validation checks chunks fit
#: The figures of an epoch without a preview (EpochMetrics fields, by keyword: the schema names them).
NO_QUALITY = dict(sample_fidelity=math.nan, sample_coverage=math.nan, sample_loudness_db=math.nan,
                  sample_gain_db=math.nan)


class SpectralDistance:
    """Pairwise MR-STFT distances between batches of clips [n, samples] (same length)."""

    def __init__(self, device, resolutions=DISTANCE_RESOLUTIONS):
        self.resolutions = list(zip(*resolutions))
        self.windows = [torch.hann_window(win, device=device) for _, _, win in self.resolutions]

    def magnitudes(self, audio: torch.Tensor) -> list[torch.Tensor]:
        """Per resolution: |STFT| of each clip, floored like the loss, flattened to [n, bins]."""
        out = []
        for (n_fft, hop, win), window in zip(self.resolutions, self.windows):
            spec = torch.stft(audio.float(), n_fft, hop, win, window, return_complex=True)
            out.append(spec.abs().clamp(min=MAG_FLOOR).flatten(1))
        return out

    def targets(self, magnitudes: list[torch.Tensor]) -> list[tuple]:
        """What pairwise() needs of a fixed set of targets, computed once: per resolution the
        float64 magnitudes, their squared norms and norms, and the log-magnitudes."""
        out = []
        for y in magnitudes:
            y64 = y.double()
            squared = y64.square().sum(1)
            out.append((y64, squared, squared.sqrt(), y.log()))
        return out

    def pairwise(self, pred: list[torch.Tensor], targets: list[tuple]) -> torch.Tensor:
        """[n_pred, n_target] distances from magnitudes() of predictions and targets() of targets."""
        total = None
        for x, (y64, y_squared, y_norm, log_y) in zip(pred, targets):
            x64 = x.double()  # |x|^2 + |y|^2 - 2xy cancels badly in float32
            squared = x64.square().sum(1, keepdim=True) + y_squared - 2 * x64 @ y64.T
            convergence = (squared.clamp(min=0).sqrt() / y_norm).to(x.dtype)
            log_mag = torch.cdist(x.log()[None], log_y[None], p=1)[0] / x.shape[1]  # mean |log x - log y|
            term = convergence + log_mag
            total = term if total is None else total + term
        return total / len(self.resolutions)

    def paired(self, pred: list[torch.Tensor], target: list[torch.Tensor]) -> torch.Tensor:
        """[n] distance of each prediction to the target at the same index."""
        total = None
        for x, y in zip(pred, target):
            convergence = (y - x).norm(dim=1) / y.norm(dim=1)
            log_mag = (x.log() - y.log()).abs().mean(1)
            total = convergence + log_mag if total is None else total + convergence + log_mag
        return total / len(self.resolutions)


def rms(audio: torch.Tensor) -> torch.Tensor:
    """RMS level of each clip of [n, samples]."""
    return audio.double().square().mean(dim=-1).sqrt().to(audio.dtype)


def sample_quality(distances: torch.Tensor, sample_rms: torch.Tensor, corpus_median_rms: float) -> dict:
    """The three figures from [n_samples, n_reference] distances and the samples' RMS."""
    median = float(sample_rms.median()) if len(sample_rms) else math.nan
    ratio = median / corpus_median_rms if corpus_median_rms > 0 else math.nan
    return dict(sample_fidelity=float(distances.min(dim=1).values.mean()),
                sample_coverage=float(distances.min(dim=0).values.mean()),
                sample_loudness_db=20 * math.log10(max(ratio, 1e-12)) if math.isfinite(ratio) else math.nan)


def spread_indices(n: int, k: int) -> list[int]:
    """k indices spread evenly over range(n) (all of them when n <= k)."""
    if n <= k:
        return list(range(n))
    return [int(i * n / k) for i in range(k)]
