"""Axioms and properties of attribution methods (Choi's tutorial; Sundararajan et al., 2017;
Kindermans et al., 2019; Montavon et al., 2018).

- :func:`completeness_gap`: how far the relevance sum is from the explained output
  (conservation / completeness / efficiency).
- :func:`implementation_invariance`: two functionally equivalent networks must get the
  same explanation.
- :func:`input_invariance`: a constant shift of the inputs, absorbed by the first layer's
  bias, leaves the function unchanged and should leave the explanation unchanged.
- :func:`continuity`: nearby inputs with the same prediction should get similar
  explanations.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from xaikit.core.base import Explainer, Model
from xaikit.core.explanation import Explanation
from xaikit.core.registry import make_method
from xaikit.core.targets import ResolvedTarget, TargetLike
from xaikit.core.validation import preserved_model_state
from xaikit.evaluate._common import (
    MethodLike,
    as_explain_fn,
    as_fixed_target,
    as_module,
    explain_batched,
    explained_value,
    forward,
    prepare_inputs,
    resolve_target,
    silenced,
    to_numpy,
)
from xaikit.evaluate.similarity import pearson
from xaikit.utils.batching import iter_batches
from xaikit.utils.random import as_generator


@dataclass(frozen=True)
class CompletenessResult:
    """Relevance sum against the explained value, per sample.

    Attributes
    ----------
    output : numpy.ndarray
        The value the attribution should add up to ``(N,)``: the Explanation's ``output``
        (``f(x) - f(reference)`` for reference methods), or ``f(x) - f(reference)`` when a
        reference is given.
    relevance_sum : numpy.ndarray
        Sum of the attribution ``(N,)``.
    """

    output: np.ndarray
    relevance_sum: np.ndarray

    @property
    def gap(self) -> np.ndarray:
        """``output - relevance_sum``."""
        return self.output - self.relevance_sum

    @property
    def relative_gap(self) -> np.ndarray:
        """``|gap| / |output|`` (``inf`` where the output is zero and the gap is not)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.abs(self.gap) / np.abs(self.output)
        return np.where(self.gap == 0, 0.0, rel)


def _explanation(
    method: MethodLike, options: Mapping[str, Any] | None, model: Model, x: Tensor, target: ResolvedTarget
) -> Tensor | Explanation:
    if isinstance(method, str):
        return make_method(method, **dict(options or {}))(model, x, as_fixed_target(target))
    if options:
        raise TypeError("method options can only be given with a method name")
    if isinstance(method, Explainer):
        return method(model, x, as_fixed_target(target))
    result = method(model, x, as_fixed_target(target))
    if isinstance(result, np.ndarray):
        result = torch.from_numpy(result)
    if not isinstance(result, Tensor | Explanation):
        raise TypeError(f"the explanation callable returned {type(result).__name__}; expected a tensor or Explanation")
    return result


def completeness_gap(
    model: Model,
    x: Tensor,
    method: MethodLike,
    target: TargetLike = None,
    *,
    reference: Tensor | float | None = None,
    method_options: Mapping[str, Any] | None = None,
    batch_size: int | None = None,
) -> CompletenessResult:
    """Completeness (conservation) gap: explained value minus the sum of the attribution.

    Parameters
    ----------
    model, x, method, target :
        As in the other metrics.
    reference : tensor or float, optional
        If given, the attribution should add up to ``f(x) - f(reference)``. Otherwise the
        method's own ``Explanation.output`` is used (for a callable returning a tensor:
        ``f(x)``, that is a zero reference value).
    method_options : mapping, optional
        Options of a method given by name.
    batch_size : int, optional
        Inputs explained per call.
    """
    xs = prepare_inputs(model, x)
    outputs, sums = [], []
    with preserved_model_state(model):
        rt = resolve_target(model, xs, target, batch_size)
        for s in iter_batches(len(xs), batch_size):
            part = xs[s]
            prt = rt.take(s)
            with silenced():
                result = _explanation(method, method_options, model, part, prt)
            attribution = result.attribution if isinstance(result, Explanation) else result
            if attribution.shape != part.shape:
                raise ValueError(
                    f"the attribution has shape {tuple(attribution.shape)}, the inputs {tuple(part.shape)}; "
                    "completeness needs one relevance per input element"
                )
            if reference is not None:
                ref = torch.as_tensor(reference, dtype=part.dtype, device=part.device).expand(part.shape)
                value = explained_value(model, part, prt) - explained_value(model, ref.contiguous(), prt)
            elif isinstance(result, Explanation):
                value = result.output.detach()
            else:
                value = explained_value(model, part, prt)
            outputs.append(value)
            sums.append(attribution.detach().flatten(1).sum(1))
    return CompletenessResult(output=to_numpy(torch.cat(outputs)), relevance_sum=to_numpy(torch.cat(sums)))


