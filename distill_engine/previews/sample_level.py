"""The samples' output gain: what the decoder loses in level, measured on training chunks, put back.

The model predicts log-magnitudes and its loss is mostly logarithmic, so where it cannot tell
chunks apart it learns the log-domain middle of what they could be: that is the right mean
log-magnitude (measured: -1.36 against -1.54, normalised) but lower energy than the mean of the
sounds (a retransformation bias: for a spread of 1 nat in log-magnitude, exp(2 x 1^2) = 8.7 dB of
power), and phases that partly cancel in the overlap-add. After 5 minutes on a kit of 27 one-shots
the training chunks' reconstructions decode 3 to 15 dB below their originals (median over chunks),
and samples, decoded from the same posteriors, about as far below the corpus.
A preview measures that gap on up to CALIBRATION_CHUNKS training chunks (the median, over chunks
that are not silent, of each reconstruction's RMS against its original's, in dB) and raises its
samples by it, by at most MAX_GAIN_DB either way: so a model whose output has collapsed towards
silence still sounds, and reads, quiet. The gain is saved with the checkpoint's latent prior
(distill-render applies it), stored as the `sample_gain_db` epoch metric, and measured samples and
written samples both carry it. Reconstructions are written as the model makes them, so their
distance stays the trainer's validation distance. A clip that the gain would take past PEAK_LIMIT
is scaled down to it, so nothing is clipped when written.
"""
from __future__ import annotations

import math

import torch

from .quality import rms

#: The gain never goes further than this (4x in amplitude) either way.
MAX_GAIN_DB = 12.0
#: Training chunks (spread over the split) whose reconstructions measure the gap.
CALIBRATION_CHUNKS = 32
#: Chunks whose original RMS is below this (-100 dBFS: digital silence) say nothing about level.
HEARD_RMS = 1e-5
#: Sample peaks after the gain are kept at or below this (full scale is 1).
PEAK_LIMIT = 0.99
#: The checkpoint extra tensor that carries the gain (beside the latent prior's).
GAIN_TENSOR = "latent_prior/sample_gain"  # in dB


def level_gap_db(reconstructions: torch.Tensor, originals: torch.Tensor) -> float:
    """Median over the heard originals of 20 log10(RMS of reconstruction / RMS of original), in dB
    ([n, samples] each; NaN when no original is heard)."""
    recon_rms, original_rms = rms(reconstructions.double()), rms(originals.double())
    heard = original_rms >= HEARD_RMS
    if not bool(heard.any()):
        return math.nan
    ratio = recon_rms[heard].clamp(min=1e-12) / original_rms[heard]
    return float(20 * torch.log10(ratio).quantile(0.5))  # the mean of the middle two for an even count


def sample_gain_db(gap_db: float) -> float:
    """The gain that closes a level gap, within +-MAX_GAIN_DB (0 when the gap is unknown)."""
    if not math.isfinite(gap_db):
        return 0.0
    return min(max(-gap_db, -MAX_GAIN_DB), MAX_GAIN_DB)


def with_gain(audio: torch.Tensor, gain_db: float) -> torch.Tensor:
    """Clips [n, samples] raised by gain_db, each scaled down where its peak would pass PEAK_LIMIT."""
    raised = audio * (10 ** (gain_db / 20))
    peak = raised.abs().amax(dim=-1, keepdim=True)
    return raised * torch.where(peak > PEAK_LIMIT, PEAK_LIMIT / peak.clamp(min=1e-30), torch.ones_like(peak))


def calibration_indices(n_chunks: int) -> torch.Tensor:
    """Up to CALIBRATION_CHUNKS indices spread over n_chunks training chunks."""
    count = min(n_chunks, CALIBRATION_CHUNKS)
    return torch.linspace(0, n_chunks - 1, count).round().long() if count else torch.zeros(0, dtype=torch.long)


@torch.no_grad()
def measure_sample_gain(model, representation, reps: torch.Tensor, audio: torch.Tensor, precise=True) -> float:
    """The sample gain (dB) of a model from its reconstructions (z = the encoder's mean) of the
    training chunks `reps` (normalised) whose audio is `audio`, up to CALIBRATION_CHUNKS of them."""
    index = calibration_indices(len(reps)).to(reps.device)
    if len(index) == 0:
        return 0.0
    was_training = model.training
    model.eval()
    try:
        recon = representation.decode(model.decode(model.encode(reps[index])[0]), audio.shape[-1], precise=precise)
    finally:
        model.train(was_training)
    return sample_gain_db(level_gap_db(recon, audio[index]))


def gain_tensors(gain_db: float) -> dict[str, torch.Tensor]:
    return {GAIN_TENSOR: torch.tensor([gain_db], dtype=torch.float32)}


def gain_from_tensors(tensors: dict) -> float | None:
    """The gain a checkpoint carries, or None (written before the gain, or not a finite number)."""
    value = tensors.get(GAIN_TENSOR)
    if value is None or value.numel() != 1 or not math.isfinite(float(value)):
        return None
    return min(max(float(value), -MAX_GAIN_DB), MAX_GAIN_DB)
