"""Slices of a batch of bounded size (the batched forward itself is :func:`xaikit.core.forward.forward`)."""

from __future__ import annotations

from collections.abc import Iterator

from xaikit.utils.options import check_batch_size


def iter_batches(n: int, batch_size: int | None) -> Iterator[slice]:
    """Slices covering ``range(n)`` in chunks of ``batch_size`` (all at once if ``None``)."""
    check_batch_size(batch_size)
    step = n if not batch_size else batch_size
    for start in range(0, n, max(step, 1)):
        yield slice(start, min(start + step, n))

