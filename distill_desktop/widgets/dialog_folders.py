"""Where file dialogs open: the folder last used for the same kind of file, else a sensible default.

Each kind of dialog (corpus folder, presets, CSV export, checkpoint export, ...) has a key; the
folder a person last chose for it is remembered in the window's QSettings under
`dialog_folders/<key>`, so the dialog opens there next time, also after a restart. Without a
remembered folder (or when it has since been deleted) the dialog opens in the caller's fallback
(e.g. the corpus folder), else in the user's home — never in whatever folder the app was launched
from.
"""
from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSettings

_settings: QSettings | None = None


def use_settings(settings: QSettings | None) -> None:
    """Remember dialog folders in `settings` (the window's; None: remember nothing)."""
    global _settings
    _settings = settings


def start_folder(key: str, fallback: str | os.PathLike[str] | None = None) -> str:
    """The folder the `key` dialog opens in: the last one used, else `fallback`, else home."""
    remembered = _settings.value(f"dialog_folders/{key}", "") if _settings is not None else ""
    for candidate in (remembered, fallback):
        if candidate and Path(candidate).is_dir():
            return str(candidate)
    return str(Path.home())


def start_path(key: str, file_name: str, fallback: str | os.PathLike[str] | None = None) -> str:
    """A suggested file `file_name` inside the `key` dialog's start folder (save dialogs)."""
    return str(Path(start_folder(key, fallback)) / file_name)


def remember(key: str, chosen: str | os.PathLike[str] | None) -> None:
    """Remember the folder of what was chosen (`chosen` a folder, or a file whose folder counts)."""
    if not chosen or _settings is None:
        return
    path = Path(chosen)
    folder = path if path.is_dir() else path.parent
    _settings.setValue(f"dialog_folders/{key}", str(folder))
