"""Evaluate a model on many inputs in batches of bounded size."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import Tensor

from xaikit.utils.layout import as_layout_forward
from xaikit.utils.progress import progress


def iter_batches(n: int, batch_size: int | None) -> Iterator[slice]:
    """Slices covering ``range(n)`` in chunks of ``batch_size`` (all at once if ``None``)."""
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer or None, got {batch_size}")
    step = n if not batch_size else batch_size
    for start in range(0, n, max(step, 1)):
        yield slice(start, min(start + step, n))


def batched_forward(
    model: Callable[[Tensor], Tensor],
    inputs: Tensor,
    batch_size: int | None = None,
    *,
    desc: str | None = None,
    show_progress: bool | None = None,
) -> Tensor:
    """``model(inputs)`` evaluated in batches without building a graph, concatenated."""
    outs = []
    slices = list(iter_batches(len(inputs), batch_size))
    run = as_layout_forward(model)
    with torch.no_grad():
        for s in progress(slices, desc=desc, enabled=show_progress, min_items=4):
            outs.append(run(inputs[s]))
    return torch.cat(outs) if outs else model(inputs[:0])
