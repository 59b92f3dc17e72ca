"""The one atomic file write of the engine (config files, run JSON files, checkpoints): a hidden temp
file beside the target, fsync, rename, fsync of the folder, so a crash or a full disk never leaves a
half-written file in place of a good one.
"""
from __future__ import annotations

import contextlib
import errno
import os
import pathlib
import secrets

def fsync_directory(folder: pathlib.Path) -> None:
    """Make the rename durable; skipped where directories cannot be opened or synced."""
    try:
        fd = os.open(folder, os.O_RDONLY) if os.name == "posix" else None
    except OSError:
        return
    if fd is not None:
        try:
            os.fsync(fd)
        except OSError as exc:
            if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EBADF):
                raise
        finally:
            os.close(fd)


def atomic_write(path: pathlib.Path, chunks: list) -> pathlib.Path:
    """Write the buffers to a hidden temp file beside ``path``, fsync it, then rename it over ``path``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        try:
            for chunk in chunks:
                view = memoryview(chunk).cast("B")
                while view:
                    view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):  # never hide the original error (e.g. ENOSPC)
            tmp.unlink()
        if isinstance(exc, OSError) and exc.filename in (None, str(tmp)):
            raise OSError(exc.errno, exc.strerror, str(path)) from exc  # name the file, not its temp
        raise
    fsync_directory(path.parent)
    return path


def atomic_write_text(path: pathlib.Path, text: str) -> pathlib.Path:
    """`atomic_write` of UTF-8 text (newlines written as given)."""
    return atomic_write(pathlib.Path(path), [text.encode("utf-8")])
