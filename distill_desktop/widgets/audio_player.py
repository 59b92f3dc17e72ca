"""AudioPlayer: plays decoded clips through Qt's own audio output (QtMultimedia's QAudioSink), one
at a time, without blocking the GUI thread.

The clip is converted once to 16-bit PCM in memory and the sink pulls it from a QBuffer on its
own schedule (pull mode), so `play` returns at once and the GUI thread only copies small blocks.
`play(key, samples, rate, start_s)` starts a clip at a position; `position_s()` says where the
playing clip is, so a view can switch between two clips at the same position (A/B).

Whether there is an output is asked once, through `output_check` (injectable: tests drive both
paths): without QtMultimedia's libraries or without an output device `available` is False,
`unavailable_reason` says why, and `play` does nothing. Views disable their play buttons with
that reason as the tooltip.

Before each start the player asks its server watch (widgets/audio_server.py) whether the PulseAudio
server it began with is still there: Qt's backend aborts the process when a sink starts after the
server went away. A lost server turns playback off (`availability_changed` carries the reason) and
the views disable their buttons; nothing else changes.
"""
from __future__ import annotations

import numpy as np
import shiboken6
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QObject, Signal

from .audio_server import PulseServerWatch


def default_output_check():
    """(device or None, reason): the system's default audio output, or why there is none."""
    try:
        from PySide6.QtMultimedia import QMediaDevices
    except ImportError as exc:
        return None, (f"Audio playback is unavailable: Qt's multimedia libraries cannot load ({exc}). "
                      "On Debian or Ubuntu install the libpulse0 package.")
    device = QMediaDevices.defaultAudioOutput()
    if device.isNull():
        return None, "No audio output device was found, so clips cannot be played here."
    return device, ""


def _audio_namespace():
    """QtAudio (Qt >= 6.7, whose sinks report its enums) or QAudio (older Qt)."""
    from PySide6 import QtMultimedia

    return getattr(QtMultimedia, "QtAudio", None) or QtMultimedia.QAudio


def pcm16(samples: np.ndarray) -> bytes:
    """Mono float samples in [-1, 1] as little-endian signed 16-bit PCM (clipped)."""
    return (np.clip(np.asarray(samples, np.float32), -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


class AudioPlayer(QObject):
    """One clip at a time through the default audio output; see the module docstring."""

    started = Signal(str)          # key of the clip now playing
    stopped = Signal(str)          # key of the clip that stopped (finished, stopped or replaced)
    failed = Signal(str, str)      # key, reason: the output refused the clip
    availability_changed = Signal(str)   # the reason playback is now unavailable

    def __init__(self, output_check=default_output_check, parent=None,
                 server_watch=PulseServerWatch.for_environment):
        super().__init__(parent)
        self.device, self.unavailable_reason = output_check()
        self._server = server_watch() if self.device is not None and server_watch else None
        self._sink = None
        self._buffer = None
        self._key: str | None = None
        self._rate = 0
        self._start_s = 0.0
        self._retired = ()

    @property
    def available(self) -> bool:
        return self.device is not None

    @property
    def playing_key(self) -> str | None:
        return self._key

    def play(self, key: str, samples: np.ndarray, sample_rate: int, start_s: float = 0.0) -> bool:
        """Play `samples` from `start_s` seconds (replacing whatever plays); False if it cannot."""
        self.stop()
        if not self.available or len(samples) == 0:
            return False
        lost = self._server.lost() if self._server is not None else ""
        if lost:
            self._turn_off(lost)
            self.failed.emit(key, lost)
            return False
        from PySide6.QtMultimedia import QAudioFormat, QAudioSink

        QAudio = _audio_namespace()
        rate = int(sample_rate)
        fmt = QAudioFormat()
        fmt.setChannelCount(1)
        fmt.setSampleFormat(QAudioFormat.SampleFormat.Int16)
        fmt.setSampleRate(rate)
        if not self.device.isFormatSupported(fmt):
            preferred = self.device.preferredFormat().sampleRate()
            if preferred <= 0:
                self.failed.emit(key, f"the audio output cannot play {rate} Hz audio")
                return False
            import soxr

            samples = soxr.resample(np.asarray(samples, np.float32), rate, preferred)
            rate = preferred
            fmt.setSampleRate(rate)
        start = min(max(int(round(start_s * rate)), 0), len(samples))
        self._buffer = QBuffer()
        self._buffer.setData(QByteArray(pcm16(samples)))
        self._buffer.open(QIODevice.OpenModeFlag.ReadOnly)
        self._buffer.seek(2 * start)
        self._sink = QAudioSink(self.device, fmt)
        sink = self._sink
        # A zero-argument slot: PySide 6.11 cannot convert the State argument (QAudio vs QtAudio).
        sink.stateChanged.connect(lambda: self._on_state(sink))
        self._key, self._rate, self._start_s = key, rate, start / rate
        self._sink.start(self._buffer)
        if self._sink.error() != QAudio.Error.NoError:
            self._finish(f"the audio output refused the clip ({self._sink.error().name})")
            return False
        self.started.emit(key)
        return True

    def position_s(self) -> float:
        """Where the playing clip is, in seconds from its start (0 when nothing plays)."""
        if self._sink is None:
            return 0.0
        return self._start_s + self._sink.processedUSecs() / 1e6

    def stop(self) -> None:
        """Stop the clip that plays (if any); `stopped` is emitted for it."""
        if self._sink is not None:
            self._finish("")

    def _turn_off(self, reason: str) -> None:
        self.device, self.unavailable_reason, self._server = None, reason, None
        self.availability_changed.emit(reason)

    def _on_state(self, sink) -> None:
        QAudio = _audio_namespace()
        if sink is not self._sink or not shiboken6.isValid(sink):   # replaced, or deleted at exit
            return
        state = sink.state()
        if state == QAudio.State.IdleState:          # the buffer ran out: the clip has ended
            self._finish("")
        elif state == QAudio.State.StoppedState and self._sink.error() != QAudio.Error.NoError:
            self._finish(f"the audio output stopped with an error ({self._sink.error().name})")

    def _finish(self, reason: str) -> None:
        sink, buffer, key = self._sink, self._buffer, self._key
        self._sink = self._buffer = self._key = None
        sink.blockSignals(True)
        sink.stop()
        buffer.close()
        self._retired = (sink, buffer)   # dropped at the next play: never deleted inside its own signal
        if reason:
            self.failed.emit(key, reason)
        self.stopped.emit(key)
