"""LRP rules as small declarative objects.

Each rule maps the relevance of a layer's outputs to its inputs. In the engine's
convention the gradient that flows backward *is* the relevance, so a rule only has to
build, from the layer input ``a``, a graph whose backward pass realizes

    R_j = sum_k  m_j * (d numerator_k / d a_j) * R_k / denominator_k

where ``m_j`` is usually ``a_j``. For the classic rules this is

    R_j = sum_k  a_j rho(w_jk) / (eps + sum_j a_j rho(w_jk) + rho(b_k))  R_k .

References
----------
Montavon, Binder, Lapuschkin, Samek, Müller, "Layer-wise relevance propagation: an
overview" (2019); Samek et al., "Explaining deep neural networks and beyond" (2021),
section on LRP rules; Bach et al. (2015) for alpha-beta; Montavon et al. (2017) for z^B
and w-square; Lapuschkin et al. (2019) for flat.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass

import torch
from torch import Tensor

from xaikit.engine.graft import graft, relevance_ratio, safe_reciprocal, stabilize, times_input
from xaikit.engine.layer import LinearOp

Bound = float | Tensor


class Rule(ABC):
    """A rule for parametric linear layers (dense, convolution, transposed convolution)."""

    #: True when the rule uses the layer's own weights unchanged (the value can be
    #: read off the propagation graph, saving one forward of the layer).
    uses_layer_weights: bool = False

    @abstractmethod
    def propagate(self, op: LinearOp, a: Tensor) -> Tensor:
        """Return a tensor equal to ``op(a)`` whose gradient w.r.t. ``a`` is the rule's relevance map."""


def _pos(t: Tensor | None) -> Tensor | None:
    return None if t is None else t.clamp(min=0)


def _neg(t: Tensor | None) -> Tensor | None:
    return None if t is None else t.clamp(max=0)


@dataclass(frozen=True)
class Epsilon(Rule):
    """LRP-epsilon: ``rho(w) = w``, denominator ``z_k + eps * sign(z_k)``.

    Parameters
    ----------
    epsilon : float
        The stabilizer. ``0`` gives LRP-0.
    relative : bool
        Scale-aware stabilizer: ``eps = epsilon * mean_k |z_k|`` per sample, so that
        conservation does not collapse when activations are tiny. ``False`` uses the
        absolute ``epsilon``.
    """

    epsilon: float = 1e-6
    relative: bool = True
    uses_layer_weights = True

    def __post_init__(self) -> None:
        if self.epsilon < 0:
            raise ValueError(f"epsilon must be >= 0, got {self.epsilon}")

    def propagate(self, op: LinearOp, a: Tensor) -> Tensor:
        u = op(times_input(a), op.weight, op.bias)
        z = u.detach()
        return relevance_ratio(u, stabilize(z, self.epsilon, self.relative), z)


def LRP0() -> Epsilon:  # noqa: N802 - the literature's name
    """LRP-0: ``R_j = sum_k a_j w_jk / z_k R_k`` (equals gradient x input on ReLU networks)."""
    return Epsilon(epsilon=0.0)


@dataclass(frozen=True)
class _Modified(Rule):
    """Shared machinery of rules whose numerator and denominator use ``rho(w)``.

    ``epsilon`` and ``relative`` (keyword-only) configure the stabilizer of the denominator.
    """

    _: KW_ONLY
    epsilon: float = 1e-9
    relative: bool = True

    def _ratio(self, numerator: Tensor, value: Tensor) -> Tensor:
        return relevance_ratio(numerator, stabilize(numerator.detach(), self.epsilon, self.relative), value)


@dataclass(frozen=True)
class Gamma(_Modified):
    """LRP-gamma: ``rho(w) = w + gamma * w^+`` (and the same on the bias).

    Favours positive contributions; ``gamma -> inf`` approaches z-plus.
    """

    gamma: float = 0.25

    def __post_init__(self) -> None:
        if self.gamma < 0:
            raise ValueError(f"gamma must be >= 0, got {self.gamma}")

    def propagate(self, op: LinearOp, a: Tensor) -> Tensor:
        w = op.weight + self.gamma * op.weight.clamp(min=0)
        b = None if op.bias is None else op.bias + self.gamma * op.bias.clamp(min=0)
        u = op(times_input(a), w, b)
        return self._ratio(u, op.value(a))


