"""The built-in presets: TOML files shipped in `config/presets/` that set the sample-rate-dependent
fields (representation and STFT-loss resolutions) and nothing else.

`distill-train --config NAME` loads one by name (missing fields take their defaults); the desktop
editor applies one on top of the values being edited (`apply_preset`), so other edits survive.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .schema import TrainingConfig, config_to_dict, flatten_config, load_config, tomllib
from .validation import ConfigError, Problem, build_config

PRESETS_DIR = Path(__file__).with_name("presets")


@dataclass(frozen=True)
class Preset:
    """One built-in preset: `name` for the command line, `label` for the window, its file and cost."""

    name: str
    label: str
    summary: str

    @property
    def path(self) -> Path:
        return PRESETS_DIR / f"{self.name}.toml"


# Throughput figures: benchmarks/bench_presets.py on the 2-core development machine (see README).
PRESETS = (
    Preset("fast-16khz", "fast (16 kHz)",
           "16 kHz: nothing above 8 kHz is learned (cymbals, hats, air are cut); the cheapest to train"),
    Preset("full-band-44khz", "full band (44.1 kHz)",
           "44.1 kHz: everything up to 22 kHz is learned; about 3x slower to train than 16 kHz"),
)


def find_preset(name: str) -> Preset | None:
    """The preset called `name` (its file name without .toml, or its label), or None."""
    for preset in PRESETS:
        if name in (preset.name, preset.label):
            return preset
    return None


def preset_for(config: TrainingConfig) -> Preset | None:
    """The preset whose fields all equal `config`'s, or None (edited or custom values)."""
    values = flatten_config(config_to_dict(config))
    for preset in PRESETS:
        if all(values.get(k) == v for k, v in flatten_config(_read(preset)).items()):
            return preset
    return None


def load_preset(name: str) -> TrainingConfig:
    """The default config with preset `name` applied. Raises ConfigError for an unknown name."""
    preset = _require(name)
    return load_config(preset.path)


def apply_preset(config: TrainingConfig, name: str) -> TrainingConfig:
    """A copy of `config` with preset `name`'s fields set. Not validated (an editor may hold
    invalid values elsewhere): `validate` judges the result."""
    data = config_to_dict(config)
    _merge(data, _read(_require(name)))
    return build_config(data)[0]


def _require(name: str) -> Preset:
    preset = find_preset(name)
    if preset is None:
        known = ", ".join(p.name for p in PRESETS)
        raise ConfigError([Problem("", f"no such preset; the built-in presets are {known}")], f"preset {name}")
    return preset


def _read(preset: Preset) -> dict:
    with open(preset.path, "rb") as fh:
        return tomllib.load(fh)


def _merge(into: dict, update: dict) -> None:
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value
