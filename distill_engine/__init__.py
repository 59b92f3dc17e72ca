"""Distill's training engine: pure PyTorch, never imports Qt.

Public names are imported on first use (PEP 562), so `from distill_engine import LossConfig`
does not load torch: the desktop app shows its window before torch is imported.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "config": ("KLLossConfig", "LossConfig", "ReconLossConfig", "RepresentationConfig", "STFTLossConfig",
               "TrainingConfig", "config_from_dict", "config_to_dict", "diff_from_defaults", "load_config",
               "render_config_summary", "save_config"),
    "config_validation": ("ConfigError", "Problem", "validate"),
    "errors": ("CheckpointError", "CorpusError", "DistillError", "RunStoreError"),
    "events": ("Callback",),
    "checkpoints": ("CheckpointManager", "list_checkpoints", "load_checkpoint", "save_checkpoint"),
    "corpus": ("Corpus", "CorpusReport", "load_corpus"),
    "losses": ("compute_combined_loss", "create_stft_loss", "kl_weight_at"),
    "model": ("SpectrogramVAE",),
    "representation": ("Representation",),
    "run_reader": ("list_runs", "open_run"),
    "store": ("default_runs_dir",),
    "trainer": ("Trainer",),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'distill_engine' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
