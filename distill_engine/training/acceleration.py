"""Options for bigger machines, each off by default: bfloat16 autocast of the model's forward pass
and torch.compile of the forward pass with the loss.

`build_forward_loss` returns the function the training step calls: (representation batch, audio
batch, KL weight) -> the loss components. With `bf16_autocast` the model (its convolutions and
dense layers) runs under torch.autocast in bfloat16 and its outputs return to float32 before the
loss, whose STFTs and means stay float32. With `compile`, torch.compile traces the whole function
(the first steps compile, later ones reuse the compiled graph: batch shapes are fixed); the KL
weight is then passed as a 0-d device tensor so that its changing value causes no recompilation.
Validation runs the plain model in float32 either way.
"""
from __future__ import annotations

import torch

#: torch.compile's backend (inductor generates kernels; tests use "aot_eager" to trace quickly).
COMPILE_BACKEND = "inductor"


def build_forward_loss(model, loss_function, config, stft_loss, representation, device: torch.device):
    """The training step's forward-and-loss function for `config` (see the module docstring)."""
    autocast = bool(config.bf16_autocast)
    loss_config = config.loss

    def forward_loss(rep_batch, audio_batch, kl_weight):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            recon, mu, logvar = model(rep_batch)
        if autocast:
            recon, mu, logvar = recon.float(), mu.float(), logvar.float()
        return loss_function(recon, rep_batch, mu, logvar, loss_config, kl_weight, stft_loss,
                             representation=representation, target_audio=audio_batch)

    if not config.compile:
        return forward_loss
    compiled = torch.compile(forward_loss, backend=COMPILE_BACKEND)
    kl_weight_tensor = torch.zeros((), device=device)

    def compiled_forward_loss(rep_batch, audio_batch, kl_weight):
        return compiled(rep_batch, audio_batch, kl_weight_tensor.fill_(kl_weight))

    return compiled_forward_loss
