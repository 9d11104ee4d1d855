"""LRP rules for parametric linear layers, as small declarative objects.

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

from dataclasses import KW_ONLY, dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from xaikit.engine.graft import graft, stabilized_ratio, stabilized_reciprocal, times_input
from xaikit.engine.layer import LinearOp
from xaikit.engine.rule import LayerRule
from xaikit.engine.units import GradientUnits

#: An input bound of z^B: a number or a tensor broadcastable to the layer input.
Bound = float | Tensor


def _clamp_pos(t: Tensor) -> Tensor:
    return t.clamp(min=0)


def _clamp_neg(t: Tensor) -> Tensor:
    return t.clamp(max=0)


def _pos(rule: LayerRule, op: LinearOp) -> tuple[Tensor, Tensor | None]:
    """``(w^+, b^+)``, cached in ``rule``."""
    return rule.derive(op, _clamp_pos)


def _neg(rule: LayerRule, op: LinearOp) -> tuple[Tensor, Tensor | None]:
    """``(w^-, b^-)``, cached in ``rule``."""
    return rule.derive(op, _clamp_neg)


@dataclass(frozen=True)
class Epsilon(LayerRule):
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
    computes_layer_output: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if self.epsilon < 0:
            raise ValueError(f"epsilon must be >= 0, got {self.epsilon}")

    def propagate(self, op: LinearOp, a: Tensor) -> Tensor:
        """``sum_k a_j w_jk / (z_k + eps sign(z_k)) R_k`` as a graph of ``a``."""
        u = op.own_forward(times_input(a))
        return stabilized_ratio(u, u.detach(), self.epsilon, self.relative)

    def propagate_gradient(self, op: LinearOp, g: Tensor, units: GradientUnits) -> Tensor:
        """In gradient units the layer keeps its own backward (``epsilon -> 0``; the bias absorbs its share)."""
        return op.own_forward(g)

    def own_backward_factor(self) -> float:
        """``1``: in gradient units the layer's own backward."""
        return 1.0


def LRP0() -> Epsilon:
    """LRP-0: ``R_j = sum_k a_j w_jk / z_k R_k`` (equals gradient x input on ReLU networks)."""
    return Epsilon(epsilon=0.0)


@dataclass(frozen=True)
class _Modified(LayerRule):
    """Shared machinery of rules whose numerator and denominator use ``rho(w)``.

    ``epsilon`` and ``relative`` (keyword-only) configure the stabilizer of the denominator.
    """

    _: KW_ONLY
    epsilon: float = 1e-9
    relative: bool = True

    def _ratio(self, numerator: Tensor, value: Tensor) -> Tensor:
        return stabilized_ratio(numerator, value, self.epsilon, self.relative)

    def _inverse(self, denominator: Tensor) -> Tensor:
        return stabilized_reciprocal(denominator.detach(), self.epsilon, self.relative)


def _split_by_sign(
    z: Tensor,
    first: Tensor,
    second: Tensor,
    inv_first: Tensor,
    inv_second: Tensor,
    negative: Tensor,
) -> Tensor:
    """Route the relevance of outputs ``z >= 0`` through ``first`` and of ``z < 0`` through ``second``."""
    scale_first = inv_first.masked_fill(negative, 0.0)
    scale_second = inv_second.masked_fill(~negative, 0.0)
    return graft(graft(first, z, scale_first) + graft(second, z, scale_second), z)


@dataclass(frozen=True)
class Gamma(_Modified):
    """LRP-gamma: each contribution ``z_jk = a_j w_jk`` becomes ``z_jk + gamma * z_jk^+`` (bias: ``b + gamma b^+``).

    Favours positive contributions; ``gamma -> inf`` approaches z-plus. Contributions are
    split by the sign of ``a_j w_jk``, as in :class:`ZPlus` and :class:`AlphaBeta`: for
    non-negative inputs (after a ReLU) this is the textbook ``rho(w) = w + gamma w^+``; a
    negative input ``a_j`` contributes positively through ``w^-``, so it gets
    ``w + gamma w^-``.

    Parameters
    ----------
    gamma : float
        Weight of the positive contributions.
    signed : bool
        For outputs ``z_k < 0`` (which carry relevance only before a residual addition
        or without a following ReLU) favour the negative contributions instead
        (``z_jk + gamma z_jk^-``), so the denominator keeps the sign of ``z_k`` and never
        crosses zero. Outputs feeding a ReLU always use the textbook rule.
    """

    gamma: float = 0.25
    signed: bool = True

    def __post_init__(self) -> None:
        if self.gamma < 0:
            raise ValueError(f"gamma must be >= 0, got {self.gamma}")

    def _favour_positive(self, w: Tensor) -> Tensor:
        return w + self.gamma * w.clamp(min=0)

    def _favour_negative(self, w: Tensor) -> Tensor:
        return w + self.gamma * w.clamp(max=0)

    def _graph(self, op: LinearOp, a: Tensor, positive: bool) -> Tensor:
        """``sum_j (z_jk + gamma z_jk^{+ or -})`` plus the bias term, as a graph of ``a``."""
        same, other = (self._favour_positive, self._favour_negative)
        if not positive:
            same, other = other, same
        ga = times_input(a)
        w, b = self.derive(op, same)
        if not op.has_negative_inputs(a):
            return op(ga, w, b)
        # a negative input turns the sign of each contribution: it is favoured through the other sign
        w_other, _ = self.derive(op, other)
        return op(ga.clamp(min=0), w, b) + op(ga.clamp(max=0), w_other, None)

    def propagate(self, op: LinearOp, a: Tensor) -> Tensor:
        """The gamma rule, sign-aware for negative outputs when :attr:`signed`."""
        z = op.value(a)
        negative = z < 0
        if not self.signed or not bool(negative.any()):
            return self._ratio(self._graph(op, a, True), z)
        up = self._graph(op, a, True)
        down = self._graph(op, a, False)
        return _split_by_sign(z, up, down, self._inverse(up), self._inverse(down), negative)

    def propagate_positive(self, op: LinearOp, a: Tensor) -> Tensor:
        """The textbook rule, used when negative outputs are known to carry no relevance."""
        return self._ratio(self._graph(op, a, True), op.value(a))