@dataclass(frozen=True)
class InvarianceResult:
    """How much two explanations that should be equal differ, per sample.

    Attributes
    ----------
    max_abs_diff : numpy.ndarray
        Largest absolute difference of the attributions ``(N,)``.
    relative_diff : numpy.ndarray
        ``||a - b|| / ||a||`` ``(N,)`` (0 for identical maps).
    correlation : numpy.ndarray
        Pearson correlation of the two attributions ``(N,)``.
    """

    max_abs_diff: np.ndarray
    relative_diff: np.ndarray
    correlation: np.ndarray


def _compare(a: Tensor, b: Tensor) -> InvarianceResult:
    a64, b64 = a.to(torch.float64).flatten(1), b.to(torch.float64).flatten(1)
    diff = (a64 - b64).norm(dim=1)
    norm = a64.norm(dim=1)
    relative = torch.where(norm > 0, diff / torch.where(norm > 0, norm, torch.ones_like(norm)), diff)
    return InvarianceResult(
        max_abs_diff=to_numpy((a64 - b64).abs().max(1).values),
        relative_diff=to_numpy(relative),
        correlation=to_numpy(pearson(a64, b64)),
    )


def _check_equivalent(out_a: Tensor, out_b: Tensor, rtol: float, what: str) -> None:
    scale = 1.0 + float(out_a.abs().max())
    gap = float((out_a - out_b).abs().max())
    if gap > rtol * scale:
        raise ValueError(
            f"{what}: the outputs differ by up to {gap:.3g} (tolerance {rtol * scale:.3g}); the "
            "invariance test needs functionally equivalent networks"
        )


def implementation_invariance(
    model_a: Model,
    model_b: Model,
    x: Tensor,
    method: MethodLike,
    target: TargetLike = None,
    *,
    method_options: Mapping[str, Any] | None = None,
    rtol: float = 1e-4,
    batch_size: int | None = None,
) -> InvarianceResult:
    """Compare the explanations of two functionally equivalent networks.

    Networks that compute the same function (for example with permuted, duplicated or
    rescaled hidden units) should get the same explanation (Sundararajan et al., 2017).
    The equivalence is checked on ``x`` first (outputs equal up to ``rtol`` relative to
    their magnitude); differing networks raise ``ValueError``.
    """
    xs = prepare_inputs(model_a, x)
    explain = as_explain_fn(method, method_options)
    with preserved_model_state(model_a), preserved_model_state(model_b):
        _check_equivalent(forward(model_a, xs, batch_size), forward(model_b, xs, batch_size), rtol, "implementation invariance")
        rt = resolve_target(model_a, xs, target, batch_size)
        a = explain_batched(explain, model_a, xs, rt, batch_size)
        b = explain_batched(explain, model_b, xs, rt, batch_size)
    return _compare(a, b)


def _first_layer(model: nn.Module) -> tuple[str, nn.Linear | nn.Conv1d | nn.Conv2d | nn.Conv3d]:
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear | nn.Conv1d | nn.Conv2d | nn.Conv3d):
            return name, module
        if list(module.parameters(recurse=False)):
            break
    raise ValueError(
        "input invariance needs a model whose first layer with parameters is a Linear or Conv layer "
        "(whose bias can absorb the shift)"
    )


