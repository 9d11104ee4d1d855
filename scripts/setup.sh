#!/usr/bin/env bash
# Creates (or reuses) .venv and installs xaikit into it. Idempotent.
# Usage: scripts/setup.sh [dev]
set -euo pipefail
cd "$(dirname "$0")/.."
extra="${1:-}"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
py=.venv/bin/python
stamp=".venv/.xaikit-installed${extra:+-$extra}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  # torch first, pinned to the CPU wheel available locally; the package itself asks only torch>=2.2.
  "$py" -m pip install --quiet --disable-pip-version-check "torch==2.13.0" 2>&1 | grep -v "is ignored: it is neither" || true
  if [ -n "$extra" ]; then
    "$py" -m pip install --quiet --disable-pip-version-check -e ".[$extra]" 2>&1 | grep -v "is ignored: it is neither" || true
  else
    "$py" -m pip install --quiet --disable-pip-version-check -e . 2>&1 | grep -v "is ignored: it is neither" || true
  fi
  if [ "$extra" = dev ]; then
    # ViRelAy's reader checks the HDF5 export; its web-server dependencies are not needed for that.
    "$py" -m pip install --quiet --disable-pip-version-check --no-deps "virelay==0.6.1" 2>&1 | grep -v "is ignored: it is neither" || true
  fi
  "$py" -c "import xaikit" && touch "$stamp"
fi
