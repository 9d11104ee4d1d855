"""Running a model under the propagation engine for modified-gradient methods.

The engine's convention is that the gradient flowing backward through its graph is the
quantity being propagated; for the methods of this package that is a (modified)
gradient or a DeepLIFT multiplier. :func:`~xaikit.engine.run.run_engine` runs the
forward pass and :func:`backward` reads the result off at the input.

Max-pooling is the engine's ``"max_pool"`` kind: a composite may give it a rule (DeepLIFT
does, for completeness); without one it keeps the natural gradient.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from xaikit.engine.dispatch import Propagation
from xaikit.engine.errors import UnsupportedOperationError


def backward(prop: Propagation, leaf: Tensor, out: Tensor, grad_output: Tensor) -> Tensor:
    """The engine's backward pass from ``grad_output`` on the model output to the input."""
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(prop.graph_of(out), leaf, grad_output, allow_unused=True)
    return torch.zeros_like(leaf) if grad is None else grad


class _CustomBackward(torch.autograd.Function):
    """Value ``value``; the gradient sent to ``graph`` is ``backward_fn(grad)``."""

    @staticmethod
    def forward(ctx: Any, graph: Tensor, value: Tensor, backward_fn: Callable[[Tensor], Tensor]) -> Tensor:
        ctx.backward_fn = backward_fn
        return value

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        return ctx.backward_fn(grad), None, None


def custom_backward(graph: Tensor, value: Tensor, backward_fn: Callable[[Tensor], Tensor]) -> Tensor:
    """A tensor equal to ``value`` whose backward pass maps ``grad`` to ``backward_fn(grad)`` into ``graph``."""
    return _CustomBackward.apply(graph, value.detach(), backward_fn)


def vjp(call: Callable[..., Tensor], inputs: Tensor, grad: Tensor) -> Tensor:
    """The natural backward pass of ``call`` at ``inputs`` applied to ``grad``."""
    with torch.enable_grad():
        leaf = inputs.detach().requires_grad_(True)
        out = call(leaf)
        (result,) = torch.autograd.grad(out, leaf, grad, allow_unused=True)
    return torch.zeros_like(leaf) if result is None else result


def single_graph(graphs: list[Tensor], what: str) -> Tensor:
    """The one carrying input of an elementwise operation, or a clear error."""
    if len(graphs) != 1:
        raise UnsupportedOperationError(
            f"{what} handles activations with one input that depends on the explained input; "
            f"this one has {len(graphs)}"
        )
    return graphs[0]
