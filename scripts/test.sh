#!/usr/bin/env bash
# Sets up .venv with the dev extras (first run only), then lints, type-checks and runs the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
export MPLBACKEND=Agg
# two test workers on two cores: one math thread each avoids oversubscription
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
.venv/bin/ruff check src tests benchmarks
.venv/bin/mypy
.venv/bin/python -m pytest -n 2 -q "$@"
