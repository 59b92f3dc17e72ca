"""The checkpoints panel: every file in the selected run's checkpoints folder with its epoch, step,
validation components, size, time and the best marker; files that cannot be read (truncated, an
unknown schema version, not a checkpoint) are rows with an error badge and the reason.

Only headers are read (`read_checkpoint_info`, no tensor data). A checkpoint written without its
metrics (the numbered ones) shows the run's validation values of its epoch. Actions: show the
config it was trained with, resume from it (the main window starts the training on
`resume_requested`), render reconstructions and samples with it (render_dialog), export a copy,
delete (the best one only after a second confirmation).
"""
from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QFontDatabase
from PySide6.QtWidgets import (QAbstractItemView, QDialog, QFileDialog, QHeaderView,
                               QLabel, QMessageBox, QPlainTextEdit, QPushButton, QStyle,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from distill_engine.checkpoints.format import BEST_NAME, read_checkpoint_info
from distill_engine.errors import CheckpointError, DistillError
from distill_engine.runs.admin import delete_checkpoint, export_checkpoint, latest_checkpoint
from distill_engine.runs.reader import open_run
from distill_engine.runs.schema import CHECKPOINTS_DIR

from ..models.loss_data import FIELDS
from ..widgets.flow_layout import FlowLayout
from ..widgets import dialog_folders
from .render_dialog import RenderDialog

#: the validation total and weighted terms (the plot's validation curves), one column each
VAL_METRICS = tuple(FIELDS["val"].values())
COLUMNS = ("File", "Epoch", "Step", *VAL_METRICS, "Size", "Saved", "Best")
MISSING = "—"
ERROR_COLOR = "#d64545"


def format_size(size: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(size)


def format_time(value) -> str:
    try:
        stamp = datetime.fromisoformat(value) if isinstance(value, str) \
            else datetime.fromtimestamp(value).astimezone()
        return stamp.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    except (TypeError, ValueError, OSError):
        return MISSING


def format_value(value) -> str:
    return MISSING if value is None or not math.isfinite(value) else f"{value:.4g}"


def config_as_toml(config: dict) -> str:
    """The checkpoint's config as TOML text (JSON if TOML cannot hold it)."""
    try:
        import tomli_w

        return tomli_w.dumps(config)
    except (TypeError, ValueError):
        return json.dumps(config, indent=2, default=str)


class CheckpointsPanel(QWidget):
    """Checkpoints of one run; see the module docstring."""

    resume_requested = Signal(str, str, str)   # run_dir, checkpoint path, "continue" | "new"

    def __init__(self, parent=None):
        super().__init__(parent)
        self.run_dir: Path | None = None
        self.rows: list[tuple[Path, object, str | None]] = []   # (path, CheckpointInfo, error)
        self.config_dialog = None
        self.render_dialog: RenderDialog | None = None
        self._build()

    def _build(self):
        self.title = QLabel("No run selected")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.itemSelectionChanged.connect(self._on_selection)
        self.buttons = {}
        row = FlowLayout()  # the buttons wrap rather than widen the panel
        for label, slot in (("Show config", self.show_config_selected), ("Resume…", self.resume_selected),
                            ("Render…", self.render_selected), ("Export…", self.export_selected),
                            ("Delete…", self.delete_selected), ("Refresh", self.reload)):
            button = self.buttons[label] = QPushButton(label)
            button.clicked.connect(lambda _=False, s=slot: s())
            row.addWidget(button)
        self.notice = QLabel("", wordWrap=True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.title)
        layout.addLayout(row)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.notice)
        self._on_selection()

    # -- listing -------------------------------------------------------------------------------
    def set_run(self, run_dir) -> None:
        """Show the checkpoints of `run_dir` (None or "" clears the table)."""
        self.run_dir = Path(run_dir) if run_dir else None
        self.notice.setText("")
        self.reload()

    def reload(self) -> None:
        self.rows = self._read_rows() if self.run_dir is not None else []
        self.title.setText(f"Checkpoints of {self.run_dir.name}" if self.run_dir else "No run selected")
        fallback = self._epoch_metrics() if self.rows else {}
        best_step = next((info.step for _, info, _ in self.rows if info is not None and info.is_best), None)
        self.table.setRowCount(0)
        self.table.setRowCount(len(self.rows))
        for r, (path, info, error) in enumerate(self.rows):
            if error is not None:
                self._fill_error_row(r, path, error)
                continue
            metrics = info.metrics
            values = [metrics.get(n, fallback.get(n, {}).get(info.epoch)) for n in VAL_METRICS]
            best = "★ best" if info.is_best or path.name == BEST_NAME else (
                "= best" if info.step == best_step else "")
            texts = [path.name, str(info.epoch), str(info.step), *map(format_value, values),
                     format_size(info.size_bytes), format_time(info.created_at), best]
            for c, text in enumerate(texts):
                item = QTableWidgetItem(text)
                item.setToolTip(str(path) if c == 0 else text)
                if best.startswith("★"):
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.table.setItem(r, c, item)
        self._on_selection()

    def _read_rows(self) -> list:
        folder = self.run_dir / CHECKPOINTS_DIR
        found = []
        paths = sorted(folder.glob("*.safetensors")) if folder.is_dir() else []
        for path in paths:
            if path.name.startswith(".") or not path.is_file():   # a checkpoint being written
                continue
            try:
                found.append((path, read_checkpoint_info(path), None))
            except CheckpointError as exc:
                found.append((path, None, str(exc)))
        good = sorted((r for r in found if r[2] is None), key=lambda r: (r[1].step, r[1].is_best, r[0].name))
        return good + [r for r in found if r[2] is not None]

    def _epoch_metrics(self) -> dict:
        """{metric: {epoch: value}} from the run's database, for checkpoints saved without metrics."""
        try:
            with open_run(self.run_dir) as run:
                present = set(run.metric_names("epoch"))
                return {n: dict(zip(*(a.tolist() for a in run.metric(n, per="epoch"))))
                        for n in VAL_METRICS if n in present}
        except DistillError:
            return {}

    def _fill_error_row(self, r: int, path: Path, error: str) -> None:
        badge = QTableWidgetItem(self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning),
                                 path.name)
        reason = QTableWidgetItem(f"Unreadable: {error}")
        for item in (badge, reason):
            item.setToolTip(error)
            item.setForeground(QColor(ERROR_COLOR))
        self.table.setItem(r, 0, badge)
        self.table.setItem(r, 1, reason)
        self.table.setSpan(r, 1, 1, len(COLUMNS) - 1)

    # -- selection -----------------------------------------------------------------------------
    def select_checkpoint(self, path) -> None:
        """Select the row of this checkpoint file (tests, and the browser after a refresh)."""
        path = Path(path)
        for r, (p, _, _) in enumerate(self.rows):
            if p == path:
                self.table.selectRow(r)
                return
        raise KeyError(f"{path} is not listed")

    def selected(self):
        """(path, CheckpointInfo or None, error or None) of the selected row, or None."""
        rows = self.table.selectionModel().selectedRows()
        return self.rows[rows[0].row()] if rows else None

    def _on_selection(self):
        chosen = self.selected()
        readable = chosen is not None and chosen[2] is None
        for label in ("Show config", "Resume…", "Render…", "Export…"):
            self.buttons[label].setEnabled(readable)
        self.buttons["Delete…"].setEnabled(chosen is not None)

    def _readable(self, action: str):
        chosen = self.selected()
        if chosen is None:
            self.show_error(action, "Select a checkpoint first.")
            return None
        if chosen[2] is not None:
            self.show_error(action, f"{chosen[0].name} cannot be used: {chosen[2]}")
            return None
        return chosen

    # -- actions -------------------------------------------------------------------------------
    def show_config_selected(self) -> None:
        chosen = self._readable("Show config")
        if chosen is None:
            return
        path, info, _ = chosen
        dialog = self.config_dialog = QDialog(self)
        dialog.setWindowTitle(f"Config of {path.parent.parent.name} / {path.name}")
        self.config_text = QPlainTextEdit(config_as_toml(info.config), readOnly=True)
        self.config_text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.config_text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        close = QPushButton("Close", clicked=dialog.close)
        layout = QVBoxLayout(dialog)
        layout.addWidget(QLabel(f"Epoch {info.epoch}, step {info.step}"))
        layout.addWidget(self.config_text, 1)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignRight)
        dialog.resize(520, 600)
        dialog.show()

    def resume_selected(self) -> None:
        chosen = self._readable("Resume")
        if chosen is None:
            return
        path, info, _ = chosen
        latest = latest_checkpoint(self.run_dir)
        try:
            is_latest = latest is not None and (latest == path or read_checkpoint_info(latest).step == info.step)
        except CheckpointError:
            is_latest = False
        mode = self.ask_resume_mode(is_latest)
        if mode not in ("continue", "new"):
            return
        if mode == "continue" and not is_latest:
            mode = "new"
            self.notice.setText(f"{path.name} is not the run's latest checkpoint, so the run cannot "
                                f"simply continue from it: a new run linked to "
                                f"{self.run_dir.name} starts from epoch {info.epoch}.")
        if mode == "continue":
            try:
                with open_run(self.run_dir) as run:
                    running = run.status == "running"
            except DistillError as exc:
                self.show_error("Resume", str(exc))
                return
            if running:
                self.show_error("Resume", f"{self.run_dir.name} is still being trained; stop it first.")
                return
        self.resume_requested.emit(str(self.run_dir), str(path), mode)

    def render_selected(self) -> RenderDialog | None:
        """Open the Render dialog for the selected checkpoint (non-modal)."""
        chosen = self._readable("Render")
        if chosen is None:
            return None
        if self.render_dialog is not None:
            self.render_dialog.close()
        self.render_dialog = RenderDialog(chosen[0], self.run_dir, parent=self)
        self.render_dialog.show()
        return self.render_dialog

    def shutdown(self) -> None:
        """Cancel a render in progress and wait for it (the window is closing)."""
        if self.render_dialog is not None:
            self.render_dialog.shutdown()

    def export_selected(self) -> None:
        chosen = self._readable("Export checkpoint")
        if chosen is None:
            return
        folder = self.ask_export_folder()
        if not folder:
            return
        try:
            target = export_checkpoint(chosen[0], folder)
        except DistillError as exc:
            self.show_error("Export checkpoint", str(exc))
            return
        self.notice.setText(f"Exported to {target}")

    def delete_selected(self) -> None:
        chosen = self.selected()
        if chosen is None:
            return
        path, info, _ = chosen
        if not self.confirm("Delete checkpoint", f"Delete {path.name}?\nThis cannot be undone."):
            return
        if (info is not None and info.is_best) or path.name == BEST_NAME:
            if not self.confirm("Delete the best checkpoint",
                                f"{path.name} holds the best weights of {self.run_dir.name}. "
                                f"Delete it anyway?"):
                return
        try:
            delete_checkpoint(path)
        except DistillError as exc:
            self.show_error("Delete checkpoint", str(exc))
            return
        self.reload()

    # -- questions (overridable; tests monkeypatch these) ----------------------------------------
    def ask_resume_mode(self, is_latest: bool = True) -> str | None:
        """"continue" (this run goes on), "new" (a new linked run) or None (cancelled)."""
        box = QMessageBox(QMessageBox.Icon.Question, "Resume training", "", parent=self)
        if is_latest:
            box.setText("Continue this run from its latest checkpoint, or start a new run linked "
                        "to it from this checkpoint?")
            go_on = box.addButton("Continue the run", QMessageBox.ButtonRole.AcceptRole)
        else:
            box.setText("This is not the run's latest checkpoint: training from it starts a new "
                        "run linked to this one.")
            go_on = None
        new = box.addButton("New linked run", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        clicked = box.clickedButton()
        return "continue" if go_on is not None and clicked is go_on else "new" if clicked is new else None

    def ask_export_folder(self) -> str | None:
        folder = QFileDialog.getExistingDirectory(self, "Export checkpoint to folder",
                                                  dialog_folders.start_folder("checkpoint_export")) or None
        dialog_folders.remember("checkpoint_export", folder)
        return folder

    def confirm(self, title: str, text: str) -> bool:
        return QMessageBox.question(self, title, text) == QMessageBox.StandardButton.Yes

    def show_error(self, title: str, text: str) -> None:
        """Non-blocking message box (kept in `last_message`)."""
        self.last_message = QMessageBox(QMessageBox.Icon.Warning, title, text, parent=self)
        self.last_message.open()
