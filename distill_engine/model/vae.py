"""Convolutional VAE over the [batch, 2, freq, frames] magnitude + IF representation.

Linear-frequency input is 4-8x larger than the seed's 128 mel bands, so no convolution runs at
full resolution: the encoder first folds neighbouring frequency bins into channels (space-to-depth)
and the decoder's last layer makes that many bins per output position (depth-to-space). The fold
grows with the number of bins (`architecture_for`), so the maps the convolutions see stay about
the same size at 16 kHz and at 44.1 kHz. Channel counts stay small where the maps are large; the
bottleneck is a dense layer to mean and log-variance. The decoder mirrors the encoder. Inputs of
any size are zero-padded to the strides' multiple and outputs cropped back. Output channel 0
(standardised log-magnitude) is unbounded; channel 1 (IF, in [-1, 1]) goes through tanh.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
import torch.nn.functional as F

#: Bumped whenever the layers (and so the weight names and shapes) of a given input size change;
#: checkpoints store it and a checkpoint of another version is refused.
MODEL_VERSION = 2
FOLDED_BINS = 160  # at most this many frequency positions after the fold (see architecture_for)


@dataclass(frozen=True)
class VAEArchitecture:
    """The layers of a SpectrogramVAE.

    Args:
        freq_fold: neighbouring bins folded into channels before the first convolution.
        encoder_layers: (out_channels, (kernel_freq, kernel_time), (stride_freq, stride_time)) of
            each encoder convolution after the fold; the decoder mirrors them in reverse.
        bottleneck_channels: channels of the 1x1 convolution before the dense bottleneck.
    """

    freq_fold: int = 4
    encoder_layers: tuple = ((16, (3, 3), (1, 1)), (32, (5, 3), (2, 2)), (64, (5, 3), (2, 2)),
                             (96, (3, 3), (2, 2)))
    bottleneck_channels: int = 64


#: Full band: every layer strides, so no convolution runs at the folded input's full resolution.
STRIDED_LAYERS = ((32, (5, 3), (2, 2)), (64, (5, 3), (2, 2)), (96, (3, 3), (2, 2)))


def architecture_for(n_freq: int) -> VAEArchitecture:
    """The default layers for n_freq bins.

    The fold is the smallest power of two (at least 4) that leaves at most FOLDED_BINS frequency
    positions: 513 bins (16 kHz, n_fft 1024) fold by 4, 1025 bins (44.1 kHz, n_fft 2048) by 8.
    With a fold of 4 the layers are the first model's (a stride-1 layer at the folded resolution,
    then three stride-2 layers), so its checkpoints still load. A larger fold means a full-band
    input with more frames per second too; there the stride-1 layer (and its mirror, the decoder's
    last convolution) cost half the step, so the layers stride from the first one (STRIDED_LAYERS,
    measured in benchmarks/bench_step_levers.py)."""
    fold = 4
    while math.ceil(n_freq / fold) > FOLDED_BINS:
        fold *= 2
    return VAEArchitecture(freq_fold=fold) if fold == 4 else VAEArchitecture(fold, STRIDED_LAYERS)


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


def _upsampling_layer(in_ch: int, out_ch: int, stride) -> nn.Module:
    """The decoder's mirror of an encoder layer of this stride."""
    if all(s == 1 for s in stride):
        return nn.Conv2d(in_ch, out_ch, 3, 1, 1)
    kernel = tuple(2 * s if s > 1 else 3 for s in stride)
    padding = tuple((k - s) // 2 for k, s in zip(kernel, stride))
    return nn.ConvTranspose2d(in_ch, out_ch, kernel, stride, padding)


class SpectrogramVAE(nn.Module):
    """VAE for fixed-size representations of shape [2, n_freq, n_frames].

    Args:
        n_freq, n_frames: input size (padded internally to the total stride).
        latent_dim: size of the latent vector (default 128).
        dropout: spatial dropout after each hidden conv layer (0 disables).
        architecture: the layers (default: architecture_for(n_freq)).
    """

    version = MODEL_VERSION
    channels_last_on_cpu = True  # see _conv_layout

    def __init__(self, n_freq: int, n_frames: int, latent_dim: int = 128, dropout: float = 0.0,
                 architecture: VAEArchitecture | None = None):
        super().__init__()
        arch = architecture or architecture_for(n_freq)
        self.architecture = arch
        self.n_freq, self.n_frames, self.latent_dim = n_freq, n_frames, latent_dim
        self.fold = arch.freq_fold
        stride_f = self.fold * math.prod(s[0] for _, _, s in arch.encoder_layers)
        stride_t = math.prod(s[1] for _, _, s in arch.encoder_layers)
        self.pad_freq = -n_freq % stride_f
        self.pad_frames = -n_frames % stride_t
        self.bottom = ((n_freq + self.pad_freq) // stride_f, (n_frames + self.pad_frames) // stride_t)

        in_channels = [2 * self.fold] + [c for c, _, _ in arch.encoder_layers[:-1]]
        layers, channels = [], 2 * self.fold
        for out_ch, kernel, stride in arch.encoder_layers:
            layers += [nn.Conv2d(channels, out_ch, kernel, stride, _same_padding(kernel)),
                       nn.LeakyReLU(0.2), *_dropout(dropout)]
            channels = out_ch
        layers += [nn.Conv2d(channels, arch.bottleneck_channels, 1), nn.LeakyReLU(0.2)]
        self.encoder = nn.Sequential(*layers)
        flat = arch.bottleneck_channels * self.bottom[0] * self.bottom[1]
        self.to_stats = nn.Linear(flat, 2 * latent_dim)
        self.from_latent = nn.Linear(latent_dim, flat)

        layers = [nn.Conv2d(arch.bottleneck_channels, channels, 3, 1, 1), nn.LeakyReLU(0.2)]
        mirrored = list(zip(arch.encoder_layers[::-1], in_channels[::-1]))
        for i, ((_, _, stride), out_ch) in enumerate(mirrored):
            layers.append(_upsampling_layer(channels, out_ch, stride))
            if i < len(mirrored) - 1:
                layers += [nn.LeakyReLU(0.2), *_dropout(dropout)]
            channels = out_ch
        self.decoder = nn.Sequential(*layers)

    def parameter_count(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def _conv_layout(self, x: torch.Tensor) -> torch.Tensor:
        """Channels-last on the CPU, where oneDNN's convolutions run ~1.3x faster that way
        (measured in benchmarks/bench_step_levers.py); accelerators keep their default layout."""
        if self.channels_last_on_cpu and x.device.type == "cpu":
            return x.contiguous(memory_format=torch.channels_last)
        return x

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Representation [batch, 2, freq, frames] -> (mu, logvar), each [batch, latent_dim]."""
        x = fold_frequency(F.pad(x, (0, self.pad_frames, 0, self.pad_freq)), self.fold)
        stats = self.to_stats(self.encoder(self._conv_layout(x)).flatten(1))
        mu, logvar = stats.chunk(2, dim=1)
        return mu, logvar.clamp(-30.0, 20.0)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent [batch, latent_dim] -> representation [batch, 2, n_freq, n_frames]."""
        h = self.from_latent(z).view(z.shape[0], self.architecture.bottleneck_channels, *self.bottom)
        out = self.decoder(self._conv_layout(h)).contiguous()
        out = unfold_frequency(out, self.fold)[:, :, : self.n_freq, : self.n_frames]
        return torch.stack([out[:, 0], torch.tanh(out[:, 1])], dim=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns (reconstruction, mu, logvar); samples z by reparameterisation while training."""
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if self.training else mu
        return self.decode(z), mu, logvar
