"""The training corpus: scan a folder, decode, mix to mono, resample, chunk, split, cache, report.

Every regular file under the folder (hidden ones excepted) is tried with libsndfile, whatever its
extension; a file that cannot be used is skipped with a reason the user can act on, and only a folder
with no usable audio at all raises `CorpusError`. Decoded chunks and their raw representation are
cached per file content (sha256), so loading the same corpus again skips decoding and encoding.
The user's files are only ever read.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
import random
import tempfile
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import soundfile as sf
import soxr
import torch

from ..errors import CorpusError
from .band_loss import energy_above_db, resampling_lines
from .decode_limits import DecodeRefused, check_header, check_values, read_mono
from .representation import Representation

SILENCE_DBFS = -60.0  # inaudible: a chunk (or a whole file) whose PEAK is below this is silence and dropped
SILENCE_PEAK = 10 ** (SILENCE_DBFS / 20)  # (peak, not RMS: a soft ride or a click peaking at -31 dBFS is heard)
CACHE_VERSION = 2  # bump when the cached arrays change meaning (2: the file's rate and band loss)
SUPPORTED_FORMATS = "WAV, FLAC, OGG/Vorbis, AIFF, MP3 and the other formats libsndfile decodes"

ProgressCallback = Callable[[int, int, str], None]


@dataclass(frozen=True)
class UsedFile:
    """A file that went into the corpus: its length, chunk count, cache origin and split."""

    path: str
    duration_s: float
    n_chunks: int
    from_cache: bool
    split: str  # "train" or "val"
    source_rate: int = 0  # the file's own sample rate (0: a report from before it was recorded)
    removed_db: float | None = None  # energy resampling removed, dB re the file's (band_loss; None: none)


@dataclass(frozen=True)
class SkippedFile:
    """A file left out of the corpus, with the reason in words."""

    path: str
    reason: str


@dataclass
class CorpusReport:
    """What a corpus load used and skipped; plain data, JSON-able through to_dict()."""

    folder: str
    used: list[UsedFile] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    sample_rate: int = 0
    chunk_samples: int = 0

    @property
    def total_duration_s(self) -> float:
        return sum(u.duration_s for u in self.used)

    @property
    def n_train_chunks(self) -> int:
        return sum(u.n_chunks for u in self.used if u.split == "train")

    @property
    def n_val_chunks(self) -> int:
        return sum(u.n_chunks for u in self.used if u.split == "val")

    def to_dict(self) -> dict:
        return {"folder": self.folder, "sample_rate": self.sample_rate, "chunk_samples": self.chunk_samples,
                "used": [asdict(u) for u in self.used], "skipped": [asdict(s) for s in self.skipped],
                "total_duration_s": self.total_duration_s, "n_train_chunks": self.n_train_chunks,
                "n_val_chunks": self.n_val_chunks}

    @classmethod
    def from_dict(cls, data: dict) -> "CorpusReport":
        return cls(folder=data["folder"], used=[UsedFile(**u) for u in data.get("used", [])],
                   skipped=[SkippedFile(**s) for s in data.get("skipped", [])],
                   sample_rate=int(data.get("sample_rate", 0)), chunk_samples=int(data.get("chunk_samples", 0)))

    def _relative(self, path: str) -> str:
        try:
            return Path(path).relative_to(self.folder).as_posix()
        except ValueError:
            return path

    def render(self) -> str:
        """A readable multi-line summary for a log or a panel."""
        n_train = sum(1 for u in self.used if u.split == "train")
        chunk = f" of {self.chunk_samples / self.sample_rate:g} s" if self.sample_rate else ""
        lines = [f"Corpus {printable(self.folder)}",
                 f"  {len(self.used)} file{'s' if len(self.used) != 1 else ''} used "
                 f"({n_train} train, {len(self.used) - n_train} validation), "
                 f"{self.total_duration_s:.1f} s in total",
                 f"  {self.n_train_chunks} training chunks, {self.n_val_chunks} validation chunks{chunk}"]
        lines += resampling_lines(self)
        if self.skipped:
            lines.append(f"Skipped ({len(self.skipped)}):")
            lines += [f"  {printable(self._relative(s.path))}: {s.reason}" for s in self.skipped]
        return "\n".join(lines)


@dataclass
class Corpus:
    """Chunked audio and raw representations, split by file into training and validation."""

    train_audio: torch.Tensor  # [n_train_chunks, chunk_samples] float32
    val_audio: torch.Tensor  # [n_val_chunks, chunk_samples], possibly 0 rows
    train_raw: torch.Tensor  # [n_train_chunks, 2, freq, frames] raw (unnormalised) representation
    val_raw: torch.Tensor
    train_files: list[str]
    val_files: list[str]
    chunk_samples: int
    sample_rate: int
    report: CorpusReport
    cache_hits: int = 0  # usable files read from the cache
    cache_misses: int = 0  # files that had to be decoded (including ones then skipped)


def printable(name: str) -> str:
    """A file name for one line of a report: newlines and other control characters escaped."""
    return name if name.isprintable() else "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in name)


def default_cache_dir() -> Path:
    """`$DISTILL_CACHE_DIR` if set, else the platform's user cache folder for Distill + /corpus."""
    from ..user_dirs import cache_dir

    return cache_dir()


