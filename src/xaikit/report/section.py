"""A report section: one analysis's title, status and content."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure

from xaikit.report.blocks import (
    Block,
    ImageBlock,
    SettingsBlock,
    TableBlock,
    TextBlock,
    TextStyle,
)

Status = Literal["ok", "skipped", "failed"]
STATUSES: tuple[str, ...] = ("ok", "skipped", "failed")


def root_figure(drawing: Figure | SubFigure | Axes) -> Figure:
    """The top-level figure of a figure, sub-figure or axes."""
    current: object = drawing
    for _ in range(8):
        if isinstance(current, Figure):
            return current
        current = getattr(current, "figure", None)
    raise TypeError(
        f"expected a matplotlib Figure, SubFigure or Axes, got {type(drawing).__name__}"
    )


def figure_png(figure: Figure, *, dpi: float = 100.0, close: bool = True) -> bytes:
    """Encode a matplotlib figure as PNG, optionally releasing it from pyplot afterwards."""
    from xaikit.plot.io import figure_to_png

    png = figure_to_png(figure, dpi=dpi)
    pyplot = sys.modules.get("matplotlib.pyplot")
    if close and pyplot is not None:
        pyplot.close(figure)  # only figures made with pyplot are tracked by it
    return png


@dataclass
class Section:
    """One analysis in a report.

    Parameters
    ----------
    title : str
        Heading of the section.
    blocks : list of Block
        Content in order (see :meth:`add_text`, :meth:`add_figure`, ...).
    status : {"ok", "skipped", "failed"}
        Whether the analysis ran; skipped and failed sections show their note.
    note : str, optional
        Why the section was skipped or failed, or a remark on its content.

    Examples
    --------
    >>> section = Section("Heatmaps").add_text("LRP on three digits.")
    >>> section.status
    'ok'
    """

    title: str
    blocks: list[Block] = field(default_factory=list)
    status: Status = "ok"
    note: str | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"section status must be one of {STATUSES}, got {self.status!r}")
        if not str(self.title).strip():
            raise ValueError("a section needs a non-empty title")

    @classmethod
    def skipped(cls, title: str, reason: str) -> Section:
        """A section that did not run, with the reason shown in the report."""
        return cls(title, status="skipped", note=reason)

    @classmethod
    def failed(cls, title: str, reason: str) -> Section:
        """A section whose analysis raised, with the cause shown in the report."""
        return cls(title, status="failed", note=reason)

    def add(self, block: Block) -> Section:
        """Append a block; returns the section (for chaining)."""
        if not isinstance(block, TextBlock | ImageBlock | TableBlock | SettingsBlock):
            raise TypeError(f"cannot add {type(block).__name__} to a section")
        self.blocks.append(block)
        return self

    def add_text(self, text: str, *, style: TextStyle = "paragraph") -> Section:
        """Append text (escaped; blank lines separate paragraphs)."""
        return self.add(TextBlock(str(text), style))

    def add_conclusion(self, text: str) -> Section:
        """Append what to conclude from the section's figures and tables (computed from the run).

        Rendered as a box headed "What to conclude"; blank lines separate paragraphs.
        """
        return self.add(TextBlock(str(text), "conclusion"))

    def add_figure(
        self,
        figure: Figure | SubFigure | Axes,
        caption: str = "",
        *,
        alt: str = "",
        name: str | None = None,
        dpi: float = 100.0,
        close: bool = True,
    ) -> Section:
        """Append a matplotlib figure, encoded as PNG now.

        Parameters
        ----------
        figure : matplotlib Figure, SubFigure or Axes
            What to draw; for a sub-figure or axes, its whole figure is used.
        caption, alt : str
            Caption and alternative text.
        name : str, optional
            File name used when the report is saved as a run folder.
        dpi : float
            Resolution.
        close : bool
            Close the figure in pyplot afterwards (frees memory in long runs).
        """
        png = figure_png(root_figure(figure), dpi=dpi, close=close)
        return self.add(ImageBlock(png, caption, alt, name))

    def add_image(
        self, image: bytes | str | Path, caption: str = "", *, alt: str = "", name: str | None = None
    ) -> Section:
        """Append a PNG image given as bytes or as a file path."""
        png = Path(image).read_bytes() if isinstance(image, str | Path) else image
        return self.add(ImageBlock(png, caption, alt, name))

    def add_table(
        self,
        frame: pd.DataFrame,
        caption: str = "",
        *,
        name: str | None = None,
        precision: int = 4,
        show_index: bool | None = None,
    ) -> Section:
        """Append a pandas DataFrame as a table."""
        return self.add(TableBlock(frame, caption, name, precision, show_index))

    def add_settings(self, values: Mapping[str, Any], caption: str = "Settings") -> Section:
        """Append the settings used by this analysis."""
        return self.add(SettingsBlock(values, caption))

    @property
    def images(self) -> list[ImageBlock]:
        """The image blocks of the section."""
        return [b for b in self.blocks if isinstance(b, ImageBlock)]
