"""Noticing that run.sqlite-wal was deleted while a writer still uses it.

The rows a WAL-mode writer commits live in run.sqlite-wal until SQLite copies them into run.sqlite.
If that file is deleted (by hand, a clean-up tool, a sync client), the writer goes on appending to
the unlinked file, readers see a different database ("disk I/O error"), and a kill -9 then loses
every row not yet copied. The writer thread calls `WalGuard.check` after each commit: while the
writer's open file still holds the rows, they are copied into run.sqlite at once (a TRUNCATE
checkpoint through the writer's connection) and `LostWalError` stops the run with that reason.
"""
from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from ..errors import RunStoreError


class LostWalError(RunStoreError):
    """run.sqlite-wal disappeared (or was replaced) while the run was being written."""


class WalGuard:
    """Remembers the identity (device, inode) of the writer's -wal file and checks it is still there."""

    def __init__(self, db_path: Path):
        self.wal_path = Path(str(db_path) + "-wal")
        self._identity: tuple[int, int] | None = None

    def check(self, conn: sqlite3.Connection) -> None:
        """After a commit: raise LostWalError (having saved the rows into run.sqlite) when the -wal
        file the writer opened is gone or is another file."""
        try:
            st = os.stat(self.wal_path)
            identity = (st.st_dev, st.st_ino)
        except FileNotFoundError:
            identity = None
        if self._identity is None and identity is not None:
            self._identity = identity  # the first commit created (or found) the writer's -wal
            return
        if self._identity is None or identity == self._identity:
            return
        saved = self._save_rows(conn)
        raise LostWalError(
            f"{self.wal_path.name} was deleted while the run was being written (by another program "
            f"or a clean-up tool?); " + ("every row committed so far was saved into run.sqlite"
                                          if saved else "rows since the last SQLite checkpoint "
                                                        "may be lost") +
            "; the run was stopped. Keep the run folder's files while a run is training.")

    @staticmethod
    def _save_rows(conn: sqlite3.Connection) -> bool:
        """Copy the committed rows from the writer's (unlinked) -wal into run.sqlite."""
        with contextlib.suppress(sqlite3.Error):
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            return busy == 0
        return False
