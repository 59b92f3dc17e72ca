"""RenderJob: runs the engine's render_from_checkpoint on its own QThread, reporting progress and
stopping between files when cancelled (the engine's progress callback returns False).

Signals: `progress(done, total)` after each file; `finished(RenderResult)` when it ends (also when
cancelled: `result.cancelled`, the files written so far stay); `failed(message, details)` for a
checkpoint or folder the engine refuses (DistillError: its message, no details) or an engine bug
(the traceback as details). Exactly one of finished/failed fires.
"""
from __future__ import annotations

import threading
import traceback

from PySide6.QtCore import QThread, Signal

from distill_engine.errors import DistillError

from ..gc_pauses import import_torch_frozen


class RenderJob(QThread):
    """See the module docstring."""

    progress = Signal(int, int)
    finished_render = Signal(object)   # RenderResult
    failed = Signal(str, str)          # message, details

    def __init__(self, checkpoint_path, output_dir, inputs=(), samples: int = 4, seed: int = 0, parent=None):
        super().__init__(parent)
        self.checkpoint_path, self.output_dir = str(checkpoint_path), str(output_dir)
        self.inputs, self.samples, self.seed = [str(p) for p in inputs], int(samples), int(seed)
        self._cancel = threading.Event()

    def cancel(self) -> None:
        """Stop after the file being written (thread-safe)."""
        self._cancel.set()

    def run(self) -> None:
        def on_progress(done: int, total: int) -> bool:
            self.progress.emit(done, total)
            return not self._cancel.is_set()

        try:
            import_torch_frozen()        # torch loads on this thread, not on the GUI thread
            from distill_engine.previews.render import render_from_checkpoint

            result = render_from_checkpoint(self.checkpoint_path, self.output_dir, samples=self.samples,
                                            seed=self.seed, inputs=self.inputs, progress=on_progress)
        except DistillError as exc:
            self.failed.emit(str(exc), "")
        except Exception as exc:        # an engine bug: shown with its traceback
            self.failed.emit(f"Rendering failed: {type(exc).__name__}: {exc}", traceback.format_exc())
        else:
            self.finished_render.emit(result)
