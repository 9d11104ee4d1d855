"""Faithfulness: does removing what the explanation calls relevant change the output?

- :func:`pixel_flipping` (Bach et al., 2015; Samek et al., 2017): remove features from
  most to least relevant (MoRF), least to most (LeRF) or in random order, in steps of
  ``step`` features, and record the explained output; :func:`region_perturbation`
  removes square patches instead of pixels. The area over the perturbation curve
  (AOPC) summarizes a curve.
- :func:`faithfulness_correlation` (Bhatt et al., 2020): correlation, over random
  feature subsets, between their summed relevance and the output drop when removing them.
- :func:`sensitivity_n` (Ancona et al., 2018): for subsets of ``n`` features, how well
  the summed relevance matches the output drop.

All run batched on the model's device, through the masking engine of the perturbation
explainers (:class:`xaikit.perturbation.masking.MaskedForward`); removal by a constant,
a blurred copy, inpainting, noise or the expectation over a background set
(:mod:`xaikit.perturbation.removal`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from xaikit.core.base import Model
from xaikit.core.targets import TargetLike
from xaikit.core.validation import preserved_model_state
from xaikit.evaluate._common import (
    AttributionLike,
    as_attribution,
    explained_value,
    prepare_inputs,
    resolve_target,
    target_of,
    to_numpy,
)
from xaikit.evaluate.correlation import pearson_rows
from xaikit.evaluate.features import as_groups, group_mask, group_sums
from xaikit.perturbation.masking import MaskedForward
from xaikit.perturbation.removal import as_removal
from xaikit.utils.options import accepts_old_names
from xaikit.utils.random import as_generator

if TYPE_CHECKING:
    import pandas as pd

ORDERS = ("morf", "lerf", "random")


@dataclass(frozen=True)
class FlippingResult:
    """Perturbation curves of one removal order.

    Attributes
    ----------
    order : str
        ``"morf"``, ``"lerf"`` or ``"random"``.
    removed : numpy.ndarray
        Number of features removed at each point of the curve, ``(P,)``; starts at 0.
    fractions : numpy.ndarray
        The same as a fraction of all features, ``(P,)``.
    curves : numpy.ndarray
        Explained value per sample and point, ``(N, P)``; ``curves[:, 0]`` is the
        unperturbed output.
    """

    order: str
    removed: np.ndarray
    fractions: np.ndarray
    curves: np.ndarray

    @property
    def drops(self) -> np.ndarray:
        """Output drop ``f(x) - f(x^(k))`` at each point, ``(N, P)``."""
        return self.curves[:, :1] - self.curves

    @property
    def aopc(self) -> np.ndarray:
        """Area over the perturbation curve per sample: the mean output drop over the points.

        ``AOPC = 1/(L+1) sum_{k=0..L} (f(x) - f(x^(k)))`` (Samek et al., 2017). High for a
        faithful MoRF ordering, low (negative) for a faithful LeRF ordering.
        """
        return self.drops.mean(1)

    @property
    def auc(self) -> np.ndarray:
        """Area under the curve per sample over the fraction removed (trapezoidal rule)."""
        return np.trapezoid(self.curves, self.fractions, axis=1)

    @property
    def mean_aopc(self) -> float:
        """AOPC averaged over the samples."""
        return float(self.aopc.mean())

    @property
    def mean_auc(self) -> float:
        """AUC averaged over the samples."""
        return float(self.auc.mean())

    @property
    def mean_curve(self) -> np.ndarray:
        """The curve averaged over the samples, ``(P,)``."""
        return self.curves.mean(0)

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: one row per sample and point (``order, sample, removed, fraction, value``)."""
        import pandas as pd

        n, p = self.curves.shape
        return pd.DataFrame(
            {
                "order": self.order,
                "sample": np.repeat(np.arange(n), p),
                "removed": np.tile(self.removed, n),
                "fraction": np.tile(self.fractions, n),
                "value": self.curves.reshape(-1),
            }
        )


