"""Watching the PulseAudio server under Qt's audio output, so that a lost server disables playback
instead of aborting the app.

Qt's PulseAudio backend connects once. When the server goes away (the daemon crashes, is restarted
or exits idle) Qt drops its context, tries to reconnect twice, and from then on the next
`QAudioSink.start` calls libpulse with no context, whose assertion aborts the whole process
("Assertion 'c' failed … pa_context_get_state()"), even after the server is back. Nothing in Qt's
API says this has happened, so the player asks this watch before each start: the server socket
libpulse would use must still be the one that was there when the player was made (same file, same
inode, same creation time) and must accept a connection. A restarted server makes a new socket, a dead one refuses:
either way playback is turned off with a reason that says what to do, and the app keeps running.

Where no PulseAudio socket is found (another audio system, or a remote `tcp:` server) there is
nothing to watch and `for_environment` returns None.
"""
from __future__ import annotations

import os
import socket
import stat
from dataclasses import dataclass
from pathlib import Path

LOST_REASON = ("The audio server (PulseAudio) stopped or restarted while Distill was open, and Qt's "
               "audio output cannot reconnect to it. Nothing is lost: restart Distill to play clips again.")


def pulse_socket_candidates(env=None, home: Path | None = None) -> list[Path]:
    """Where libpulse looks for the server's native socket, in its order of preference."""
    env = os.environ if env is None else env
    server = env.get("PULSE_SERVER", "").strip()
    if server:
        first = server.split()[0]
        if first.startswith("unix:"):
            return [Path(first[len("unix:"):])]
        return [Path(first)] if first.startswith("/") else []
    found = []
    if env.get("XDG_RUNTIME_DIR"):
        found.append(Path(env["XDG_RUNTIME_DIR"]) / "pulse" / "native")
    config = Path(env.get("XDG_CONFIG_HOME") or (home or Path.home()) / ".config") / "pulse"
    try:
        found += sorted(p / "native" for p in config.glob("*-runtime"))
    except OSError:
        pass
    found.append(Path("/run/pulse/native"))     # a system-wide daemon
    return found


def _accepts(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


def _identity(path: Path):
    try:
        info = os.stat(path)
    except OSError:
        return None
    # The inode alone is not enough: tmpfs hands a re-created socket the same number.
    return (info.st_dev, info.st_ino, info.st_ctime_ns) if stat.S_ISSOCK(info.st_mode) else None


@dataclass
class PulseServerWatch:
    """The server socket seen when the player was made; `lost()` says whether it is gone."""

    path: Path
    identity: tuple

    @classmethod
    def for_environment(cls, env=None, home: Path | None = None) -> "PulseServerWatch | None":
        for path in pulse_socket_candidates(env, home):
            identity = _identity(path)
            if identity is not None and _accepts(path):
                return cls(path, identity)
        return None

    def lost(self) -> str:
        """'' while the same server answers; else the reason playback must stop."""
        if _identity(self.path) != self.identity or not _accepts(self.path):
            return LOST_REASON
        return ""
