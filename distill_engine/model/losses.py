"""The combined loss: multi-resolution STFT on decoded audio, spectrogram L1 terms, the decoded
audio's level over time, annealed KL.

total = stft.weight * stft + reconstruction.weight * (magnitude_weight * mag + if_weight * if)
        + level.weight * level + kl_weight * kl    (term_weights: the one place weights are applied)
Each term is returned under its name in training.events' schema (LOSS_TERMS): the metric fields
that record a term say which term they are, so no metric name is spelled here.
Nothing here synchronises with the host (no `.item()`, no branch on a tensor's value), so a caller
can test `torch.isfinite(total)` on the device and the step stays CUDA-graph capturable.
"""
from __future__ import annotations

import torch
from torch import nn

from ..config.schema import KLLossConfig, LossConfig
from ..audio.representation import Representation
from ..training.events import WEIGHTED_TERMS

MAG_EPS = 1e-8  # floor on squared magnitude, as auraloss's STFTLoss
MAG_FLOOR = MAG_EPS ** 0.5
#: Floor on a frame's mean square in the level term, relative to its chunk's: frames 40 dB or more
#: below the original chunk's RMS (and below -60 dBFS: LEVEL_FLOOR_MAX) count as silence. The floor was -60 dBFS for every chunk, which is
#: where a quiet corpus' sounds lie (freedesktop's sit at -33 to -44 dBFS): a reconstruction that
#: sank below it got no pull back from the term. In the kit run whose samples came out 19 dB quiet,
#: those chunks' reconstructions sat at -57 to -64 dBFS, 20-30 dB below their originals; with this
#: floor, -47 to -57 (README, "The level term's floor").
LEVEL_FLOOR_RELATIVE = 1e-4
#: The floor of a chunk of digital silence (-120 dBFS), so that no logarithm sees 0.
LEVEL_FLOOR = 1e-12
#: Never above -60 dBFS (the fixed floor before): for a loud chunk the relative floor sat higher and
#: flattened the pull on a young model's near-silent output (demo corpus, epoch 51: reconstructions
#: at -43 to -59 dBFS against -12 to -15 with the fixed floor).
LEVEL_FLOOR_MAX = 1e-6


class _SpectralDistance(torch.autograd.Function):
    """Spectral convergence (per example, averaged over the batch) + mean |log x - log y| of one
    resolution, with a hand-written backward.

    x = max(|X|, MAG_FLOOR) of the prediction's complex STFT X, y the target's floored magnitude.
    Autograd would keep and walk ~10 full-size intermediates (abs, clamp, difference, square, two
    logs, their difference, its abs, and complex sgn for |X|); here the forward keeps X and y only
    and the backward is one pass: d/dx of the convergence is -(y - x) / (||y - x|| ||y||), of the
    log term sign(x - y) / (N x) (log is monotonic), masked where |X| was floored, times X / |X|.
    """

    @staticmethod
    def forward(ctx, spec: torch.Tensor, y_mag: torch.Tensor) -> torch.Tensor:
        x_mag = spec.abs().clamp_(min=MAG_FLOOR)
        diff_norm = torch.sqrt(torch.sub(y_mag, x_mag).square_().sum(dim=(-2, -1)) + 1e-30)  # [batch]
        y_norm = torch.linalg.vector_norm(y_mag, dim=(-2, -1))
        log_mag = torch.div(x_mag, y_mag).log_().abs_().mean()
        ctx.save_for_backward(spec, y_mag, diff_norm, y_norm)
        return (diff_norm / y_norm).mean() + log_mag

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        spec, y_mag, diff_norm, y_norm = ctx.saved_tensors
        magnitude = spec.abs()
        x_mag = magnitude.clamp(min=MAG_FLOOR)
        d_x = (x_mag - y_mag).div_((diff_norm * y_norm * diff_norm.numel())[:, None, None])
        d_x += torch.sign(x_mag - y_mag).div_(x_mag).div_(x_mag.numel())
        d_x *= (magnitude >= MAG_FLOOR).to(d_x.dtype)  # clamp(min) passes the gradient where not floored
        d_x.mul_(grad).div_(magnitude.clamp_(min=torch.finfo(magnitude.dtype).tiny))
        return spec * d_x, None


