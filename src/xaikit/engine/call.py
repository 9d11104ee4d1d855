"""One intercepted call of a torch function, as a rule sees it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import Tensor
from torch.utils._pytree import TreeSpec

from xaikit.engine.flat import FlatSpec, flatten, unflatten


@dataclass(frozen=True)
class OpCall:
    """A call ``func(*args, **kwargs)`` whose relevance-carrying tensors a rule may replace.

    Calling it, ``call(t1, t2, ...)``, re-runs the function with the carrying tensors
    replaced by ``t1, t2, ...`` (in the order they appear in the arguments) and every
    other argument as the model passed it. :attr:`args` and :attr:`kwargs` are the call's
    arguments with the carrying tensors replaced by their true (detached) values, so a
    rule can read the constants of the call (a dimension, a support set, a temperature).

    Attributes
    ----------
    func : callable
        The torch function, ``Tensor`` method or :func:`~xaikit.engine.explainable` function.
    args, kwargs
        The arguments, carrying tensors replaced by their values.
    """

    func: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    _flat: tuple[Any, ...]
    _spec: FlatSpec | TreeSpec
    _positions: tuple[int, ...]
    #: The values of the carrying tensors, in order (what :meth:`value_of` returns).
    _values: tuple[Tensor, ...] = ()
    #: For products: the role of each carrying tensor, ``"gate"`` (the output of a
    #: saturating non-linearity such as a sigmoid, or an affine function of one),
    #: ``"statistic"`` (a normalizing statistic: a reduction of the input and functions
    #: of it) or ``"signal"``; empty for other operations.
    roles: tuple[str, ...] = ()

    @classmethod
    def of(
        cls, func: Callable[..., Any], args: list[Any] | tuple[Any, ...], kwargs: dict[str, Any],
        carries: Callable[[Any], bool], value_of: Callable[[Tensor], Tensor],
    ) -> tuple[OpCall, list[Tensor]]:
        """The call and its carrying tensors (those for which ``carries`` holds)."""
        flat, spec = flatten(args, kwargs)
        positions = tuple(i for i, t in enumerate(flat) if carries(t))
        carried = [flat[i] for i in positions]
        values = list(flat)
        for i in positions:
            values[i] = value_of(flat[i])
        a, k = unflatten(values, spec)
        carried_values = tuple(values[i] for i in positions)
        return cls(func, tuple(a), dict(k), tuple(flat), spec, positions, carried_values), carried

    def arguments(self, *tensors: Tensor) -> tuple[list[Any], dict[str, Any]]:
        """The call's positional and keyword arguments with the carrying tensors replaced."""
        if len(tensors) != len(self._positions):
            raise ValueError(f"this call has {len(self._positions)} carrying tensor(s), got {len(tensors)}")
        new = list(self._flat)
        for i, t in zip(self._positions, tensors):
            new[i] = t
        return unflatten(new, self._spec)

    def __call__(self, *tensors: Tensor) -> Any:
        a, k = self.arguments(*tensors)
        return self.func(*a, **k)

    def with_values(self, *tensors: Tensor | None) -> Any:
        """The call with the carrying tensors ``tensors`` where given and their values where ``None``."""
        values = [self._value_at(i) if t is None else t for i, t in enumerate(tensors)]
        return self(*values)

    def value_of(self, position: int) -> Tensor:
        """The value of the ``position``-th carrying tensor."""
        return self._value_at(position)

    def _value_at(self, position: int) -> Tensor:
        return self._values[position]

    def on_values(self) -> Any:
        """The call on the true values (no replacement)."""
        return self.func(*self.args, **self.kwargs)
