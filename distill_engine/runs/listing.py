"""The runs list: one `RunSummary` per run folder under a runs directory (`list_runs`), each read
with one query on a read-only connection (`read_summary`), newest first; a folder that cannot be
read is listed with the reason instead of failing the listing. `open_run` (reader.py) opens one run.
"""
from __future__ import annotations

import dataclasses
import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..errors import RunStoreError
from .schema import BEST_METRIC, DB_NAME, UNREADABLE, check_version, db_error, effective_status, open_read_only
from .training_time import training_seconds


@dataclass(frozen=True)
class RunSummary:
    """One line of the runs list. `error` is set (and status is "unreadable") for a broken run."""

    run_dir: Path
    id: str
    name: str
    corpus_path: str
    created_at: str
    status: str
    epochs_done: int
    best_val_loss: float | None
    duration_s: float | None
    error: str | None = None
    status_reason: str = ""
    read_only: bool = False  # in a folder this user cannot write: readable, cannot be continued
    parent_run: str = ""  # the run folder this run was started from (roll back, new run from a checkpoint)


def list_runs(runs_dir) -> list[RunSummary]:
    """Summaries of every run folder under `runs_dir`, newest first; broken runs carry `error`."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    found = []
    try:
        entries = list(os.scandir(runs_dir))
    except OSError as exc:
        raise RunStoreError(f"cannot list the runs in {runs_dir} ({exc.strerror or exc}); check the "
                            f"folder's permissions") from exc
    for entry in entries:
        run_dir = Path(entry.path)
        try:
            if not entry.is_dir() or not (run_dir / DB_NAME).is_file():
                continue
            conn, read_only = connect_read_only(run_dir)
            try:
                summary = dataclasses.replace(read_summary(conn, run_dir), read_only=read_only)
            finally:
                conn.close()
        except OSError as exc:  # a folder this user may not look into: listed, with the reason
            summary = RunSummary(run_dir, run_dir.name, run_dir.name, "", "", UNREADABLE, 0, None,
                                 None, error=str(unreadable_folder(run_dir, exc)))
        except RunStoreError as exc:
            summary = RunSummary(run_dir, run_dir.name, run_dir.name, "", "", UNREADABLE, 0, None,
                                 None, error=str(exc))
        found.append((_created_timestamp(summary), run_dir.name, summary))
    found.sort(key=lambda item: item[:2], reverse=True)
    return [summary for _, _, summary in found]


def connect_read_only(run_dir: Path) -> tuple[sqlite3.Connection, bool]:
    """(read-only connection, read-only folder?) for a run folder; RunStoreError saying why not."""
    db = run_dir / DB_NAME
    try:
        if not db.is_file():
            raise RunStoreError(f"{run_dir} is not a Distill run folder (it has no {DB_NAME})")
    except OSError as exc:
        raise unreadable_folder(run_dir, exc) from exc
    try:
        return open_read_only(db)
    except sqlite3.DatabaseError as exc:
        raise db_error(run_dir, exc) from exc


def unreadable_folder(run_dir: Path, exc: OSError) -> RunStoreError:
    return RunStoreError(f"{run_dir} cannot be read ({exc.strerror or exc}); check the folder's "
                         f"permissions")


_SUMMARY_META = ("schema_version", "run_id", "name", "corpus_path", "created_at", "finished_at",
                 "status", "status_reason", "hostname", "heartbeat", "parent_run")
_SUMMARY_SQL = (", ".join("(SELECT value FROM meta WHERE key = ?)" for _ in _SUMMARY_META) +
                ", (SELECT MAX(epoch) FROM epoch_metrics), {best}"
                ", (SELECT wall_time FROM step_metrics ORDER BY step LIMIT 1)"
                ", (SELECT wall_time FROM step_metrics ORDER BY step DESC LIMIT 1)"
                ", (SELECT wall_time FROM epoch_metrics ORDER BY epoch LIMIT 1)"
                ", (SELECT wall_time FROM epoch_metrics ORDER BY epoch DESC LIMIT 1)")


def read_summary(conn: sqlite3.Connection, run_dir: Path) -> RunSummary:
    """One query: the meta keys a summary needs and the epoch/val_loss/wall-time aggregates."""
    best = f"(SELECT MIN({BEST_METRIC}) FROM epoch_metrics)"
    try:
        try:
            row = conn.execute("SELECT " + _SUMMARY_SQL.format(best=best), _SUMMARY_META).fetchone()
        except sqlite3.OperationalError as exc:
            if f"no such column: {BEST_METRIC}" not in str(exc):
                raise
            row = conn.execute("SELECT " + _SUMMARY_SQL.format(best="NULL"),
                               _SUMMARY_META).fetchone()
    except sqlite3.DatabaseError as exc:
        if "no such table" in str(exc):
            raise RunStoreError(f"{run_dir}: {DB_NAME} is not a Distill run database "
                                f"({exc})") from exc
        raise db_error(run_dir, exc) from exc
    meta = {k: v for k, v in zip(_SUMMARY_META, row) if v is not None}
    check_version(run_dir, meta.get("schema_version"))
    max_epoch, best_val, *times = row[len(_SUMMARY_META):]
    times = [t for t in times if t is not None]
    duration = training_seconds(conn)  # training time; the wall-clock span only for older stores
    if duration is None and times:
        duration = max(times) - min(times)
    elif duration is None:
        started, finished = _timestamp(meta.get("created_at")), _timestamp(meta.get("finished_at"))
        duration = finished - started if started is not None and finished is not None else None
    return RunSummary(
        run_dir=run_dir, id=meta.get("run_id") or run_dir.name,
        name=meta.get("name") or run_dir.name,
        corpus_path=meta.get("corpus_path") or "", created_at=meta.get("created_at") or "",
        status=effective_status(run_dir, meta), epochs_done=int(max_epoch or 0),
        best_val_loss=None if best_val is None else float(best_val), duration_s=duration,
        status_reason=meta.get("status_reason") or "", parent_run=meta.get("parent_run") or "")


def _timestamp(iso) -> float | None:
    try:
        return datetime.fromisoformat(iso).timestamp()
    except (TypeError, ValueError):
        return None


def _created_timestamp(summary: RunSummary) -> float:
    stamp = _timestamp(summary.created_at)
    if stamp is None:
        try:
            stamp = summary.run_dir.stat().st_mtime
        except OSError:
            stamp = 0.0
    return stamp
