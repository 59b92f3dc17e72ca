#!/usr/bin/env bash
# Sets up .venv and runs the main job: the Distill desktop app (it offers the bundled demo corpus).
# Arguments are passed on to the app.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup-venv.sh"
cd "$root"
# Qt's xcb platform plugin (X11) needs three libraries that a fresh Debian/Ubuntu lacks; without them
# the app stops with "Could not load the Qt platform plugin xcb". Name the packages instead.
if [[ "$(uname -s)" == "Linux" && "${QT_QPA_PLATFORM:-xcb}" == xcb* ]] && command -v ldconfig >/dev/null; then
  missing=()
  for pair in libxcb-cursor.so.0:libxcb-cursor0 libxcb-icccm.so.4:libxcb-icccm4 libxcb-keysyms.so.1:libxcb-keysyms1; do
    ldconfig -p | grep -q "${pair%%:*}" || missing+=("${pair##*:}")
  done
  if (( ${#missing[@]} )); then
    echo "Qt's X11 (xcb) plugin needs these packages, which are not installed: ${missing[*]}" >&2
    echo "Install them with:  sudo apt-get install ${missing[*]}   (or set QT_QPA_PLATFORM=wayland)" >&2
    exit 1
  fi
fi
exec .venv/bin/distill-desktop "$@"
