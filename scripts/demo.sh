#!/usr/bin/env bash
# Sets up .venv (first run only) and runs the main job: `xaikit demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh datasets
exec .venv/bin/xaikit demo "$@"
