"""Before a run is continued (resume): may this process write its folder, and the hidden temporary
files that a process killed during an atomic write (a checkpoint, best.safetensors, a JSON file)
left behind, removed once the new writer holds run.lock."""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import RunStoreError
from .schema import CHECKPOINTS_DIR, DB_NAME, folder_writable


def check_can_continue(run_dir) -> None:
    """RunStoreError unless this process may write the run folder, its database and checkpoints."""
    run_dir = Path(run_dir)
    for path in (run_dir, run_dir / DB_NAME, run_dir / CHECKPOINTS_DIR):
        if path.exists() and not (folder_writable(path) if path.is_dir() else
                                  os.access(path, os.W_OK, effective_ids=os.access in os.supports_effective_ids)):
            raise RunStoreError(f"cannot continue the run {run_dir.name}: {path} is read-only here "
                                f"(read-only media, or another user's folder); copy the run folder "
                                f"somewhere writable and continue the copy")


def remove_stale_temp_files(run_dir: Path) -> list[Path]:
    """Delete the hidden temporary files (.<name>.<pid>.<hex>.tmp, run.sqlite.tmp) that a process
    killed during an atomic write left in the run folder or its checkpoints; returns them.
    Only the run's writer calls this, holding run.lock."""
    removed = []
    for folder in (run_dir, run_dir / CHECKPOINTS_DIR):
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            if (name.startswith(".") and name.endswith(".tmp")) or name == DB_NAME + ".tmp":
                try:
                    (folder / name).unlink()
                    removed.append(folder / name)
                except OSError:
                    pass
    return removed
