"""The training-config editor: every field as a text box, checked by the engine's validator on each edit.

The panel does no checking of its own beyond "is this text a number": it builds a `TrainingConfig`
from the current texts, runs `distill_engine.config_validation.validate` and marks every field that
a returned `Problem` names (red border, message under the field and as tooltip).
"""
from __future__ import annotations

import copy
import math
import os
import typing
from collections import defaultdict

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QComboBox, QFileDialog, QFormLayout, QGridLayout, QGroupBox, QHBoxLayout,
                               QLabel, QLineEdit, QPushButton, QScrollArea, QVBoxLayout, QWidget)

from distill_engine.config import TrainingConfig, diff_from_defaults, load_config, save_config
from distill_engine.config_validation import ConfigError, Problem, build_config, format_value, validate

DEVICES = ("auto", "cpu", "cuda", "mps")
_STFT = "loss.stft."
_LISTS = (("fft_sizes", "FFT size"), ("hop_sizes", "Hop size"), ("win_lengths", "Window length"))
_GROUPS: list[tuple[str, list[tuple[str, str]]]] = [
    ("STFT", [("loss.stft.weight", "Weight")]),
    ("Reconstruction", [("loss.reconstruction.weight", "Weight"),
                        ("loss.reconstruction.magnitude_weight", "Magnitude weight"),
                        ("loss.reconstruction.if_weight", "IF weight")]),
    ("KL", [("loss.kl.weight_max", "Weight max"), ("loss.kl.warmup_fraction", "Warm-up fraction"),
            ("loss.kl.free_bits", "Free bits")]),
    ("Training", [("epochs", "Epochs"), ("batch_size", "Batch size"), ("learning_rate", "Learning rate"),
                  ("weight_decay", "Weight decay"), ("grad_clip_norm", "Grad clip norm"),
                  ("latent_dim", "Latent dim"), ("dropout", "Dropout"),
                  ("validation_fraction", "Validation fraction"), ("seed", "Seed"), ("device", "Device"),
                  ("chunk_duration", "Chunk duration (s)"), ("divergence_patience", "Divergence patience"),
                  ("checkpoint_interval_s", "Checkpoint interval (s)"),
                  ("checkpoints_kept", "Checkpoints kept"), ("log_interval_steps", "Log interval (steps)")]),
    ("Representation", [("representation.sample_rate", "Sample rate (Hz)"),
                        ("representation.n_fft", "n_fft"), ("representation.hop_length", "Hop length")]),
]
_STYLE = """
QLineEdit[invalid="true"], QComboBox[invalid="true"] { border: 2px solid #d32f2f; border-radius: 3px; }
QLabel[role="error"] { color: #d32f2f; }
QLabel[role="banner"] { background: #fdecea; color: #b71c1c; padding: 4px; border-radius: 3px; }
"""


def _field_type(path: str) -> type:
    """The declared type (int, float, str) of a dotted scalar path, read from the engine's dataclasses."""
    cls: typing.Any = TrainingConfig
    *tables, name = path.split(".")
    for table in tables:
        cls = typing.get_type_hints(cls)[table]
    return typing.get_type_hints(cls)[name]


def _get(obj: typing.Any, path: str) -> typing.Any:
    for name in path.split("."):
        obj = getattr(obj, name)
    return obj


def _text(value: typing.Any) -> str:
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


def _restyle(widget: QWidget, name: str, value: typing.Any) -> None:
    if widget.property(name) != value:
        widget.setProperty(name, value)
        widget.style().unpolish(widget)
        widget.style().polish(widget)


def _error_label(role: str = "error") -> QLabel:
    label = QLabel()
    label.setProperty("role", role)
    label.setWordWrap(True)
    label.hide()
    return label


def _show(label: QLabel, text: str) -> None:
    label.setText(text)
    label.setVisible(bool(text))


def _button(text: str, slot: typing.Callable) -> QPushButton:
    button = QPushButton(text)
    button.clicked.connect(slot)
    return button


