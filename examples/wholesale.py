"""NEON walk-through: wholesale customers, a scratched texture and clusters of a picture.

Writes the figures to a folder (default ``neon_figures``)::

    python examples/wholesale.py [FOLDER]
"""

from __future__ import annotations

import sys
from pathlib import Path

from xaikit.neon import figures
from xaikit.neon.images import cluster_demo, scratch_demo
from xaikit.neon.wholesale import format_customer, reproduce


def run(folder: Path) -> None:
    """Reproduce the three analyses and write their figures to ``folder``."""
    result = reproduce(output_dir=folder)
    for analysis in result.customers.values():
        print(format_customer(analysis, result.feature_names))
    scratch = scratch_demo("brick")
    print(f"scratch: {100 * scratch.scratch_share():.0f}% of the positive relevance lies on the scratch band")
    figures.save(figures.scratch_figure(scratch), folder / "scratch.png")
    clusters = cluster_demo("astronaut", n_clusters=4)
    figures.save(figures.cluster_figure(clusters), folder / "clusters.png")
    print(f"figures written to {folder}")


if __name__ == "__main__":
    run(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("neon_figures"))
