"""The noise tunnel: SmoothGrad, SmoothGrad-squared and VarGrad around any explainer."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from xaikit.core.base import Attribution, Explainer, Model
from xaikit.core.registry import get_method, make_method, register_method
from xaikit.core.targets import ClassTarget, LogOdds, OutputSelection, ResolvedTarget, Target
from xaikit.gradients._common import (
    RelativeNoise,
    check_stdev,
    forward,
)
from xaikit.gradients.sampled import SampledExplainer
from xaikit.utils.options import check_positive_int
from xaikit.utils.progress_bars import progress

VARIANTS = ("smoothgrad", "smoothgrad_sq", "vargrad")


def accumulator_dtype(x: Tensor) -> torch.dtype:
    """float64 for sums of attributions, unless the device lacks it (Apple MPS)."""
    return x.dtype if x.device.type == "mps" else torch.float64


def repeated_target(resolved: ResolvedTarget, copies: int) -> Target:
    """A target explaining, for ``copies`` stacked copies of the batch, the same thing per copy."""
    if resolved.index is None:
        assert resolved.selection is not None
        return OutputSelection(resolved.selection)
    index = resolved.index.repeat(copies)
    return LogOdds(index) if resolved.logodds else ClassTarget(index)


@register_method("noise_tunnel", aliases=("smoothgrad", "smooth_grad"))
@dataclass(eq=False, repr=False)
class NoiseTunnel(SampledExplainer):
    """Average an explanation over noisy copies of the input (Smilkov et al., 2017).

    For ``x_s = x + eps_s``, ``eps_s ~ N(0, sigma^2 I)``, ``sigma = stdev * (max(x) - min(x))``
    per sample, and ``R_s`` the wrapped method's attribution of ``x_s``:

    ``smoothgrad``: ``mean_s R_s``; ``smoothgrad_sq``: ``mean_s R_s^2`` (Hooker et al., 2019);
    ``vargrad``: ``mean_s R_s^2 - (mean_s R_s)^2`` (Adebayo et al., 2018).

    Parameters
    ----------
    base_method : str or Explainer
        The wrapped method: a registered name or an explainer object (named ``base_method``
        because ``xaikit.explain`` takes ``method="noise_tunnel"`` itself).
    base_options : dict, optional
        Options of the wrapped method when given by name (its own progress bar is off unless
        ``base_options`` turns it on).
    variant : str
        ``"smoothgrad"``, ``"smoothgrad_sq"`` or ``"vargrad"``.
    samples : int
        Number of noisy copies per input.
    stdev : float
        Noise standard deviation relative to each sample's input range.
    seed : int, torch.Generator or None
        Seed of the noise (``None``: fresh entropy, not reproducible).
    batch_size : int or None
        Noisy inputs handed to the wrapped method per call (at least one copy of the batch).
    progress : bool or None
        Show a progress bar.

    Notes
    -----
    The target is resolved on the clean input (for example its predicted class) and
    explained identically on every noisy copy. ``output`` is the mean over the copies of
    the wrapped method's ``output``, ``baseline`` that of its ``baseline`` (``None`` when
    the wrapped method has none).
    """

    base_method: str | Explainer = "saliency"
    base_options: dict[str, Any] | None = None
    variant: str = "smoothgrad"
    samples: int = 25
    stdev: float = 0.15

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown noise tunnel variant {self.variant!r}; choose one of {', '.join(VARIANTS)}")
        base = self.base_method
        if isinstance(base, Explainer):
            if self.base_options:
                raise TypeError("pass base_options only with a method name; configure the explainer object instead")
            inner = base
        elif isinstance(base, str):
            options = dict(self.base_options or {})
            if "progress" in inspect.signature(get_method(base).__init__).parameters:
                options.setdefault("progress", False)  # one bar, the tunnel's
            inner = make_method(base, **options)
        else:
            raise TypeError(f"base_method must be a registered name or an Explainer, got {type(base).__name__}")
        self.samples = check_positive_int(self.samples, "samples")
        self.stdev = check_stdev(self.stdev)
        self._inner = inner

    def attribute(self, model: Model, inputs: Tensor, target: Target) -> Attribution:
        x = inputs.detach()
        n = len(x)
        resolved = target.resolve(forward(model, x))
        noise_source = RelativeNoise(x, self.stdev, self.seed)
        per_call = self.samples if self.batch_size is None else max(1, self.batch_size // n)
        chunks = [(s, min(s + per_call, self.samples)) for s in range(0, self.samples, per_call)]
        wide = accumulator_dtype(x)
        first = torch.zeros(x.shape, dtype=wide, device=x.device)
        second = torch.zeros_like(first)
        outputs = torch.zeros(n, dtype=wide, device=x.device)
        baselines: Tensor | None = torch.zeros_like(outputs)  # None once the wrapped method gives none
        for start, stop in progress(chunks, desc="noise tunnel", enabled=self.progress):
            copies = stop - start
            noise = torch.stack([noise_source.draw() for _ in range(copies)])
            noisy = (x.unsqueeze(0) + noise).reshape(copies * n, *x.shape[1:])
            explanation = self._inner(model, noisy, repeated_target(resolved, copies))
            attr = explanation.attribution.detach().to(wide).view(copies, n, *x.shape[1:])
            first += attr.sum(0)
            second += (attr * attr).sum(0)
            outputs += explanation.output.detach().to(wide).view(copies, n).sum(0)
            if baselines is not None and explanation.baseline is not None:
                baselines += explanation.baseline.detach().to(wide).view(copies, n).sum(0)
            else:
                baselines = None
        mean = first / self.samples
        if self.variant == "smoothgrad":
            result = mean
        elif self.variant == "smoothgrad_sq":
            result = second / self.samples
        else:
            result = (second / self.samples - mean * mean).clamp_min(0.0)
        return Attribution(
            attribution=result.to(x.dtype),
            output=(outputs / self.samples).to(x.dtype),
            target=resolved,
            extras={
                "variant": self.variant,
                "samples": self.samples,
                "noise_stdev": noise_source.sigma,
                "inner_method": self._inner.name,
            },
            baseline=None if baselines is None else (baselines / self.samples).to(x.dtype),
        )