def _column(*items: QWidget | QHBoxLayout | QVBoxLayout | QGridLayout) -> QWidget:
    """A margin-less widget stacking `items` (widgets or layouts) vertically."""
    box = QWidget()
    column = QVBoxLayout(box)
    column.setContentsMargins(0, 0, 0, 0)
    for item in items:
        (column.addWidget if isinstance(item, QWidget) else column.addLayout)(item)
    return box


def _row(*widgets: QWidget) -> QHBoxLayout:
    row = QHBoxLayout()
    for widget in widgets:
        row.addWidget(widget)
    row.addStretch(1)
    return row


class ConfigEditorPanel(QWidget):
    """Edit a TrainingConfig; the engine's validator judges every edit."""

    config_changed = Signal(object)  # a valid TrainingConfig, after an edit that leaves the config valid
    validity_changed = Signal(bool)

    def __init__(self, config: TrainingConfig | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setStyleSheet(_STYLE)
        self._widgets: dict[str, QLineEdit | QComboBox] = {}  # scalar paths and list cells
        self._errors: dict[str, QLabel] = {}  # scalar paths
        self._rows: list[tuple[QWidget, list[QLineEdit], QLabel]] = []  # resolution rows: box, edits, errors
        self._problems: list[Problem] = []
        self._current = TrainingConfig()
        self._valid = True
        self._last_emitted: TrainingConfig | None = None
        self._updating = False
        self._preset_dir = ""

        self.load_button = _button("Load preset…", self._choose_load)
        self.save_button = _button("Save preset…", self._choose_save)
        self.reset_button = _button("Reset to defaults", self.reset_to_defaults)
        self.preset_label = _error_label()
        self.general_banner = _error_label("banner")
        self.diff_label = QLabel()

        body = QWidget()
        body_layout = QVBoxLayout(body)
        loss_box = QGroupBox("Loss")
        loss_layout = QVBoxLayout(loss_box)
        self.loss_banner = _error_label("banner")
        loss_layout.addWidget(self.loss_banner)
        for title, fields in _GROUPS:
            box = QGroupBox(title)
            form = QFormLayout(box)
            for path, label in fields:
                form.addRow(label, self._make_field(path))
            if title == "STFT":
                form.addRow(self._make_resolutions())
            (loss_layout if fields[0][0].startswith("loss.") else body_layout).addWidget(box)
            if title == "KL":
                body_layout.addWidget(loss_box)
        body_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(body)

        layout = QVBoxLayout(self)
        layout.addLayout(_row(self.load_button, self.save_button, self.reset_button))
        for widget in (self.preset_label, self.general_banner, self.diff_label, scroll):
            layout.addWidget(widget)
        self.set_config(config if config is not None else TrainingConfig())

    def _make_field(self, path: str) -> QWidget:
        if path == "device":
            widget: QLineEdit | QComboBox = QComboBox()
            widget.addItems(DEVICES)
            widget.currentTextChanged.connect(self._on_edit)
        else:
            widget = QLineEdit()
            widget.textChanged.connect(self._on_edit)
        widget.setObjectName(path)
        self._widgets[path] = widget
        self._errors[path] = _error_label()
        return _column(widget, self._errors[path])

    def _make_resolutions(self) -> QWidget:
        """One row per STFT resolution: fft size, hop size, window length, and the row's errors."""
        header = QGridLayout()
        header.setColumnMinimumWidth(0, 90)
        for col, (_, title) in enumerate(_LISTS, start=1):
            header.addWidget(QLabel(title), 0, col)
            header.setColumnStretch(col, 1)
        self._rows_layout = QVBoxLayout()
        self.list_error = _error_label()
        self.add_row_button = _button("Add resolution", self.add_resolution)
        self.remove_row_button = _button("Remove last resolution", self.remove_resolution)
        return _column(header, self._rows_layout, self.list_error,
                       _row(self.add_row_button, self.remove_row_button))

    def _set_row_count(self, n: int) -> None:
        while len(self._rows) > n:
            widget, _, _ = self._rows.pop()
            for name, _ in _LISTS:
                self._widgets.pop(f"{_STFT}{name}[{len(self._rows)}]", None)
            self._rows_layout.removeWidget(widget)
            widget.setParent(None)
            widget.deleteLater()
        while len(self._rows) < n:
            i = len(self._rows)
            widget = QWidget()
            grid = QGridLayout(widget)
            grid.setContentsMargins(0, 0, 0, 0)
            grid.setColumnMinimumWidth(0, 90)
            grid.addWidget(QLabel(f"Resolution {i + 1}"), 0, 0)
            edits = []
            for col, (name, _) in enumerate(_LISTS, start=1):
                edit = QLineEdit()
                edit.setObjectName(f"{_STFT}{name}[{i}]")
                edit.textChanged.connect(self._on_edit)
                self._widgets[edit.objectName()] = edit
                grid.addWidget(edit, 0, col)
                grid.setColumnStretch(col, 1)
                edits.append(edit)
            error = _error_label()
            grid.addWidget(error, 1, 1, 1, len(_LISTS))
            self._rows_layout.addWidget(widget)
            self._rows.append((widget, edits, error))
        self.remove_row_button.setEnabled(len(self._rows) > 1)

    def set_config(self, config: TrainingConfig) -> None:
        """Show `config` (valid or not) in every field and validate it."""
        self._updating = True
        try:
            for path, widget in [(p, w) for p, w in self._widgets.items() if "[" not in p]:
                text = _text(_get(config, path))
                if isinstance(widget, QComboBox) and widget.findText(text) < 0:
                    widget.addItem(text)  # e.g. "cuda:1" from a preset
                if isinstance(widget, QComboBox):
                    widget.setCurrentText(text)
                else:
                    widget.setText(text)
            lists = [tuple(_get(config, _STFT + name)) for name, _ in _LISTS]
            self._set_row_count(max(1, *(len(values) for values in lists)))
            for col, values in enumerate(lists):
                for i, (_, edits, _) in enumerate(self._rows):
                    edits[col].setText(_text(values[i]) if i < len(values) else "")
        finally:
            self._updating = False
        self._revalidate()

    def config(self) -> TrainingConfig | None:
        """A copy of the edited config, or None while any field is invalid."""
        return copy.deepcopy(self._current) if self._valid else None

    def problems(self) -> list[Problem]:
        return list(self._problems)

    def is_valid(self) -> bool:
        return self._valid

    def field_widget(self, path: str) -> QLineEdit | QComboBox:
        """The editor of a dotted path; list cells are `loss.stft.hop_sizes[1]`."""
        return self._widgets[path]

    def field_error(self, path: str) -> str:
        """The validator's message(s) for exactly this path ("" when it has none)."""
        return "; ".join(p.message for p in self._problems if p.path == path)

    def preset_message(self) -> str:
        return self.preset_label.text()

    def add_resolution(self) -> None:
        """Append an STFT resolution, starting as a copy of the last one."""
        last = [edit.text() for edit in self._rows[-1][1]]
        self._updating = True
        self._set_row_count(len(self._rows) + 1)
        for edit, text in zip(self._rows[-1][1], last):
            edit.setText(text)
        self._updating = False
        self._revalidate()

    def remove_resolution(self) -> None:
        if len(self._rows) > 1:
            self._set_row_count(len(self._rows) - 1)
            self._revalidate()

    def reset_to_defaults(self) -> None:
        self._show_preset("", error=False)
        self.set_config(TrainingConfig())

    def load_preset(self, path: str | os.PathLike[str]) -> bool:
        """Load a TOML preset; on any problem show the engine's message inline and keep the values."""
        try:
            config = load_config(path)
        except ConfigError as exc:
            self._show_preset(f"Preset not loaded: {exc}", error=True)
            return False
        self.set_config(config)
        self._show_preset(f"Loaded preset {os.fspath(path)}", error=False)
        return True

    def save_preset(self, path: str | os.PathLike[str]) -> bool:
        """Save the config as TOML; refused (message inline) while any field is invalid."""
        try:
            if self._problems:
                raise ConfigError(self._problems, os.fspath(path))
            save_config(self._current, path)
        except ConfigError as exc:
            self._show_preset(f"Preset not saved: {exc}", error=True)
            return False
        self._show_preset(f"Saved preset {os.fspath(path)}", error=False)
        return True

    def _show_preset(self, text: str, error: bool) -> None:
        _restyle(self.preset_label, "role", "error" if error else "info")
        _show(self.preset_label, text)

    def _choose_load(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load preset", self._preset_dir,
                                              "Distill presets (*.toml);;All files (*)")
        if path:
            self._preset_dir = os.path.dirname(path)
            self.load_preset(path)

    def _choose_save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save preset", self._preset_dir,
                                              "Distill presets (*.toml)")
        if path:
            if not os.path.splitext(path)[1]:
                path += ".toml"
            self._preset_dir = os.path.dirname(path)
            self.save_preset(path)

    def _on_edit(self, _text: str = "") -> None:
        if not self._updating:
            self._revalidate()

    def _read(self, path: str, widget: QLineEdit | QComboBox, kind: type, local: list[Problem]):
        if isinstance(widget, QComboBox):
            return widget.currentText()
        text = widget.text()
        value = parse_number(text, kind)
        if value is None:
            local.append(Problem(path, "is empty; enter a number" if not text.strip() else "is not a number",
                                 format_value(text)))
            return text
        return value

    def _revalidate(self) -> None:
        local: list[Problem] = []
        data: dict = {}
        for path, widget in self._widgets.items():
            if "[" not in path:
                node = data
                *tables, name = path.split(".")
                for table in tables:
                    node = node.setdefault(table, {})
                node[name] = self._read(path, widget, _field_type(path), local)
        stft = data["loss"]["stft"]
        for col, (name, _) in enumerate(_LISTS):
            stft[name] = [self._read(f"{_STFT}{name}[{i}]", edits[col], int, local)
                          for i, (_, edits, _) in enumerate(self._rows)]
        config, structural = build_config(data)
        local_paths = {p.path for p in local}
        self._problems = local + [p for p in structural + validate(config) if p.path not in local_paths]
        self._current = config
        self._mark()
        valid = not self._problems
        if valid != self._valid:
            self._valid = valid
            self.validity_changed.emit(valid)
        if valid and config != self._last_emitted:
            self._last_emitted = copy.deepcopy(config)
            self.config_changed.emit(copy.deepcopy(config))

    def _mark(self) -> None:
        messages: dict[str, list[str]] = defaultdict(list)
        for p in self._problems:
            messages[p.path].append(p.message)
        defaults, diffs = TrainingConfig(), set(diff_from_defaults(self._current))
        for path, widget in self._widgets.items():
            if "[" in path:
                list_path, index = path[:-1].split("[")
                default_list, i = _get(defaults, list_path), int(index)
                default = _text(default_list[i]) if i < len(default_list) else "none (extra resolution)"
                differs = list_path in diffs and parse_number(widget.text(), int) != (
                    default_list[i] if i < len(default_list) else None)
            else:
                default, differs = _text(_get(defaults, path)), path in diffs
            errors = messages.pop(path, [])
            _restyle(widget, "invalid", bool(errors))
            _restyle(widget, "differs", differs)
            font = widget.font()
            font.setBold(differs)
            widget.setFont(font)
            tips = errors + ([f"(default: {default})"] if differs else [])
            widget.setToolTip("\n".join(tips))
            if path in self._errors:
                _show(self._errors[path], "\n".join(errors))
        for i, (_, edits, label) in enumerate(self._rows):
            lines = [f"{title}: {m}" for name, title in _LISTS
                     for m in [p.message for p in self._problems if p.path == f"{_STFT}{name}[{i}]"]]
            _show(label, "\n".join(lines))
        lists = [f"{_STFT}{name}: {m}" for name, _ in _LISTS for m in messages.pop(_STFT + name, [])]
        _show(self.list_error, "\n".join(lists))
        _show(self.loss_banner, "\n".join(messages.pop("loss", [])))
        _show(self.general_banner, "\n".join(f"{path}: {m}" if path else m
                                             for path, ms in messages.items() for m in ms))
        n = len(diffs)
        self.diff_label.setText(f"{n} field{'s differ' if n != 1 else ' differs'} from defaults")
