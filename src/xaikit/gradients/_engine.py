"""Running a model under the propagation engine for modified-gradient methods.

The engine's convention is that the gradient flowing backward through its graph is the
quantity being propagated; for the methods of this package that is a (modified)
gradient or a DeepLIFT multiplier. :func:`run_engine` runs the forward pass and
:func:`backward` reads the result off at the input.

:class:`PoolPropagation` extends the engine with one more operation kind,
``"max_pool"``, so that a composite can give max-pooling a rule (DeepLIFT needs one for
completeness); when the composite has no rule for it, max-pooling keeps the natural
gradient, as in the base engine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from xaikit.core.base import Model
from xaikit.engine.composite_protocol import RuleProvider
from xaikit.engine.dispatch import Propagation
from xaikit.engine.errors import UnsupportedOperationError
from xaikit.gradients._common import checked_output

#: Max-pooling functions and the position of their ``return_indices`` argument.
_MAX_POOLS: dict[Callable[..., Any], int | None] = {
    F.max_pool1d: 6,
    F.max_pool2d: 6,
    F.max_pool3d: 6,
    F.adaptive_max_pool1d: 2,
    F.adaptive_max_pool2d: 2,
    F.adaptive_max_pool3d: 2,
    torch.max_pool1d: None,
    torch.max_pool2d: None,
    torch.max_pool3d: None,
    torch.adaptive_max_pool1d: None,
}


def _returns_indices(func: Callable[..., Any], args: Sequence[Any], kwargs: dict[str, Any]) -> bool:
    position = _MAX_POOLS[func]
    if "return_indices" in kwargs:
        return bool(kwargs["return_indices"])
    return position is not None and len(args) > position and bool(args[position])


class PoolPropagation(Propagation):
    """The propagation engine with max-pooling exposed to the composite as kind ``"max_pool"``."""

    def __torch_function__(
        self, func: Callable[..., Any], types: Any, args: Sequence[Any] = (), kwargs: dict[str, Any] | None = None
    ) -> Any:
        kwargs = kwargs or {}
        if (
            func in _MAX_POOLS
            and args
            and self.carries(args[0])
            and not _returns_indices(func, args, kwargs)
            and self.rules.rule_for(self._info("max_pool", func)) is not None
        ):
            return self._elementwise("max_pool", func, list(args), kwargs)
        return super().__torch_function__(func, types, args, kwargs)


def run_engine(
    model: Model,
    inputs: Tensor,
    rules: RuleProvider,
    *,
    pools: bool = False,
    merge_batchnorm: bool = False,
    setup: Callable[[Propagation], None] | None = None,
) -> tuple[Propagation, Tensor, Tensor]:
    """Run ``model`` on ``inputs`` under the engine with ``rules``.

    Parameters
    ----------
    pools : bool
        Use :class:`PoolPropagation` (max-pooling gets the composite's ``"max_pool"`` rule).
    merge_batchnorm : bool
        Merge eval-mode batch normalization into the layer before it. Gradient-type rules do
        not need it (batch normalization then keeps its natural gradient, and no layer is
        evaluated twice); rules that look at a layer's weights do.
    setup : callable, optional
        Called with the engine before the forward pass (rules that need to query it).

    Returns
    -------
    (engine, input leaf, model output)
    """
    leaf = inputs.detach().requires_grad_(True)
    prop: Propagation = (PoolPropagation if pools else Propagation)(model, rules, merge_batchnorm=merge_batchnorm)
    if setup is not None:
        setup(prop)
    with torch.enable_grad(), prop:
        prop.track(leaf)
        out = model(leaf)
    out = checked_output(out, len(inputs))
    if not prop.carries(out):
        raise ValueError("the model output does not depend on its input; nothing to explain")
    return prop, leaf, out


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
