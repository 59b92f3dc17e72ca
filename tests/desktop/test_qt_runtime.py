"""Guards against a Qt binding that corrupts reference counts when signals are emitted.

PySide6 6.12.0 under Python 3.11 released a reference to True on every Signal.emit(); the app
emits signals for the whole of a training run, so it crashed once True's count ran out.
"""
import sys

from PySide6.QtCore import QObject, Signal


class Emitter(QObject):
    value = Signal(object)
    batch = Signal(list)


def test_emitting_signals_leaves_reference_counts_alone(qtbot):
    emitter = Emitter()
    received = [0]

    def count(_value):
        received[0] += 1

    emitter.value.connect(count)
    emitter.batch.connect(count)
    before = {name: sys.getrefcount(obj) for name, obj in (("True", True), ("False", False), ("None", None))}
    for i in range(500):
        emitter.value.emit(i)
        emitter.value.emit(None)
        emitter.batch.emit([i])
    after = {name: sys.getrefcount(obj) for name, obj in (("True", True), ("False", False), ("None", None))}
    assert received[0] == 1500
    for name in before:
        assert abs(after[name] - before[name]) < 50, f"{name}: {before[name]} -> {after[name]}"


def test_qt_multimedia_comes_at_exactly_the_qt_version_of_the_widgets():
    """PySide6-Addons (QtMultimedia, clip playback) and PySide6-Essentials must be one release:
    mixed versions load mismatched Qt libraries."""
    from importlib.metadata import version

    import PySide6

    assert version("PySide6-Addons") == version("PySide6-Essentials") == PySide6.__version__
