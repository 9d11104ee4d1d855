"""Sphinx configuration of xaikit's documentation site.

Built by ``scripts/docs.sh`` (part of ``scripts/test.sh``) with warnings as errors:
``python -m sphinx -E -W --keep-going -j 1 -b html docs docs/_build/html``. No warning
category is suppressed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")  # the tutorials draw headless
# xaikit is installed in .venv (scripts/setup.sh); the source tree comes first anyway, so the
# pages always document the code beside them
DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent / "src"))
sys.path.insert(0, str(DOCS / "_ext"))  # xaikit_gallery: the tutorials' figure scraper

import xaikit  # noqa: E402

project = "xaikit"
author = "xaikit developers"
copyright = "xaikit developers"
release = xaikit.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",  # :math: in a few docstrings (perturbation)
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
# docs/tutorials holds the gallery sources; sphinx-gallery renders them into auto_tutorials
exclude_patterns = ["_build", "_ext", "tutorials", "Thumbs.db", ".DS_Store"]

html_theme = "furo"
html_title = f"xaikit {release}"

# -- autodoc / napoleon: numpydoc-style docstrings ---------------------------------------
# Each page in docs/api is an ``automodule`` with ``:members:``: autodoc documents the names
# in the package's ``__all__`` (getattr also resolves xaikit's lazy PEP 562 names). A class
# re-exported by two packages is documented once, on one page (the others exclude it;
# see their notes): two descriptions would be a duplicate-object warning, and they would
# make short cross-references ambiguous.
autodoc_default_options = {"show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
# Not nitpicky: type names autodoc cannot link (torch, numpy, private bases and internal
# modules) stay plain text instead of failing the build; broken markup, duplicate objects,
# ambiguous references, missing pages and failing tutorials still do.
nitpicky = False

# -- MyST: the Markdown pages of docs/ ---------------------------------------------------
myst_heading_anchors = 3  # "explanation-format.md#safety" links resolve

# -- sphinx-gallery: the tutorials are executed at build time ----------------------------
sphinx_gallery_conf = {
    "examples_dirs": ["tutorials"],
    "gallery_dirs": ["auto_tutorials"],
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    # xaikit.plot draws without pyplot; this scraper finds the figures in the tutorial's
    # variables (and pyplot's figures too)
    "image_scrapers": ("xaikit_gallery.scrape_figures",),
}
