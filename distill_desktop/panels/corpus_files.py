"""The corpus report's file tables: every used file with its own sample rate (and what resampling
to the training rate removed from it), and the skipped files with their reasons.

Both tables are bounded: they show at most a few rows (then scroll), so a folder with many skipped
files never squeezes the config editor below them; the used-files table starts collapsed.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QSizePolicy, QTableWidget, QTableWidgetItem

from distill_engine.audio.band_loss import AUDIBLE_LOSS_DB, is_audible_loss, share_text

MAX_VISIBLE_ROWS = 4
USED_COLUMNS = ("File", "Rate", "Split", "Above Nyquist")
WARN_COLOR = "#b26a00"


def bounded_table(columns) -> QTableWidget:
    """A read-only table whose height follows its rows up to MAX_VISIBLE_ROWS (then it scrolls)."""
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(list(columns))
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.verticalHeader().hide()
    table.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
    header = table.horizontalHeader()
    header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
    header.setStretchLastSection(True)
    return table


def fit_height(table: QTableWidget) -> None:
    """Height for min(rows, MAX_VISIBLE_ROWS) rows, the header and the frame."""
    rows = max(1, min(table.rowCount(), MAX_VISIBLE_ROWS))
    row_height = table.verticalHeader().defaultSectionSize()
    scroll = table.horizontalScrollBar().sizeHint().height()
    table.setFixedHeight(table.horizontalHeader().sizeHint().height() + rows * row_height
                         + 2 * table.frameWidth() + scroll)


def relative(path: str, folder: str) -> str:
    try:
        return Path(path).relative_to(folder).as_posix()
    except ValueError:
        return path


def fill_used(table: QTableWidget, report) -> None:
    """One row per used file: name, its own rate, split, and the energy resampling removed."""
    table.setRowCount(len(report.used))
    nyquist = report.sample_rate / 2
    for row, used in enumerate(report.used):
        name = QTableWidgetItem(relative(used.path, report.folder))
        name.setToolTip(used.path)
        rate = QTableWidgetItem(f"{used.source_rate} Hz" if used.source_rate else "—")
        rate.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if used.source_rate and used.source_rate != report.sample_rate:
            rate.setToolTip(f"resampled to {report.sample_rate} Hz for training")
        if used.removed_db is None:
            lost = QTableWidgetItem("nothing removed" if used.source_rate else "—")
        else:
            lost = QTableWidgetItem(f"{share_text(used.removed_db)} removed")
            lost.setToolTip(f"resampling to {report.sample_rate} Hz removes everything above {nyquist:g} Hz: "
                            f"{used.removed_db:.1f} dB re this file's energy (warned from {AUDIBLE_LOSS_DB:g} dB, 1 %)")
            if is_audible_loss(used.removed_db):
                lost.setForeground(QColor(WARN_COLOR))
        for col, item in enumerate((name, rate, QTableWidgetItem(used.split), lost)):
            table.setItem(row, col, item)
    fit_height(table)


def fill_skipped(table: QTableWidget, report) -> None:
    """One row per skipped file: name, and the reason's first words (the engine's full reason as tooltip)."""
    table.setRowCount(len(report.skipped))
    for row, skipped in enumerate(report.skipped):
        name = QTableWidgetItem(relative(skipped.path, report.folder))
        name.setToolTip(skipped.path)
        reason = QTableWidgetItem(skipped.reason.split(" (libsndfile: ")[0])  # the detail: in the tooltip
        reason.setToolTip(skipped.reason)
        table.setItem(row, 0, name)
        table.setItem(row, 1, reason)
    fit_height(table)
