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

#: Elements of the largest activation tensor one automatic batch may hold (32 MiB of float32): measured on DigitsVGG, 2048 rows per pass take 131 MB above baseline where the former input-size rule (16384 rows) took 0.8 GB, at about the same speed.
ACTIVATION_BUDGET = 2**23
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


class _LargestTensor(TorchDispatchMode):
    """Records the number of elements of the largest tensor any operation produces."""

    def __init__(self) -> None:
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, Tensor):
                self.largest = max(self.largest, t.numel())
        return out


def activation_elements(model: Model, inputs: Tensor) -> int:
    """Elements of the largest tensor ``model`` computes on one row of ``inputs`` (its input included).

    Falls back to the input's size where the model cannot run on a single row.
    """
    row = inputs[:1].detach()
    probe = _LargestTensor()
    try:
        with torch.no_grad(), probe:
            model(row)
    except Exception:
        return max(1, row.numel())
    return max(1, row.numel(), probe.largest)


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
