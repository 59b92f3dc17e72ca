"""Keep the garbage collector from freezing the window.

A full collection walks every object the collector tracks (about 300 k once torch and the parts of
it an optimizer pulls in are loaded: 80 to 250 ms on a small machine) with the GIL held, so no Python
code runs on any thread meanwhile and the window stops answering; in a live run these pauses were
the longest the GUI thread saw. Nearly all of those objects live as long as the process (modules,
classes, functions, the window), so they are moved out of the collector's view (`gc.freeze`) as soon
as they exist: when the window is up, and once torch is imported (`import_torch_frozen`, on the first
of the corpus loader or training threads to need it). While torch is imported automatic collections
are off: the import creates ~400 k objects and would set off several full collections on the way;
they are frozen without a collection (which would itself hold the GIL ~300 ms), so the few thousand
objects the import left unreachable stay for the life of the process, like the modules themselves.

Only objects alive at those moments are frozen; a run's own objects (model, optimizer, corpus
tensors) are created afterwards and are collected as usual. A frozen object that later becomes
cyclic garbage stays until the process ends: window-side objects of a few kilobytes at most.
"""
from __future__ import annotations

import gc
import threading

_torch_lock = threading.Lock()
_torch_frozen = False


def freeze_long_lived_objects() -> None:
    """Collect once, then move every surviving object out of the collector's view."""
    gc.collect()
    gc.freeze()


def import_torch_frozen() -> None:
    """Import torch and what its optimizers import on first use (torch._dynamo: ~800 modules) with
    automatic collections off, then freeze. Once per process; thread-safe."""
    global _torch_frozen
    with _torch_lock:
        if _torch_frozen:
            return
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            import torch

            torch.optim.AdamW([torch.zeros(1, requires_grad=True)])
            gc.freeze()         # no collection first: it would walk ~450 k objects (300 ms)
            _torch_frozen = True
        finally:
            if was_enabled:
                gc.enable()
