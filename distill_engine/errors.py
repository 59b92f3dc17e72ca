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
