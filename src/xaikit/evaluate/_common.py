"""Shared plumbing of the evaluation metrics: inputs, targets, explanations, maps.

Every metric takes the same kinds of arguments, validated here once:

- ``x``: a batch ``(N, ...)`` (tabular ``(N, d)``, time series ``(N, C, T)``,
  images ``(N, C, H, W)``);
- ``attribution``: a tensor or array of the same shape (or broadcastable over the
  channel axis, such as ``(N, 1, H, W)``), or an :class:`~xaikit.core.Explanation`;
- ``target``: anything :func:`xaikit.core.as_target` accepts; it is resolved once on
  the unmodified model and then kept fixed (so that a randomized or perturbed model is
  asked about the same class);
- ``method``: a registered method name, an :class:`~xaikit.core.Explainer`, or a
  callable ``fn(model, inputs, target) -> Tensor | Explanation``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from xaikit.core.base import Explainer, Model
from xaikit.core.explanation import Explanation
from xaikit.core.forward import check_output
from xaikit.core.forward import forward as core_forward
from xaikit.core.probe import probe_model
from xaikit.core.registry import make_method
from xaikit.core.targets import (
    ClassTarget,
    LogOdds,
    OutputSelection,
    ResolvedTarget,
    Target,
    TargetLike,
    as_target,
)
from xaikit.core.validation import check_eval_mode, check_inputs, model_device
from xaikit.utils.batching import iter_batches
from xaikit.utils.layout import as_layout_forward
from xaikit.utils.progress_bars import progress_disabled

#: What metrics accept as an explanation method.
MethodLike = str | Explainer | Callable[..., Any]
#: What metrics accept as precomputed attributions.
AttributionLike = Tensor | np.ndarray | Explanation
#: A normalized explanation function: ``fn(model, inputs, target) -> attribution``.
ExplainFn = Callable[[Model, Tensor, Target], Tensor]


def prepare_inputs(model: Model, x: Any) -> Tensor:
    """Validate ``x``, the model's mode and behaviour; return ``x`` on the model's device (never a modified copy).

    The model is probed as before an explanation (:func:`xaikit.core.probe.probe_model`):
    a random, row-mixing or input-writing model, or one returning class indices, raises.
    """
    inputs = check_inputs(x, name="x")
    check_eval_mode(model)
    device = model_device(model, default=inputs.device)
    inputs = inputs.to(device)
    probe_model(model, inputs)
    return inputs


def _unwrap_attribution(value: Any) -> Any:
    """An Explanation's attribution, or an array as a tensor; anything else as it is."""
    if isinstance(value, Explanation):
        value = value.attribution
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(value)
    return value


def _as_tensor(attribution: AttributionLike, name: str) -> Tensor:
    """An Explanation's attribution, or an array or tensor, as a tensor (TypeError otherwise)."""
    attribution = _unwrap_attribution(attribution)
    if not isinstance(attribution, Tensor):
        raise TypeError(
            f"{name} must be a tensor, an array or an Explanation, got {type(attribution).__name__}"
        )
    return attribution


def as_attribution(attribution: AttributionLike, x: Tensor, *, name: str = "attribution") -> Tensor:
    """Return ``attribution`` as a tensor of ``x``'s shape, dtype and device.

    Arrays and :class:`Explanation` objects are converted; an attribution with a
    singleton channel axis (``(N, 1, H, W)`` for ``(N, C, H, W)`` inputs) is broadcast.
    """
    attribution = _as_tensor(attribution, name).detach()
    if attribution.shape != x.shape:
        try:
            attribution = attribution.expand(x.shape)
        except RuntimeError:
            raise ValueError(
                f"{name} has shape {tuple(attribution.shape)} but the inputs have shape "
                f"{tuple(x.shape)}; pass one attribution per input element (a singleton "
                "channel axis is broadcast)"
            ) from None
    if not bool(torch.isfinite(attribution).all()):
        raise ValueError(f"{name} contains NaN or inf; the explanation method failed on these inputs")
    return attribution.to(device=x.device, dtype=x.dtype)


def attribution_tensor(attribution: AttributionLike) -> Tensor:
    """An attribution batch on its own (no inputs to match), as a float64 CPU tensor."""
    attribution = _as_tensor(attribution, "attribution")
    if attribution.ndim < 2:
        raise ValueError(f"attribution must be a batch (N, ...), got shape {tuple(attribution.shape)}")
    if not bool(torch.isfinite(attribution).all()):
        raise ValueError("attribution contains NaN or inf")
    return attribution.detach().to("cpu", torch.float64)


def forward(model: Model, x: Tensor, batch_size: int | None = None) -> Tensor:
    """``model(x)`` in batches, without a graph (see :func:`xaikit.core.forward.forward`)."""
    return core_forward(model, x, batch_size)


def resolve_target(
    model: Model, x: Tensor, target: TargetLike | ResolvedTarget, batch_size: int | None = None
) -> ResolvedTarget:
    """Bind ``target`` to the model's outputs on ``x`` (the predicted class for ``None``)."""
    if isinstance(target, ResolvedTarget):
        return target
    output = forward(model, x, batch_size)
    return as_target(target).resolve(output)


