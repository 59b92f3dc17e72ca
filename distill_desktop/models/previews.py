"""What the Listen tab shows, without Qt: a run's preview epochs and, for one epoch, its rows.

The engine records every preview file in the run store (distill_engine.runs.reader:
`Run.preview_epochs()`, `Run.previews(epoch)` -> PreviewRecord(epoch, step, kind, clip, path,
distance, rms); originals come with every epoch, kind "original"). `arrange_epoch` turns one
epoch's records into the rows the tab draws: one ClipRow per reconstruction clip (its original
beside its reconstruction), then the samples. Files are read later, one epoch at a time
(distill_desktop.models.audio_clips), so a run with hundreds of preview epochs opens at once.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from .audio_clips import format_dbfs, read_clip

ORIGINAL, RECONSTRUCTION, SAMPLE = "original", "reconstruction", "sample"
KINDS = (ORIGINAL, RECONSTRUCTION, SAMPLE)


@dataclass(frozen=True)
class PreviewCell:
    """One preview file as the tab shows it: its kind, clip index, file and stored figures."""

    kind: str
    clip: int
    path: Path | None          # None: the store has no row for this file (e.g. an original never written)
    distance: float | None = None
    rms: float | None = None

    @property
    def title(self) -> str:
        """"Clip 2 · original", "Clip 2 · reconstruction", "Sample 3" (numbered from 1)."""
        if self.kind == SAMPLE:
            return f"Sample {self.clip + 1}"
        return f"Clip {self.clip + 1} · {self.kind}"

    @property
    def key(self) -> str:
        """A name unique within one epoch, used to tell the player what is playing."""
        return f"{self.kind}-{self.clip:02d}"


@dataclass(frozen=True)
class ClipRow:
    """A reconstruction clip: its original and this epoch's reconstruction of it."""

    clip: int
    original: PreviewCell
    reconstruction: PreviewCell


@dataclass(frozen=True)
class EpochPreviews:
    """Everything the tab shows for one preview epoch."""

    epoch: int
    step: int | None
    clips: tuple[ClipRow, ...]
    samples: tuple[PreviewCell, ...]

    def cells(self) -> list[PreviewCell]:
        """Every cell in display order: each clip's original and reconstruction, then the samples."""
        out = []
        for row in self.clips:
            out += [row.original, row.reconstruction]
        return out + list(self.samples)


def _figure(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def arrange_epoch(epoch: int, records) -> EpochPreviews:
    """The rows of one epoch from its PreviewRecords (any objects with epoch, step, kind, clip,
    path, distance, rms). A reconstruction whose original is not recorded still gets a row (its
    original cell has no file); records of other epochs, other than originals, are ignored."""
    originals, recons, samples, step = {}, {}, {}, None
    for record in records:
        kind = record.kind
        if kind != ORIGINAL and int(record.epoch) != int(epoch):
            continue
        cell = PreviewCell(kind, int(record.clip), Path(record.path) if record.path else None,
                           _figure(record.distance), _figure(record.rms))
        if kind == ORIGINAL:
            originals[cell.clip] = cell
        elif kind == RECONSTRUCTION:
            recons[cell.clip] = cell
            step = record.step if step is None else step
        elif kind == SAMPLE:
            samples[cell.clip] = cell
            step = record.step if step is None else step
    clips = tuple(ClipRow(c, originals.get(c, PreviewCell(ORIGINAL, c, None)), recons[c])
                  for c in sorted(recons))
    return EpochPreviews(int(epoch), None if step is None else int(step), clips,
                         tuple(samples[s] for s in sorted(samples)))


def epochs_newest_first(epochs) -> list[int]:
    """Preview epochs in the order the tab lists them: newest first, each once."""
    return sorted({int(e) for e in epochs}, reverse=True)


def format_figures(cell: PreviewCell) -> str:
    """What the tab writes beside a cell: its stored distance and level, e.g. "distance 1.63 ·
    -24.1 dBFS" (an original has no distance; a figure not stored is left out). The level makes
    a silent reconstruction or sample plain even where its spectrogram is just dark."""
    parts = [] if cell.distance is None else [f"distance {cell.distance:.3g}"]
    if cell.rms is not None:
        parts.append(("RMS " if cell.distance is None else "") + format_dbfs(cell.rms))
    return " · ".join(parts)


def format_epoch_label(epoch: int, step: int | None = None) -> str:
    return f"Epoch {epoch}" + ("" if step is None else f" · step {step:,}")


@dataclass(frozen=True)
class PreviewRead:
    """What one background read of a run's previews found: the run's name, its preview epochs
    (newest first), the chosen epoch's rows and each cell's decoded clip or ClipProblem (by key);
    `problem` says why the run itself could not be read ("" when it could)."""

    run_dir: Path
    name: str
    epochs: tuple[int, ...]
    shown: EpochPreviews | None
    clips: dict
    problem: str = ""


def read_previews(run_dir, epoch: int | None = None) -> PreviewRead:
    """Read a run's preview epochs and the files of `epoch` (None: the newest). Runs off the GUI
    thread; a run that cannot be read comes back with `problem` set, a bad file as a ClipProblem."""
    from distill_engine.errors import DistillError
    from distill_engine.runs.reader import open_run


    run_dir = Path(run_dir)
    try:
        with open_run(run_dir) as run:
            name = run.name
            epochs = tuple(epochs_newest_first(run.preview_epochs()))
            if epoch is None or epoch not in epochs:
                epoch = epochs[0] if epochs else None
            records = run.previews(epoch) if epoch is not None else []
    except DistillError as exc:
        return PreviewRead(run_dir, run_dir.name, (), None, {}, str(exc))
    shown = arrange_epoch(epoch, records) if epoch is not None else None
    clips = {cell.key: read_clip(cell.path) for cell in shown.cells()} if shown else {}
    return PreviewRead(run_dir, name, epochs, shown, clips)