def absorb_input_shift(model: nn.Module, shift: Tensor | float) -> nn.Module:
    """A copy of ``model`` whose first layer's bias compensates the input shift ``x -> x + shift``.

    For a linear first layer, ``b' = b - W shift``; for a convolution with a per-channel
    shift, ``b'_o = b_o - sum_{c,k} W_{o,c,k} shift_c``. The result computes
    ``model(x)`` on ``x + shift`` exactly, except at the borders of zero-padded
    convolutions (checked by :func:`input_invariance`).

    Parameters
    ----------
    model : torch.nn.Module
        Never modified.
    shift : tensor or float
        For a linear first layer: one value or one per input feature; for a convolution:
        one value or one per input channel.
    """
    model = as_module(model, "input invariance")
    shifted = copy.deepcopy(model)
    _, layer = _first_layer(shifted)
    assert isinstance(layer, nn.Linear | nn.Conv1d | nn.Conv2d | nn.Conv3d)
    weight = layer.weight.detach()
    s = torch.as_tensor(shift, dtype=weight.dtype, device=weight.device)
    with torch.no_grad():
        if isinstance(layer, nn.Linear):
            try:
                s = s.expand(layer.in_features)
            except RuntimeError:
                raise ValueError(f"shift must be a number or have {layer.in_features} values, got shape {tuple(s.shape)}") from None
            correction = weight @ s
        else:
            assert isinstance(layer, nn.Conv1d | nn.Conv2d | nn.Conv3d)
            if layer.groups != 1:
                raise ValueError("input invariance supports first convolutions with groups=1 only")
            s = s.flatten()
            try:
                s = s.expand(layer.in_channels)
            except RuntimeError:
                raise ValueError(
                    f"for a convolutional first layer the shift must be a number or one value per input "
                    f"channel ({layer.in_channels}), got shape {tuple(s.shape)}"
                ) from None
            correction = (weight.flatten(2).sum(2) * s).sum(1)
        if layer.bias is None:
            layer.bias = nn.Parameter(torch.zeros(weight.shape[0], dtype=weight.dtype, device=weight.device))
        layer.bias -= correction
    return shifted


def input_invariance(
    model: nn.Module,
    x: Tensor,
    method: MethodLike,
    target: TargetLike = None,
    *,
    shift: Tensor | float = 1.0,
    method_options: Mapping[str, Any] | None = None,
    rtol: float = 1e-4,
    batch_size: int | None = None,
) -> InvarianceResult:
    """Input invariance (Kindermans et al., 2019): explain ``model`` at ``x`` and its bias-compensated copy at ``x + shift``.

    Both networks compute the same outputs; an input-invariant method gives the same
    attributions. Gradients are invariant, ``gradient x input`` and methods with a zero
    reference are not.

    Parameters
    ----------
    shift : tensor or float
        The constant input shift (see :func:`absorb_input_shift`).
    rtol : float
        Tolerance of the check that the shifted network reproduces the outputs; it fails
        for first layers that cannot absorb the shift (zero-padded convolutions).
    """
    model = as_module(model, "input invariance")
    xs = prepare_inputs(model, x)
    explain = as_explain_fn(method, method_options)
    shifted_model = absorb_input_shift(model, shift)
    first = _first_layer(model)[1]
    s = torch.as_tensor(shift, dtype=xs.dtype, device=xs.device)
    if isinstance(first, nn.Linear):
        s = s.expand(xs.shape[1:])
    else:
        s = s.reshape(-1, *([1] * (xs.ndim - 2)))
    x_shifted = xs + s
    with preserved_model_state(model):
        _check_equivalent(
            forward(model, xs, batch_size),
            forward(shifted_model, x_shifted, batch_size),
            rtol,
            "input invariance (does the first layer pad with zeros? the shift is not absorbed at the borders)",
        )
        rt = resolve_target(model, xs, target, batch_size)
        a = explain_batched(explain, model, xs, rt, batch_size)
        b = explain_batched(explain, shifted_model, x_shifted, rt, batch_size)
    return _compare(a, b)


