"""The config editor's fields: which fields it shows in which group, reading and showing their
values as text, and the small widgets and markings (red border, bold when not the default) it
builds every field from."""
from __future__ import annotations

import math
import typing

from PySide6.QtWidgets import (QComboBox, QGridLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton,
                               QVBoxLayout, QWidget)

from distill_engine.config.schema import TrainingConfig

DEVICES = ("auto", "cpu", "cuda", "mps")
STFT = "loss.stft."
LISTS = (("fft_sizes", "FFT size"), ("hop_sizes", "Hop size"), ("win_lengths", "Window length"))
GROUPS: list[tuple[str, list[tuple[str, str]]]] = [
    ("STFT", [("loss.stft.weight", "Weight")]),
    ("Reconstruction", [("loss.reconstruction.weight", "Weight"),
                        ("loss.reconstruction.magnitude_weight", "Magnitude weight"),
                        ("loss.reconstruction.if_weight", "IF weight")]),
    ("Level", [("loss.level.weight", "Weight")]),
    ("KL", [("loss.kl.weight_max", "Weight max"), ("loss.kl.warmup_fraction", "Warm-up fraction"),
            ("loss.kl.free_bits", "Free bits")]),
    ("Training", [("epochs", "Epochs"), ("batch_size", "Batch size"), ("learning_rate", "Learning rate"),
                  ("weight_decay", "Weight decay"), ("grad_clip_norm", "Grad clip norm"),
                  ("latent_dim", "Latent dim"), ("dropout", "Dropout"),
                  ("validation_fraction", "Validation fraction"), ("seed", "Seed"), ("device", "Device"),
                  ("chunk_duration", "Chunk duration (s)"), ("max_file_seconds", "Longest file (s)"),
                  ("divergence_patience", "Divergence patience"),
                  ("divergence_spike_factor", "Spike factor (0 = off)"),
                  ("divergence_spike_window", "Spike window (steps)"),
                  ("checkpoint_interval_s", "Checkpoint interval (s)"),
                  ("checkpoints_kept", "Checkpoints kept"), ("log_interval_steps", "Log interval (steps)"),
                  ("preview_interval_s", "Preview interval (s, 0 = off)")]),
    ("Representation", [("representation.sample_rate", "Sample rate (Hz)"),
                        ("representation.n_fft", "n_fft"), ("representation.hop_length", "Hop length")]),
]
STYLE = """
QLineEdit[invalid="true"], QComboBox[invalid="true"] { border: 2px solid #d32f2f; border-radius: 3px; }
QLabel[role="error"] { color: #d32f2f; }
QLabel[role="banner"] { background: #fdecea; color: #b71c1c; padding: 4px; border-radius: 3px; }
"""


# -- values ------------------------------------------------------------------------------------
def field_type(path: str) -> type:
    """The declared type (int, float, str) of a dotted scalar path, read from the engine's dataclasses."""
    cls: typing.Any = TrainingConfig
    *tables, name = path.split(".")
    for table in tables:
        cls = typing.get_type_hints(cls)[table]
    return typing.get_type_hints(cls)[name]


def value_at(obj: typing.Any, path: str) -> typing.Any:
    """The value at a dotted path (`loss.stft.weight`) of a config."""
    for name in path.split("."):
        obj = getattr(obj, name)
    return obj


def as_text(value: typing.Any) -> str:
    """A value as the editor shows it (floats with repr precision)."""
    return repr(value) if isinstance(value, float) else str(value)


def parse_number(text: str, kind: type) -> typing.Any:
    """Lenient text -> number for an int or float field; None when the text is not a number.

    An int field accepts "1e3" (-> 1000); a non-integral number is returned as a float so the
    engine's validator reports "must be an integer"."""
    try:
        return int(text) if kind is int else float(text)  # both ignore surrounding whitespace
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if math.isfinite(value) and value.is_integer() else value


# -- marking -----------------------------------------------------------------------------------
def restyle(widget: QWidget, name: str, value: typing.Any) -> None:
    """Set a style-sheet property and re-polish so the style sheet's selectors see it."""
    if widget.property(name) != value:
        widget.setProperty(name, value)
        widget.style().unpolish(widget)
        widget.style().polish(widget)


def mark_field(widget: QLineEdit | QComboBox, errors: list[str], differs: bool, default: str) -> None:
    """Red border and tooltip for errors; bold, with the default in the tooltip, when not the default."""
    restyle(widget, "invalid", bool(errors))
    restyle(widget, "differs", differs)
    font = widget.font()
    font.setBold(differs)
    widget.setFont(font)
    widget.setToolTip("\n".join(errors + ([f"(default: {default})"] if differs else [])))


def error_label(role: str = "error") -> QLabel:
    """A hidden, word-wrapping label styled by `role` ("error", "banner" or "info")."""
    label = QLabel()
    label.setProperty("role", role)
    label.setWordWrap(True)
    label.hide()
    return label


def show_message(label: QLabel, text: str) -> None:
    """Show `text` in `label`, hiding the label when the text is empty."""
    label.setText(text)
    label.setVisible(bool(text))


# -- layout ------------------------------------------------------------------------------------
def button(text: str, slot: typing.Callable) -> QPushButton:
    widget = QPushButton(text)
    widget.clicked.connect(slot)
    return widget


def column(*items: QWidget | QHBoxLayout | QVBoxLayout | QGridLayout) -> QWidget:
    """A margin-less widget stacking `items` (widgets or layouts) vertically."""
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    for item in items:
        (layout.addWidget if isinstance(item, QWidget) else layout.addLayout)(item)
    return box


def row(*widgets: QWidget) -> QHBoxLayout:
    """A row of `widgets`, packed to the left."""
    layout = QHBoxLayout()
    for widget in widgets:
        layout.addWidget(widget)
    layout.addStretch(1)
    return layout