def target_of(explanation: AttributionLike | None, target: TargetLike) -> TargetLike:
    """The user's target, or the class stored in an :class:`Explanation` when none is given."""
    if target is None and isinstance(explanation, Explanation) and explanation.target is not None:
        return explanation.target
    return target






def as_fixed_target(target: ResolvedTarget) -> Target:
    """A :class:`Target` that every explainer accepts and that always means these classes."""
    if target.selection is not None:
        return OutputSelection(target.selection)
    assert target.index is not None
    if target.logodds:
        return LogOdds(target.index)
    return ClassTarget(target.index)


def explained_value(
    model: Model, x: Tensor, target: ResolvedTarget, batch_size: int | None = None
) -> Tensor:
    """The explained value per sample (``target.select(model(x))``), in batches, shape ``(N,)``."""
    values = []
    run = as_layout_forward(model)
    with torch.no_grad():
        for s in iter_batches(len(x), batch_size):
            values.append(target.take(s).select(check_output(run(x[s]), s.stop - s.start)))
    return torch.cat(values)


def as_explain_fn(method: MethodLike, options: Mapping[str, Any] | None = None) -> ExplainFn:
    """Turn a method name, an explainer or a callable into ``fn(model, inputs, target) -> Tensor``.

    Parameters
    ----------
    method : str, Explainer or callable
        A registered name (see :func:`xaikit.methods`), an explainer object, or a callable
        ``fn(model, inputs, target)`` returning a tensor, an array or an Explanation. The
        target handed to a callable is a :class:`~xaikit.core.Target` (a
        :class:`~xaikit.core.ClassTarget` with one class per sample for class targets),
        which ``xaikit.explain`` accepts as is.
    options : mapping, optional
        Options of a method given by name.
    """
    opts = dict(options or {})
    if isinstance(method, str):
        explainer = make_method(method, **opts)
        return _explainer_fn(explainer)
    if opts:
        raise TypeError("method options can only be given with a method name")
    if isinstance(method, Explainer):
        return _explainer_fn(method)
    if callable(method):
        return _callable_fn(method)
    raise TypeError(
        f"method must be a registered method name, an Explainer or a callable, got {type(method).__name__}"
    )


def _explainer_fn(explainer: Explainer) -> ExplainFn:
    def explain(model: Model, inputs: Tensor, target: Target) -> Tensor:
        return explainer(model, inputs, target).attribution.detach()

    return explain


def _callable_fn(fn: Callable[..., Any]) -> ExplainFn:
    def explain(model: Model, inputs: Tensor, target: Target) -> Tensor:
        result = _unwrap_attribution(fn(model, inputs, target))
        if not isinstance(result, Tensor):
            raise TypeError(
                f"the explanation callable returned {type(result).__name__}; it must return a "
                "tensor, an array or an Explanation"
            )
        return result.detach()

    return explain


def method_label(method: MethodLike) -> str:
    """A readable name for a method given in any accepted form."""
    if isinstance(method, str):
        return method
    if isinstance(method, Explainer):
        return method.name
    return getattr(method, "__name__", type(method).__name__)


def silenced() -> AbstractContextManager[None]:
    """Turn off the progress bars of nested calls (explainers inside a metric), then restore the setting."""
    return progress_disabled()


def explain_batched(
    explain: ExplainFn,
    model: Model,
    x: Tensor,
    target: ResolvedTarget,
    batch_size: int | None = None,
) -> Tensor:
    """Attributions of all of ``x`` in batches, validated and broadcast to ``x``'s shape.

    The explainers' own progress bars are silenced: the metrics show their own.
    """
    parts = []
    with silenced():
        for s in iter_batches(len(x), batch_size):
            xs = x[s]
            attribution = explain(model, xs, as_fixed_target(target.take(s)))
            parts.append(as_attribution(attribution, xs, name="the method's attribution"))
    return torch.cat(parts)


def to_map(attribution: Tensor, reduce_channels: bool | None = None) -> Tensor:
    """The heatmap of an attribution, as compared and scored by the metrics.

    Tabular ``(N, d)`` and time-series ``(N, C, T)`` attributions are kept as they are;
    for images and volumes (``ndim >= 4``) the channels are summed into one, giving
    ``(N, 1, H, W)``. ``reduce_channels`` forces (``True``) or prevents (``False``) the sum
    for inputs with a channel axis.
    """
    if attribution.ndim < 3:
        return attribution
    if reduce_channels is None:
        reduce_channels = attribution.ndim >= 4
    return attribution.sum(1, keepdim=True) if reduce_channels else attribution


def spatial_ndim(map_: Tensor) -> int:
    """Number of spatial (or temporal) axes of a heatmap: 0 for tabular, else ``ndim - 2``."""
    return 0 if map_.ndim <= 2 else map_.ndim - 2


def to_numpy(t: Tensor) -> np.ndarray:
    """A float64 NumPy copy on the CPU."""
    return t.detach().to("cpu", torch.float64).numpy()


def as_module(model: Model, what: str) -> nn.Module:
    """Check that ``model`` is a module (needed to copy or re-parametrize it)."""
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"{what} needs a torch.nn.Module (it copies and edits the parameters), got "
            f"{type(model).__name__}"
        )
    return model
