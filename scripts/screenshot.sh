#!/usr/bin/env bash
# Screenshot of the window mid-training under a virtual display (needs Debian's xvfb package:
# apt-get install xvfb). Writes docs/screenshot.png unless another path is given; further
# arguments go to screenshot.py (e.g. docs/listen.png --listen-after 8 --size 1320x820).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup-venv.sh"
cd "$root"
out="${1:-docs/screenshot.png}"
QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python scripts/screenshot.py "$out" "${@:2}"
