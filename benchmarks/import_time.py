"""Import time of xaikit beyond torch, from ``python -X importtime``.

Runs ``python -X importtime -c "import torch"`` and ``... "import xaikit"`` in fresh
interpreters, alternately, and reports the best of ``--runs`` of each:

- the total of each (the sum of the top-level cumulative times) and their difference;
- the self time of the modules that ``import xaikit`` loads and ``import torch`` does
  not (less noisy than the difference of two totals);
- the slowest of those modules.

Run::

    .venv/bin/python benchmarks/import_time.py [--runs 10]

Put another source tree first on ``PYTHONPATH`` to measure it instead.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys

Row = tuple[int, int, int, str]  # self us, cumulative us, depth, module

_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def importtime(statement: str) -> list[Row]:
    """The ``-X importtime`` rows of one fresh interpreter running ``statement``.

    Parameters
    ----------
    statement : str
        Python code, such as ``"import xaikit"``.

    Returns
    -------
    list of (int, int, int, str)
        Self and cumulative microseconds, nesting depth and name of each imported module.
    """
    stderr = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement], capture_output=True, text=True, check=True
    ).stderr
    rows = []
    for line in stderr.splitlines():
        match = _LINE.match(line)
        if match:
            rows.append((int(match[1]), int(match[2]), len(match[3]), match[4]))
    return rows


def total(rows: list[Row]) -> float:
    """Seconds of all imports: the sum of the top-level cumulative times."""
    return sum(cumulative for _, cumulative, depth, _ in rows if depth == 1) / 1e6


def main() -> None:
    """Measure and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each import (best is reported)")
    args = parser.parse_args()
    torch_runs, xaikit_runs = [], []
    for _ in range(args.runs):
        torch_runs.append(importtime("import torch"))
        xaikit_runs.append(importtime("import xaikit"))
    torch_modules = {name for rows in torch_runs for *_, name in rows}

    def beyond(rows: list[Row]) -> float:
        return sum(own for own, _, _, name in rows if name not in torch_modules) / 1e6

    t = min(map(total, torch_runs))
    x = min(map(total, xaikit_runs))
    best = min(xaikit_runs, key=beyond)
    print(f"import torch : {t:.3f} s (best of {args.runs})")
    print(f"import xaikit: {x:.3f} s (best of {args.runs})")
    print(f"difference   : {x - t:.3f} s")
    print(f"self time of the modules import torch does not load: {beyond(best):.3f} s")
    slowest = sorted(((own, name) for own, _, _, name in best if name not in torch_modules), reverse=True)
    print("slowest: " + ", ".join(f"{name} {own / 1000:.1f} ms" for own, name in slowest[:10]))


if __name__ == "__main__":
    main()
