#!/usr/bin/env bash
# Sets up .venv and runs the main job: the Distill desktop app (it offers the bundled demo corpus).
# Arguments are passed on to the app.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup-venv.sh"
cd "$root"
exec .venv/bin/distill-desktop "$@"
