#!/usr/bin/env bash
# Sets up .venv with the dev extras (first run only), then lints, type-checks, builds the
# documentation site (warnings as errors) and runs the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
export MPLBACKEND=Agg
# The report test opens the HTML page in a real headless Chromium (Debian's package).
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "warning: could not install chromium; the browser test will be skipped" >&2
fi
export XAIKIT_ARTIFACTS="${XAIKIT_ARTIFACTS:-artifacts}"
# two test workers on two cores: one math thread each avoids oversubscription
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
.venv/bin/ruff check src tests benchmarks docs
.venv/bin/mypy
# the documentation site, tutorials executed, warnings as errors (docs/_build/html)
bash scripts/docs.sh
.venv/bin/python -m pytest -n 2 -q "$@"
