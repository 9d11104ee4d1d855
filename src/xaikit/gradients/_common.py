"""Helpers shared by the gradient-based explainers: forward passes, targets, baselines, gradients."""

from __future__ import annotations

import torch
from torch import Tensor

from xaikit.core.base import Attribution, Model
from xaikit.core.forward import check_output
from xaikit.core.forward import forward as core_forward
from xaikit.core.targets import ResolvedTarget, Target
from xaikit.utils.batching import iter_batches
from xaikit.utils.progress_bars import progress
from xaikit.utils.random import as_generator

BaselineLike = float | int | Tensor | None




def forward(model: Model, inputs: Tensor, batch_size: int | None = None) -> Tensor:
    """Model outputs without a graph, in batches of ``batch_size`` (all at once for ``None``), contiguous layout."""
    return core_forward(model, inputs, batch_size, layout=False)




def value_and_gradient(model: Model, points: Tensor, resolved: ResolvedTarget) -> tuple[Tensor, Tensor]:
    """Explained value per row of ``points`` and its gradient with respect to ``points``."""
    with torch.enable_grad():
        leaf = points.detach().requires_grad_(True)
        out = check_output(model(leaf), len(points))
        value = resolved.select(out)
        (grad,) = torch.autograd.grad(value.sum(), leaf, allow_unused=True)
    if grad is None:
        grad = torch.zeros_like(leaf)
    return value.detach(), grad


def output_gradient(resolved: ResolvedTarget, output: Tensor) -> Tensor:
    """``d select(output) / d output``: where a backward pass through the model starts."""
    with torch.enable_grad():
        out = output.detach().requires_grad_(True)
        value = resolved.select(out)
        (grad,) = torch.autograd.grad(value.sum(), out, allow_unused=True)
    return torch.zeros_like(out) if grad is None else grad


def as_baseline(baseline: BaselineLike, inputs: Tensor, *, name: str = "baseline") -> Tensor:
    """A reference input per sample: zeros, a constant, one tensor for all, or one per sample.

    Returns a tensor with the shape, dtype and device of ``inputs``; one reference shared by
    all samples is an expanded view of a single row (see :func:`distinct_rows`).
    """
    one_row = (1, *inputs.shape[1:])
    if baseline is None:
        return inputs.new_zeros(one_row).expand_as(inputs)
    if isinstance(baseline, bool):
        raise TypeError(f"{name} must be a number or a tensor, not a bool")
    if isinstance(baseline, int | float):
        return inputs.new_full(one_row, float(baseline)).expand_as(inputs)
    if not isinstance(baseline, Tensor):
        raise TypeError(f"{name} must be None, a number or a torch.Tensor, got {type(baseline).__name__}")
    b = baseline.detach().to(dtype=inputs.dtype, device=inputs.device)
    if b.shape == inputs.shape[1:]:
        b = b.unsqueeze(0)
    if b.ndim != inputs.ndim or b.shape[1:] != inputs.shape[1:] or b.shape[0] not in (1, inputs.shape[0]):
        raise ValueError(
            f"{name} has shape {tuple(baseline.shape)}; for inputs of shape {tuple(inputs.shape)} pass "
            f"a tensor of shape {tuple(inputs.shape[1:])} (one for all samples) or "
            f"{tuple(inputs.shape)} (one per sample), or a number"
        )
    if not bool(torch.isfinite(b).all()):
        raise ValueError(f"{name} contains NaN or inf values")
    return b.expand_as(inputs)


def distinct_rows(baseline: Tensor) -> Tensor:
    """The rows of a baseline from :func:`as_baseline` worth evaluating: one if it is shared."""
    if len(baseline) > 1 and baseline.stride(0) == 0:
        return baseline[:1]
    return baseline


def endpoint_outputs(model: Model, inputs: Tensor, baseline: Tensor, batch_size: int | None) -> tuple[Tensor, Tensor]:
    """Model outputs at the inputs and at the baseline, in one pass (a shared baseline costs one row)."""
    rows = distinct_rows(baseline)
    out = forward(model, torch.cat([inputs, rows]), batch_size)
    n = len(inputs)
    out_b = out[n:]
    return out[:n], out_b.expand(n, *out_b.shape[1:]) if len(rows) == 1 else out_b


def as_reference_set(baselines: Tensor | None, inputs: Tensor, *, name: str = "baselines") -> Tensor:
    """A data set of reference inputs ``(M, ...)`` matching the inputs' feature shape."""
    if baselines is None:
        raise ValueError(
            f"this method draws references from a data set: pass {name}=tensor of shape "
            f"(M, {', '.join(str(s) for s in inputs.shape[1:])}), for example a sample of training data"
        )
    if not isinstance(baselines, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(baselines).__name__}")
    b = baselines.detach().to(dtype=inputs.dtype, device=inputs.device)
    if b.shape == inputs.shape[1:]:
        b = b.unsqueeze(0)
    if b.ndim != inputs.ndim or b.shape[1:] != inputs.shape[1:] or b.shape[0] < 1:
        raise ValueError(
            f"{name} has shape {tuple(baselines.shape)}; pass a tensor of shape "
            f"(M, {', '.join(str(s) for s in inputs.shape[1:])}) with M >= 1"
        )
    if not bool(torch.isfinite(b).all()):
        raise ValueError(f"{name} contain NaN or inf values")
    return b






def gradients_along_rows(
    model: Model,
    origins: Tensor,
    directions: Tensor,
    alphas: Tensor,
    weights: Tensor,
    resolved: ResolvedTarget,
    batch_size: int | None,
    *,
    desc: str,
    show: bool | None,
) -> Tensor:
    """:func:`accumulate_gradients` with every row its own path (``resolved`` one target per row)."""
    rows = len(origins)
    owners = torch.arange(rows, device=origins.device)
    return accumulate_gradients(
        model, origins, directions, owners, alphas, weights, resolved, rows, batch_size, desc=desc, show=show
    )


