"""The engine's own exception types for errors a user can cause (bad config, file, folder).

Each message names the thing that is wrong and how to fix it. Internal bugs are left as ordinary
exceptions so they stay loud.
"""
from __future__ import annotations


class DistillError(Exception):
    """Base class of every user-facing engine error."""


class CorpusError(DistillError):
    """The corpus folder cannot be used (missing, or holds no usable audio)."""


class CheckpointError(DistillError):
    """A file is not a checkpoint this engine can load (wrong format, unknown version, damaged)."""


class RunStoreError(DistillError):
    """A run folder cannot be read or written (not a run, damaged database, unknown schema)."""


class RenderError(DistillError):
    """A render cannot be done as asked (output folder not writable, bad sample count)."""


def write_failure_reason(exc: Exception) -> str:
    """The status reason for a write that failed mid-run: the file and the system's words."""
    if isinstance(exc, OSError) and exc.filename:
        return f"cannot write {exc.filename}: {exc.strerror or exc}"
    return f"{type(exc).__name__}: {exc}" if isinstance(exc, OSError) else str(exc)