def _signed_part(rule: LayerRule, op: LinearOp, a: Tensor, bias: bool, positive: bool) -> Tensor:
    """``sum_j (a_j w_jk)^+`` (or ``^-``), plus ``b^+`` (``b^-``), as a graph of ``a``.

    The gradient reaching ``a`` is multiplied by ``a``. For inputs of both signs the
    positive part is ``a^+ w^+ + a^- w^-`` (and the negative part ``a^+ w^- + a^- w^+``).
    """
    ga = times_input(a)
    (w_same, b_same), (w_other, _) = (_pos(rule, op), _neg(rule, op)) if positive else (_neg(rule, op), _pos(rule, op))
    b = b_same if bias else None
    if op.has_negative_inputs(a):
        return op(ga.clamp(min=0), w_same, b) + op(ga.clamp(max=0), w_other, None)
    return op(ga, w_same, b)


def _positive_part(rule: LayerRule, op: LinearOp, a: Tensor, bias: bool) -> Tensor:
    return _signed_part(rule, op, a, bias, positive=True)


def _negative_part(rule: LayerRule, op: LinearOp, a: Tensor, bias: bool) -> Tensor:
    return _signed_part(rule, op, a, bias, positive=False)


@dataclass(frozen=True)
class AlphaBeta(_Modified):
    """LRP-alpha-beta: ``alpha * (a w)^+ / sum (a w)^+  -  beta * (a w)^- / sum (a w)^-``.

    Requires ``alpha - beta = 1`` and ``alpha, beta >= 0`` (conservation).

    Parameters
    ----------
    alpha, beta : float
        Weights of the positive and negative contributions.
    bias : bool
        Whether the positive/negative parts of the bias enter the denominators.
    signed : bool
        For outputs ``z_k < 0`` (relevant only before a residual addition or without a
        following ReLU) the roles swap: ``alpha`` weighs the negative, dominant
        contributions. Outputs feeding a ReLU always use the textbook rule.

    Notes
    -----
    Where an output has no contribution of the weaker sign (an empty ``beta`` sum), its
    relevance is redistributed over the dominant contributions alone (alpha = 1, beta =
    0 for that output) instead of being dropped, which keeps conservation exact.
    """

    alpha: float = 2.0
    beta: float = 1.0
    bias: bool = True
    signed: bool = True

    def __post_init__(self) -> None:
        if self.alpha < 0 or self.beta < 0 or abs(self.alpha - self.beta - 1.0) > 1e-12:
            raise ValueError(
                f"alpha-beta needs alpha - beta = 1 and alpha, beta >= 0; got alpha={self.alpha}, "
                f"beta={self.beta} (for example alpha=2, beta=1 or alpha=1, beta=0)"
            )

    def _propagate(self, op: LinearOp, a: Tensor, allow_signed: bool) -> Tensor:
        z = op.value(a)
        signed = self.signed and allow_signed
        pos = _positive_part(self, op, a, self.bias)
        if self.beta == 0 and not (signed and bool((z < 0).any())):
            return self._ratio(pos, z)
        negative = (z < 0) if signed else torch.zeros_like(z, dtype=torch.bool)
        neg = _negative_part(self, op, a, self.bias)
        if self.beta == 0:
            # z-plus, signed: each output keeps only the contributions of its own sign
            return _split_by_sign(z, pos, neg, self._inverse(pos), self._inverse(neg), negative)
        pos_v, neg_v = pos.detach(), neg.detach()
        inv_pos = self._inverse(pos_v)
        inv_neg = self._inverse(neg_v)
        weaker_empty = torch.where(negative, pos_v == 0, neg_v == 0)
        alpha = torch.where(weaker_empty, torch.ones_like(z), torch.full_like(z, self.alpha))
        beta = torch.where(weaker_empty, torch.zeros_like(z), torch.full_like(z, self.beta))
        scale_pos = torch.where(negative, -beta, alpha) * inv_pos
        scale_neg = torch.where(negative, alpha, -beta) * inv_neg
        return graft(graft(pos, z, scale_pos) + graft(neg, z, scale_neg), z)

    def propagate(self, op: LinearOp, a: Tensor) -> Tensor:
        """The alpha-beta rule, sign-aware for negative outputs when :attr:`signed`."""
        return self._propagate(op, a, allow_signed=True)

    def propagate_positive(self, op: LinearOp, a: Tensor) -> Tensor:
        """The textbook rule, used when negative outputs are known to carry no relevance."""
        return self._propagate(op, a, allow_signed=False)


