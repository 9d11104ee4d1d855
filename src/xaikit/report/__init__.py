"""Self-contained HTML reports: sections of text, figures, tables and settings.

Each analysis contributes a :class:`Section`; a :class:`Report` renders them with Jinja2
templates (autoescaping on, so every text, caption and table cell is escaped) into one
HTML file with inline CSS, images embedded as base64 PNG and a Content-Security-Policy
that forbids any network access and scripts. A report can be saved as a run folder and
rebuilt from it (``xaikit report DIR``).

Examples
--------
>>> from xaikit.report import Report
>>> report = Report("Digits")
>>> section = report.section("Heatmaps").add_text("LRP heatmaps of test digits.")
>>> html = report.render()
"""

from xaikit.report.blocks import Block, ImageBlock, SettingsBlock, TableBlock, TextBlock
from xaikit.report.folder import MANIFEST, RunFolderError, save_run
from xaikit.report.reading import load_run
from xaikit.report.render import render_report
from xaikit.report.report import Report
from xaikit.report.section import Section
from xaikit.report.staging import OutputFolderError, atomic_write_bytes, staged_output

__all__ = [
    "MANIFEST",
    "Block",
    "ImageBlock",
    "OutputFolderError",
    "Report",
    "RunFolderError",
    "Section",
    "SettingsBlock",
    "TableBlock",
    "TextBlock",
    "atomic_write_bytes",
    "load_run",
    "render_report",
    "save_run",
    "staged_output",
]
