"""Small helpers shared across the package: progress bars, batching, memory layout, random generators.

The names below are imported on first use (PEP 562): the error types and other
torch-free helpers of this package stay cheap to import.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from xaikit.utils.batching import iter_batches
    from xaikit.utils.layout import channels_last_disabled, set_channels_last
    from xaikit.utils.progress_bars import (
        progress,
        progress_disabled,
        progress_enabled,
        set_progress,
    )
    from xaikit.utils.random import as_generator

_NAMES = {
    "iter_batches": "xaikit.utils.batching",
    "channels_last_disabled": "xaikit.utils.layout",
    "set_channels_last": "xaikit.utils.layout",
    "progress": "xaikit.utils.progress_bars",
    "progress_disabled": "xaikit.utils.progress_bars",
    "progress_enabled": "xaikit.utils.progress_bars",
    "set_progress": "xaikit.utils.progress_bars",
    "as_generator": "xaikit.utils.random",
}


def __getattr__(name: str) -> Any:
    """Import a helper on first use and keep it as an attribute."""
    if name not in _NAMES:
        raise AttributeError(f"module 'xaikit.utils' has no attribute {name!r}")
    value = getattr(importlib.import_module(_NAMES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_NAMES})


__all__ = [
    "as_generator",
    "channels_last_disabled",
    "iter_batches",
    "progress",
    "progress_disabled",
    "progress_enabled",
    "set_channels_last",
    "set_progress",
]