@accepts_old_names(show_progress="progress")
def pixel_flipping(
    model: Model,
    x: Tensor,
    attribution: AttributionLike | None,
    target: TargetLike = None,
    *,
    order: str = "morf",
    step: int = 1,
    max_fraction: float = 1.0,
    fractions: Sequence[float] | None = None,
    patch: int | Sequence[int] | None = None,
    groups: Any = None,
    channels: str = "auto",
    removal: Any = "constant",
    batch_size: int | None = None,
    seed: int | torch.Generator | None = 0,
    progress: bool | None = None,
) -> FlippingResult:
    """Remove features in the order the attribution ranks them and record the output.

    Parameters
    ----------
    model : torch.nn.Module or callable
        The model, in eval mode; never modified.
    x : torch.Tensor
        Inputs ``(N, d)``, ``(N, C, T)`` or ``(N, C, H, W)``; never modified.
    attribution : tensor, array or Explanation
        Relevance of each element of ``x`` (a singleton channel axis is broadcast); may be
        ``None`` for ``order="random"``.
    target : int, tensor, callable, Target or None
        The explained output; by default the class of the Explanation, else the
        predicted class. It is resolved once on the unperturbed inputs.
    order : {"morf", "lerf", "random"}
        Most relevant first, least relevant first, or a random order (the baseline).
    step : int
        Features removed per step.
    max_fraction : float
        Stop after removing this fraction of the features.
    fractions : sequence of float, optional
        Remove these fractions of the features (rounded to whole features, ascending, in
        ``(0, 1]``) instead of ``step`` features at a time; the curve starts at 0 removed.
    patch : int or sequence of int, optional
        Remove square patches of this side instead of single pixels (region
        perturbation); patches are ranked by their summed relevance.
    groups : integer tensor, optional
        Explicit feature labels of shape ``x.shape[1:]`` (for example superpixels).
    channels : {"auto", "joint", "separate"}
        Whether the channels at one position are one feature (images, the default) or
        several (time series, the default); see :func:`~xaikit.evaluate.feature_groups`.
    removal : str, float, tensor or Removal
        ``"constant"`` (zero), ``"blur"``, ``"inpaint"``, ``"uniform"``, a number or
        per-feature tensor, or a :class:`~xaikit.evaluate.Removal`.
    batch_size : int or None
        Perturbed inputs per forward pass; by default about 2^16 input elements.
    seed : int or torch.Generator
        Seed of the local generator (random order, noise removal); the global random
        state is never touched.
    progress : bool, optional
        Show a progress bar (default: the package setting).

    Returns
    -------
    FlippingResult
        Curves ``(N, P)`` starting with the unperturbed output, AOPC and AUC per sample.

    Examples
    --------
    >>> import torch, xaikit
    >>> from xaikit.evaluate import pixel_flipping
    >>> model = xaikit.models.MLP(6, (), 2).eval()
    >>> x = torch.randn(4, 6)
    >>> attribution = model.net[0].weight[0].detach() * x          # exact for class 0
    >>> result = pixel_flipping(model, x, attribution, target=0, removal=0.0)
    >>> result.curves.shape
    (4, 7)
    """
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    if step < 1:
        raise ValueError(f"step must be a positive number of features, got {step}")
    if not 0 < max_fraction <= 1:
        raise ValueError(f"max_fraction must be in (0, 1], got {max_fraction}")
    xs = prepare_inputs(model, x)
    if attribution is None and order != "random":
        raise ValueError(f"order={order!r} needs an attribution; only order='random' works without one")
    labels, n_groups = as_groups(groups, xs, patch=patch, channels=channels)
    generator = as_generator(seed)
    with preserved_model_state(model):
        rt = resolve_target(model, xs, target_of(attribution, target), batch_size)
        if order == "random":
            keys = torch.rand(len(xs), n_groups, generator=generator, dtype=torch.float64).to(xs.device)
        else:
            assert attribution is not None
            relevance = group_sums(as_attribution(attribution, xs), labels, n_groups).to(torch.float64)
            keys = -relevance if order == "morf" else relevance
        ranking = torch.argsort(keys, dim=1, stable=True)
        rank = torch.empty_like(ranking).scatter_(
            1, ranking, torch.arange(n_groups, device=xs.device).expand_as(ranking)
        )
        counts = _removal_counts(n_groups, step, max_fraction, fractions).to(xs.device)
        engine = MaskedForward(
            model, xs, as_removal(removal), rt, batch_size, generator=generator, progress=progress
        )

        def removed_at(points: Tensor) -> Tensor:
            return group_mask((rank.unsqueeze(0) < counts[points].view(-1, 1, 1)).flatten(0, 1), labels)

        values = engine.copies(len(counts), removed_at, desc=f"pixel-flipping ({order})")
    removed = counts.cpu().numpy()
    return FlippingResult(
        order=order,
        removed=removed,
        fractions=removed / n_groups,
        curves=to_numpy(values.T),
    )


