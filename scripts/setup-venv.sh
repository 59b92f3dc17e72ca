#!/usr/bin/env bash
# Creates (or reuses) the virtual environment at .venv in the repository root and installs the
# project with its test extras. torch is pinned to the CPU build 2.13.0 first, so nothing pulls a
# multi-GB CUDA build. Re-running is cheap: pip is skipped while pyproject.toml is unchanged.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
stamp=.venv/.distill-installed
want="$(sha256sum pyproject.toml scripts/setup-venv.sh | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q "torch==2.13.0"
  .venv/bin/python -m pip install -q -e ".[test]"
  echo "$want" > "$stamp"
fi