class MultiResolutionSTFTLoss(nn.Module):
    """Spectral convergence + log-magnitude L1, averaged over resolutions (auraloss-compatible).

    The batch's loss is the mean of its examples' losses: each example's equals auraloss 0.4.0's
    MultiResolutionSTFTLoss (w_sc=1, w_log_mag=1) on that example alone. (auraloss pools the
    spectral convergence over the whole batch, so an example's loss would depend on the batch it
    is in; a per-example mean makes 2 processes x batch b train exactly like 1 process x 2b.)
    No phase is computed (auraloss's is never used).

    Args:
        fft_sizes, hop_sizes, win_lengths: one resolution per index (Hann windows).
    """

    def __init__(self, fft_sizes, hop_sizes, win_lengths):
        super().__init__()
        self.resolutions = list(zip(fft_sizes, hop_sizes, win_lengths))
        for i, (_, _, win) in enumerate(self.resolutions):
            self.register_buffer(f"window_{i}", torch.hann_window(win), persistent=False)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """pred, target: [batch, samples] audio -> scalar loss (the mean over the batch)."""
        if pred.dim() == 1:
            pred, target = pred.unsqueeze(0), target.unsqueeze(0)
        total = pred.new_zeros(())
        for i, (n_fft, hop, win) in enumerate(self.resolutions):
            window = getattr(self, f"window_{i}")
            spec = torch.stft(pred, n_fft, hop, win, window, return_complex=True)
            with torch.no_grad():
                y_mag = self._magnitude(target, n_fft, hop, win, window)
            # sqrt of a sum (not torch.norm) keeps the gradient finite when pred == target.
            total = total + _SpectralDistance.apply(spec, y_mag)
        return total / len(self.resolutions)


    @staticmethod
    def _magnitude(audio, n_fft, hop, win, window):
        # |X| floored at sqrt(MAG_EPS) equals auraloss's sqrt(clamp(re^2 + im^2, MAG_EPS)).
        spec = torch.stft(audio, n_fft, hop, win, window, return_complex=True)
        return spec.abs().clamp(min=MAG_FLOOR)


def create_stft_loss(loss_config: LossConfig, device="cpu") -> MultiResolutionSTFTLoss:
    """The MR-STFT loss module for loss_config.stft's resolutions, on device."""
    stft = loss_config.stft
    return MultiResolutionSTFTLoss(stft.fft_sizes, stft.hop_sizes, stft.win_lengths).to(device)


def kl_weight_at(step: int, total_steps: int, kl_config: KLLossConfig) -> float:
    """Linear KL annealing: 0 at step 0, weight_max after warmup_fraction of total_steps."""
    warmup = kl_config.warmup_fraction * total_steps
    if warmup <= 0:
        return float(kl_config.weight_max)
    return float(kl_config.weight_max) * min(1.0, max(0.0, step / warmup))


def at_full_kl_weight(total: float, kl: float, kl_weight: float, kl_config: KLLossConfig) -> float:
    """A total loss computed with the KL term at `kl_weight`, as it would read at weight_max.

    The best checkpoint is chosen by this: during the warm-up the KL weighs less, so the total
    reads lower than it will, and with free bits of 1.0 nat per dimension (a KL floor of 128 nats,
    1.28 at the full weight 0.01) the lowest total came at epoch 49 of 450 while the distance kept
    falling (README, "The best checkpoint")."""
    return total + (float(kl_config.weight_max) - kl_weight) * kl


def term_weights(loss_config: LossConfig, kl_weight=None) -> dict:
    """{term: weight in the total} for WEIGHTED_TERMS; the KL entry is `kl_weight` (the annealed
    weight of a step; None: weight_max, where annealing ends)."""
    rec = loss_config.reconstruction
    kl = float(loss_config.kl.weight_max) if kl_weight is None else kl_weight
    weights = {"stft": float(loss_config.stft.weight), "magnitude": rec.weight * rec.magnitude_weight,
               "if": rec.weight * rec.if_weight, "level": float(loss_config.level.weight), "kl": kl}
    return {term: weights[term] for term in WEIGHTED_TERMS}


def kl_per_dimension(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q(z|x) || N(0, I)) for each sample and latent dimension, [batch, latent_dim]."""
    return 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar)


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Raw KL (no free bits) summed over dimensions, mean over the batch: for collapse watching."""
    return kl_per_dimension(mu, logvar).sum(dim=1).mean()


