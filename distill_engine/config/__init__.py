"""The training config: its dataclasses and TOML files (schema), the checks on each field (validation,
field_types). Everything a caller needs is importable from here."""
from .schema import (KLLossConfig, LevelLossConfig, LossConfig, ReconLossConfig, RepresentationConfig, STFTLossConfig,
                     TrainingConfig, config_from_dict, config_to_dict, diff_from_defaults, load_config,
                     load_run_config, render_config_summary, save_config)
from .validation import ConfigError, Problem, build_config, validate

__all__ = ["ConfigError", "KLLossConfig", "LevelLossConfig", "LossConfig", "Problem", "ReconLossConfig", "RepresentationConfig",
           "STFTLossConfig", "TrainingConfig", "build_config", "config_from_dict", "config_to_dict",
           "diff_from_defaults", "load_config", "load_run_config", "render_config_summary", "save_config", "validate"]
