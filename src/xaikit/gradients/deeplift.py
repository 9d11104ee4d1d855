"""DeepLIFT (Rescale and RevealCancel rules) and DeepSHAP through the propagation engine."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from xaikit.core.base import Attribution, Explainer, Model
from xaikit.core.explanation import LAYER_PREFIX
from xaikit.core.registry import register_method
from xaikit.core.targets import ResolvedTarget, Target
from xaikit.engine.taps import LayerTaps, checked_layers, run_tapped
from xaikit.gradients._common import (
    BaselineLike,
    FixedTarget,
    as_baseline,
    as_reference_set,
    forward,
    output_gradient,
)
from xaikit.gradients._engine import backward
from xaikit.gradients.completeness import (
    accumulator_dtype_of,
    check_completeness,
    check_completeness_mode,
)
from xaikit.gradients.deeplift_rules import deeplift_composite
from xaikit.gradients.quadrature import Quadrature
from xaikit.utils.batching import iter_batches
from xaikit.utils.options import accepts_old_names, check_batch_size
from xaikit.utils.progress_bars import progress

RULES = ("rescale", "reveal_cancel")

def secant_output_gradient(resolved: ResolvedTarget, output: Tensor, reference: Tensor, nodes: int = 32) -> Tensor:
    """Multiplier of the explained value with respect to the model output.

    For a class logit (linear in the output) this is the one-hot gradient. For a non-linear
    selection (log-odds, a user function) it is the gradient averaged along the segment from
    the reference's output to the input's (Gauss-Legendre, ``nodes`` points), so that
    ``sum(multiplier * (output - reference)) = s(output) - s(reference)``.
    """
    if resolved.selection is None and not resolved.logodds:
        return output_gradient(resolved, output)
    alphas, weights = Quadrature("gauss_legendre", nodes).nodes()
    total = torch.zeros_like(output)
    for alpha, weight in zip(alphas.tolist(), weights.tolist()):
        total += weight * output_gradient(resolved, reference + alpha * (output - reference))
    return total


@dataclass
class DeepLiftResult:
    """Attribution of one DeepLIFT pass, with the explained values at inputs and references."""

    attribution: Tensor
    resolved: ResolvedTarget
    f_input: Tensor
    f_reference: Tensor
    fallbacks: int
    #: ``sum(m_out * (out(x) - out(b)))`` per sample: what the multipliers distribute (equals
    #: ``f_input - f_reference`` up to the quadrature of a non-linear target); double precision.
    output_delta: Tensor
    #: ``sum(|m_out * (out(x) - out(b))|)`` per sample: the size of the contributions at the output.
    output_scale: Tensor
    #: Per tapped layer, its contributions ``m_a * (a(x) - a(b))``: they sum to what the input's do.
    layers: dict[str, Tensor] = field(default_factory=dict)


def deeplift_pass(
    model: Model,
    inputs: Tensor,
    references: Tensor,
    resolve: Callable[[Tensor], ResolvedTarget],
    rule: str,
    epsilon: float,
    layers: Sequence[str | nn.Module] = (),
) -> DeepLiftResult:
    """DeepLIFT of ``inputs`` against ``references`` (same shape) in one pass over ``[inputs; references]``.

    ``resolve`` turns the model output at the inputs into the explained target; ``layers``
    are also given their contributions, from the same backward pass.
    """
    composite, reveal = deeplift_composite(rule, epsilon, rows=2 * len(inputs))
    stacked = torch.cat([inputs.detach(), references.detach()])
    taps = LayerTaps(model, layers) if layers else None
    prop, leaf, out = run_tapped(
        model,
        stacked,
        composite,
        taps,
        merge_batchnorm=reveal is not None,  # RevealCancel needs the layer feeding each activation
        setup=None if reveal is None else reveal.bind,
    )
    n = len(inputs)
    values = out.detach()
    resolved = resolve(values[:n])
    start = secant_output_gradient(resolved, values[:n], values[n:])
    grad_output = torch.cat([start, torch.zeros_like(start)])
    at_layers: dict[str, Tensor] = {}
    if taps is None:
        multiplier = backward(prop, leaf, out, grad_output)[:n]
    else:
        full, multipliers = taps.backward(prop, leaf, out, grad_output)
        multiplier = full[:n]
        activations = taps.values(prop)
        at_layers = {k: (activations[k][:n] - activations[k][n:]) * m[:n] for k, m in multipliers.items()}
    contributions = (start * (values[:n] - values[n:])).reshape(n, -1).to(accumulator_dtype_of(values))
    return DeepLiftResult(
        attribution=(inputs.detach() - references.detach()) * multiplier,
        resolved=resolved,
        f_input=resolved.select(values[:n]),
        f_reference=resolved.select(values[n:]),
        fallbacks=0 if reveal is None else reveal.fallbacks,
        output_delta=contributions.sum(1),
        output_scale=contributions.abs().sum(1),
        layers=at_layers,
    )


def _check_rule(rule: str, epsilon: float) -> None:
    if rule not in RULES:
        raise ValueError(f"unknown DeepLIFT multipliers {rule!r}; choose one of {', '.join(RULES)}")
    if not epsilon >= 0:
        raise ValueError(f"epsilon must be >= 0, got {epsilon!r}")


@register_method("deeplift", aliases=("deep_lift",))
class DeepLift(Explainer):
    """DeepLIFT (Shrikumar et al., 2017) with the Rescale or RevealCancel rule.

    ``R_i = (x_i - b_i) * m_i`` with DeepLIFT multipliers ``m`` propagated through the
    network. Summation-to-delta holds on models built from the operations DeepLIFT has
    multipliers for (see Notes): the attributions sum to ``f(x) - f(b)``, which is the
    explanation's ``output`` (so ``Explanation.delta`` is the completeness gap, also in
    ``extras["completeness_gap"]``); ``Explanation.baseline`` is ``f(b)``. The gap is
    checked after every call: beyond round-off (:func:`completeness_tolerance`) a
    :class:`~xaikit.gradients.completeness.CompletenessWarning` gives it (see ``completeness``).

    Parameters
    ----------
    baseline : None, float or torch.Tensor
        The reference input (zeros by default), a constant, one tensor for all samples or
        one per sample.
    multipliers : str
        ``"rescale"`` or ``"reveal_cancel"``.
    epsilon : float
        Where an activation's input difference is below ``epsilon``, its derivative is used
        (``eps`` is the old name, accepted with a deprecation warning).
    completeness : str
        What to do when the attributions do not sum to ``f(x) - f(b)`` beyond round-off:
        ``"warn"`` (a :class:`~xaikit.gradients.completeness.CompletenessWarning` with the gap, the likely cause and the
        fix), ``"raise"`` (a :class:`~xaikit.utils.errors.ModelError`) or ``"ignore"``.
    layers : sequence of str or torch.nn.Module, optional
        Also return the contributions ``m_a * (a(x) - a(b))`` of these layers' outputs
        ``a`` (``Explanation.layer_relevance(name)``; Captum's ``LayerDeepLift``), from the
        same backward pass; each layer's sum is ``f(x) - f(b)`` where summation-to-delta holds.

    Notes
    -----
    One forward pass over ``[x; b]`` and one backward pass. Activations are handled at the
    function level (``F.relu`` as well as ``nn.ReLU``), max-pooling with DeepLIFT's own
    rule; other operations are linear (exact) or keep their natural gradient. The natural
    gradient breaks summation-to-delta on non-linear operations without a DeepLIFT
    multiplier: normalizations over features (``LayerNorm``, ``GroupNorm``), data-dependent
    ``torch.where``, ``sort``/``topk``, masks multiplying their own input
    (``x * (x > t)``); the completeness check reports it. A non-linear target (log-odds, a
    function of the output) gets a 32-point secant multiplier, exact up to quadrature. The
    model must treat samples independently along the first dimension. With zero baseline
    on a bias-free ReLU network DeepLIFT-Rescale equals LRP-epsilon (epsilon -> 0) and
    gradient x input.
    """

    @accepts_old_names(eps="epsilon", rule="multipliers")
    def __init__(
        self,
        baseline: BaselineLike = None,
        multipliers: str = "rescale",
        epsilon: float = 1e-10,
        completeness: str = "warn",
        layers: Sequence[str | nn.Module] | None = None,
    ) -> None:
        _check_rule(multipliers, epsilon)
        check_completeness_mode(completeness)
        self.baseline = baseline
        self.multipliers = multipliers
        self.epsilon = epsilon
        self.completeness = completeness
        self.layers = checked_layers(layers)

    def attribute(self, model: Model, inputs: Tensor, target: Target) -> Attribution:
        ref = as_baseline(self.baseline, inputs)
        result = deeplift_pass(model, inputs, ref, target.resolve, self.multipliers, self.epsilon, self.layers)
        output = result.f_input - result.f_reference
        extras = {
            **{LAYER_PREFIX + name: value for name, value in result.layers.items()},
            "completeness_gap": output - result.attribution.flatten(1).sum(1),
            "f_input": result.f_input,
            "f_baseline": result.f_reference,
            "multipliers": self.multipliers,
        }
        if self.multipliers == "reveal_cancel":
            extras["rescale_fallbacks"] = result.fallbacks
        check_completeness(
            self.name,
            self.completeness,
            output=output,
            attribution=result.attribution,
            scale=(result.f_input.abs() + result.f_reference.abs()).to(result.output_scale.dtype) + result.output_scale,
            target_gap=output.to(result.output_delta.dtype) - result.output_delta,
            nonlinear_target=result.resolved.selection is not None or result.resolved.logodds,
        )
        return Attribution(
            attribution=result.attribution, output=output, target=result.resolved, extras=extras,
            baseline=result.f_reference,
        )


@register_method("deepshap", aliases=("deep_shap", "deeplift_shap"))
class DeepShap(Explainer):
    """DeepSHAP (Lundberg and Lee, 2017): DeepLIFT averaged over a background set.

    ``R(x) = mean_m DeepLIFT(x; b_m)`` over the background samples ``b_m``; the attributions
    sum to ``f(x) - mean_m f(b_m)``, the explanation's ``output``, on the models for which
    DeepLIFT's do (see :class:`DeepLift`; the gap is checked the same way);
    ``Explanation.baseline`` is ``mean_m f(b_m)``.

    Parameters
    ----------
    baselines : torch.Tensor
        Background data, shape ``(M, ...)``.
    multipliers : str
        ``"rescale"`` or ``"reveal_cancel"``.
    epsilon : float
        See :class:`DeepLift`.
    batch_size : int or None
        Input-background pairs per pass (each pass runs ``2 * batch_size`` rows).
    progress : bool or None
        Show a progress bar.
    completeness : str
        ``"warn"``, ``"raise"`` or ``"ignore"``: see :class:`DeepLift`.
    """

    @accepts_old_names(eps="epsilon", rule="multipliers")
    def __init__(
        self,
        baselines: Tensor | None = None,
        multipliers: str = "rescale",
        epsilon: float = 1e-10,
        batch_size: int | None = 32,
        progress: bool | None = None,
        completeness: str = "warn",
    ) -> None:
        _check_rule(multipliers, epsilon)
        check_completeness_mode(completeness)
        self.baselines = baselines
        self.multipliers = multipliers
        self.epsilon = epsilon
        self.batch_size = check_batch_size(batch_size)
        self.progress = progress
        self.completeness = completeness

    def attribute(self, model: Model, inputs: Tensor, target: Target) -> Attribution:
        x = inputs.detach()
        refs = as_reference_set(self.baselines, x)
        n, m = len(x), len(refs)
        resolved = target.resolve(forward(model, x, self.batch_size))
        owners = torch.arange(n, device=x.device).repeat_interleave(m)
        picks = torch.arange(m, device=x.device).repeat(n)
        total = torch.zeros_like(x)
        f_refs = torch.zeros(n, dtype=x.dtype, device=x.device)
        f_x = torch.zeros(n, dtype=x.dtype, device=x.device)
        acc = accumulator_dtype_of(x)  # the completeness check's sums, safe from float16 overflow
        distributed = torch.zeros(n, dtype=acc, device=x.device)  # what the output multipliers share out
        # size of the terms of each pair, its own sum|R| included (the check adds that of the mean)
        scale = torch.zeros(n, dtype=acc, device=x.device)
        fallbacks = 0
        for s in progress(list(iter_batches(n * m, self.batch_size)), desc="deepshap", enabled=self.progress):
            rows = owners[s]
            part = resolved.take(rows)
            result = deeplift_pass(model, x[rows], refs[picks[s]], FixedTarget(part).resolve, self.multipliers, self.epsilon)
            total.index_add_(0, rows, result.attribution)
            f_refs.index_add_(0, rows, result.f_reference)
            f_x.index_add_(0, rows, result.f_input)
            distributed.index_add_(0, rows, result.output_delta.to(acc))
            pair_scale = result.f_reference.abs().to(acc) + result.output_scale.to(acc)
            scale.index_add_(0, rows, pair_scale + result.attribution.reshape(len(rows), -1).abs().sum(1, dtype=acc))
            fallbacks += result.fallbacks
        attribution = total / m
        f_x, f_refs = f_x / m, f_refs / m
        output = f_x - f_refs
        extras = {
            "completeness_gap": output - attribution.flatten(1).sum(1),
            "f_input": f_x,
            "f_baselines": f_refs,
            "multipliers": self.multipliers,
        }
        if self.multipliers == "reveal_cancel":
            extras["rescale_fallbacks"] = fallbacks
        check_completeness(
            self.name,
            self.completeness,
            output=output,
            attribution=attribution,
            scale=f_x.abs().to(acc) + scale / m,
            target_gap=output.to(acc) - distributed / m,
            nonlinear_target=resolved.selection is not None or resolved.logodds,
            reference="mean f(b)",
        )
        return Attribution(attribution=attribution, output=output, target=resolved, extras=extras, baseline=f_refs)
