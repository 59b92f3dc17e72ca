"""Convolutional VAE over the [batch, 2, freq, frames] magnitude + IF representation.

Linear-frequency input is 4-8x larger than the seed's 128 mel bands, so no convolution runs at
full resolution: the encoder first folds each 4 neighbouring frequency bins into channels
(space-to-depth) and the decoder's last convolution makes 4 bins per output position
(depth-to-space). Channel counts stay small where the maps are large; the bottleneck is a dense
layer to mean and log-variance. Inputs of any size are zero-padded to the strides' multiple and
outputs cropped back. Output channel 0 (standardised log-magnitude) is unbounded; channel 1 (IF,
in [-1, 1]) goes through tanh.
"""
from __future__ import annotations

import math

import torch
from torch import nn
import torch.nn.functional as F

FREQ_FOLD = 4  # bins folded into channels before the first convolution
# (out_channels, kernel, stride) of each encoder layer after the fold; strides are (freq, time).
ENCODER_LAYERS = (
    (16, (3, 3), (1, 1)),
    (32, (5, 3), (2, 2)),
    (64, (5, 3), (2, 2)),
    (96, (3, 3), (2, 2)),
)
BOTTLENECK_CHANNELS = 64


def _same_padding(kernel):
    return tuple(k // 2 for k in kernel)


def _dropout(p: float) -> list:
    return [nn.Dropout2d(p)] if p > 0 else []


def fold_frequency(x: torch.Tensor, factor: int) -> torch.Tensor:
    """[B, C, F, T] -> [B, C * factor, F / factor, T]: neighbouring bins become channels."""
    b, c, f, t = x.shape
    return x.view(b, c, f // factor, factor, t).transpose(2, 3).reshape(b, c * factor, f // factor, t)


def unfold_frequency(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Inverse of fold_frequency."""
    b, c, f, t = x.shape
    return x.view(b, c // factor, factor, f, t).transpose(2, 3).reshape(b, c // factor, f * factor, t)


class SpectrogramVAE(nn.Module):
    """VAE for fixed-size representations of shape [2, n_freq, n_frames].

    Args:
        n_freq, n_frames: input size (padded internally to the total stride).
        latent_dim: size of the latent vector (default 128).
        dropout: spatial dropout after each hidden conv layer (0 disables).
    """

    def __init__(self, n_freq: int, n_frames: int, latent_dim: int = 128, dropout: float = 0.0):
        super().__init__()
        self.n_freq, self.n_frames, self.latent_dim = n_freq, n_frames, latent_dim
        stride_f = FREQ_FOLD * math.prod(s[0] for _, _, s in ENCODER_LAYERS)
        stride_t = math.prod(s[1] for _, _, s in ENCODER_LAYERS)
        self.pad_freq = -n_freq % stride_f
        self.pad_frames = -n_frames % stride_t
        self.bottom = ((n_freq + self.pad_freq) // stride_f, (n_frames + self.pad_frames) // stride_t)

        layers, channels = [], 2 * FREQ_FOLD
        for out_ch, kernel, stride in ENCODER_LAYERS:
            layers += [nn.Conv2d(channels, out_ch, kernel, stride, _same_padding(kernel)),
                       nn.LeakyReLU(0.2), *_dropout(dropout)]
            channels = out_ch
        layers += [nn.Conv2d(channels, BOTTLENECK_CHANNELS, 1), nn.LeakyReLU(0.2)]
        self.encoder = nn.Sequential(*layers)
        flat = BOTTLENECK_CHANNELS * self.bottom[0] * self.bottom[1]
        self.to_stats = nn.Linear(flat, 2 * latent_dim)
        self.from_latent = nn.Linear(latent_dim, flat)

        layers, channels = [nn.Conv2d(BOTTLENECK_CHANNELS, ENCODER_LAYERS[-1][0], 3, 1, 1),
                            nn.LeakyReLU(0.2)], ENCODER_LAYERS[-1][0]
        targets = [c for c, _, _ in ENCODER_LAYERS[:-1]][::-1]
        for (_, _, stride), out_ch in zip(ENCODER_LAYERS[:0:-1], targets):
            kernel = tuple(2 * s if s > 1 else 3 for s in stride)
            padding = tuple((k - s) // 2 for k, s in zip(kernel, stride))
            layers += [nn.ConvTranspose2d(channels, out_ch, kernel, stride, padding),
                       nn.LeakyReLU(0.2), *_dropout(dropout)]
            channels = out_ch
        layers += [nn.Conv2d(channels, 2 * FREQ_FOLD, 3, 1, 1)]
        self.decoder = nn.Sequential(*layers)

    def parameter_count(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Representation [batch, 2, freq, frames] -> (mu, logvar), each [batch, latent_dim]."""
        x = fold_frequency(F.pad(x, (0, self.pad_frames, 0, self.pad_freq)), FREQ_FOLD)
        stats = self.to_stats(self.encoder(x).flatten(1))
        mu, logvar = stats.chunk(2, dim=1)
        return mu, logvar.clamp(-30.0, 20.0)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent [batch, latent_dim] -> representation [batch, 2, n_freq, n_frames]."""
        h = self.from_latent(z).view(z.shape[0], BOTTLENECK_CHANNELS, *self.bottom)
        out = unfold_frequency(self.decoder(h), FREQ_FOLD)[:, :, : self.n_freq, : self.n_frames]
        return torch.stack([out[:, 0], torch.tanh(out[:, 1])], dim=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns (reconstruction, mu, logvar); samples z by reparameterisation while training."""
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if self.training else mu
        return self.decode(z), mu, logvar
