"""Expected gradients / gradient-SHAP: integrated gradients averaged over a baseline distribution."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from xaikit.core.base import Attribution, Model
from xaikit.core.registry import register_method
from xaikit.core.targets import ResolvedTarget, Target
from xaikit.gradients._common import (
    as_reference_set,
    forward,
    gradients_along_rows,
    path_attribution,
)
from xaikit.gradients.sampled import SampledExplainer
from xaikit.utils.options import check_positive_int
from xaikit.utils.random import as_generator


def mean_reference_value(
    model: Model, references: Tensor, resolved: ResolvedTarget, n: int, batch_size: int | None
) -> Tensor:
    """``mean_m select_i(f(references_m))`` for each of the ``n`` explained samples ``i``."""
    out = forward(model, references, batch_size)
    m = len(references)
    owners = torch.arange(n, device=out.device).repeat_interleave(m)
    values = resolved.take(owners).select(out.repeat(n, *([1] * (out.ndim - 1))))
    return values.view(n, m).mean(1)


@register_method("expected_gradients", aliases=("gradient_shap", "gradientshap"))
@dataclass(eq=False, repr=False)
class ExpectedGradients(SampledExplainer):
    """Expected gradients (Erion et al., 2021), the gradient-SHAP of Lundberg and Lee (2017).

    ``R = E_{b ~ D, t ~ U(0, 1)} [(x - b) * grad f(b + t (x - b))]``, estimated with
    ``samples`` draws per input of a baseline ``b`` from the data set ``baselines`` and
    an interpolation point ``t``.

    Parameters
    ----------
    baselines : torch.Tensor
        The reference data set, shape ``(M, ...)`` (the inputs' feature shape).
    samples : int
        Draws per explained input.
    seed : int, torch.Generator or None
        Seed of the draws (``None``: fresh entropy, not reproducible).
    batch_size : int or None
        Points per forward/backward pass (``None``: all).
    progress : bool or None
        Show a progress bar.

    Notes
    -----
    ``output`` is ``f(x) - mean_m f(baselines_m)`` (``Explanation.baseline`` is
    ``mean_m f(baselines_m)``); the attributions sum to it in expectation, and
    ``Explanation.delta`` (also ``extras["completeness_gap"]``) shows the sampling error.
    """

    baselines: Tensor | None = None
    samples: int = 20

    def __post_init__(self) -> None:
        super().__post_init__()
        self.samples = check_positive_int(self.samples, "samples")

    def attribute(self, model: Model, inputs: Tensor, target: Target) -> Attribution:
        x = inputs.detach()
        refs = as_reference_set(self.baselines, x)
        n, k, m = len(x), self.samples, len(refs)
        generator = as_generator(self.seed)
        picks = torch.randint(m, (n * k,), generator=generator).to(x.device)
        alphas = torch.rand((n * k, 1), generator=generator, dtype=torch.float64)
        owners = torch.arange(n, device=x.device).repeat_interleave(k)
        origins = refs[picks]
        directions = x[owners] - origins

        out_x = forward(model, x, self.batch_size)
        resolved = target.resolve(out_x)
        f_x = resolved.select(out_x)
        f_refs = mean_reference_value(model, refs, resolved, n, self.batch_size)

        per_draw = gradients_along_rows(
            model, origins, directions, alphas, torch.ones_like(alphas), resolved.take(owners), self.batch_size,
            desc="expected gradients", show=self.progress,
        )
        attribution = (directions * per_draw).view(n, k, *x.shape[1:]).mean(1)
        return path_attribution(f_x, f_refs, attribution, resolved, {"f_baselines": f_refs})