def path_attribution(
    f_input: Tensor,
    f_reference: Tensor,
    attribution: Tensor,
    resolved: ResolvedTarget,
    extras: dict[str, Tensor],
) -> Attribution:
    """The :class:`Attribution` of a path method averaged over random references.

    ``output`` is ``f(x) - f_reference`` (``f_reference`` the mean value at the references,
    also the explanation's ``baseline``); ``extras`` gain ``completeness_gap``, what the
    attributions miss of it (the sampling and quadrature error), and ``f_input``.
    """
    output = f_input - f_reference
    gap = output - attribution.flatten(1).sum(1)
    return Attribution(
        attribution=attribution,
        output=output,
        target=resolved,
        extras={"completeness_gap": gap, "f_input": f_input, **extras},
        baseline=f_reference,
    )


def accumulate_gradients(
    model: Model,
    origins: Tensor,
    directions: Tensor,
    owners: Tensor,
    alphas: Tensor,
    weights: Tensor,
    resolved: ResolvedTarget,
    n_owners: int,
    batch_size: int | None,
    *,
    desc: str,
    show: bool | None,
) -> Tensor:
    """``sum_k weights_k * grad f(origins_i + alphas_k * directions_i)`` per owner sample.

    Each row ``i`` of ``origins``/``directions`` belongs to sample ``owners[i]`` of the
    explained batch (several rows may belong to one sample); ``alphas``/``weights`` are
    per (row, node) pair of shape ``(rows, K)``. Points are evaluated in batches of at most
    ``batch_size``; gradients are summed per owner into a tensor with ``n_owners`` rows.
    ``alphas`` and ``weights`` may live on the CPU in float64; each batch is converted to the
    inputs' dtype and device. The model gets the points as computed, never as a
    channels-last copy (see :mod:`xaikit.utils.layout`: gradients at max-pool ties depend
    on the layout's round-off).
    """
    rows, k = alphas.shape
    total = torch.zeros((n_owners, *origins.shape[1:]), dtype=origins.dtype, device=origins.device)
    flat_rows = torch.arange(rows).repeat_interleave(k).to(origins.device)
    flat_alpha = alphas.reshape(-1)
    flat_weight = weights.reshape(-1)
    view = (-1,) + (1,) * (origins.ndim - 1)
    slices = list(iter_batches(rows * k, batch_size))
    for s in progress(slices, desc=desc, enabled=show):
        r = flat_rows[s]
        a = flat_alpha[s].to(dtype=origins.dtype).to(origins.device).view(view)
        points = origins[r] + a * directions[r]
        target = resolved.take(owners[r])
        _, grads = value_and_gradient(model, points, target)
        w = flat_weight[s].to(dtype=origins.dtype).to(origins.device).view(view)
        total.index_add_(0, owners[r], grads * w)
    return total


def input_range(inputs: Tensor) -> Tensor:
    """``max - min`` of each sample, shape ``(N,)``: the scale that relative noise levels refer to."""
    flat = inputs.detach().flatten(1)
    return flat.amax(1) - flat.amin(1)


def check_stdev(stdev: float) -> float:
    """Raise unless ``stdev`` is a non-negative number."""
    if isinstance(stdev, bool) or not isinstance(stdev, int | float) or not stdev >= 0:
        raise ValueError(f"stdev must be a non-negative number (relative to the input range), got {stdev!r}")
    return float(stdev)


def normal(shape: tuple[int, ...], generator: torch.Generator, like: Tensor) -> Tensor:
    """Standard normal draws from ``generator``, cast to ``like``'s dtype and device.

    Drawn in float64 on the CPU, so that a seed gives the same noise whatever the device
    and the dtype of the inputs (a float32 result then equals the float64 one to float32
    precision).
    """
    return torch.randn(shape, generator=generator, dtype=torch.float64).to(like.device, like.dtype)


def per_sample(values: Tensor, like: Tensor) -> Tensor:
    """``values`` of shape ``(N,)`` viewed to broadcast over samples shaped like ``like``."""
    return values.view(-1, *([1] * (like.ndim - 1)))


class RelativeNoise:
    """Gaussian noise scaled per sample: ``stdev`` times the sample's input range ``max(x) - min(x)``.

    Parameters
    ----------
    inputs : torch.Tensor
        The batch ``(N, ...)`` the noise is added to.
    stdev : float
        Standard deviation relative to each sample's input range.
    seed : int, torch.Generator or None
        Seed of the draws (``None``: fresh entropy); drawn on the CPU, so results do not
        depend on the device.

    Attributes
    ----------
    sigma : torch.Tensor
        ``(N,)`` the absolute standard deviation of each sample's noise.
    """

    def __init__(self, inputs: Tensor, stdev: float, seed: int | torch.Generator | None) -> None:
        self.inputs = inputs
        self.sigma = stdev * input_range(inputs)
        self.generator = as_generator(seed)

    def draw(self, copies: int | None = None) -> Tensor:
        """Noise shaped like the inputs, or ``copies`` of it ``(copies, N, ...)`` drawn at once."""
        shape = tuple(self.inputs.shape) if copies is None else (copies, *self.inputs.shape)
        return normal(shape, self.generator, self.inputs) * per_sample(self.sigma, self.inputs)


class FixedTarget(Target):
    """A target already resolved (for a second pass over the same batch)."""

    def __init__(self, resolved: ResolvedTarget) -> None:
        self.resolved = resolved

    def resolve(self, output: Tensor) -> ResolvedTarget:
        return self.resolved
