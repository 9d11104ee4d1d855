"""Integrated gradients with a choice of quadrature and optional refinement to a tolerance."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
from torch import Tensor

from xaikit.core.base import Attribution, Explainer, Model
from xaikit.core.registry import register_method
from xaikit.core.targets import ResolvedTarget, Target
from xaikit.gradients._common import (
    BaselineLike,
    accumulate_gradients,
    as_baseline,
    endpoint_outputs,
)
from xaikit.gradients.quadrature import Quadrature, rule_name
from xaikit.utils.options import accepts_old_names, check_batch_size, check_positive_int


def _integrate(
    model: Model,
    baseline: Tensor,
    delta: Tensor,
    ids: Tensor,
    alphas: Tensor,
    weights: Tensor,
    resolved: ResolvedTarget,
    batch_size: int | None,
    show: bool | None,
) -> Tensor:
    """``sum_k w_k grad f(baseline + alpha_k delta)`` for the samples ``ids``."""
    k = len(alphas)
    rows = len(ids)
    return accumulate_gradients(
        model,
        baseline[ids],
        delta[ids],
        torch.arange(rows, device=baseline.device),
        alphas.expand(rows, k),
        weights.expand(rows, k),
        resolved.take(ids),
        rows,
        batch_size,
        desc="integrated gradients",
        show=show,
    )


def _as_tensors(nodes: tuple[np.ndarray, np.ndarray]) -> tuple[Tensor, Tensor]:
    """Quadrature nodes and weights as float64 CPU tensors."""
    return torch.from_numpy(np.array(nodes[0], dtype=np.float64)), torch.from_numpy(np.array(nodes[1], dtype=np.float64))


def _converged(gap: Tensor, delta_f: Tensor, scale: Tensor, tolerance: float, dtype: torch.dtype) -> Tensor:
    floor = 16.0 * torch.finfo(dtype).eps * scale
    return gap.abs() <= torch.maximum(tolerance * delta_f.abs(), floor)


@register_method("integrated_gradients", aliases=("ig", "integratedgradients"))
class IntegratedGradients(Explainer):
    """Integrated gradients (Sundararajan et al., 2017) on the straight path from a baseline.

    ``R_i = (x_i - b_i) * int_0^1 d f(b + t (x - b)) / d x_i dt``, the integral taken with a
    quadrature rule. The explanation's ``output`` is ``f(x) - f(b)``, so that
    ``Explanation.delta`` is the completeness gap of the quadrature (also in
    ``extras["completeness_gap"]``).

    Parameters
    ----------
    baseline : None, float or torch.Tensor
        The reference input ``b``: zeros by default, a constant, one tensor of the input's
        feature shape for all samples, or one per sample.
    steps : int
        Number of gradient evaluations (nodes of the rule).
    quadrature : str
        ``"riemann_left"``, ``"riemann_right"``, ``"riemann_middle"``, ``"trapezoid"``
        or ``"gauss_legendre"`` (Captum's spellings are accepted too).
    tolerance : float, optional
        If given, refine the rule (doubling the number of steps) for every sample whose
        relative completeness gap ``|gap| / |f(x) - f(b)|`` exceeds ``tolerance``, until
        it does not or ``max_steps`` is reached (then a ``RuntimeWarning`` is issued).
        Left, right and trapezoid rules reuse all previous gradients when refining.
    max_steps : int
        The largest number of steps refinement may reach.
    batch_size : int or None
        How many path points go through the model at once (``None``: all).
    progress : bool or None
        Show a progress bar (``None``: the global default).

    Notes
    -----
    ``extras`` holds ``completeness_gap``, ``steps`` (per sample), ``converged`` (per
    sample, with a tolerance), ``f_input`` and ``f_baseline``; ``Explanation.baseline``
    is ``f(b)``.

    Unlike Captum (0.9), whose trapezoid rule uses weights ``1/n`` (so its integral is
    short by the factor ``(n - 1)/n``), the trapezoid weights here sum to one.
    """

    @accepts_old_names(rule="quadrature")
    def __init__(
        self,
        baseline: BaselineLike = None,
        steps: int = 50,
        quadrature: str = "gauss_legendre",
        tolerance: float | None = None,
        max_steps: int = 1024,
        batch_size: int | None = 64,
        progress: bool | None = None,
    ) -> None:
        self.baseline = baseline
        self.steps = steps
        self.quadrature = rule_name(quadrature)
        self.tolerance = tolerance
        self.max_steps = max_steps
        self.batch_size = check_batch_size(batch_size)
        self.progress = progress
        self._quadrature = Quadrature(self.quadrature, steps)
        check_positive_int(max_steps, "max_steps")
        if tolerance is not None and not (isinstance(tolerance, int | float) and tolerance > 0):
            raise ValueError(f"tolerance must be a positive number or None, got {tolerance!r}")

    def attribute(self, model: Model, inputs: Tensor, target: Target) -> Attribution:
        x = inputs.detach()
        base = as_baseline(self.baseline, x)
        delta = x - base
        n = len(x)
        out_x, out_b = endpoint_outputs(model, x, base, self.batch_size)
        resolved = target.resolve(out_x)
        f_x = resolved.select(out_x)
        f_b = resolved.select(out_b)
        delta_f = f_x - f_b

        quad = self._quadrature
        everyone = torch.arange(n, device=x.device)
        alphas, weights = _as_tensors(quad.nodes())
        total = _integrate(model, base, delta, everyone, alphas, weights, resolved, self.batch_size, self.progress)
        steps = torch.full((n,), quad.steps, dtype=torch.long, device=x.device)
        attribution = delta * total
        converged = torch.ones(n, dtype=torch.bool, device=x.device)

        if self.tolerance is not None:
            attribution, converged = self._refine(
                model, base, delta, resolved, delta_f, f_x, f_b, total, attribution, steps
            )
        gap = delta_f - attribution.flatten(1).sum(1)
        extras: dict[str, Any] = {
            "completeness_gap": gap,
            "steps": steps,
            "f_input": f_x,
            "f_baseline": f_b,
            "quadrature": self.quadrature,
        }
        if self.tolerance is not None:
            extras["converged"] = converged
        return Attribution(attribution=attribution, output=delta_f, target=resolved, extras=extras, baseline=f_b)

    def _refine(
        self,
        model: Model,
        base: Tensor,
        delta: Tensor,
        resolved: ResolvedTarget,
        delta_f: Tensor,
        f_x: Tensor,
        f_b: Tensor,
        total: Tensor,
        attribution: Tensor,
        steps: Tensor,
    ) -> tuple[Tensor, Tensor]:
        """Double the steps of the samples whose gap is above the tolerance (in place on ``steps``)."""
        assert self.tolerance is not None
        quad = self._quadrature
        dtype = base.dtype

        def check(attr: Tensor, ids: Tensor) -> Tensor:
            gap = delta_f[ids] - attr.flatten(1).sum(1)
            scale = f_x[ids].abs() + f_b[ids].abs() + attr.flatten(1).abs().sum(1)
            return _converged(gap, delta_f[ids], scale, float(self.tolerance), dtype)  # type: ignore[arg-type]

        converged = check(attribution, torch.arange(len(base), device=base.device))
        active = (~converged).nonzero().squeeze(1)
        while len(active) and quad.refined().steps <= self.max_steps:
            if quad.nested:
                alphas, weights = _as_tensors(quad.refinement_nodes())
                added = _integrate(model, base, delta, active, alphas, weights, resolved, self.batch_size, self.progress)
                total[active] = total[active] * 0.5 + added
            else:
                alphas, weights = _as_tensors(quad.refined().nodes())
                total[active] = _integrate(
                    model, base, delta, active, alphas, weights, resolved, self.batch_size, self.progress
                )
            quad = quad.refined()
            steps[active] = quad.steps
            attribution[active] = delta[active] * total[active]
            done = check(attribution[active], active)
            converged[active] = done
            active = active[~done]
        if len(active):
            gap = (delta_f[active] - attribution[active].flatten(1).sum(1)).abs()
            rel = (gap / delta_f[active].abs().clamp_min(torch.finfo(dtype).tiny)).max()
            warnings.warn(
                f"integrated gradients: {len(active)} sample(s) did not reach the relative completeness "
                f"gap {self.tolerance} within max_steps={self.max_steps} (largest relative gap "
                f"{float(rel):.3g}); raise max_steps or the tolerance. extras['converged'] marks them.",
                RuntimeWarning,
                stacklevel=4,
            )
        return attribution, converged
