#!/usr/bin/env bash
# Sets up .venv and runs the whole test suite (arguments are passed on to pytest).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup-venv.sh"
cd "$root"
exec .venv/bin/python -m pytest "$@"
