"""Audio files as the window shows and plays them, without Qt: decoded samples and a log-magnitude
spectrogram (time x frequency, dBFS), or the reason a file cannot be shown ("missing",
"unreadable").

Headers are checked before memory is allocated: a file longer than MAX_SECONDS or with an absurd
sample rate is refused as unreadable, so a damaged header cannot make the window allocate gigabytes.
Spectrograms keep at most MAX_FRAMES time frames (the hop grows for long files), so drawing a
ten-minute corpus file costs about what a preview clip does.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MISSING, UNREADABLE = "missing", "unreadable"
MAX_SECONDS = 15 * 60
MAX_SAMPLE_RATE = 768_000
MAX_FRAMES = 1200
N_FFT = 512
#: Colour scale of the spectrograms: the loudest bin shown maps to the top, this many dB below to the bottom.
DYNAMIC_RANGE_DB = 90.0
FLOOR_DB = -160.0


@dataclass(frozen=True)
class Spectrogram:
    """Log magnitude in dBFS (a full-scale sine peaks near 0 dB), shape (frames, bins); the frames
    span the audio's `duration_s` (the image is drawn over it, so the playhead meets the sound)."""

    db: np.ndarray
    seconds_per_frame: float
    hz_per_bin: float
    duration_s: float

    @property
    def top_hz(self) -> float:
        """The Nyquist frequency: the last bin's centre."""
        return (self.db.shape[1] - 1) * self.hz_per_bin

    def peak_db(self) -> float:
        return float(self.db.max()) if self.db.size else FLOOR_DB


@dataclass(frozen=True)
class AudioClip:
    """A decoded file (mono float32 in [-1, 1]) and its spectrogram."""

    path: Path
    samples: np.ndarray
    sample_rate: int
    spectrogram: Spectrogram

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate

    @property
    def rms(self) -> float:
        return float(np.sqrt(np.mean(np.square(self.samples, dtype=np.float64)))) if len(self.samples) else 0.0


@dataclass(frozen=True)
class ClipProblem:
    """Why a file cannot be shown: state is MISSING or UNREADABLE, reason says what was found."""

    path: Path | None
    state: str
    reason: str


def read_clip(path) -> AudioClip | ClipProblem:
    """Decode `path` (mixed down to mono) and compute its spectrogram; never raises for a bad file."""
    import soundfile as sf

    if path is None:
        return ClipProblem(None, MISSING, "no file is recorded for it")
    path = Path(path)
    if not path.is_file():
        return ClipProblem(path, MISSING, f"{path.name} is missing (deleted or moved)")
    try:
        info = sf.info(str(path))
        if not 0 < info.samplerate <= MAX_SAMPLE_RATE or info.channels < 1 or info.frames < 0:
            return ClipProblem(path, UNREADABLE, f"{path.name} declares {info.samplerate} Hz, "
                                                 f"{info.channels} channels")
        if info.frames > MAX_SECONDS * info.samplerate:
            return ClipProblem(path, UNREADABLE, f"{path.name} is longer than {MAX_SECONDS // 60} minutes")
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, ValueError, OSError, TypeError) as exc:   # soundfile.LibsndfileError is a RuntimeError
        return ClipProblem(path, UNREADABLE, f"{path.name} cannot be decoded: {exc}")
    samples = np.ascontiguousarray(data.mean(axis=1, dtype=np.float32))
    if not np.all(np.isfinite(samples)):
        return ClipProblem(path, UNREADABLE, f"{path.name} holds non-finite samples")
    return AudioClip(path, samples, int(rate), log_spectrogram(samples, int(rate)))


def log_spectrogram(samples: np.ndarray, sample_rate: int, n_fft: int = N_FFT,
                    max_frames: int = MAX_FRAMES) -> Spectrogram:
    """Hann-windowed magnitude STFT in dBFS; hop n_fft/4, larger when that would exceed max_frames."""
    samples = np.asarray(samples, dtype=np.float32)
    duration_s = len(samples) / sample_rate
    hop = max(n_fft // 4, math.ceil(max(len(samples) - n_fft, 0) / max(max_frames - 1, 1)))
    if len(samples) < n_fft:
        samples = np.pad(samples, (0, n_fft - len(samples)))
    n_frames = 1 + (len(samples) - n_fft) // hop
    frames = np.lib.stride_tricks.as_strided(
        samples, shape=(n_frames, n_fft), strides=(samples.strides[0] * hop, samples.strides[0]), writeable=False)
    window = np.hanning(n_fft).astype(np.float32)
    magnitude = np.abs(np.fft.rfft(frames * window, axis=1)) * (2.0 / window.sum())
    db = 20.0 * np.log10(np.maximum(magnitude, 10 ** (FLOOR_DB / 20))).astype(np.float32)
    return Spectrogram(db, hop / sample_rate, sample_rate / n_fft, duration_s)


def format_dbfs(rms: float) -> str:
    """An RMS level (full scale 1.0) in dBFS, as the window writes it."""
    return "-inf dBFS" if rms <= 0 else f"{20 * math.log10(rms):.1f} dBFS"


def shared_levels(spectrograms, anchors=()) -> tuple[float, float]:
    """(low, high) dB of the one colour scale for a set of spectrograms: the top is the loudest of
    `anchors` (the fixed originals, so the scale stays put across epochs) or, without anchors, of
    all; rounded up to 10 dB; the bottom DYNAMIC_RANGE_DB lower."""
    pool = [s.peak_db() for s in anchors] or [s.peak_db() for s in spectrograms]
    top = max(pool, default=0.0)
    top = min(10.0 * math.ceil(top / 10.0), 20.0) if math.isfinite(top) else 0.0
    return top - DYNAMIC_RANGE_DB, top
