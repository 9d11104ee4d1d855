"""Progress bars for long work, which users can turn off."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from typing import TypeVar

from tqdm.auto import tqdm

from xaikit.utils.settings import Setting

T = TypeVar("T")

_SETTING: Setting[bool | None] = Setting(None)


#: Seconds a task runs before its bar appears, unless bars were asked for explicitly.
DELAY = 2.0


def set_progress(enabled: bool | None) -> None:
    """Turn progress bars on or off for the whole process (``None``: back to the default).

    The default: ``XAIKIT_PROGRESS=1`` or ``0`` in the environment forces bars on or off;
    otherwise they show only when standard error is a terminal (not in log files), and
    only for tasks still running after :data:`DELAY` seconds.
    """
    _SETTING.set(enabled)


def progress_setting() -> bool | None:
    """The value last given to :func:`set_progress` (``None``: the default)."""
    return _SETTING.value


def progress_disabled() -> AbstractContextManager[None]:
    """Turn progress bars off inside the block (for example nested calls inside a metric), then restore."""
    return _SETTING.override(False)


def _decision(requested: bool | None) -> tuple[bool, bool]:
    """``(show, forced)``: whether to show a bar, and whether it was asked for explicitly."""
    for choice in (requested, _SETTING.value):
        if choice is not None:
            return choice, choice
    environment = os.environ.get("XAIKIT_PROGRESS")
    if environment is not None:
        return environment != "0", environment != "0"
    stream = sys.stderr
    return bool(stream is not None and hasattr(stream, "isatty") and stream.isatty()), False


def progress_enabled(requested: bool | None = None) -> bool:
    """Whether to show a bar: an explicit request wins, then :func:`set_progress`, then
    ``XAIKIT_PROGRESS``, then whether standard error is a terminal."""
    return _decision(requested)[0]


def progress(
    iterable: Iterable[T],
    *,
    total: int | None = None,
    desc: str | None = None,
    enabled: bool | None = None,
    min_items: int = 2,
) -> Iterator[T]:
    """Iterate with a tqdm bar when enabled and there is more than ``min_items`` of work.

    A bar not asked for explicitly appears only once the task has run :data:`DELAY` seconds.
    """
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    show, forced = _decision(enabled)
    if not show or (total is not None and total < min_items):
        yield from iterable
        return
    yield from tqdm(iterable, total=total, desc=desc, leave=False, dynamic_ncols=True, delay=0.0 if forced else DELAY)
