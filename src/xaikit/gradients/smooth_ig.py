"""Integrated gradients averaged over random starting points near the baseline."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from xaikit.core.base import Attribution, Model
from xaikit.core.registry import register_method
from xaikit.core.targets import Target
from xaikit.gradients._common import (
    BaselineLike,
    RelativeNoise,
    as_baseline,
    check_stdev,
    forward,
    gradients_along_rows,
    path_attribution,
)
from xaikit.gradients.sampled import SampledExplainer
from xaikit.utils.options import check_positive_int


@register_method("smooth_integrated_gradients", aliases=("smooth_ig", "smoothed_integrated_gradients"))
@dataclass(eq=False, repr=False)
class SmoothIntegratedGradients(SampledExplainer):
    """Integrated gradients with smoothing (Samek et al., 2021, Algorithm 5).

    ``R = 1/(S T) sum_s sum_t (x - b_s) * grad f(b_s + (t - 1/2)/T (x - b_s))`` where the
    ``S`` starting points ``b_s = baseline + noise`` are drawn near the baseline (the origin
    by default) and each path is integrated with ``T`` midpoint steps: ``S * T`` gradient
    evaluations per sample.

    Parameters
    ----------
    baseline : None, float or torch.Tensor
        Centre of the starting points (zeros by default).
    samples : int
        Number ``S`` of random starting points.
    steps : int
        Number ``T`` of midpoint steps per path.
    stdev : float
        Standard deviation of the starting-point noise, relative to each sample's input
        range ``max(x) - min(x)``.
    seed : int, torch.Generator or None
        Seed of the noise (``None``: fresh entropy, not reproducible).
    batch_size : int or None
        Path points per forward/backward pass (``None``: all).
    progress : bool or None
        Show a progress bar.

    Notes
    -----
    ``output`` is ``f(x) - mean_s f(b_s)`` (``Explanation.baseline`` is ``mean_s f(b_s)``);
    the starting points are not exact roots, so ``Explanation.delta`` (also
    ``extras["completeness_gap"]``) measures how complete the explanation is with respect
    to them.
    """

    baseline: BaselineLike = None
    samples: int = 5
    steps: int = 5
    stdev: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        self.samples = check_positive_int(self.samples, "samples")
        self.steps = check_positive_int(self.steps, "steps")
        self.stdev = check_stdev(self.stdev)

    def attribute(self, model: Model, inputs: Tensor, target: Target) -> Attribution:
        x = inputs.detach()
        n, s, t = len(x), self.samples, self.steps
        base = as_baseline(self.baseline, x)
        noise_source = RelativeNoise(x, self.stdev, self.seed)
        noise = noise_source.draw(copies=s)
        starts = (base.unsqueeze(0) + noise).reshape(s * n, *x.shape[1:])
        owners = torch.arange(n, device=x.device).repeat(s)
        directions = x[owners] - starts

        out_x = forward(model, x, self.batch_size)
        resolved = target.resolve(out_x)
        f_x = resolved.select(out_x)
        f_starts = resolved.take(owners).select(forward(model, starts, self.batch_size)).view(s, n)

        rows = s * n
        alphas = ((torch.arange(t, dtype=torch.float64) + 0.5) / t).expand(rows, t)
        weights = torch.full((rows, t), 1.0 / t, dtype=torch.float64)
        per_path = gradients_along_rows(
            model, starts, directions, alphas, weights, resolved.take(owners), self.batch_size,
            desc="smooth integrated gradients", show=self.progress,
        )
        attribution = (directions * per_path).view(s, n, *x.shape[1:]).mean(0)
        f_reference = f_starts.mean(0)
        extras = {"f_starts": f_reference, "noise_stdev": noise_source.sigma}
        return path_attribution(f_x, f_reference, attribution, resolved, extras)
