"""Progress bars for long work, which users can turn off."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from typing import TypeVar

from tqdm.auto import tqdm

from xaikit.utils.settings import Setting

T = TypeVar("T")

_SETTING: Setting[bool | None] = Setting(None)


def set_progress(enabled: bool | None) -> None:
    """Turn progress bars on or off for the whole process (``None``: back to the default).

    The default shows bars unless the environment variable ``XAIKIT_PROGRESS`` is ``0``.
    """
    _SETTING.set(enabled)


def progress_setting() -> bool | None:
    """The value last given to :func:`set_progress` (``None``: the default)."""
    return _SETTING.value


def progress_disabled() -> AbstractContextManager[None]:
    """Turn progress bars off inside the block (for example nested calls inside a metric), then restore."""
    return _SETTING.override(False)


def progress_enabled(requested: bool | None = None) -> bool:
    """Whether to show a bar: an explicit request wins, then :func:`set_progress`, then the environment."""
    if requested is not None:
        return requested
    if _SETTING.value is not None:
        return _SETTING.value
    return os.environ.get("XAIKIT_PROGRESS", "1") != "0"


def progress(
    iterable: Iterable[T],
    *,
    total: int | None = None,
    desc: str | None = None,
    enabled: bool | None = None,
    min_items: int = 2,
) -> Iterator[T]:
    """Iterate with a tqdm bar when enabled and there is more than ``min_items`` of work."""
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    show = progress_enabled(enabled) and (total is None or total >= min_items)
    if not show:
        yield from iterable
        return
    yield from tqdm(iterable, total=total, desc=desc, leave=False, dynamic_ncols=True)
