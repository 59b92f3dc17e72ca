#!/usr/bin/env bash
# Sets up .venv and runs the main job: training on the bundled demo corpus (arguments are passed on).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup-venv.sh"
cd "$root"
if [ "$#" -eq 0 ]; then set -- resources/demo_corpus; fi
exec .venv/bin/distill-train "$@"