def _positive_part(op: LinearOp, a: Tensor, bias: bool) -> Tensor:
    """``sum_j (a_j w_jk)^+`` (+ ``b^+``) as a graph of ``a`` (gradient multiplied by ``a``)."""
    ga = times_input(a)
    if bool((a < 0).any()):
        return op(ga.clamp(min=0), _pos(op.weight), _pos(op.bias) if bias else None) + op(
            ga.clamp(max=0), _neg(op.weight), None
        )
    return op(ga, _pos(op.weight), _pos(op.bias) if bias else None)


def _negative_part(op: LinearOp, a: Tensor, bias: bool) -> Tensor:
    """``sum_j (a_j w_jk)^-`` (+ ``b^-``) as a graph of ``a``."""
    ga = times_input(a)
    if bool((a < 0).any()):
        return op(ga.clamp(min=0), _neg(op.weight), _neg(op.bias) if bias else None) + op(
            ga.clamp(max=0), _pos(op.weight), None
        )
    return op(ga, _neg(op.weight), _neg(op.bias) if bias else None)


@dataclass(frozen=True)
class ZPlus(_Modified):
    """z-plus (LRP-alpha1-beta0): only positive contributions ``(a_j w_jk)^+`` are redistributed.

    Parameters
    ----------
    bias : bool
        Whether the positive part of the bias enters the denominator (absorbing relevance).
    signed : bool
        For outputs ``z_k < 0`` (possible before a residual addition, or in a layer not
        followed by a ReLU) redistribute over the negative contributions ``(a_j w_jk)^-``
        instead, so that their relevance is conserved. ``False`` gives the textbook rule,
        which drops it. Where the engine sees that the output feeds a ReLU (so negative
        outputs carry no relevance) both agree and only the positive part is computed.
    """

    bias: bool = True
    signed: bool = True

    def propagate(self, op: LinearOp, a: Tensor) -> Tensor:
        z = op.value(a)
        if not self.signed or not bool((z < 0).any()):
            return self._ratio(_positive_part(op, a, self.bias), z)
        pos = _positive_part(op, a, self.bias)
        neg = _negative_part(op, a, self.bias)
        negative = z < 0
        d_pos = stabilize(pos.detach(), self.epsilon, self.relative)
        d_neg = stabilize(neg.detach(), self.epsilon, self.relative)
        zero = torch.zeros_like(z)
        scale_pos = torch.where(negative, zero, safe_reciprocal(d_pos))
        scale_neg = torch.where(negative, safe_reciprocal(d_neg), zero)
        return graft(graft(pos, z, scale_pos) + graft(neg, z, scale_neg), z)

    def propagate_positive(self, op: LinearOp, a: Tensor) -> Tensor:
        """The textbook rule, used when negative outputs are known to carry no relevance."""
        return self._ratio(_positive_part(op, a, self.bias), op.value(a))


@dataclass(frozen=True)
class AlphaBeta(_Modified):
    """LRP-alpha-beta: ``alpha * (a w)^+ / sum (a w)^+  -  beta * (a w)^- / sum (a w)^-``.

    Requires ``alpha - beta = 1`` and ``alpha, beta >= 0`` (conservation).
    """

    alpha: float = 2.0
    beta: float = 1.0
    bias: bool = True

    def __post_init__(self) -> None:
        if self.alpha < 0 or self.beta < 0 or abs(self.alpha - self.beta - 1.0) > 1e-12:
            raise ValueError(
                f"alpha-beta needs alpha - beta = 1 and alpha, beta >= 0; got alpha={self.alpha}, "
                f"beta={self.beta} (for example alpha=2, beta=1 or alpha=1, beta=0)"
            )

    def propagate(self, op: LinearOp, a: Tensor) -> Tensor:
        z = op.value(a)
        pos = _positive_part(op, a, self.bias)
        out = self.alpha * self._ratio(pos, z)
        if self.beta:
            neg = _negative_part(op, a, self.bias)
            neg_d = stabilize(neg.detach(), self.epsilon, self.relative)
            out = out - self.beta * relevance_ratio(neg, neg_d, z)
        # out's value is (alpha - beta) * z = z; re-graft to keep the value exact.
        return graft(out, z)


