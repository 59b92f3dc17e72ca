"""Distill's training engine: pure PyTorch, never imports Qt."""
from .config import (
    KLLossConfig,
    LossConfig,
    ReconLossConfig,
    RepresentationConfig,
    STFTLossConfig,
    TrainingConfig,
)
