"""Training configuration: dataclasses with the seed project's names and defaults.

The tree of dataclasses mirrors the TOML file: top-level training fields, then the tables
`[representation]`, `[loss.stft]`, `[loss.reconstruction]`, `[loss.level]` and `[loss.kl]`. Dotted paths such as
`loss.stft.hop_sizes[1]` name a field everywhere (validator messages, the desktop editor).
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

try:
    import tomllib
except ImportError:  # Python < 3.11
    import tomli as tomllib  # type: ignore[no-redef]

# validation reads the dataclasses below lazily, so this import is not circular.
from ..atomic_file import atomic_write_text
from .validation import ConfigError, Problem, build_config, validate


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
class LevelLossConfig:
    """Loudness over time: weight * mean |log RMS - log RMS of the target| over the decoded audio's
    frames (n_fft long, hop_length apart). Without it the reconstructions of a 5-minute model
    were 20-40 dB quieter than their originals (benchmarks/bench_sample_quality.py)."""

    weight: float = 1.0


@dataclass
class LossConfig:
    """The combined loss: STFT + reconstruction + frame level + annealed KL."""

    stft: STFTLossConfig = field(default_factory=STFTLossConfig)
    reconstruction: ReconLossConfig = field(default_factory=ReconLossConfig)
    level: LevelLossConfig = field(default_factory=LevelLossConfig)
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
    max_file_seconds: float = 1800.0
    checkpoint_interval_s: float = 60.0
    checkpoints_kept: int = 3
    divergence_patience: int = 5
    divergence_spike_factor: float = 100.0  # measured: healthy transients reach 11.8x, blow-ups 2e6x (README)
    divergence_spike_window: int = 50
    log_interval_steps: int = 10
    compile: bool = False  # torch.compile the model and loss (bigger machines; the first steps compile)
    bf16_autocast: bool = False  # the model's forward pass in bfloat16 autocast (CUDA; the loss stays float32)
    #: Audio previews at the end of an epoch once this many seconds have passed since the last
    #: one, and always at the end of training; 0 turns previews off.
    preview_interval_s: float = 30.0
    representation: RepresentationConfig = field(default_factory=RepresentationConfig)
    loss: LossConfig = field(default_factory=LossConfig)


# --- dict / TOML conversion ----------------------------------------------------------------------

_FILE_HEADER = "# Distill training configuration. Missing keys take their default values.\n\n"


def config_to_dict(config: TrainingConfig) -> dict[str, Any]:
    """Plain dict of the config (tables as dicts, tuples as lists, float fields as floats)."""
    return _to_dict(config)


def flatten_config(data: dict, prefix: str = "") -> dict[str, Any]:
    """A config dict's leaves by dotted path ("loss.stft.fft_sizes"), tuples as lists."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(flatten_config(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = list(value) if isinstance(value, tuple) else value
    return out


