"""First-order Taylor decomposition at a root point (seed 001, section II-C and Fig. 8).

``f(x) = f(root) + sum_i [grad f(root)]_i (x_i - root_i) + higher-order terms``; at a root
(``f(root) = 0``) the first-order terms ``R_i = [grad f(root)]_i (x_i - root_i)`` split the
output among the inputs, up to the higher-order terms (``extras["second_order"]``). The
root point is given, zero, the root of ``f`` on the segment from a reference to ``x``
(bisection), or the nearest root found by Newton steps along the gradient.
"""

from __future__ import annotations

import warnings
from typing import Literal

import torch
from torch import Tensor

from xaikit.core.base import Attribution, Explainer, Model
from xaikit.core.registry import register_method
from xaikit.core.targets import ResolvedTarget, Target
from xaikit.gradients._common import FixedTarget, as_baseline, value_and_gradient
from xaikit.gradients.simple import input_gradient
from xaikit.utils.errors import InputError
from xaikit.utils.options import check_positive_int

RootChoice = Literal["zero", "search", "nearest"]


def _values(model: Model, points: Tensor, resolved: ResolvedTarget) -> Tensor:
    with torch.no_grad():
        return resolved.select(model(points))


def _segment_root(
    model: Model, x: Tensor, f_x: Tensor, reference: Tensor, resolved: ResolvedTarget, iterations: int
) -> Tensor:
    """The root of ``f`` on the segment ``reference -> x`` nearest to ``x`` (bisection; the
    reference itself where ``f`` does not change sign on the segment, with a warning)."""
    shape = (-1, *([1] * (x.ndim - 1)))
    f_ref = _values(model, reference, resolved)
    crossing = (f_x * f_ref) <= 0
    if not bool(crossing.all()):
        warnings.warn(
            f"f does not change sign between the reference and the input for {int((~crossing).sum())} sample(s); "
            "their expansion point is the reference (not a root: the decomposition misses f(reference))",
            UserWarning, stacklevel=4,
        )
    low = torch.zeros(len(x), dtype=x.dtype, device=x.device)  # t = 0: the reference
    high = torch.ones_like(low)  # t = 1: x
    for _ in range(iterations):
        middle = 0.5 * (low + high)
        f_mid = _values(model, reference + middle.view(shape) * (x - reference), resolved)
        same_as_x = (f_mid * f_x) > 0
        high = torch.where(same_as_x, middle, high)
        low = torch.where(same_as_x, low, middle)
    t = torch.where(crossing, low, torch.zeros_like(low))
    return reference + t.view(shape) * (x - reference)


def _nearest_root(model: Model, x: Tensor, resolved: ResolvedTarget, iterations: int) -> Tensor:
    """Newton steps along the gradient, ``p <- p - f(p) grad f(p) / |grad f(p)|^2``: the
    nearest root of a linear model in one step, of a piecewise-linear one within its region."""
    point = x.detach().clone()
    shape = (-1, *([1] * (x.ndim - 1)))
    for _ in range(iterations):
        value, gradient = value_and_gradient(model, point, resolved)
        norm = gradient.flatten(1).pow(2).sum(1)
        step = torch.where(norm > 0, value / norm.clamp(min=torch.finfo(x.dtype).tiny), torch.zeros_like(value))
        point = point - step.view(shape) * gradient
    return point


@register_method("taylor", aliases=("taylor_decomposition",))
class Taylor(Explainer):
    """First-order Taylor decomposition ``R_i = [grad f(root)]_i (x_i - root_i)``.

    Parameters
    ----------
    root : {"zero", "search", "nearest"}, number or tensor
        The expansion point: zero, a given point (a number or a tensor like one sample or
        the batch), the root of ``f`` on the segment from ``reference`` to ``x``, or the
        nearest root by Newton steps along the gradient.
    reference : number or tensor, optional
        The segment's start for ``root="search"`` (zeros by default).
    iterations : int
        Bisection steps (``"search"``) or Newton steps (``"nearest"``).

    Notes
    -----
    ``extras["root"]`` holds the expansion points, ``extras["root_output"]`` ``f`` there
    (zero at a root) and ``extras["second_order"]`` what the first-order terms leave of
    ``f(x) - f(root)``. For a homogeneous linear model with ``root="zero"`` this is
    occlusion with patches of one feature set to 0 (seed 001, Proposition 1); for a
    bias-free rectifier network with the root ``eps * x``, integrated gradients from zero
    (Proposition 2).
    """

    def __init__(
        self, root: RootChoice | float | Tensor = "zero", reference: float | Tensor | None = None, iterations: int = 50
    ) -> None:
        if isinstance(root, str) and root not in ("zero", "search", "nearest"):
            raise InputError(f"root must be 'zero', 'search', 'nearest', a number or a tensor, got {root!r}")
        check_positive_int(iterations, "iterations")
        self.root = root
        self.reference = reference
        self.iterations = iterations

    def attribute(self, model: Model, inputs: Tensor, target: Target) -> Attribution:
        with torch.no_grad():
            logits = model(inputs)
        resolved = target.resolve(logits)
        output = resolved.select(logits)
        if isinstance(self.root, str) and self.root == "search":
            reference = as_baseline(self.reference, inputs, name="reference")
            root = _segment_root(model, inputs, output, reference, resolved, self.iterations)
        elif isinstance(self.root, str) and self.root == "nearest":
            root = _nearest_root(model, inputs, resolved, self.iterations)
        else:
            root = as_baseline(None if self.root == "zero" else self.root, inputs, name="root").contiguous()
        gradient, root_output, _ = input_gradient(model, root, FixedTarget(resolved))
        relevance = gradient * (inputs - root)
        return Attribution(
            attribution=relevance.detach(), output=output, target=resolved,
            extras={"root": root.detach(), "root_output": root_output.detach(),
                    "second_order": (output - root_output - relevance.flatten(1).sum(1)).detach()},
            per_sample_extras=["root", "root_output", "second_order"],
        )
