"""Validation at an epoch's end: every loss term's mean over the validation set, the raw KL and
the MR-STFT distance of the decoded reconstructions; under torchrun each rank takes a shard of
the batches and one collective sums them.

`Validation` is a part of `Trainer` (a mixin over the trainer's `model`, `val_rep`, `val_audio`,
`batch_size`, `group`, `config`, `stft_loss`, `representation`, `distance` and `device`).
"""
from __future__ import annotations

import torch

from . import events as ev
from ..model.losses import compute_combined_loss, kl_divergence

#: {loss term: validation metric field}
VAL_TERMS = ev.term_fields(ev.EpochMetrics, "val")
#: every validation-phase epoch field: what _validate returns (NaN without a validation set)
VAL_FIELDS = ev.metric_names(ev.EpochMetrics, phase="val")


class Validation:
    """See the module docstring."""

    @torch.no_grad()
    def _validate(self, kl_weight: float) -> dict:
        """{field: value} of every validation-phase epoch field: the mean of each loss term, the
        raw KL and the MR-STFT distance ({} without a validation set)."""
        if len(self.val_rep) == 0:
            return {}
        self.model.eval()
        sums = torch.zeros(len(VAL_TERMS) + 2, device=self.device)  # the terms, the raw KL, the distance
        for batch in self.group.validation_batches(-(-len(self.val_rep) // self.batch_size)):  # a shard per rank
            start = batch * self.batch_size
            rep, audio = self.val_rep[start:start + self.batch_size], self.val_audio[start:start + self.batch_size]
            recon, mu, logvar = self.model(rep)
            losses = compute_combined_loss(recon, rep, mu, logvar, self.config.loss, kl_weight, self.stft_loss,
                                           representation=self.representation, target_audio=audio)
            decoded = self.representation.decode(recon, audio.shape[-1])
            row = torch.stack([*(losses[term] for term in VAL_TERMS), kl_divergence(mu, logvar),
                               self.distance(decoded, audio)]) * len(rep)
            sums = sums + row
        self.model.train()
        *terms, kl_raw, distance = (self.group.reduce_sums(sums) / len(self.val_rep)).cpu().tolist()
        return {**dict(zip(VAL_TERMS.values(), terms)), **dict(kl_divergence=kl_raw, val_mrstft_distance=distance)}