@dataclass(frozen=True, init=False)
class ZPlus(AlphaBeta):
    """z-plus (LRP-alpha1-beta0): only positive contributions ``(a_j w_jk)^+`` are redistributed.

    Parameters
    ----------
    bias : bool
        Whether the positive part of the bias enters the denominator (absorbing relevance).
    signed : bool
        For outputs ``z_k < 0`` redistribute over the negative contributions instead, so
        that their relevance is conserved (``False``: the textbook rule, which drops it).
        Outputs feeding a ReLU always use the textbook rule.
    """

    def __init__(self, *, bias: bool = True, signed: bool = True, epsilon: float = 1e-9, relative: bool = True) -> None:
        super().__init__(alpha=1.0, beta=0.0, bias=bias, signed=signed, epsilon=epsilon, relative=relative)


@dataclass(frozen=True)
class ZBox(_Modified):
    """z^B rule for inputs bounded by ``low <= x <= high`` (typically the first layer).

    ``R_j = sum_k (x_j w_jk - l_j w_jk^+ - h_j w_jk^-) / sum_j (...) R_k``.

    Parameters
    ----------
    low, high : float or torch.Tensor, optional
        The bounds of the data domain, broadcastable to the layer input (for example per
        channel ``(C, 1, 1)``): ``0`` and ``1`` for images scaled to ``[0, 1]``. Where not
        given, each sample's own minimum (maximum) is used, so that one sample's heatmap
        never depends on the rest of the batch.

    Raises
    ------
    ValueError
        Where the bounds leave no room (``high - low == 0`` anywhere, for example a
        constant image with the per-sample default): z^B would divide by a sum of
        zeros; pass the data range as ``low``/``high``.
    """

    low: Bound | None = None
    high: Bound | None = None

    def _bound(self, given: Bound | None, a: Tensor, reduce: str) -> Tensor:
        if given is not None:
            return torch.as_tensor(given, dtype=a.dtype, device=a.device).expand_as(a)
        flat = a.detach().flatten(1)
        per_sample = flat.amin(1) if reduce == "min" else flat.amax(1)
        return per_sample.view(-1, *([1] * (a.ndim - 1))).expand_as(a)

    def _stacked(self, w: Tensor) -> Tensor:
        return torch.cat([w, -w.clamp(min=0), -w.clamp(max=0)], dim=1)

    def propagate(self, op: LinearOp, a: Tensor) -> Tensor:
        """The z^B rule between :attr:`low` and :attr:`high`."""
        low, high = self._bound(self.low, a, "min"), self._bound(self.high, a, "max")
        if bool((high == low).any()):
            where = "a sample of the batch is constant" if self.low is None and self.high is None else "high == low somewhere"
            raise ValueError(
                f"the z^B rule needs bounds with high > low, but {where}; pass the range of your data, "
                "for example composite_options={'low': 0.0, 'high': 1.0} for images in [0, 1] "
                "(or ZBox(low=..., high=...))"
            )
        (w_pos, _), (w_neg, _) = _pos(self, op), _neg(self, op)
        parts = (times_input(a), times_input(a, low, low), times_input(a, high, high))
        if _concatenable(op):
            # one layer call over stacked input channels instead of three
            weight, _ = self.derive(op, self._stacked, bias=False)
            u = op(torch.cat(parts, dim=1), weight, None)
        else:
            u = op(parts[0], op.weight, None) - op(parts[1], w_pos, None) - op(parts[2], w_neg, None)
        return self._ratio(u, op.value(a))


def _concatenable(op: LinearOp) -> bool:
    """Whether stacking inputs along dim 1 and weights along their input dim is equivalent."""
    if op.layout != "right" or op.weight.ndim < 2:
        return False
    if op.func is F.linear:
        return False  # the feature dimension is the last one, not dim 1
    groups = op.kwargs.get("groups", op.args[3] if len(op.args) > 3 else 1)
    return op.info.kind == "conv" and groups == 1


def _ones_like_input(a: Tensor) -> Tensor:
    return torch.ones_like(a)


@dataclass(frozen=True)
class _InputIndependent(_Modified):
    """Rules that ignore the input values: ``R_j = sum_k rho(w_jk) / sum_j rho(w_jk) R_k``."""

    def _rho(self, w: Tensor) -> Tensor:
        raise NotImplementedError

    def propagate(self, op: LinearOp, a: Tensor) -> Tensor:
        """``R_j = sum_k rho(w_jk) / sum_j rho(w_jk) R_k``."""
        ones = _ones_like_input(a)
        weight, _ = self.derive(op, self._rho, bias=False)
        u = op(times_input(a, ones, ones), weight, None)
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
