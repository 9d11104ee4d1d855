#!/usr/bin/env bash
# Builds the documentation site into docs/_build/html with warnings as errors: the API pages
# from the docstrings, the Markdown notes of docs/, and the tutorials, executed (sphinx-gallery).
# Sets up .venv with the dev extras first (first run only). Exits non-zero on any warning.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
export MPLBACKEND=Agg
# one math thread per process, as in scripts/test.sh (the tutorials are small)
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" MKL_NUM_THREADS="${MKL_NUM_THREADS:-1}" \
  OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
# a fresh build each time (-E): the tutorials run again, stale pages cannot hide a warning
rm -rf docs/auto_tutorials docs/sg_execution_times.rst
.venv/bin/python -m sphinx -E -W --keep-going -j 1 -b html docs docs/_build/html
