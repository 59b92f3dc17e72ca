"""Distill's training engine: pure PyTorch, never imports Qt.

Public names are imported on first use (PEP 562), so `from distill_engine import LossConfig`
does not load torch: the desktop app shows its window before torch is imported.

Sub-packages: config/ (schema, validation), audio/ (corpus, representation), model/ (vae, losses),
training/ (trainer, state, events, divergence, reporting), checkpoints/ (format, safetensors writer),
runs/ (schema, writer, reader, step blocks, recorder, admin); cli.py, errors.py, atomic_file.py.
The flat module names of earlier versions (`distill_engine.store`, `distill_engine.trainer`, ...)
still import: each is the module that now holds that code (`_MOVED_MODULES`).
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

_EXPORTS = {
    "config": ("KLLossConfig", "LevelLossConfig", "LossConfig", "ReconLossConfig", "RepresentationConfig", "STFTLossConfig",
               "TrainingConfig", "config_from_dict", "config_to_dict", "diff_from_defaults", "load_config",
               "render_config_summary", "save_config"),
    "config.validation": ("ConfigError", "Problem", "validate"),
    "errors": ("CheckpointError", "CorpusError", "DistillError", "RunStoreError"),
    "training.events": ("Callback",),
    "checkpoints": ("CheckpointManager", "list_checkpoints", "load_checkpoint", "save_checkpoint"),
    "audio.corpus": ("Corpus", "CorpusReport", "load_corpus"),
    "model.losses": ("compute_combined_loss", "create_stft_loss", "kl_weight_at"),
    "model": ("SpectrogramVAE",),
    "audio.representation": ("Representation",),
    "runs.reader": ("list_runs", "open_run"),
    "runs.writer": ("default_runs_dir",),
    "training.trainer": ("Trainer",),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_MODULE_OF)

#: Module names of the flat layout -> the module that holds their code now.
_MOVED_MODULES = {
    "config_types": "config.field_types", "config_validation": "config.validation",
    "corpus": "audio.corpus", "representation": "audio.representation", "losses": "model.losses",
    "trainer": "training.trainer", "training_state": "training.state", "events": "training.events",
    "divergence": "training.divergence", "reporting": "training.reporting", "file_writing": "atomic_file",
    "store_schema": "runs.schema", "store": "runs.writer", "run_reader": "runs.reader",
    "step_blocks": "runs.step_blocks", "recorder": "runs.recorder", "run_admin": "runs.admin",
}


class _MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """`import distill_engine.store` gives the module object of `distill_engine.runs.writer` (the same
    object, so attributes set on one are seen through the other)."""

    def find_spec(self, fullname, path=None, target=None):
        prefix, _, old = fullname.partition(".")
        if prefix == __name__ and old in _MOVED_MODULES:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        module = importlib.import_module(f"{__name__}.{_MOVED_MODULES[spec.name.partition('.')[2]]}")
        self._own_spec = module.__spec__
        return module

    def exec_module(self, module):
        module.__spec__ = self._own_spec    # importlib set the alias's spec; keep the module's own


if not any(isinstance(f, _MovedModuleFinder) for f in sys.meta_path):
    sys.meta_path.append(_MovedModuleFinder())


def __getattr__(name: str):
    module = _MODULE_OF.get(name)
    if module is None:
        if name in _MOVED_MODULES:
            return importlib.import_module(f".{name}", __name__)
        raise AttributeError(f"module 'distill_engine' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
