"""Training configuration: dataclasses with the seed project's names and defaults.

The tree of dataclasses mirrors the TOML file: top-level training fields, then the tables
`[representation]`, `[loss.stft]`, `[loss.reconstruction]` and `[loss.kl]`. Dotted paths such as
`loss.stft.hop_sizes[1]` name a field everywhere (validator messages, the desktop editor).
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class STFTLossConfig:
    """Multi-resolution STFT loss on decoded audio: one resolution per index of the three lists."""

    weight: float = 1.0
    fft_sizes: tuple[int, ...] = (512, 1024, 2048)
    hop_sizes: tuple[int, ...] = (128, 256, 512)
    win_lengths: tuple[int, ...] = (512, 1024, 2048)


@dataclass
class ReconLossConfig:
    """Spectrogram reconstruction: recon = weight * (magnitude_weight * mag_L1 + if_weight * if_L1)."""

    weight: float = 0.1
    magnitude_weight: float = 1.0
    if_weight: float = 0.5


@dataclass
class KLLossConfig:
    """KL term: linear warm-up from 0 to weight_max over warmup_fraction of training, free bits per dim."""

    weight_max: float = 0.01
    warmup_fraction: float = 0.3
    free_bits: float = 0.1


@dataclass
class LossConfig:
    """The combined loss: STFT + reconstruction + annealed KL."""

    stft: STFTLossConfig = field(default_factory=STFTLossConfig)
    reconstruction: ReconLossConfig = field(default_factory=ReconLossConfig)
    kl: KLLossConfig = field(default_factory=KLLossConfig)


@dataclass
class RepresentationConfig:
    """Linear-bin STFT parameters of the magnitude + instantaneous-frequency representation."""

    sample_rate: int = 16000
    n_fft: int = 1024
    hop_length: int = 256


@dataclass
class TrainingConfig:
    """Everything a training run needs besides the corpus folder."""

    epochs: int = 50
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    grad_clip_norm: float = 1.0
    latent_dim: int = 128
    dropout: float = 0.0
    validation_fraction: float = 0.15
    seed: int = 0
    device: str = "auto"
    chunk_duration: float = 1.5
    checkpoint_interval_s: float = 60.0
    checkpoints_kept: int = 3
    divergence_patience: int = 5
    log_interval_steps: int = 10
    representation: RepresentationConfig = field(default_factory=RepresentationConfig)
    loss: LossConfig = field(default_factory=LossConfig)
