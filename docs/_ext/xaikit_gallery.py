"""A sphinx-gallery image scraper for the figures xaikit draws.

:mod:`xaikit.plot` makes its figures without pyplot (so they are never shown and are freed
when dropped), which sphinx-gallery's matplotlib scraper cannot see: it asks pyplot for its
figures. This scraper looks instead at the tutorial's global variables after each code
block and saves every :class:`~matplotlib.figure.Figure` held there (directly, or through
an ``Axes`` or a list, tuple, dict or array of them) that it has not saved before. So a
tutorial shows a figure by keeping it in a variable: ``fig = xaikit.plot.grid(...)``.

Named in ``docs/conf.py`` by its qualified name (``xaikit_gallery.scrape_figures``), which
keeps Sphinx's configuration picklable.
"""

from __future__ import annotations

import sys
import weakref
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure
from sphinx_gallery.scrapers import figure_rst

_saved: weakref.WeakSet[Figure] = weakref.WeakSet()


def _figures(value: Any, depth: int = 0) -> Iterator[Figure]:
    """The figures a global variable holds, directly or one container level down."""
    while isinstance(value, Axes | SubFigure):
        value = value.figure
    if isinstance(value, Figure):
        yield value
    elif depth == 0 and isinstance(value, Mapping):
        for item in value.values():
            yield from _figures(item, 1)
    elif depth == 0 and isinstance(value, list | tuple):
        for item in value:
            yield from _figures(item, 1)
    elif depth == 0 and isinstance(value, np.ndarray) and value.dtype.kind == "O":
        for item in value.flat:
            yield from _figures(item, 1)


def scrape_figures(block: Any, block_vars: dict[str, Any], gallery_conf: dict[str, Any]) -> str:
    """Save the figures new in the tutorial's globals (and pyplot's) as PNG files; return their reST."""
    candidates = [f for value in list(block_vars["example_globals"].values()) for f in _figures(value)]
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:  # figures drawn with pyplot, which sphinx-gallery's own scraper takes
        candidates += [pyplot.figure(number) for number in pyplot.get_fignums()]
    paths = []
    for figure in candidates:
        if figure in _saved:
            continue
        _saved.add(figure)
        path = next(block_vars["image_path_iterator"])
        figure.savefig(path, dpi=110)
        paths.append(path)
    if pyplot is not None:
        pyplot.close("all")
    return figure_rst(paths, gallery_conf["src_dir"])
