"""Peak resident memory of one call, on Linux: the high-water mark reset just before it.

glibc raises its mmap threshold each time a large block is freed (up to 32 MiB), after which
freed blocks of that size stay in the heap and count as resident: a method that allocates
and frees many transient tensors then shows a peak above its live memory. Running the
measured process with :data:`LIVE_MEMORY_ENV` fixes the threshold at glibc's default
128 KiB, so that freed blocks go back at once and the figure is the live memory; benchmarks
report both.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

_STATUS = Path("/proc/self/status")

#: Environment of a subprocess whose resident set follows its live memory (see the module docstring).
LIVE_MEMORY_ENV = {"MALLOC_MMAP_THRESHOLD_": "131072"}


def _kib(field: str) -> int:
    match = re.search(rf"{field}:\s+(\d+)", _STATUS.read_text())
    if match is None:
        raise RuntimeError(f"no {field} in {_STATUS}")
    return int(match.group(1))


def peak_growth_mib(fn: Callable[[], Any]) -> tuple[Any, float]:
    """``fn()`` and how far the resident set rose above its level before the call, in MiB.

    The kernel's high-water mark (``VmHWM``) is reset first (``/proc/self/clear_refs``), so
    the figure is this call's peak whatever the process did before.
    """
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")
    before = _kib("VmRSS")
    result = fn()
    return result, (_kib("VmHWM") - before) / 1024
