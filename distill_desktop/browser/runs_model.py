"""The runs table's model: one RunSummary per row, formatted for display, raw values for sorting,
an error badge and reason for runs that cannot be read. Right after Name come what tells runs apart:
the config values that differ between the listed runs and the parent run (when any listed run has
one), see run_columns; then the fixed columns. No widgets here."""
from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication, QStyle

from distill_engine.errors import RunStoreError
from distill_engine.runs.reader import RunSummary, list_runs, open_run
from distill_engine.runs.schema import DB_NAME, UNREADABLE

from . import run_columns

COLUMNS = ("Name", "Corpus", "Started", "Status", "Epochs", "Best val loss", "Duration")
SORT_ROLE = Qt.ItemDataRole.UserRole
RUN_DIR_ROLE = Qt.ItemDataRole.UserRole + 1
STATUS_COLORS = {"running": "#2e9bd6", "completed": "#3a9d4a", "interrupted": "#d68a1c",
                 "failed": "#d64545", "diverged-stopped": "#d64545", UNREADABLE: "#d64545"}
STATUS_HINTS = {"interrupted": "the training process ended without closing the run (killed, "
                               "crashed, or its machine stopped); resume it from a checkpoint"}

def format_duration(seconds) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "—"
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


def format_started(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M")
    except (TypeError, ValueError):
        return iso or "—"


class RunsTableModel(QAbstractTableModel):
    """RunSummary rows; SORT_ROLE gives each cell's raw value for sorting."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._runs: list = []
        self.columns: list[str] = list(COLUMNS)   # Name, the differing config values, Parent, the rest
        self._config_paths: dict[str, str] = {}   # column title -> dotted config path
        self._values: dict = {}                   # run folder -> {dotted path: value}
        self._parents: dict = {}                  # run folder -> its parent run's name

    def set_runs(self, summaries, configs: dict | None = None) -> None:
        """Show `summaries`; `configs` ({run folder: config_values}) adds the differing values' columns."""
        self.beginResetModel()
        self._runs = list(summaries)
        self._values = dict(configs or {})
        self._parents = run_columns.parent_names(self._runs)
        paths = run_columns.differing_paths([self._values.get(s.run_dir, {}) for s in self._runs])
        taken = (*COLUMNS, run_columns.PARENT)
        self._config_paths = {run_columns.header(path, taken): path for path in paths}
        self.columns = [COLUMNS[0], *self._config_paths, *([run_columns.PARENT] if self._parents else []),
                        *COLUMNS[1:]]
        self.endResetModel()

    def summary(self, row: int):
        return self._runs[row]

    def summaries(self) -> list:
        return list(self._runs)

    def row_of(self, run_dir) -> int:
        run_dir = Path(run_dir)
        return next((i for i, s in enumerate(self._runs) if s.run_dir == run_dir), -1)

    def set_status(self, run_dir, status: str) -> None:
        row = self.row_of(run_dir)
        if row >= 0 and self._runs[row].status != status:
            self._runs[row] = replace(self._runs[row], status=status)
            index = self.index(row, self.columns.index("Status"))
            self.dataChanged.emit(index, index)

    def rowCount(self, parent=QModelIndex()):
        return 0 if parent.isValid() else len(self._runs)

    def columnCount(self, parent=QModelIndex()):
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(self.columns):
            return None
        title = self.columns[section]
        if role == Qt.ItemDataRole.DisplayRole:
            return title
        if role == Qt.ItemDataRole.ToolTipRole:
            if title in self._config_paths:
                return f"{self._config_paths[title]}: differs between the listed runs"
            return {"Duration": "Training time: pauses and the time between a stop and a resume are not "
                                "counted", run_columns.PARENT: "The run this one was started from (roll back, "
                                "or a new run from a checkpoint)"}.get(title)
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        s, column = self._runs[index.row()], self.columns[index.column()]
        broken = s.error is not None
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(s, column)
        if role == SORT_ROLE:
            return self._sort_key(s, column)
        if role == RUN_DIR_ROLE:
            return str(s.run_dir)
        if role == Qt.ItemDataRole.ToolTipRole:
            if broken:
                return f"Cannot read this run: {s.error}"
            if column == "Status":
                hint = s.status_reason or STATUS_HINTS.get(s.status, s.status)
                return hint + ("\nThis run's folder is read-only here: it can be viewed, not continued "
                               "(copy it somewhere writable to continue it)." if s.read_only else "")
            if column == run_columns.PARENT:
                return s.parent_run or None
            return str(s.run_dir) if column == "Name" else self._text(s, column)
        if role == Qt.ItemDataRole.DecorationRole and broken and column == "Name":
            return _style_icon(QStyle.StandardPixmap.SP_MessageBoxWarning)
        if role == Qt.ItemDataRole.ForegroundRole and (column == "Status" or broken):
            color = STATUS_COLORS.get(UNREADABLE if broken else s.status)
            return QColor(color) if color else None
        return None

    def _text(self, s, column: str) -> str:
        if column == run_columns.PARENT:
            return self._parents.get(s.run_dir, "")
        if column in self._config_paths:
            path = self._config_paths[column]
            return run_columns.format_value(path, self._values.get(s.run_dir, {}).get(path))
        if column == "Name":
            return s.name
        if column == "Corpus":
            return Path(s.corpus_path).name if s.corpus_path else "—"
        if column == "Started":
            return format_started(s.created_at)
        if column == "Status":
            return f"{s.status} (read-only)" if s.read_only else s.status
        if column == "Epochs":
            return "—" if s.error else str(s.epochs_done)
        if column == "Best val loss":
            value = s.best_val_loss
            return "—" if value is None or not math.isfinite(value) else f"{value:.4g}"
        return format_duration(s.duration_s)

    def _sort_key(self, s, column: str):
        if column in self._config_paths:
            return run_columns.sort_value(self._values.get(s.run_dir, {}).get(self._config_paths[column]))
        if column == "Epochs":
            return s.epochs_done
        if column == "Best val loss":
            value = s.best_val_loss
            return math.inf if value is None or not math.isfinite(value) else value
        if column == "Duration":
            return -1.0 if s.duration_s is None else s.duration_s
        if column == "Started":
            return s.created_at or ""
        return self._text(s, column).lower()


def _style_icon(pixmap):
    return QApplication.style().standardIcon(pixmap)


def summarise_folders(folders) -> list:
    """RunSummary of every run under each folder (a folder may also be one run), de-duplicated."""
    found, seen = [], set()
    for folder in folders:
        folder = Path(folder)
        try:
            if (folder / DB_NAME).is_file():   # the user added a run folder itself
                summaries = [_summarise_one(folder)]
            else:
                summaries = list_runs(folder)
        except (OSError, RunStoreError) as exc:  # a folder this user may not list: say so
            summaries = [RunSummary(folder, folder.name, folder.name, "", "", UNREADABLE, 0, None, None,
                                    error=str(exc) if isinstance(exc, RunStoreError) else
                                    f"{folder} cannot be read ({exc.strerror or exc})")]
        for s in summaries:
            key = s.run_dir.resolve()
            if key not in seen:
                seen.add(key)
                found.append(s)
    return found


def list_with_configs(folders) -> tuple[list, dict]:
    """summarise_folders' runs and {run folder: config values} of the readable ones (a background job)."""
    summaries = summarise_folders(folders)
    return summaries, {s.run_dir: run_columns.config_values(s.run_dir) for s in summaries if s.error is None}


def _summarise_one(run_dir: Path):
    try:
        with open_run(run_dir) as run:
            return run.summary()
    except RunStoreError as exc:
        return RunSummary(run_dir, run_dir.name, run_dir.name, "", "", UNREADABLE, 0, None, None,
                          error=str(exc))