def _scan(folder: Path, unlisted: list | None = None) -> list[Path]:
    """Every regular, non-hidden file under folder (hidden folders pruned), sorted by relative path.
    Sub-folders that cannot be listed are appended to `unlisted` as SkippedFile entries."""
    found = []

    def cannot_list(exc: OSError) -> None:
        if unlisted is not None and exc.filename:
            unlisted.append(SkippedFile(str(exc.filename), f"folder cannot be listed "
                                                           f"({exc.strerror or exc}); its files were not read"))
    for root, dirs, files in os.walk(folder, onerror=cannot_list):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            path = Path(root) / name
            if not name.startswith(".") and path.is_file():
                found.append(path)
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def _seconds(value: float) -> str:
    return f"{value:.3g} s"


class _Skip(Exception):
    """Internal: this file cannot be used, for the reason in the message."""


class _Loader:
    """Turns one file's bytes into (duration_s, chunks, raw), through the cache when possible."""

    def __init__(self, config, cache_dir: Optional[Path]):
        rep = config.representation
        self.sample_rate, self.n_fft, self.hop = int(rep.sample_rate), int(rep.n_fft), int(rep.hop_length)
        self.chunk_samples = int(round(config.chunk_duration * self.sample_rate))
        self.max_file_seconds = float(config.max_file_seconds)
        self.representation = Representation(self.sample_rate, self.n_fft, self.hop)
        self.cache_dir = cache_dir
        self.params = json.dumps([CACHE_VERSION, self.sample_rate, self.chunk_samples, self.n_fft,
                                  self.hop, SILENCE_PEAK])
        self.hits = self.misses = 0

    def load(self, path: Path) -> tuple[float, np.ndarray, np.ndarray, bool, int, float | None]:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise _Skip(f"cannot be read ({exc.strerror or exc})") from None
        if not data:
            raise _Skip("empty file (0 bytes)")
        key = hashlib.sha256(hashlib.sha256(data).digest() + self.params.encode()).hexdigest()
        cached = self._read_cache(key)
        if cached is not None:
            self.hits += 1
            duration, chunks, raw, rate, removed = cached
            return duration, chunks, raw, True, rate, removed
        self.misses += 1
        duration, chunks, rate, removed = self._decode(data)
        with torch.no_grad():
            raw = self.representation.encode_raw(torch.from_numpy(chunks)).numpy().astype(np.float32, copy=False)
        self._write_cache(key, duration, chunks, raw, rate, removed)
        return duration, chunks, raw, False, rate, removed

    def _decode(self, data: bytes) -> tuple[float, np.ndarray, int, float | None]:
        try:
            with sf.SoundFile(io.BytesIO(data)) as sound:
                check_header(sound, self.max_file_seconds)  # before any sample is read
                sr_in, n_channels = sound.samplerate, sound.channels
                mono, channel_peak = read_mono(sound)
        except DecodeRefused as exc:
            raise _Skip(str(exc)) from None
        except (sf.SoundFileError, RuntimeError, ValueError, OSError, EOFError) as exc:
            detail = getattr(exc, "error_string", None) or str(exc)
            raise _Skip(f"not an audio file (libsndfile: {detail})") from None
        if mono.shape[0] == 0:
            raise _Skip("empty file (no audio frames)")
        try:
            check_values(mono)
        except DecodeRefused as exc:
            raise _Skip(str(exc)) from None
        duration = mono.shape[0] / sr_in
        removed = energy_above_db(mono, sr_in, self.sample_rate)
        if sr_in != self.sample_rate:
            try:
                mono = np.asarray(soxr.resample(mono, sr_in, self.sample_rate, quality="HQ"), dtype=np.float32)
            except (RuntimeError, ValueError, TypeError) as exc:
                raise _Skip(f"cannot be resampled from {sr_in} Hz to {self.sample_rate} Hz ({exc})") from None
        if mono.shape[0] < self.n_fft:
            raise _Skip(f"too short ({_seconds(duration)}; needs at least {_seconds(self.n_fft / self.sample_rate)})")
        n_chunks = -(-mono.shape[0] // self.chunk_samples)
        padded = np.zeros(n_chunks * self.chunk_samples, dtype=np.float32)
        padded[:mono.shape[0]] = mono
        chunks = padded.reshape(n_chunks, self.chunk_samples)
        chunks = chunks[np.max(np.abs(chunks), axis=1) >= SILENCE_PEAK]
        if chunks.shape[0] == 0:
            peak = float(np.max(np.abs(mono)))
            level = f"{20 * math.log10(peak):.1f}" if peak > 0 else "-inf"
            if n_channels > 1 and channel_peak >= SILENCE_PEAK:  # the channels cancel out
                raise _Skip(f"its mono mix is silent (peak level {level} dBFS, below the {SILENCE_DBFS:g} dBFS "
                            f"silence threshold), although its {n_channels} channels are not: they cancel "
                            f"out (opposite polarity?); Distill trains on the mono mix")
            raise _Skip(f"silent: peak level {level} dBFS, below the {SILENCE_DBFS:g} dBFS silence threshold")
        return duration, np.ascontiguousarray(chunks), int(sr_in), removed

    def _cache_path(self, key: str) -> Optional[Path]:
        return None if self.cache_dir is None else self.cache_dir / f"{key}.npz"

    def _read_cache(self, key: str) -> Optional[tuple[float, np.ndarray, np.ndarray, int, float | None]]:
        """The cached entry, or None when absent, unreadable or not the expected shape (a miss)."""
        path = self._cache_path(key)
        try:
            if path is None or not path.is_file():
                return None
        except OSError:  # a cache folder this user may not read: decode again
            return None
        try:
            with np.load(path, allow_pickle=False) as npz:
                duration, chunks, raw = float(npz["duration_s"]), npz["audio"], npz["raw"]
                rate, removed = int(npz["source_rate"]), float(npz["removed_db"])
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            return None
        n = chunks.shape[0] if chunks.ndim == 2 else -1
        expected_raw = (n, 2, self.n_fft // 2 + 1, self.representation.n_frames(self.chunk_samples))
        if (n < 1 or chunks.shape[1] != self.chunk_samples or raw.shape != expected_raw
                or chunks.dtype != np.float32 or raw.dtype != np.float32):
            return None
        return duration, chunks, raw, rate, removed if math.isfinite(removed) else None

    def _write_cache(self, key: str, duration: float, chunks: np.ndarray, raw: np.ndarray, rate: int,
                     removed: float | None) -> None:
        """Write atomically (temp file + rename); any failure just leaves the entry uncached."""
        path = self._cache_path(key)
        if path is None:
            return
        tmp_name = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as tmp:
                tmp_name = tmp.name
                np.savez(tmp, audio=chunks, raw=raw, duration_s=np.float64(duration), source_rate=np.int64(rate),
                         removed_db=np.float64(math.nan if removed is None else removed))
            os.replace(tmp_name, path)
            tmp_name = None
        except OSError:
            pass
        finally:
            if tmp_name is not None:
                try:
                    os.unlink(tmp_name)
                except OSError:
                    pass


def split_files(files: list[str], validation_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Deterministic train/validation split by file: ≥ 1 validation file once there are 2 files and
    validation_fraction > 0, always ≥ 1 training file. Both lists come back sorted."""
    order = sorted(files)
    random.Random(seed).shuffle(order)
    n = len(order)
    n_val = round(validation_fraction * n) if n >= 2 else 0
    if n >= 2 and validation_fraction > 0:
        n_val = max(1, n_val)
    n_val = max(0, min(n_val, n - 1))
    return sorted(order[n_val:]), sorted(order[:n_val])


def load_corpus(folder, config, cache_dir=None, progress: Optional[ProgressCallback] = None) -> Corpus:
    """Load every usable sound under folder as chunks + raw representations, split by file.

    Args:
        folder: the corpus folder (searched recursively; hidden files and folders are ignored).
        config: a TrainingConfig (representation, chunk_duration, validation_fraction, seed).
        cache_dir: where decoded chunks are cached; default `default_cache_dir()`.
        progress: optional callable(done, total, path) called after each file.
    Raises:
        CorpusError: the folder is missing, empty, or holds no usable audio (message lists why).
    """
    root = Path(folder).expanduser()
    if not root.exists():
        raise CorpusError(f"Corpus folder {str(root)!r} does not exist. Choose a folder of sounds.")
    if not root.is_dir():
        raise CorpusError(f"Corpus path {str(root)!r} is not a folder. Choose the folder that holds your sounds.")
    root = root.resolve()
    unlisted: list[SkippedFile] = []
    paths = _scan(root, unlisted)
    if not paths:
        raise CorpusError(f"Corpus folder {str(root)!r} is empty: put some sounds ({SUPPORTED_FORMATS}) in it.")

    loader = _Loader(config, Path(cache_dir) if cache_dir is not None else default_cache_dir())
    loaded: dict[str, tuple] = {}  # path -> _Loader.load's (duration, chunks, raw, from cache, rate, removed dB)
    skipped: list[SkippedFile] = list(unlisted)
    for done, path in enumerate(paths, start=1):
        try:
            loaded[str(path)] = loader.load(path)
        except _Skip as skip:
            skipped.append(SkippedFile(str(path), str(skip)))
        if progress is not None:
            progress(done, len(paths), str(path))

    if not loaded:
        listing = "\n".join(f"  {printable(Path(s.path).relative_to(root).as_posix())}: {s.reason}" for s in skipped)
        raise CorpusError(
            f"No usable audio in corpus folder {str(root)!r}:\n{listing}\n"
            f"Distill reads {SUPPORTED_FORMATS}; it needs at least one non-silent file at least "
            f"{_seconds(loader.n_fft / loader.sample_rate)} long (one STFT window).")

    train_files, val_files = split_files(list(loaded), config.validation_fraction, config.seed)
    val_set = set(val_files)
    report = CorpusReport(folder=str(root), skipped=skipped, sample_rate=loader.sample_rate,
                          chunk_samples=loader.chunk_samples,
                          used=[UsedFile(p, float(d), int(c.shape[0]), bool(hit), "val" if p in val_set else "train",
                                         rate, removed)
                                for p, (d, c, _, hit, rate, removed) in sorted(loaded.items())])

    def stack(files: list[str], index: int, empty_shape: tuple) -> torch.Tensor:
        """The files' arrays in one tensor, each file's array released once copied: memory peaks
        at the corpus plus one file, not twice the corpus (np.concatenate holds both)."""
        if not files:
            return torch.zeros(empty_shape, dtype=torch.float32)
        first = loaded[files[0]][index]
        out = np.empty((sum(len(loaded[p][index]) for p in files), *first.shape[1:]), dtype=first.dtype)
        del first
        start = 0
        for p in files:
            entry = list(loaded[p])
            array, entry[index] = entry[index], None   # the file's own copy goes once copied
            loaded[p] = tuple(entry)
            out[start:start + len(array)] = array
            start += len(array)
            del array
        return torch.from_numpy(out)

    rep = loader.representation
    raw_shape = (0, 2, rep.n_freq, rep.n_frames(loader.chunk_samples))
    return Corpus(train_audio=stack(train_files, 1, (0, loader.chunk_samples)),
                  val_audio=stack(val_files, 1, (0, loader.chunk_samples)),
                  train_raw=stack(train_files, 2, raw_shape), val_raw=stack(val_files, 2, raw_shape),
                  train_files=train_files, val_files=val_files, chunk_samples=loader.chunk_samples,
                  sample_rate=loader.sample_rate, report=report,
                  cache_hits=loader.hits, cache_misses=loader.misses)