@dataclass(frozen=True)
class ContinuityResult:
    """Change of the explanation under small input perturbations, per sample.

    Attributes
    ----------
    lipschitz : numpy.ndarray
        ``max_j ||R(x) - R(x_j)|| / ||x - x_j||`` (local Lipschitz estimate) ``(N,)``.
    max_sensitivity : numpy.ndarray
        ``max_j ||R(x) - R(x_j)|| / ||R(x)||`` ``(N,)``.
    correlation : numpy.ndarray
        Mean Pearson correlation of ``R(x)`` and ``R(x_j)`` ``(N,)``.
    prediction_changed : numpy.ndarray
        Fraction of perturbations that changed the predicted class ``(N,)`` (they are
        still compared for the original target).
    """

    lipschitz: np.ndarray
    max_sensitivity: np.ndarray
    correlation: np.ndarray
    prediction_changed: np.ndarray


def continuity(
    model: Model,
    x: Tensor,
    method: MethodLike,
    target: TargetLike = None,
    *,
    noise: float = 0.01,
    n_samples: int = 10,
    method_options: Mapping[str, Any] | None = None,
    batch_size: int | None = None,
    seed: int | torch.Generator | None = 0,
) -> ContinuityResult:
    """Continuity of the explanation (Montavon et al., 2018; Alvarez-Melis and Jaakkola, 2018).

    Each input gets ``n_samples`` Gaussian perturbations with standard deviation
    ``noise`` times the input's own standard deviation (local generator); the result
    reports how much the explanation changes relative to the input change.
    """
    if n_samples < 1:
        raise ValueError("n_samples must be at least 1")
    if noise <= 0:
        raise ValueError(f"noise must be positive, got {noise}")
    xs = prepare_inputs(model, x)
    explain = as_explain_fn(method, method_options)
    n = len(xs)
    generator = as_generator(seed)
    with preserved_model_state(model):
        rt = resolve_target(model, xs, target, batch_size)
        original = explain_batched(explain, model, xs, rt, batch_size)
        scale = xs.flatten(1).std(1).clamp(min=1e-12).view(-1, *([1] * (xs.ndim - 1)))
        eps = torch.randn((n_samples, *xs.shape), generator=generator).to(xs) * noise * scale
        perturbed = (xs.unsqueeze(0) + eps).reshape(n_samples * n, *xs.shape[1:])
        rep = rt.repeat(n_samples)
        attributions = explain_batched(explain, model, perturbed, rep, batch_size).reshape(n_samples, *xs.shape)
        predicted = forward(model, perturbed, batch_size)
    a0 = original.to(torch.float64).flatten(1)
    aj = attributions.to(torch.float64).flatten(2)
    change = (aj - a0.unsqueeze(0)).norm(dim=2)
    step = eps.to(torch.float64).flatten(2).norm(dim=2)
    norm0 = a0.norm(dim=1).clamp(min=1e-300)
    corr = torch.stack([pearson(a0, aj[j]) for j in range(n_samples)])
    if predicted.ndim == 2 and rt.index is not None:
        base_pred = forward(model, xs, batch_size).argmax(1)
        changed = (predicted.argmax(1).reshape(n_samples, n) != base_pred.unsqueeze(0)).to(torch.float64).mean(0)
    else:
        changed = torch.zeros(n, dtype=torch.float64)
    return ContinuityResult(
        lipschitz=to_numpy((change / step).max(0).values),
        max_sensitivity=to_numpy((change / norm0).max(0).values),
        correlation=to_numpy(torch.nanmean(corr, 0)),
        prediction_changed=to_numpy(changed),
    )
