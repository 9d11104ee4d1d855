"""Custom operations with their own propagation rule.

Neuralized models (soft-min pooling, distance layers) and other special layers declare
how relevance crosses them by decorating a plain function with :func:`explainable`.
Outside the engine the function runs as written; inside it, the engine computes the
true value and asks the declared rule for the propagation graph.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from torch import Tensor
from torch.overrides import handle_torch_function, has_torch_function
from torch.utils._pytree import tree_flatten

from xaikit.engine.call import OpCall

F = TypeVar("F", bound=Callable[..., Any])

#: Signature of a custom rule: ``rule(call, graphs, value) -> Tensor``, where ``call`` (an
#: :class:`~xaikit.engine.call.OpCall`) re-runs the operation with the carrying tensors
#: replaced by the given ones and holds its arguments (``call.args``, ``call.kwargs``),
#: ``graphs`` are the propagation graphs of the carrying inputs and ``value`` is the true
#: output (whatever the function returns: a tensor, or a tuple holding tensors).
CustomRule = Callable[[OpCall, list[Tensor], Any], Any]

_CUSTOM: dict[Callable[..., Any], CustomRule] = {}


def explainable(rule: CustomRule) -> Callable[[F], F]:
    """Declare ``rule`` as the propagation rule of the decorated function.

    Parameters
    ----------
    rule : callable
        ``rule(call, graphs, value)`` returning a tensor equal to ``value`` whose gradient
        with respect to ``graphs`` is the relevance of the inputs (see
        :mod:`xaikit.engine.graft` for the building blocks). ``call.args`` and
        ``call.kwargs`` are the function's arguments (relevance-carrying tensors replaced
        by their values), so constants need not travel through the return value.

    Examples
    --------
    >>> import torch
    >>> from xaikit.engine import explainable, graft
    >>> def share_by_softmin(call, graphs, value):
    ...     (h,) = graphs
    ...     weights = torch.softmax(-h.detach(), dim=1)
    ...     return graft((h * weights).sum(1), value)
    >>> @explainable(share_by_softmin)
    ... def softmin_pool(h):
    ...     return -torch.logsumexp(-h, dim=1)
    """

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            tensors = tuple(t for t in tree_flatten((args, kwargs))[0] if isinstance(t, Tensor))
            if has_torch_function(tensors):
                return handle_torch_function(wrapper, tensors, *args, **kwargs)
            return fn(*args, **kwargs)

        _CUSTOM[wrapper] = rule
        return wrapper  # type: ignore[return-value]

    return decorate


def custom_rule(func: Callable[..., Any]) -> CustomRule | None:
    """The rule declared for ``func`` with :func:`explainable`, if any."""
    return _CUSTOM.get(func)
