"""The runs panel: every run in the data directory and the folders the user added, with sort, text
filter and the actions on runs (open, overlay, compare configs, rename, delete, export CSV, follow).

Listing runs (`list_runs`, one short read-only query per run) runs as a background job
(bridge.background) and only the summaries cross back. A run whose database cannot be read is listed with an error badge and its
reason in the tooltip; folders that are not runs are ignored. Questions to the user go through
overridable methods (`confirm`, `ask_text`, `ask_save_path`, `ask_folder`) so tests can answer them.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSortFilterProxyModel, Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QFileDialog, QHeaderView,
                               QInputDialog, QLabel, QLineEdit, QMessageBox, QPushButton,
                               QTableView, QVBoxLayout, QWidget)

from distill_engine.errors import DistillError
from distill_engine.runs.admin import delete_run, export_metrics_csv, rename_run
from distill_engine.runs.reader import open_run

from ..bridge.background import BackgroundJobs
from .runs_model import COLUMNS, SORT_ROLE, RunsTableModel, list_with_configs
from ..widgets.flow_layout import FlowLayout
from ..widgets import dialog_folders


MAX_COLUMN_WIDTH = 240  # a long name is cut (tooltip: the folder), never pushes the other columns away


def _list_runs(job, folders: list):
    return list_with_configs(folders)


class RunsPanel(QWidget):
    """Table of runs with sort/filter and the run actions; see the module docstring."""

    run_opened = Signal(str)
    overlay_requested = Signal(list)
    follow_requested = Signal(str)
    current_run_changed = Signal(str)   # "" when nothing is selected
    folder_added = Signal(str)          # the window persists `folders` (e.g. in QSettings)
    refreshed = Signal()

    def __init__(self, runs_dirs=(), parent=None):
        super().__init__(parent)
        self.folders: list[Path] = [Path(p) for p in runs_dirs]
        self.model = RunsTableModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.proxy.setFilterKeyColumn(-1)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.diff_dialog = None
        self.jobs = BackgroundJobs()
        self._build()

    def _build(self):
        self.filter_edit = QLineEdit(placeholderText="Filter runs…", clearButtonEnabled=True)
        self.filter_edit.textChanged.connect(self.proxy.setFilterFixedString)
        self.table = QTableView(sortingEnabled=True)
        self.table.setModel(self.proxy)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)   # one line per run; the full name is in the tooltip
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.sortByColumn(COLUMNS.index("Started"), Qt.SortOrder.DescendingOrder)
        self.table.doubleClicked.connect(lambda _: self.open_selected())
        self.table.selectionModel().selectionChanged.connect(self._on_selection)
        self.buttons = {}
        row = FlowLayout()  # the buttons wrap rather than widen the panel
        for label, slot in (("Open", self.open_selected), ("Overlay selected", self.overlay_selected),
                            ("Compare configs", self.compare_selected),
                            ("Rename…", self.rename_selected), ("Delete…", self.delete_selected),
                            ("Export CSV…", self.export_selected_csv), ("Follow", self.follow_selected),
                            ("Add folder…", self.choose_folder), ("Refresh", self.refresh)):
            button = self.buttons[label] = QPushButton(label)
            button.clicked.connect(lambda _=False, s=slot: s())
            row.addWidget(button)
        self.status_label = QLabel("")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.filter_edit)
        layout.addLayout(row)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status_label)
        self._on_selection()

    # -- listing -------------------------------------------------------------------------------
    def refresh(self) -> None:
        """List the runs again off the GUI thread; `refreshed` fires when the table shows them."""
        self.status_label.setText("Reading runs…")
        self.jobs.start(_list_runs, list(self.folders), on_result=self._on_listed,
                        on_error=lambda exc, details: self.status_label.setText(f"Cannot list runs: {exc}"))

    def refresh_now(self) -> None:
        """List the runs on this thread (for callers that need the table filled on return)."""
        self.jobs.cancel()              # a listing in progress would be older than this one
        self._on_listed(list_with_configs(self.folders))

    def wait(self) -> None:
        """Block until the listings this panel started have finished (closing, tests)."""
        self.jobs.wait()

    def _on_listed(self, listing) -> None:
        summaries, configs = listing
        selected = set(self.selected_run_dirs())
        header = self.table.horizontalHeader()
        sort_title = self.model.headerData(header.sortIndicatorSection(), Qt.Orientation.Horizontal)
        self.model.set_runs(summaries, configs)   # the columns may change: keep the sort by its title
        if sort_title in self.model.columns:
            self.table.sortByColumn(self.model.columns.index(sort_title), header.sortIndicatorOrder())
        self.table.resizeColumnsToContents()
        for column in range(self.model.columnCount()):
            header.resizeSection(column, min(header.sectionSize(column), MAX_COLUMN_WIDTH))
        self.select_runs([d for d in selected if self.model.row_of(d) >= 0])
        broken = sum(s.error is not None for s in summaries)
        self.status_label.setText(f"{len(summaries)} runs" + (f", {broken} unreadable" if broken else ""))
        self.refreshed.emit()

    def add_folder(self, path) -> None:
        """Also list the runs in `path` (or `path` itself when it is a run folder); refreshes."""
        path = Path(path)
        if path not in self.folders:
            self.folders.append(path)
            self.folder_added.emit(str(path))
        self.refresh()

    def set_status(self, run_dir, status: str) -> None:
        """Update a run's status cell (the follower calls this as the run goes on)."""
        self.model.set_status(run_dir, status)

    def closeEvent(self, event):
        self.wait()
        super().closeEvent(event)

    # -- selection -----------------------------------------------------------------------------
    def selected_summaries(self) -> list:
        rows = sorted({self.proxy.mapToSource(i).row() for i in self.table.selectionModel().selectedRows()})
        return [self.model.summary(r) for r in rows]

    def selected_run_dirs(self) -> list[str]:
        return [str(s.run_dir) for s in self.selected_summaries()]

    def select_runs(self, run_dirs) -> None:
        """Select exactly these runs (paths), e.g. from tests or after a refresh."""
        selection = self.table.selectionModel()
        selection.clearSelection()
        flags = (selection.SelectionFlag.Select | selection.SelectionFlag.Rows)
        for run_dir in run_dirs:
            row = self.model.row_of(run_dir)
            if row >= 0:
                selection.select(self.proxy.mapFromSource(self.model.index(row, 0)), flags)

    def _on_selection(self, *_):
        chosen = self.selected_summaries()
        readable = [s for s in chosen if s.error is None]
        one = len(chosen) == 1
        for label, enabled in (("Open", one and bool(readable)), ("Overlay selected", bool(readable)),
                               ("Compare configs", len(readable) == 2), ("Rename…", one and bool(readable)),
                               ("Delete…", one), ("Export CSV…", one and bool(readable)),
                               ("Follow", one and bool(readable))):
            self.buttons[label].setEnabled(enabled)
        self.current_run_changed.emit(str(chosen[0].run_dir) if one else "")

    def _single(self, action: str):
        chosen = self.selected_summaries()
        if len(chosen) != 1:
            self.show_error(action, "Select one run first.")
            return None
        if chosen[0].error is not None and action != "Delete":
            self.show_error(action, f"{chosen[0].run_dir.name} cannot be read: {chosen[0].error}")
            return None
        return chosen[0]

    # -- actions -------------------------------------------------------------------------------
    def open_selected(self) -> None:
        s = self._single("Open")
        if s is not None:
            self.run_opened.emit(str(s.run_dir))

    def follow_selected(self) -> None:
        s = self._single("Follow")
        if s is not None:
            self.follow_requested.emit(str(s.run_dir))

    def overlay_selected(self) -> None:
        chosen = [s for s in self.selected_summaries() if s.error is None]
        if chosen:
            self.overlay_requested.emit([str(s.run_dir) for s in chosen])

    def compare_selected(self) -> None:
        from ..dialogs.config_diff_dialog import ConfigDiffDialog

        chosen = [s for s in self.selected_summaries() if s.error is None]
        if len(chosen) != 2:
            self.show_error("Compare configs", "Select exactly two readable runs to compare.")
            return
        try:
            configs = []
            for s in chosen:
                with open_run(s.run_dir) as run:
                    configs.append(run.config)
        except DistillError as exc:
            self.show_error("Compare configs", str(exc))
            return
        (a, b), (ca, cb) = chosen, configs
        names = (a.name, b.name) if a.name != b.name else (f"{a.name} ({a.run_dir.name})", f"{b.name} ({b.run_dir.name})")
        self.diff_dialog = ConfigDiffDialog(names[0], ca, names[1], cb, parent=self)
        self.diff_dialog.show()

    def rename_selected(self) -> None:
        s = self._single("Rename")
        if s is None:
            return
        name = self.ask_text("Rename run", "New name:", s.name)
        if name is None or not name.strip() or name.strip() == s.name:
            return
        try:
            rename_run(s.run_dir, name)
        except (DistillError, ValueError) as exc:
            self.show_error("Rename run", str(exc))
            return
        self.refresh_now()

    def delete_selected(self) -> None:
        s = self._single("Delete")
        if s is None:
            return
        if not self.confirm("Delete run", f"Delete the run “{s.name}” and all its checkpoints?\n"
                                          f"{s.run_dir}\nThis cannot be undone."):
            return
        try:
            delete_run(s.run_dir)
        except DistillError as exc:
            self.show_error("Delete run", str(exc))
            return
        self.refresh_now()

    def export_selected_csv(self) -> None:
        s = self._single("Export CSV")
        if s is None:
            return
        path = self.ask_save_path("Export metrics as CSV", f"{s.run_dir.name}.csv",
                                  "CSV files (*.csv)")
        if not path:
            return
        try:
            written = export_metrics_csv(s.run_dir, path)
        except DistillError as exc:
            self.show_error("Export CSV", str(exc))
            return
        self.status_label.setText("Exported " + ", ".join(p.name for p in written))

    def choose_folder(self) -> None:
        folder = self.ask_folder("Add a folder of runs")
        if folder:
            self.add_folder(folder)

    # -- questions (overridable; tests monkeypatch these) ----------------------------------------
    def confirm(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(self, title, text)
        return answer == QMessageBox.StandardButton.Yes

    def ask_text(self, title: str, label: str, text: str) -> str | None:
        value, ok = QInputDialog.getText(self, title, label, text=text)
        return value if ok else None

    def ask_save_path(self, title: str, suggested: str, filters: str) -> str | None:
        path, _ = QFileDialog.getSaveFileName(self, title, dialog_folders.start_path("csv_export", suggested),
                                              filters)
        dialog_folders.remember("csv_export", path)
        return path or None

    def ask_folder(self, title: str) -> str | None:
        folder = QFileDialog.getExistingDirectory(self, title, dialog_folders.start_folder("run_folders")) or None
        dialog_folders.remember("run_folders", Path(folder).parent if folder else None)
        return folder

    def show_error(self, title: str, text: str) -> None:
        """Non-blocking message box (kept in `last_message`)."""
        self.last_message = QMessageBox(QMessageBox.Icon.Warning, title, text, parent=self)
        self.last_message.open()