def _removal_counts(n_groups: int, step: int, max_fraction: float, fractions: Sequence[float] | None) -> Tensor:
    """The numbers of features removed at the points of a curve (starting with 0)."""
    if fractions is None:
        limit = min(n_groups, int(np.ceil(max_fraction * n_groups - 1e-9)))
        last = -(-limit // step)
        return torch.clamp(torch.arange(last + 1) * step, max=limit)
    chosen = np.asarray(list(fractions), dtype=np.float64)
    if chosen.ndim != 1 or len(chosen) == 0 or not np.all((chosen > 0) & (chosen <= 1)) or np.any(np.diff(chosen) <= 0):
        raise ValueError(f"fractions must be ascending numbers in (0, 1], got {list(fractions)!r}")
    return torch.from_numpy(np.concatenate([[0], np.rint(chosen * n_groups).astype(np.int64)]))


def region_perturbation(
    model: Model,
    x: Tensor,
    attribution: AttributionLike | None,
    target: TargetLike = None,
    *,
    patch: int | Sequence[int] = 4,
    removal: Any = "uniform",
    **options: Any,
) -> FlippingResult:
    """Pixel-flipping on square patches (Samek et al., 2017): :func:`pixel_flipping` with ``patch``.

    Patches are ranked by their summed relevance and replaced, by default, by uniform
    noise in the range of each input.

    Parameters
    ----------
    model, x, attribution, target :
        As in :func:`pixel_flipping`.
    patch : int or sequence of int
        Side of the square patches (one per spatial axis).
    removal : str, float, tensor or Removal
        How patches are replaced.
    **options
        Other options of :func:`pixel_flipping` (``order``, ``step``, ``batch_size`` ...).

    Returns
    -------
    FlippingResult
        Curves over the number of patches removed.
    """
    return pixel_flipping(model, x, attribution, target, patch=patch, removal=removal, **options)


@dataclass(frozen=True)
class SubsetResult:
    """Relevance and output drop of random feature subsets.

    Attributes
    ----------
    relevance_sums : numpy.ndarray
        Summed relevance of each subset, ``(N, R)``.
    output_drops : numpy.ndarray
        ``f(x) - f(x without the subset)``, ``(N, R)``.
    """

    relevance_sums: np.ndarray
    output_drops: np.ndarray

    @property
    def correlation(self) -> np.ndarray:
        """Pearson correlation over the subsets, per sample.

        NaN where the relevance sums or the output drops of a sample are constant, or
        constant up to round-off (see :mod:`xaikit.evaluate.correlation`).
        """
        return pearson_rows(self.relevance_sums, self.output_drops).numpy()

    @property
    def gap(self) -> np.ndarray:
        """Mean ``|sum of relevance - output drop|`` over the subsets, per sample."""
        return np.abs(self.relevance_sums - self.output_drops).mean(1)


def _subset_drops(
    model: Model,
    xs: Tensor,
    attribution: AttributionLike,
    target: TargetLike,
    labels: Tensor,
    n_groups: int,
    *,
    sizes: Sequence[int],
    n_subsets: int,
    removal: Any,
    batch_size: int | None,
    seed: int | torch.Generator | None,
    progress: bool | None,
    desc: str,
) -> list[SubsetResult]:
    """Relevance sums and output drops of ``n_subsets`` random subsets of each size.

    ``xs`` are the prepared inputs, ``labels`` and ``n_groups`` the features from
    :func:`~xaikit.evaluate.features.as_groups`; the model's state is restored after.
    """
    generator = as_generator(seed)
    results = []
    with preserved_model_state(model):
        rt = resolve_target(model, xs, target_of(attribution, target), batch_size)
        relevance = group_sums(as_attribution(attribution, xs), labels, n_groups)
        base = explained_value(model, xs, rt, batch_size)
        engine = MaskedForward(
            model, xs, as_removal(removal), rt, batch_size, generator=generator, progress=progress
        )
        for size in sizes:
            selected = _random_subsets(n_subsets, len(xs), n_groups, size, generator).to(xs.device)

            def removed_at(points: Tensor, selected: Tensor = selected) -> Tensor:
                return group_mask(selected[points].flatten(0, 1), labels)

            values = engine.copies(n_subsets, removed_at, desc=f"{desc} (n={size})")
            sums = (selected.to(relevance.dtype) * relevance.unsqueeze(0)).sum(-1)
            drops = base.unsqueeze(0) - values
            results.append(SubsetResult(relevance_sums=to_numpy(sums.T), output_drops=to_numpy(drops.T)))
    return results


def _random_subsets(r: int, n: int, g: int, size: int, generator: torch.Generator) -> Tensor:
    """Boolean masks ``(r, n, g)`` of uniformly random subsets of ``size`` groups."""
    keys = torch.rand(r, n, g, generator=generator)
    chosen = torch.topk(keys, size, dim=-1).indices
    return torch.zeros(r, n, g, dtype=torch.bool).scatter_(-1, chosen, True)


def _subset_size(size: int | float, n_groups: int) -> int:
    if isinstance(size, float) and 0 < size < 1:
        count = max(1, round(size * n_groups))
    elif float(size).is_integer():
        count = int(size)
    else:
        count = -1
    if not 1 <= count <= n_groups:
        raise ValueError(
            f"subset size {size} is out of range for {n_groups} features; pass a count in "
            f"1..{n_groups} or a fraction in (0, 1)"
        )
    return count


@accepts_old_names(show_progress="progress")
def faithfulness_correlation(
    model: Model,
    x: Tensor,
    attribution: AttributionLike,
    target: TargetLike = None,
    *,
    subset_size: int | float = 0.1,
    n_subsets: int = 100,
    patch: int | Sequence[int] | None = None,
    groups: Any = None,
    channels: str = "auto",
    removal: Any = "constant",
    batch_size: int | None = None,
    seed: int | torch.Generator | None = 0,
    progress: bool | None = None,
) -> SubsetResult:
    """Faithfulness correlation (Bhatt et al., 2020).

    For ``n_subsets`` random subsets of ``subset_size`` features, the Pearson correlation
    between the subset's summed relevance and the output drop when it is removed.

    Parameters
    ----------
    subset_size : int or float
        Features per subset: a count, or a fraction of all features.
    n_subsets : int
        Random subsets per sample.
    Other parameters
        As in :func:`pixel_flipping`.

    Returns
    -------
    SubsetResult
        ``correlation`` per sample, and the raw relevance sums and output drops.
    """
    xs = prepare_inputs(model, x)
    if n_subsets < 2:
        raise ValueError("n_subsets must be at least 2 to compute a correlation")
    labels, n_groups = as_groups(groups, xs, patch=patch, channels=channels)
    (result,) = _subset_drops(
        model, xs, attribution, target, labels, n_groups, sizes=[_subset_size(subset_size, n_groups)],
        n_subsets=n_subsets, removal=removal, batch_size=batch_size, seed=seed,
        progress=progress, desc="faithfulness correlation",
    )
    return result


@dataclass(frozen=True)
class SensitivityNResult:
    """Sensitivity-n for several subset sizes.

    Attributes
    ----------
    n : numpy.ndarray
        Subset sizes, ``(K,)``.
    subsets : list of SubsetResult
        Relevance sums and output drops for each size.
    """

    n: np.ndarray
    subsets: list[SubsetResult]

    @property
    def correlation(self) -> np.ndarray:
        """Pearson correlation of relevance sums and output drops, ``(K, N)``."""
        return np.stack([s.correlation for s in self.subsets])

    @property
    def gap(self) -> np.ndarray:
        """Mean absolute mismatch of relevance sums and output drops, ``(K, N)``; 0 where it holds."""
        return np.stack([s.gap for s in self.subsets])

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: ``n, sample, correlation, gap``."""
        import pandas as pd

        k, n = self.gap.shape
        return pd.DataFrame(
            {
                "n": np.repeat(self.n, n),
                "sample": np.tile(np.arange(n), k),
                "correlation": self.correlation.reshape(-1),
                "gap": self.gap.reshape(-1),
            }
        )


@accepts_old_names(show_progress="progress")
def sensitivity_n(
    model: Model,
    x: Tensor,
    attribution: AttributionLike,
    target: TargetLike = None,
    *,
    n: int | Sequence[int] | None = None,
    n_subsets: int = 100,
    patch: int | Sequence[int] | None = None,
    groups: Any = None,
    channels: str = "auto",
    removal: Any = "constant",
    batch_size: int | None = None,
    seed: int | torch.Generator | None = 0,
    progress: bool | None = None,
) -> SensitivityNResult:
    """Sensitivity-n (Ancona et al., 2018).

    An attribution is sensitive-n when the relevance of any ``n`` features sums to the
    output drop caused by removing them. For each ``n``, ``n_subsets`` random subsets are
    removed; the result holds the correlation and the mean absolute gap between relevance
    sums and output drops. Exact Shapley values (with the removal value as the
    reference) satisfy it for ``n = d``; ``w * x`` on a linear model for every ``n``.

    Parameters
    ----------
    n : int or sequence of int, optional
        Subset sizes; by default eight sizes spaced logarithmically from 1 to all features.
    n_subsets : int
        Random subsets per size and sample.
    Other parameters
        As in :func:`pixel_flipping`.
    """
    xs = prepare_inputs(model, x)
    labels, n_groups = as_groups(groups, xs, patch=patch, channels=channels)
    if n is None:
        sizes = sorted({round(float(v)) for v in np.geomspace(1, n_groups, 8)})
    else:
        sizes = [int(n)] if isinstance(n, int | np.integer) else [int(v) for v in n]
    for size in sizes:
        _subset_size(size, n_groups)
    results = _subset_drops(
        model, xs, attribution, target, labels, n_groups, sizes=sizes, n_subsets=n_subsets,
        removal=removal, batch_size=batch_size, seed=seed, progress=progress,
        desc="sensitivity-n",
    )
    return SensitivityNResult(n=np.asarray(sizes), subsets=results)
