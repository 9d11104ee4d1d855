"""DeepLIFT rules (Shrikumar et al., 2017) for the propagation engine.

The model runs once on the stacked batch ``[x; x_ref]`` (``2N`` rows), so every
operation sees the input and the reference side by side: the first half of each tensor
belongs to the inputs, the second to the references. The gradient flowing backward is
the DeepLIFT *multiplier* ``m = d(contribution)/d(delta)``; linear operations keep their
natural gradient, which for them is exactly the multiplier. The attribution is then
``(x - x_ref) * m``, and summation-to-delta holds layer by layer.

Rules
-----
:class:`RescaleRule`
    ``m = (y - y_ref) / (z - z_ref)`` at each activation ``y = f(z)`` (the natural
    derivative where ``|z - z_ref| < epsilon``).
:class:`RevealCancelRule`
    Splits the input difference of an activation into its positive and negative
    contributions and gives each its own multiplier (needs the activation to follow a
    dense or convolution layer directly; otherwise falls back to Rescale).
:class:`MaxPoolRule`
    Max-pooling as in Captum: the output difference is routed to the arg-max of the input
    and of the reference, then divided by the input difference.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import Tensor

from xaikit.engine.call import OpCall
from xaikit.engine.dispatch import Propagation
from xaikit.engine.graft import graft
from xaikit.engine.kinds import LAYER_KINDS, OpKind
from xaikit.engine.layer import LinearOp
from xaikit.engine.rule import ElementwiseRule, LayerRule
from xaikit.gradients._engine import custom_backward, single_graph, vjp
from xaikit.rules.composite import NATURAL, Composite
from xaikit.rules.matchers import Kind

_ACTIVATION: frozenset[OpKind] = frozenset({OpKind.ACTIVATION})
_MAX_POOL: frozenset[OpKind] = frozenset({OpKind.MAX_POOL})


def _half(t: Tensor, rows: int) -> int:
    """Half the first dimension of ``t``, checking that it is a multiple of the stacked batch ``rows``.

    ``rows = 0`` skips the check. A multiple is accepted for batch-major reshapes such as
    ``(N * T, C)``; a tensor whose first dimension is not the batch (``(T, N, C)``) is refused.
    """
    if t.ndim == 0 or t.shape[0] % 2 or (rows and t.shape[0] % rows):
        raise ValueError(
            f"DeepLIFT stacks {rows or 'the'} inputs and references along the first dimension, but an "
            f"operation received a tensor of shape {tuple(t.shape)}; the model must keep the batch "
            "dimension first (batch-major) throughout"
        )
    return t.shape[0] // 2


def _secant(dy: Tensor, dz: Tensor, fallback: Callable[[], Tensor], eps: float) -> Tensor:
    """``dy / dz``, with ``fallback()`` where ``|dz| < eps`` (``dy`` and ``dz`` are consumed)."""
    ratio = dy.div_(dz)
    small = dz.abs_() < eps
    if bool(small.any()):
        ratio = torch.where(small, fallback(), ratio)
    return ratio


def _twice(t: Tensor) -> Tensor:
    return torch.cat([t, t])


def _times_per_half(g: Tensor, m: Tensor) -> Tensor:
    """``g * [m; m]`` without materializing ``[m; m]``."""
    return (g.unflatten(0, (2, m.shape[0])) * m).flatten(0, 1)


@dataclass(frozen=True)
class _StackedRule(ElementwiseRule):
    """An elementwise rule of one carrying input on the stacked batch ``[x; x_ref]``."""

    epsilon: float = 1e-10
    rows: int = 0

    def _stacked(self, graphs: list[Tensor], what: str) -> tuple[Tensor, Tensor, int]:
        """The carrying input's graph, its value and the number of inputs ``N`` (half its rows)."""
        graph = single_graph(graphs, what)
        value = graph.detach()
        return graph, value, _half(value, self.rows)