def _to_dict(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            out[f.name] = _to_dict(value)
        elif isinstance(value, tuple):
            out[f.name] = list(value)
        elif f.type in (float, "float") and type(value) is int:
            out[f.name] = float(value)
        else:
            out[f.name] = value
    return out


def config_from_dict(data: dict[str, Any], source: str | None = None) -> TrainingConfig:
    """Build and validate a config from a plain dict; missing keys take defaults.

    Raises ConfigError listing every problem (prefixed by `source` when given).
    """
    config, problems = build_config(data)
    problems += [p for p in validate(config) if p not in problems]
    if problems:
        raise ConfigError(problems, source)
    return config


#: A config file larger than this is refused before parsing.
MAX_CONFIG_BYTES = 1_000_000


def load_config(path: str | os.PathLike[str]) -> TrainingConfig:
    """Read a TOML config file. Raises ConfigError (naming the file) on any problem."""
    source = str(path)
    try:
        with open(path, "rb") as fh:
            text = fh.read(MAX_CONFIG_BYTES + 1)
        if len(text) > MAX_CONFIG_BYTES:
            raise ConfigError([Problem("", f"is larger than {MAX_CONFIG_BYTES // 1000} kB; a Distill "
                                           f"config is a few hundred bytes of TOML")], source)
        try:
            data = tomllib.loads(text.decode("utf-8"))
        except RecursionError:
            raise ConfigError([Problem("", "invalid TOML: nested too deeply")], source) from None
    except FileNotFoundError:
        raise ConfigError([Problem("", "file not found")], source) from None
    except IsADirectoryError:
        raise ConfigError([Problem("", "is a folder, not a TOML config file")], source) from None
    except OSError as exc:
        raise ConfigError([Problem("", f"cannot read file: {exc.strerror or exc}")], source) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([Problem("", f"not a UTF-8 text file ({exc.reason})")], source) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([Problem("", f"invalid TOML: {exc}")], source) from None
    return config_from_dict(data, source)


#: Loss tables added after runs were first recorded, with the weight that a run whose config.toml
#: lacks one trained with (0: the term did not exist then), so continuing an older run keeps its loss.
ADDED_LOSS_TABLES = {"level": 0.0}


def load_run_config(path: str | os.PathLike[str]) -> TrainingConfig:
    """A run folder's config.toml: as load_config, except that a loss table added since the run was
    written (ADDED_LOSS_TABLES) takes the weight the run trained with instead of today's default."""
    config = load_config(path)
    with open(path, "rb") as fh:  # load_config has parsed it, so this parses too
        loss = tomllib.loads(fh.read().decode("utf-8")).get("loss", {})
    for table, weight in ADDED_LOSS_TABLES.items():
        if table not in loss:
            getattr(config.loss, table).weight = weight
    return config


def save_config(config: TrainingConfig, path: str | os.PathLike[str]) -> None:
    """Write the config as TOML (atomically). Raises ConfigError if the config is invalid,
    so every saved file loads back to an equal config."""
    source = str(path)
    problems = validate(config)
    if problems:
        raise ConfigError(problems, source)
    text = _FILE_HEADER + tomli_w.dumps(config_to_dict(config))
    try:
        atomic_write_text(Path(path), text)
    except OSError as exc:
        raise ConfigError([Problem("", f"cannot write file: {exc.strerror or exc}")], source) from None


# --- editor helpers and the training-start summary -----------------------------------------------


def diff_from_defaults(config: TrainingConfig) -> list[str]:
    """Dotted paths of the fields whose values differ from `TrainingConfig()`. Never raises."""
    out: list[str] = []
    _diff(config, TrainingConfig(), "", out)
    return out


def _diff(obj: Any, default: Any, prefix: str, out: list[str]) -> None:
    for f in dataclasses.fields(default):
        path = prefix + f.name
        want = getattr(default, f.name)
        value = getattr(obj, f.name, want)
        if dataclasses.is_dataclass(want):
            if type(value) is type(want):
                _diff(value, want, path + ".", out)
            else:
                out.append(path)
            continue
        try:
            if isinstance(value, list):
                value = tuple(value)
            same = (type(value) is bool) is (type(want) is bool) and bool(value == want)
        except Exception:
            same = False
        if not same:
            out.append(path)


def render_config_summary(config: TrainingConfig) -> str:
    """The block printed at training start: training fields, representation and every loss term."""
    c, rep, stft = config, config.representation, config.loss.stft
    rec, kl = config.loss.reconstruction, config.loss.kl
    try:
        chunk_samples = f" ({round(c.chunk_duration * rep.sample_rate)} samples)"
    except Exception:
        chunk_samples = ""
    wf = kl.warmup_fraction
    warmup = f"{wf:.0%} of training ({wf})" if isinstance(wf, (int, float)) else wf
    rows: list[tuple[str, Any] | str] = [
        "Training",
        ("epochs", c.epochs), ("batch size", c.batch_size), ("learning rate", c.learning_rate),
        ("weight decay", c.weight_decay), ("grad clip norm", c.grad_clip_norm),
        ("latent dim", c.latent_dim), ("dropout", c.dropout),
        ("validation fraction", c.validation_fraction), ("seed", c.seed), ("device", c.device),
        ("chunk duration", f"{c.chunk_duration} s{chunk_samples}"),
        ("checkpoints", f"every {c.checkpoint_interval_s} s, keep {c.checkpoints_kept}"),
        ("divergence patience", f"{c.divergence_patience} epochs" if c.divergence_patience else "off"),
        ("divergence spike", f"a loss above {c.divergence_spike_factor}x the median of the last "
                             f"{c.divergence_spike_window} steps" if c.divergence_spike_factor else "off"),
        ("log interval", f"{c.log_interval_steps} steps"),
        *([("speed-ups", ", ".join(name for name, on in (("torch.compile", c.compile),
                                                         ("bf16 autocast", c.bf16_autocast)) if on))]
          if c.compile is True or c.bf16_autocast is True else []),
        ("previews", _previews_text(c.preview_interval_s)),
        "Representation",
        ("sample rate", f"{rep.sample_rate} Hz"), ("n_fft", rep.n_fft), ("hop length", rep.hop_length),
        "Loss",
        ("STFT weight", stft.weight),
    ]
    res = [tuple(map(str, t)) for t in _zip_longest(stft.fft_sizes, stft.hop_sizes, stft.win_lengths)]
    widths = [max((len(r[k]) for r in res), default=0) for k in range(3)]
    for i, (f, h, w) in enumerate(res, 1):
        line = f"fft {f:>{widths[0]}}  hop {h:>{widths[1]}}  win {w:>{widths[2]}}"
        rows.append((f"  resolution {i}", line))
    rows += [
        ("reconstruction weight", rec.weight),
        ("  magnitude weight", rec.magnitude_weight), ("  IF weight", rec.if_weight),
        ("level weight", config.loss.level.weight),
        ("KL weight max", kl.weight_max), ("  KL warm-up", warmup),
        ("  KL free bits", kl.free_bits),
    ]
    width = max(len(r[0]) for r in rows if isinstance(r, tuple))
    lines = [r if isinstance(r, str) else f"  {r[0]:<{width}}  {r[1]}" for r in rows]
    return "\n".join(lines)


def _previews_text(interval) -> str:
    if not isinstance(interval, (int, float)):
        return str(interval)
    return "off" if interval == 0 else f"at epoch ends {interval:g} s apart, and at the end"


def _zip_longest(*lists: Any) -> list[tuple[Any, ...]]:
    seqs = [list(x) if isinstance(x, (list, tuple)) else [x] for x in lists]
    n = max(len(s) for s in seqs)
    return [tuple(s[i] if i < len(s) else "?" for s in seqs) for i in range(n)]
