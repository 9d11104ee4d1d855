"""Start-up cost of the command line: wall time of ``xaikit`` commands in fresh processes.

``--help``, ``methods`` and argument errors import neither torch nor a method family
(lazy imports, the shipped method catalogue), so they answer in a fraction of a second;
a command that explains pays for torch once. Each command runs ``--runs`` times,
alternately; the best and the median wall time are printed as a Markdown table.

Run::

    .venv/bin/python benchmarks/cli_startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS: dict[str, list[str]] = {
    "xaikit --help": ["--help"],
    "xaikit methods": ["methods"],
    "xaikit explain (argument error)": ["explain"],
    "xaikit explain --help": ["explain", "--help"],
    "python -c 'import torch' (for scale)": [],
}


def wall(argv: list[str]) -> float:
    """Seconds one fresh ``python -m xaikit ARGV`` (or ``import torch`` for an empty argv) takes."""
    command = [sys.executable, "-c", "import torch"] if not argv else [sys.executable, "-m", "xaikit", *argv]
    start = time.perf_counter()
    subprocess.run(command, capture_output=True, check=False)
    return time.perf_counter() - start


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs of each command")
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.runs):
        for name, argv in COMMANDS.items():
            times[name].append(wall(argv))
    print("| command | best (s) | median (s) |")
    print("|---|---:|---:|")
    for name, values in times.items():
        print(f"| {name} | {min(values):.3f} | {statistics.median(values):.3f} |")


if __name__ == "__main__":
    main()
