"""The training-config editor: every field as a text box, checked by the engine's validator on each edit.

The panel does no checking of its own beyond "is this text a number": it builds a `TrainingConfig`
from the current texts, runs `distill_engine.config.validation.validate` and marks every field that
a returned `Problem` names (red border, message under the field and as tooltip).
"""
from __future__ import annotations

import copy
import os
from collections import defaultdict

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QFileDialog, QFormLayout, QGridLayout, QGroupBox, QLabel,
                               QLineEdit, QScrollArea, QVBoxLayout, QWidget)

from distill_engine.config.presets import PRESETS, apply_preset, find_preset, preset_for
from distill_engine.config.schema import TrainingConfig, diff_from_defaults, load_config, save_config
from distill_engine.config.validation import ConfigError, Problem, build_config, format_value, validate

from ..widgets import dialog_folders
from .config_words import field_words, in_editor_words
from .config_fields import (DEVICES, GROUPS, LISTS, STFT, STYLE, as_text, button, column, error_label,
                            field_type, mark_field, parse_number, restyle, row, show_message, value_at)

CUSTOM = "custom"  # the built-in preset box's entry for values that match no preset


class ConfigEditorPanel(QWidget):
    """Edit a TrainingConfig; the engine's validator judges every edit."""

    config_changed = Signal(object)  # a valid TrainingConfig, after an edit that leaves the config valid
    validity_changed = Signal(bool)
    problems_changed = Signal()  # after every validation (the first invalid field may have changed)

    def __init__(self, config: TrainingConfig | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setStyleSheet(STYLE)
        self._widgets: dict[str, QLineEdit | QComboBox] = {}  # scalar paths and list cells
        self._errors: dict[str, QLabel] = {}  # scalar paths
        self._rows: list[tuple[QWidget, list[QLineEdit], QLabel]] = []  # resolution rows: box, edits, errors
        self._problems: list[Problem] = []
        self._current = TrainingConfig()
        self._valid = True
        self._last_emitted: TrainingConfig | None = None
        self._updating = False

        self.load_button = button("Load preset…", self._choose_load)
        self.save_button = button("Save preset…", self._choose_save)
        self.reset_button = button("Reset to defaults", self.reset_to_defaults)
        self.preset_label = error_label()
        self.builtin_presets = QComboBox()
        self.builtin_presets.setObjectName("builtin_presets")
        self.builtin_presets.addItems([p.label for p in PRESETS] + [CUSTOM])
        for i, preset in enumerate(PRESETS):
            self.builtin_presets.setItemData(i, preset.summary, Qt.ItemDataRole.ToolTipRole)
        self.builtin_presets.textActivated.connect(self.apply_builtin_preset)
        self.builtin_summary = QLabel()
        self.builtin_summary.setWordWrap(True)
        self.general_banner = error_label("banner")
        self.running_note = error_label("info")
        self.running_note.setObjectName("running_note")
        self.diff_label = QLabel()

        body = QWidget()
        body_layout = QVBoxLayout(body)
        loss_box = QGroupBox("Loss")
        loss_layout = QVBoxLayout(loss_box)
        self.loss_banner = error_label("banner")
        loss_layout.addWidget(self.loss_banner)
        for title, fields in GROUPS:
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
        scroll = self.scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(body)

        layout = QVBoxLayout(self)
        layout.addLayout(row(QLabel("Sample rate:"), self.builtin_presets))
        layout.addLayout(row(self.load_button, self.save_button, self.reset_button))
        for widget in (self.running_note, self.builtin_summary, self.preset_label, self.general_banner,
                       self.diff_label, scroll):
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
        self._errors[path] = error_label()
        return column(widget, self._errors[path])

    def _make_resolutions(self) -> QWidget:
        """One row per STFT resolution: fft size, hop size, window length, and the row's errors."""
        header = QGridLayout()
        header.setColumnMinimumWidth(0, 90)
        for col, (_, title) in enumerate(LISTS, start=1):
            header.addWidget(QLabel(title), 0, col)
            header.setColumnStretch(col, 1)
        self._rows_layout = QVBoxLayout()
        self.list_error = error_label()
        self.add_row_button = button("Add resolution", self.add_resolution)
        self.remove_row_button = button("Remove last resolution", self.remove_resolution)
        return column(header, self._rows_layout, self.list_error,
                      row(self.add_row_button, self.remove_row_button))

    def _set_row_count(self, n: int) -> None:
        while len(self._rows) > n:
            widget, _, _ = self._rows.pop()
            for name, _ in LISTS:
                self._widgets.pop(f"{STFT}{name}[{len(self._rows)}]", None)
            self._rows_layout.removeWidget(widget)
            widget.setParent(None)
            widget.deleteLater()
        while len(self._rows) < n:
            i = len(self._rows)
            widget = QWidget()
            stack = QVBoxLayout(widget)   # the edits' grid, then the row's messages under it
            stack.setContentsMargins(0, 0, 0, 0)
            grid = QGridLayout()
            stack.addLayout(grid)
            grid.setColumnMinimumWidth(0, 90)
            grid.addWidget(QLabel(f"Resolution {i + 1}"), 0, 0)
            edits = []
            for col, (name, _) in enumerate(LISTS, start=1):
                edit = QLineEdit()
                edit.setObjectName(f"{STFT}{name}[{i}]")
                edit.textChanged.connect(self._on_edit)
                self._widgets[edit.objectName()] = edit
                grid.addWidget(edit, 0, col)
                grid.setColumnStretch(col, 1)
                edits.append(edit)
            error = error_label()
            error.setContentsMargins(94, 0, 0, 2)  # under the fields, not under "Resolution n"
            stack.addWidget(error)
            self._rows_layout.addWidget(widget)
            self._rows.append((widget, edits, error))
        self.remove_row_button.setEnabled(len(self._rows) > 1)

    def set_config(self, config: TrainingConfig) -> None:
        """Show `config` (valid or not) in every field and validate it."""
        self._updating = True
        try:
            for path, widget in [(p, w) for p, w in self._widgets.items() if "[" not in p]:
                text = as_text(value_at(config, path))
                if isinstance(widget, QComboBox) and widget.findText(text) < 0:
                    widget.addItem(text)  # e.g. "cuda:1" from a preset
                if isinstance(widget, QComboBox):
                    widget.setCurrentText(text)
                else:
                    widget.setText(text)
            lists = [tuple(value_at(config, STFT + name)) for name, _ in LISTS]
            self._set_row_count(max(1, *(len(values) for values in lists)))
            for col, values in enumerate(lists):
                for i, (_, edits, _) in enumerate(self._rows):
                    edits[col].setText(as_text(values[i]) if i < len(values) else "")
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

    def first_invalid_field(self) -> tuple[str, str] | None:
        """(dotted path, the editor's words) of the first marked field in the editor, or None."""
        for path in self._widgets:
            if any(p.path == path for p in self._problems):
                return path, field_words(path)
        return None

    def field_in_view(self, path: str) -> bool:
        """Whether the field's box is visible in the editor's scrolled area now."""
        widget = self._widgets[path]
        if not widget.isVisible():
            return False
        viewport = self.scroll.viewport()
        top_left = widget.mapTo(viewport, widget.rect().topLeft())
        return viewport.rect().contains(top_left) and viewport.rect().contains(
            widget.mapTo(viewport, widget.rect().bottomRight()))

    def reveal_field(self, path: str) -> None:
        """Scroll the editor to the field at `path` and give it the keyboard focus."""
        widget = self._widgets[path]
        self.scroll.ensureWidgetVisible(widget, 20, 40)
        widget.setFocus()

    def set_running(self, running: bool) -> None:
        """Say, above the fields, that edits made while a run trains apply to the next run."""
        show_message(self.running_note, "A run is training with the config it started with: edits "
                                        "here apply to the next run." if running else "")

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

    def apply_builtin_preset(self, label: str) -> None:
        """Set the fields of the built-in preset `label` (e.g. "full band (44.1 kHz)"), keep the rest."""
        if find_preset(label) is not None:
            self.set_config(apply_preset(self._current, label))

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
        restyle(self.preset_label, "role", "error" if error else "info")
        show_message(self.preset_label, text)

    def _choose_load(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load preset", dialog_folders.start_folder("presets"),
                                              "Distill presets (*.toml);;All files (*)")
        if path:
            dialog_folders.remember("presets", path)
            self.load_preset(path)

    def _choose_save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save preset", dialog_folders.start_folder("presets"),
                                              "Distill presets (*.toml)")
        if path:
            if not os.path.splitext(path)[1]:
                path += ".toml"
            dialog_folders.remember("presets", path)
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
                node[name] = self._read(path, widget, field_type(path), local)
        stft = data["loss"]["stft"]
        for col, (name, _) in enumerate(LISTS):
            stft[name] = [self._read(f"{STFT}{name}[{i}]", edits[col], int, local)
                          for i, (_, edits, _) in enumerate(self._rows)]
        config, structural = build_config(data)
        local_paths = {p.path for p in local}
        self._problems = local + [p for p in structural + validate(config) if p.path not in local_paths]
        self._current = config
        self._mark()
        valid = not self._problems
        first = self.first_invalid_field()
        self.save_button.setEnabled(valid)
        self.save_button.setToolTip("Save these values as a TOML preset" if valid else
                                    f"Cannot save: fix {first[1] if first else 'the marked fields'} first")
        if valid != self._valid:
            self._valid = valid
            self.validity_changed.emit(valid)
        self.problems_changed.emit()
        if valid and config != self._last_emitted:
            self._last_emitted = copy.deepcopy(config)
            self.config_changed.emit(copy.deepcopy(config))

    def _mark(self) -> None:
        messages: dict[str, list[str]] = defaultdict(list)   # in the editor's words
        dotted: dict[str, list[str]] = defaultdict(list)     # the engine's lines, for tooltips
        for p in self._problems:
            messages[p.path].append(in_editor_words(p.message))
            dotted[p.path].append(str(p))
        defaults, diffs = TrainingConfig(), set(diff_from_defaults(self._current))
        for path, widget in self._widgets.items():
            if "[" in path:
                list_path, index = path[:-1].split("[")
                default_list, i = value_at(defaults, list_path), int(index)
                default = as_text(default_list[i]) if i < len(default_list) else "none (extra resolution)"
                differs = list_path in diffs and parse_number(widget.text(), int) != (
                    default_list[i] if i < len(default_list) else None)
            else:
                default, differs = as_text(value_at(defaults, path)), path in diffs
            errors = messages.pop(path, [])
            mark_field(widget, dotted.get(path, []), differs, default)
            if path in self._errors:
                show_message(self._errors[path], "\n".join(errors))
        for i, (_, edits, label) in enumerate(self._rows):
            paths = [f"{STFT}{name}[{i}]" for name, _ in LISTS]
            lines = [f"{title}: {in_editor_words(p.message)}" for (_, title), path in zip(LISTS, paths)
                     for p in self._problems if p.path == path]
            show_message(label, "\n".join(lines))
            label.setToolTip("\n".join(str(p) for p in self._problems if p.path in paths))
        lists = [f"{field_words(STFT + name)}: {m}" for name, _ in LISTS for m in messages.pop(STFT + name, [])]
        show_message(self.list_error, "\n".join(lists))
        show_message(self.loss_banner, "\n".join(messages.pop("loss", [])))
        show_message(self.general_banner, "\n".join(f"{field_words(path)}: {m}" if path else m
                                                     for path, ms in messages.items() for m in ms))
        preset = preset_for(self._current)
        self.builtin_presets.setCurrentText(preset.label if preset else CUSTOM)
        self.builtin_summary.setText(preset.summary if preset else
                                     f"{value_at(self._current, 'representation.sample_rate')} Hz (custom values)")
        n = len(diffs)
        self.diff_label.setText(f"{n} field{'s differ' if n != 1 else ' differs'} from defaults")
