"""The report: sections gathered into one self-contained HTML page."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure

from xaikit.report.section import Section
from xaikit.report.staging import atomic_write_bytes


@dataclass
class Report:
    """A self-contained HTML report made of sections.

    Parameters
    ----------
    title : str
        Page title.
    description : str, optional
        Text under the title.
    settings : mapping, optional
        Settings of the whole run, listed at the end of the page.
    sections : list of Section
        Content, in order.
    created : datetime
        Time stamp shown in the page.

    Examples
    --------
    >>> report = Report("My analysis")
    >>> _ = report.section("Notes").add_text("Everything is escaped: <b>not bold</b>.")
    >>> "&lt;b&gt;" in report.render()
    True
    """

    title: str = "xaikit report"
    description: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    sections: list[Section] = field(default_factory=list)
    created: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    def add_section(self, section: Section) -> Section:
        """Append a section; returns it."""
        if not isinstance(section, Section):
            raise TypeError(f"expected a Section, got {type(section).__name__}")
        self.sections.append(section)
        return section

    def section(self, title: str) -> Section:
        """The section named ``title``, appended empty if there is none yet."""
        for existing in self.sections:
            if existing.title == title:
                return existing
        return self.add_section(Section(title))

    def _target(self, section: str | None) -> Section:
        if section is not None:
            return self.section(section)
        if self.sections:
            return self.sections[-1]
        return self.section("Figures")

    def add_figure(
        self, figure: Figure | SubFigure | Axes, caption: str = "", *, section: str | None = None, **options: Any
    ) -> Section:
        """Add a matplotlib figure to ``section`` (the last section by default).

        See :meth:`Section.add_figure` for the options. Returns the section.
        """
        return self._target(section).add_figure(figure, caption, **options)

    def add_table(
        self, frame: pd.DataFrame, caption: str = "", *, section: str | None = None, **options: Any
    ) -> Section:
        """Add a DataFrame as a table to ``section`` (the last section by default)."""
        return self._target(section).add_table(frame, caption, **options)

    def add_text(self, text: str, *, section: str | None = None, **options: Any) -> Section:
        """Add text to ``section`` (the last section by default)."""
        return self._target(section).add_text(text, **options)

    def add_settings(self, values: Mapping[str, Any]) -> None:
        """Record run-wide settings (merged into :attr:`settings`)."""
        self.settings.update(values)

    def render(self) -> str:
        """The HTML page as a string (self-contained: inline CSS, images as data URIs)."""
        from xaikit.report.render import render_report

        return render_report(self)

    def write(self, path: str | Path) -> Path:
        """Write the page to ``path`` atomically (temporary file, then rename).

        Returns
        -------
        pathlib.Path
            The written file.
        """
        return atomic_write_bytes(path, self.render().encode("utf-8"))

    def save(self, directory: str | Path, *, html_name: str = "report.html") -> Path:
        """Save as a run folder: images, tables, ``run.json`` and the HTML page.

        :func:`xaikit.report.load_run` reads the folder back, so
        ``xaikit report DIR`` can rebuild the page later.

        Returns
        -------
        pathlib.Path
            The written HTML page.
        """
        from xaikit.report.folder import save_run

        save_run(self, directory)
        return self.write(Path(directory) / html_name)
