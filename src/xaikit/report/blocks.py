"""The pieces a report section is made of: text, images, tables, settings."""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

TextStyle = Literal["paragraph", "note", "code", "conclusion"]


@dataclass(frozen=True)
class TextBlock:
    """Plain text (escaped when rendered; blank lines separate paragraphs).

    Parameters
    ----------
    text : str
        The text; no markup is interpreted.
    style : {"paragraph", "note", "code", "conclusion"}
        A paragraph, a highlighted note, preformatted text, or what to conclude from a
        section (shown under the heading "What to conclude").
    """

    kind: ClassVar[str] = "text"
    text: str
    style: TextStyle = "paragraph"

    def __post_init__(self) -> None:
        if self.style not in ("paragraph", "note", "code", "conclusion"):
            raise ValueError(
                f"text style must be 'paragraph', 'note', 'code' or 'conclusion', got {self.style!r}"
            )

    @property
    def paragraphs(self) -> list[str]:
        """The text split at blank lines."""
        parts = [p.strip() for p in self.text.replace("\r\n", "\n").split("\n\n")]
        return [p for p in parts if p]


@dataclass(frozen=True)
class ImageBlock:
    """A PNG image, embedded in the page as a base64 data URI.

    Parameters
    ----------
    png : bytes
        The encoded PNG (checked for the PNG signature).
    caption : str
        Shown under the image.
    alt : str
        Alternative text (the caption when empty).
    name : str, optional
        File name (relative, ``/`` separated, ending in ``.png``) used when the report is
        saved as a run folder.
    """

    kind: ClassVar[str] = "image"
    png: bytes = field(repr=False)
    caption: str = ""
    alt: str = ""
    name: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.png, bytes) or not self.png.startswith(PNG_SIGNATURE):
            raise ValueError("image data is not a PNG file (missing PNG signature)")

    @property
    def data_uri(self) -> str:
        """``data:image/png;base64,...`` for an ``<img src>``."""
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")

    @property
    def alt_text(self) -> str:
        """The alternative text, falling back to the caption."""
        return self.alt or self.caption or "figure"


def format_cell(value: Any, precision: int = 4) -> str:
    """Text of one table cell: floats with ``precision`` significant digits, NaN as ``-``."""
    if value is None:
        return "-"
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        if math.isnan(number):
            return "-"
        return f"{number:.{precision}g}"
    return str(value)


@dataclass(frozen=True)
class TableBlock:
    """A table from a pandas DataFrame (cells escaped when rendered).

    Parameters
    ----------
    frame : pandas.DataFrame
        The data; a copy is kept.
    caption : str
        Shown above the table.
    name : str, optional
        File name (relative, ending in ``.csv``) used when saved as a run folder.
    precision : int
        Significant digits of floating-point cells.
    show_index : bool, optional
        Show the index column; by default only when it is not the plain ``0..n-1`` range.
    """

    kind: ClassVar[str] = "table"
    frame: pd.DataFrame = field(repr=False)
    caption: str = ""
    name: str | None = None
    precision: int = 4
    show_index: bool | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.frame, pd.DataFrame):
            raise TypeError(f"a table needs a pandas DataFrame, got {type(self.frame).__name__}")
        object.__setattr__(self, "frame", self.frame.copy())

    @property
    def has_index(self) -> bool:
        """Whether the index is shown."""
        if self.show_index is not None:
            return self.show_index
        index = self.frame.index
        plain = isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1
        return not plain or index.name is not None

    @property
    def header(self) -> list[str]:
        """Column headings (with the index name first when the index is shown)."""
        names = [str(c) for c in self.frame.columns]
        if self.has_index:
            names.insert(0, "" if self.frame.index.name is None else str(self.frame.index.name))
        return names

    @property
    def numeric(self) -> list[bool]:
        """Per heading, whether the column is numeric (right-aligned)."""
        flags = [pd.api.types.is_numeric_dtype(t) for t in self.frame.dtypes]
        if self.has_index:
            flags.insert(0, False)
        return flags

    @property
    def rows(self) -> list[list[str]]:
        """The cells as text, row by row."""
        out = []
        for label, row in zip(self.frame.index, self.frame.itertuples(index=False)):
            cells = [format_cell(v, self.precision) for v in row]
            if self.has_index:
                cells.insert(0, format_cell(label, self.precision))
            out.append(cells)
        return out


def format_setting(value: Any) -> str:
    """Text of a setting: strings as is, everything else as compact JSON where possible."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, default=str, sort_keys=True)
    except (TypeError, ValueError):
        return repr(value)


@dataclass(frozen=True)
class SettingsBlock:
    """Settings used (name -> value), shown as a two-column list.

    Parameters
    ----------
    values : mapping of str to any
        The settings; values are shown as text (JSON for non-strings).
    caption : str
        Shown above the list.
    """

    kind: ClassVar[str] = "settings"
    values: Mapping[str, Any]
    caption: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", dict(self.values))

    @property
    def items(self) -> list[tuple[str, str]]:
        """``(name, text)`` pairs in insertion order."""
        return [(str(k), format_setting(v)) for k, v in self.values.items()]


Block = TextBlock | ImageBlock | TableBlock | SettingsBlock
