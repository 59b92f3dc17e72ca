"""Distill's training engine: pure PyTorch, never imports Qt."""
from .checkpoints import CheckpointManager, list_checkpoints, load_checkpoint, save_checkpoint
from .config import (
    KLLossConfig,
    LossConfig,
    ReconLossConfig,
    RepresentationConfig,
    STFTLossConfig,
    TrainingConfig,
    config_from_dict,
    config_to_dict,
    diff_from_defaults,
    load_config,
    render_config_summary,
    save_config,
)
from .config_validation import ConfigError, Problem, validate
from .corpus import Corpus, CorpusReport, load_corpus
from .errors import CheckpointError, CorpusError, DistillError, RunStoreError
from .losses import compute_combined_loss, create_stft_loss, kl_weight_at
from .model import SpectrogramVAE
from .representation import Representation
