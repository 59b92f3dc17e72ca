"""The previews/ folder of a run, and writing/reading its audio files (FLAC, 24-bit, mono).

    previews/originals/clip-CC.flac       the fixed reconstruction clips' originals, written once
    previews/epoch-EEEEE/recon-CC.flac    reconstruction of clip CC at epoch EEEEE
    previews/epoch-EEEEE/sample-SS.flac   decoding of fixed latent vector SS at epoch EEEEE

Files are written under a temporary name and renamed, so a reader never opens half a file.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf

PREVIEWS_DIR = "previews"
ORIGINALS_DIR = "originals"
EXTENSION = ".flac"
SUBTYPE = "PCM_24"


def original_file(clip: int) -> str:
    """Path of a fixed clip's original, relative to the run folder."""
    return f"{PREVIEWS_DIR}/{ORIGINALS_DIR}/clip-{clip:02d}{EXTENSION}"


def reconstruction_file(epoch: int, clip: int) -> str:
    return f"{PREVIEWS_DIR}/epoch-{epoch:05d}/recon-{clip:02d}{EXTENSION}"


def sample_file(epoch: int, sample: int) -> str:
    return f"{PREVIEWS_DIR}/epoch-{epoch:05d}/sample-{sample:02d}{EXTENSION}"


def write_clip(path: Path, audio: np.ndarray, sample_rate: int, subtype: str = SUBTYPE) -> Path:
    """Write mono float audio (clipped to [-1, 1]) to `path` (format from its suffix) atomically.

    Raises OSError or soundfile.SoundFileError when the file cannot be written (disk full,
    permissions); no partial file is left under the final name."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    data = np.clip(np.nan_to_num(np.asarray(audio, dtype=np.float32).reshape(-1)), -1.0, 1.0)
    try:
        sf.write(tmp, data, int(sample_rate), subtype=subtype)
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
    return path


def read_clip(path: Path) -> tuple[np.ndarray, int]:
    """(mono float32 audio, sample rate) of a preview file; OSError/SoundFileError if unreadable."""
    audio, rate = sf.read(Path(path), dtype="float32", always_2d=True)
    return np.ascontiguousarray(audio.mean(axis=1, dtype=np.float32)), int(rate)
