"""The one way the library runs a model on many inputs: batched, checked, memory-bounded.

Every family and metric evaluates the model through :func:`forward` (no graph recorded),
checks what the model returned with :func:`check_output`, and picks its automatic batch
size with :func:`auto_batch_size`, which looks at the model's activations rather than at
its inputs: a network that upsamples an 8x8 digit to 16x16 with 64 channels holds 60 times
more values per row inside than at its input.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from xaikit.utils.batching import iter_batches
from xaikit.utils.errors import ModelError, ModelOutputError
from xaikit.utils.layout import as_layout_forward
from xaikit.utils.progress_bars import progress as progress_bar

Model = Callable[[Tensor], Any]

#: Elements per automatic batch of the largest activation tensor (8 MiB of float32). Measured
#: on the digits CNN (2 CPU threads, RISE over 128,000 masked digits): 1,024 rows per pass
#: (this budget) 1.6-2.6 s, 4,096 rows (a 4x larger budget) 3.0 s: beyond the caches larger
#: passes are slower on the CPU, and memory grows with them. Tensors that do not grow with
#: the batch (weights) do not count (see :func:`activation_elements`).
ACTIVATION_BUDGET = 2**21
#: Most rows per automatic batch.
MAX_ROWS = 2**16


def check_output(out: Any, n: int) -> Tensor:
    """``out`` if it is one tensor with ``n`` rows; a ``TypeError``/``ValueError`` saying what to do otherwise."""
    if not isinstance(out, Tensor):
        hint = "lambda x: model(x)['logits']" if isinstance(out, dict) else "lambda x: model(x)[0]"
        raise ModelOutputError(
            f"the model returned {type(out).__name__}; xaikit needs a model returning one tensor of "
            f"shape (N, classes) or (N,). Wrap it to select the scores, for example {hint}."
        )
    if out.ndim == 0 or out.shape[0] != n:
        raise ModelError(
            f"the model returned an output of shape {tuple(out.shape)} for a batch of {n} samples; "
            "it must keep the batch dimension first (outputs of shape (N, ...)): do not sum, "
            "average or flatten over the batch inside forward"
        )
    return out


class _TensorSizes(TorchDispatchMode):
    """Records the number of elements of every tensor the operations produce, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        self.sizes.extend(t.numel() for t in tree_flatten(out)[0] if isinstance(t, Tensor))
        return out


def _sizes(model: Model, rows: Tensor) -> list[int]:
    probe = _TensorSizes()
    with torch.no_grad(), probe:
        model(rows)
    return probe.sizes


def activation_elements(model: Model, inputs: Tensor) -> int:
    """Elements per row of the largest tensor ``model`` computes (its input included).

    The model runs on one row and on two: what a tensor grows by from one to two rows is
    its size per row, so tensors that do not grow with the batch (a transposed weight
    matrix, which can dwarf the activations of a small model) do not count. Where the two
    runs differ in their operations, the largest tensor of the one-row run counts; where the
    model cannot run on a single row, the input's size.
    """
    row = inputs[:1].detach()
    try:
        one = _sizes(model, row)
        two = _sizes(model, row.expand(2, *row.shape[1:]).contiguous()) if len(inputs) else one
    except Exception:
        return max(1, row.numel())
    if len(one) != len(two):
        return max(1, row.numel(), *one)
    return max(1, row.numel(), *(b - a for a, b in zip(one, two, strict=True)))


def auto_batch_size(model: Model, inputs: Tensor, *, copies: int = 1) -> int:
    """Rows per forward pass such that the largest activation stays within :data:`ACTIVATION_BUDGET`.

    Parameters
    ----------
    model : callable
        The model (run once on one row to measure its activations).
    inputs : torch.Tensor
        A batch of the inputs it will see.
    copies : int
        Model rows per logical row (a background set of ``copies`` rows per perturbed input).

    Returns
    -------
    int
        Between 1 and :data:`MAX_ROWS`, a multiple of nothing in particular.
    """
    if len(inputs) == 0:
        return 1
    per_row = activation_elements(model, inputs) * max(1, copies)
    return int(max(1, min(MAX_ROWS, ACTIVATION_BUDGET // per_row)))


def forward(
    model: Model,
    inputs: Tensor,
    batch_size: int | None = None,
    *,
    progress: bool | None = False,
    desc: str = "forward passes",
    layout: bool = True,
) -> Tensor:
    """``model(inputs)`` in batches of ``batch_size`` rows, without a graph, checked and concatenated.

    ``batch_size=None`` runs all rows at once. With ``layout`` multi-channel image batches
    on the CPU go to the model channels-last (see :mod:`xaikit.utils.layout`); methods whose
    outputs enter a difference with gradients computed in the given layout pass ``False``.
    """
    outs = []
    run = as_layout_forward(model) if layout else model
    slices = list(iter_batches(len(inputs), batch_size))
    with torch.no_grad():
        for s in progress_bar(slices, desc=desc, enabled=progress, min_items=4):
            outs.append(check_output(run(inputs[s]), s.stop - s.start))
    if not outs:
        return check_output(model(inputs[:0]), 0)
    return torch.cat(outs)
