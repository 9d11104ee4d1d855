"""Small helpers shared across the package: progress bars, batching, memory layout, random generators."""

from xaikit.utils.batching import iter_batches
from xaikit.utils.layout import channels_last_disabled, set_channels_last
from xaikit.utils.progress import progress, progress_disabled, progress_enabled, set_progress
from xaikit.utils.random import as_generator

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
