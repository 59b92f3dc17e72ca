"""A lost audio server turns playback off instead of aborting the app.

Qt's PulseAudio backend aborts the whole process (libpulse's assertion in pa_context_get_state) when
a sink starts after the server went away, even once it is back. The player asks its server watch
before each start. The watch is tested on sockets the test makes; the whole story on a private
PulseAudio daemon (skipped where the pulseaudio binary is missing), in a child process so that the
abort this guards against would show as its exit status."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
import time

import pytest

from distill_desktop.widgets.audio_server import LOST_REASON, PulseServerWatch, pulse_socket_candidates


def listening_socket(path):
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(4)
    return server


def test_the_socket_is_found_where_libpulse_looks(tmp_path):
    assert pulse_socket_candidates({"PULSE_SERVER": "unix:/x/native"}) == [Path("/x/native")]
    assert pulse_socket_candidates({"PULSE_SERVER": "tcp:host:4713"}) == []
    (tmp_path / ".config" / "pulse" / "abc-runtime").mkdir(parents=True)
    found = pulse_socket_candidates({"XDG_RUNTIME_DIR": "/run/user/7"}, home=tmp_path)
    assert found[0] == Path("/run/user/7/pulse/native")
    assert tmp_path / ".config" / "pulse" / "abc-runtime" / "native" in found


def test_a_server_that_stops_or_restarts_is_reported_lost(tmp_path):
    path = tmp_path / "native"
    env = {"PULSE_SERVER": f"unix:{path}"}
    assert PulseServerWatch.for_environment(env) is None          # no server: nothing to watch
    server = listening_socket(path)
    watch = PulseServerWatch.for_environment(env)
    assert watch is not None and watch.lost() == ""
    server.close()                                               # the daemon dies, its socket stays
    assert watch.lost() == LOST_REASON
    path.unlink()
    restarted = listening_socket(path)                           # a new daemon, a new socket
    try:
        assert watch.lost() == LOST_REASON
    finally:
        restarted.close()


CHILD = textwrap.dedent("""
    import os, sys, time
    import numpy as np
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication
    app = QApplication(sys.argv)
    from distill_desktop.widgets.audio_player import AudioPlayer

    def spin(ms):
        loop = QEventLoop(); QTimer.singleShot(ms, loop.quit); loop.exec()

    player = AudioPlayer()
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(32000) / 16000)).astype(np.float32)
    reasons = []
    player.failed.connect(lambda _key, reason: reasons.append(reason))
    print("first", player.play("a", tone, 16000), flush=True)
    spin(200)
    sys.stdin.readline()                      # the test kills the server now
    spin(500)
    print("second", player.play("b", tone, 16000, 0.1), player.available, flush=True)
    print("reason", reasons[0] if reasons else "", flush=True)
""")


@pytest.mark.fault("traceback")
@pytest.mark.skipif(shutil.which("pulseaudio") is None, reason="needs the pulseaudio binary")
def test_playing_after_the_server_died_turns_playback_off_and_the_app_lives(tmp_path):
    sock = tmp_path / "native"
    env = dict(os.environ, HOME=str(tmp_path), PULSE_RUNTIME_PATH=str(tmp_path / "run"),
               PULSE_SERVER=f"unix:{sock}", QT_QPA_PLATFORM="offscreen")
    (tmp_path / "run").mkdir()
    daemon = subprocess.Popen(
        ["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--disable-shm=yes",
         "--use-pid-file=no", "-L", f"module-native-protocol-unix socket={sock} auth-anonymous=1",
         "-L", "module-null-sink sink_name=test_sink"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while PulseServerWatch.for_environment(env) is None:
            if daemon.poll() is not None or time.monotonic() > deadline:
                pytest.skip("a private PulseAudio daemon could not start here")
            time.sleep(0.1)
        child = subprocess.Popen([sys.executable, "-c", CHILD], env=env, text=True,
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        first = child.stdout.readline()
        if first.strip() != "first True":
            child.kill()
            pytest.skip(f"Qt cannot play on the private daemon here: {first!r} {child.stderr.read()[-500:]}")
        daemon.send_signal(signal.SIGKILL)
        daemon.wait(10)
        out, err = child.communicate("go\n", timeout=60)
    finally:
        if daemon.poll() is None:
            daemon.kill()
    assert child.returncode == 0, f"the app died ({child.returncode}): {err[-800:]}"
    assert "second False False" in out
    assert LOST_REASON in out