@dataclass(frozen=True)
class RescaleRule(_StackedRule):
    """DeepLIFT's Rescale rule for elementwise activations.

    Parameters
    ----------
    epsilon : float
        Where ``|z - z_ref| < epsilon`` the multiplier is the derivative ``f'(z)`` (as Captum does).
    rows : int
        Rows of the stacked batch ``[x; x_ref]`` (``0``: unchecked).
    """

    kinds: ClassVar[frozenset[OpKind]] = _ACTIVATION

    def propagate_elementwise(self, call: OpCall, graphs: list[Tensor], value: Tensor) -> Tensor:
        """The activation's value; backward multiplies by ``(y - y_ref) / (z - z_ref)``."""
        graph, z, n = self._stacked(graphs, "DeepLIFT")
        dz = z[:n] - z[n:]
        dy = value[:n] - value[n:]
        m = _secant(dy, dz, lambda: vjp(call, z[:n], torch.ones_like(dy)), self.epsilon)
        return custom_backward(graph, value, lambda g: _times_per_half(g, m))


@dataclass
class RevealCancelRule(ElementwiseRule):
    """DeepLIFT's RevealCancel rule.

    For ``y = f(z)`` with ``z = W a + b`` the difference ``dz`` is split into the sums of
    positive and negative contributions ``dz+ = sum_j (w_j da_j)^+``, ``dz- = sum_j (w_j da_j)^-``,
    and

    ``dy+ = 1/2 (f(z_ref + dz+) - f(z_ref)) + 1/2 (f(z) - f(z_ref + dz-))``,
    ``dy- = 1/2 (f(z_ref + dz-) - f(z_ref)) + 1/2 (f(z) - f(z_ref + dz+))``;

    positive contributions get the multiplier ``dy+ / dz+``, negative ones ``dy- / dz-``
    (zero contributions their mean). ``dy+ + dy- = dy``, so summation-to-delta holds.

    Activations whose input is not the direct output of a dense or convolution layer use
    the Rescale rule; :attr:`fallbacks` counts them.
    """

    kinds: ClassVar[frozenset[OpKind]] = _ACTIVATION

    epsilon: float = 1e-10
    rows: int = 0
    engine: Propagation | None = None
    fallbacks: int = 0
    _rescale: RescaleRule = field(init=False)

    def __post_init__(self) -> None:
        self._rescale = RescaleRule(self.epsilon, self.rows)

    def bind(self, engine: Propagation) -> None:
        """Give the rule the engine, to look up the layer that feeds each activation."""
        self.engine = engine

    def propagate_elementwise(self, call: OpCall, graphs: list[Tensor], value: Tensor) -> Tensor:
        """The activation's value; backward through the layer below with the split multipliers."""
        graph = single_graph(graphs, "DeepLIFT")
        layer = None if self.engine is None else self.engine.layer_of(graph)
        if layer is None:
            self.fallbacks += 1
            return self._rescale.propagate_elementwise(call, graphs, value)
        assert self.engine is not None
        op, source, _ = layer
        a_graph = self.engine.graph_of(source)
        a = a_graph.detach()
        n = _half(a, self.rows)
        da = a[:n] - a[n:]
        w_pos, w_neg = op.weight.clamp(min=0), op.weight.clamp(max=0)
        da_pos, da_neg = da.clamp(min=0), da.clamp(max=0)
        z = graph.detach()
        z_ref, y, y_ref = z[n:], value[:n], value[n:]
        with torch.no_grad():
            dz_pos = op(da_pos, w_pos, None) + op(da_neg, w_neg, None)
            dz_neg = op(da_pos, w_neg, None) + op(da_neg, w_pos, None)
            f_pos = call(z_ref + dz_pos)
            f_neg = call(z_ref + dz_neg)
        dy_pos = 0.5 * (f_pos - y_ref) + 0.5 * (y - f_neg)
        dy_neg = 0.5 * (f_neg - y_ref) + 0.5 * (y - f_pos)
        slope = _Lazy(lambda: vjp(call, z[:n], torch.ones_like(y)))
        m_pos = _secant(dy_pos, dz_pos, slope, self.epsilon)
        m_neg = _secant(dy_neg, dz_neg, slope, self.epsilon)

        sign = _twice(torch.sign(da))
        positive = a_graph * (sign > 0)
        negative = a_graph * (sign < 0)
        zero = a_graph * (sign == 0)
        paths = (
            graft(op(positive, w_pos, None) + op(negative, w_neg, None), value, _twice(m_pos))
            + graft(op(positive, w_neg, None) + op(negative, w_pos, None), value, _twice(m_neg))
            + graft(op(zero, op.weight, None), value, _twice(0.5 * (m_pos + m_neg)))
        )
        return graft(paths, value)