def level_floor(target_audio: torch.Tensor) -> torch.Tensor:
    """The level term's floor on a frame's mean square for each chunk of [batch, samples]: [batch, 1]."""
    relative = target_audio.square().mean(dim=-1, keepdim=True) * LEVEL_FLOOR_RELATIVE
    return relative.clamp(min=LEVEL_FLOOR, max=LEVEL_FLOOR_MAX)


def frame_level(audio: torch.Tensor, frame: int, hop: int, floor: torch.Tensor | float) -> torch.Tensor:
    """log RMS (nats) of each frame of audio [batch, samples]: [batch, 1 + samples // hop], frames
    of `frame` samples centred every `hop` samples, the mean square floored at `floor` ([batch, 1])."""
    power = torch.nn.functional.avg_pool1d(audio.square().unsqueeze(1), frame, hop, padding=frame // 2,
                                           count_include_pad=True)[:, 0]
    return 0.5 * torch.log(power + floor)


def level_distance(pred_audio: torch.Tensor, target_audio: torch.Tensor, frame: int, hop: int) -> torch.Tensor:
    """Mean |frame log RMS of pred - of target| (nats; 1 nat = 8.7 dB), over frames and the batch.

    The spectral terms let a young model hedge: its blurred, phase-incoherent reconstructions
    decode 20-40 dB below their originals while the STFT distance still falls; this term asks for
    the level of each moment directly. Both are floored at the original chunk's level_floor."""
    floor = level_floor(target_audio)
    return (frame_level(pred_audio, frame, hop, floor) - frame_level(target_audio, frame, hop, floor)).abs().mean()


def _default_representation(rep: torch.Tensor) -> Representation:
    n_fft = 2 * (rep.shape[2] - 1)
    return Representation(16000, n_fft, n_fft // 4)


def compute_combined_loss(recon, target, mu, logvar, loss_config: LossConfig, kl_weight,
                          stft_loss=None, *, representation: Representation | None = None,
                          target_audio: torch.Tensor | None = None) -> dict:
    """Every loss component for one batch, as 0-d tensors on the inputs' device.

    Args:
        recon, target: model output and input, [batch, 2, freq, frames] normalised representations.
        mu, logvar: posterior parameters, [batch, latent_dim].
        loss_config: weights, resolutions, KL free bits.
        kl_weight: the annealed KL weight for this step (float or 0-d tensor).
        stft_loss: module from create_stft_loss; built from loss_config when None.
        representation: decodes recon to audio for the STFT term; when None, one with
            n_fft = 2 * (freq - 1), hop = n_fft / 4 and default normalisation is assumed.
        target_audio: the input audio [batch, samples]; decoded from target when None.
    Returns:
        dict of every term in LOSS_TERMS: total, recon, stft, magnitude, if, level, kl (each 0-d).
    """
    representation = representation or _default_representation(target)
    if stft_loss is None:
        stft_loss = create_stft_loss(loss_config, recon.device)
    if target_audio is None:
        target_audio = representation.decode(target, representation.hop_length * (target.shape[-1] - 1))
    pred_audio = representation.decode(recon, target_audio.shape[-1], precise=False)
    stft_value = stft_loss(pred_audio, target_audio)

    mag_loss = (recon[:, 0] - target[:, 0]).abs().mean()
    weights = representation.magnitude(target).detach()
    weights = weights / (weights.mean(dim=(-2, -1), keepdim=True) + 1e-12)  # per example
    if_loss = (weights * (recon[:, 1] - target[:, 1]).abs()).mean()
    w = term_weights(loss_config, kl_weight)
    recon_loss = w["magnitude"] * mag_loss + w["if"] * if_loss
    level_loss = level_distance(pred_audio, target_audio, representation.n_fft, representation.hop_length)
    kl_loss = kl_per_dimension(mu, logvar).clamp(min=loss_config.kl.free_bits).sum(dim=1).mean()
    total = w["stft"] * stft_value + recon_loss + w["level"] * level_loss + w["kl"] * kl_loss
    return {"total": total, "recon": recon_loss, "stft": stft_value, "magnitude": mag_loss,
            "if": if_loss, "level": level_loss, "kl": kl_loss}
