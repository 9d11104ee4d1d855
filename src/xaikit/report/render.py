"""Rendering a report with Jinja2 templates (autoescaping on)."""

from __future__ import annotations

import re
from datetime import timezone
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import jinja2

from xaikit._version import __version__
from xaikit.report.blocks import format_setting

if TYPE_CHECKING:
    from xaikit.report.report import Report

TEMPLATE = "report.html.j2"


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The template environment: package templates, HTML autoescaping, strict undefined."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("xaikit.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def slug(text: str, taken: set[str]) -> str:
    """A unique HTML id made of lowercase letters, digits and dashes."""
    base = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    taken.add(candidate)
    return candidate


def render_report(report: Report) -> str:
    """Render ``report`` to a self-contained HTML page."""
    taken: set[str] = set()
    anchors = [slug(section.title, taken) for section in report.sections]
    context: dict[str, Any] = {
        "report": report,
        "sections": list(zip(anchors, report.sections)),
        "settings": [(str(k), format_setting(v)) for k, v in report.settings.items()],
        "created": report.created.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "version": __version__,
    }
    return environment().get_template(TEMPLATE).render(context)