class _Lazy:
    """A thunk evaluated at most once."""

    def __init__(self, fn: Callable[[], Tensor]) -> None:
        self._fn = fn
        self._value: Tensor | None = None

    def __call__(self) -> Tensor:
        if self._value is None:
            self._value = self._fn()
        return self._value


@dataclass(frozen=True)
class MaxPoolRule(_StackedRule):
    """DeepLIFT multipliers for max-pooling, as in Captum.

    With ``o``, ``o_ref`` the pooled input and reference and ``M = max(o, o_ref)``, the
    output signal ``g`` times ``M - o_ref`` is routed to the input's arg-max positions and
    ``g * (o - M)`` to the reference's, then divided by the input difference (the natural
    gradient where it is below ``epsilon``). The routed differences sum to ``o - o_ref``.

    Parameters
    ----------
    epsilon, rows
        As for :class:`RescaleRule`.
    """

    kinds: ClassVar[frozenset[OpKind]] = _MAX_POOL

    def propagate_elementwise(self, call: OpCall, graphs: list[Tensor], value: Tensor) -> Tensor:
        """The pooled value; backward routes the output difference as described above."""
        graph, a, n = self._stacked(graphs, "DeepLIFT max-pooling")
        o, o_ref = value[:n], value[n:]
        top = torch.maximum(o, o_ref)
        da = a[:n] - a[n:]

        def backward(g: Tensor) -> Tensor:
            g1 = g[:n]
            # one pass routes the differences to both arg-maxes and g to the input's (natural gradient)
            routed = vjp(call, torch.cat([a, a[:n]]), torch.cat([g1 * (top - o_ref), g1 * (o - top), g1]))
            spread = routed[:n] + routed[n : 2 * n]
            natural = routed[2 * n :]
            return _twice(_secant(spread, da.clone(), lambda: natural, self.epsilon))

        return custom_backward(graph, value, backward)


class FirstHalfGradient(LayerRule):
    """Natural gradient for the input half of a layer; the reference half is computed without a graph.

    Multipliers are only ever read off the input half, so the backward pass of every dense
    and convolution layer runs on ``N`` rows instead of ``2N`` (DeepLIFT costs one forward
    pass over ``2N`` rows and one backward pass over ``N``).
    """

    computes_layer_output: ClassVar[bool] = True

    def __init__(self, rows: int = 0) -> None:
        self.rows = rows

    def propagate(self, op: LinearOp, a: Tensor) -> Tensor:
        """``op`` on both halves of ``a``, differentiable in the first."""
        return op.own_forward(a, differentiable_rows=_half(a, self.rows))

    def __repr__(self) -> str:
        return "FirstHalfGradient()"


def deeplift_composite(rule: str, epsilon: float, rows: int = 0) -> tuple[Composite, RevealCancelRule | None]:
    """The DeepLIFT composite for ``rule`` (``"rescale"`` or ``"reveal_cancel"``).

    ``rows`` is the size of the stacked batch ``[x; x_ref]`` (checked at every operation;
    ``0`` skips the check). Returns the composite and, for RevealCancel, its activation rule
    (to bind to the engine).
    """
    reveal: RevealCancelRule | None = None
    if rule == "rescale":
        activation: ElementwiseRule = RescaleRule(epsilon, rows)
    elif rule == "reveal_cancel":
        reveal = RevealCancelRule(epsilon, rows)
        activation = reveal
    else:
        raise ValueError(f"unknown DeepLIFT rule {rule!r}; choose 'rescale' or 'reveal_cancel'")
    composite = Composite(
        [
            (Kind(OpKind.ACTIVATION), activation),
            (Kind(OpKind.MAX_POOL), MaxPoolRule(epsilon, rows)),
            (Kind(*LAYER_KINDS), FirstHalfGradient(rows)),
        ],
        name=f"deeplift_{rule}",
        defaults=NATURAL,
    )
    return composite, reveal