@dataclass(frozen=True)
class ZBox(_Modified):
    """z^B rule for inputs bounded by ``low <= x <= high`` (typically the first layer).

    ``R_j = sum_k (x_j w_jk - l_j w_jk^+ - h_j w_jk^-) / sum_j (...) R_k``.

    Parameters
    ----------
    low, high : float or torch.Tensor, optional
        The bounds, broadcastable to the layer input (for example per channel ``(C, 1, 1)``).
        By default the minimum and maximum of the batch.
    """

    low: Bound | None = None
    high: Bound | None = None

    def propagate(self, op: LinearOp, a: Tensor) -> Tensor:
        ad = a.detach()
        low = ad.min() if self.low is None else torch.as_tensor(self.low, dtype=a.dtype, device=a.device)
        high = ad.max() if self.high is None else torch.as_tensor(self.high, dtype=a.dtype, device=a.device)
        low, high = low.expand_as(a), high.expand_as(a)
        u = (
            op(times_input(a), op.weight, None)
            - op(times_input(a, low, low), _pos(op.weight), None)
            - op(times_input(a, high, high), _neg(op.weight), None)
        )
        return self._ratio(u, op.value(a))


def _ones_like_input(a: Tensor) -> Tensor:
    return torch.ones_like(a)


@dataclass(frozen=True)
class _InputIndependent(_Modified):
    """Rules that ignore the input values: ``R_j = sum_k rho(w_jk) / sum_j rho(w_jk) R_k``."""

    def _rho(self, w: Tensor) -> Tensor:
        raise NotImplementedError

    def propagate(self, op: LinearOp, a: Tensor) -> Tensor:
        ones = _ones_like_input(a)
        u = op(times_input(a, ones, ones), self._rho(op.weight), None)
        return self._ratio(u, op.value(a))


@dataclass(frozen=True)
class Flat(_InputIndependent):
    """Flat rule: relevance spread uniformly over each output's receptive field."""

    def _rho(self, w: Tensor) -> Tensor:
        return torch.ones_like(w)


@dataclass(frozen=True)
class WSquare(_InputIndependent):
    """w-square rule: ``R_j = sum_k w_jk^2 / sum_j w_jk^2 R_k``."""

    def _rho(self, w: Tensor) -> Tensor:
        return w * w


class ElementwiseRule(ABC):
    """A rule for parameter-free operations (activations, sums, pools)."""

    @abstractmethod
    def propagate_elementwise(self, func: Callable[..., Tensor], graphs: list[Tensor], value: Tensor) -> Tensor:
        """``func`` applied to the graph inputs gives the modified forward; ``value`` is the true output."""


@dataclass(frozen=True)
class Pass(ElementwiseRule):
    """Pass-through: relevance is handed on unchanged (activations, scaling by constants)."""

    def propagate_elementwise(self, func: Callable[..., Tensor], graphs: list[Tensor], value: Tensor) -> Tensor:
        if len(graphs) != 1:
            raise ValueError("the pass-through rule applies to operations with one input carrying relevance")
        return graft(graphs[0], value)


@dataclass(frozen=True)
class Norm(ElementwiseRule):
    """Normalizing rule for parameter-free sums and pools: LRP-0/epsilon with unit weights.

    ``R_j = a_j / (sum_j a_j + constants) R_k`` for additions (a residual ``a + b`` splits
    relevance in proportion to ``a`` and ``b``), sum/mean, average pools.
    """

    epsilon: float = 1e-9
    relative: bool = True

    def propagate_elementwise(self, func: Callable[..., Tensor], graphs: list[Tensor], value: Tensor) -> Tensor:
        u = func(*[times_input(g) for g in graphs])
        return relevance_ratio(u, stabilize(u.detach(), self.epsilon, self.relative), value)
