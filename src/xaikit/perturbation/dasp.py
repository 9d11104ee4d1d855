"""DASP: deep approximate Shapley propagation (Ancona, Öztireli and Gross, ICML 2019).

A Shapley value is the average, over coalition sizes ``k = 0 .. d - 1``, of the expected
marginal contribution ``E_{|S| = k}[f(S + i) - f(S)]`` over the coalitions ``S`` of ``k``
other features. DASP computes each expectation in one pass instead of sampling
coalitions: with every other feature present with probability ``k / (d - 1)`` (else at the
baseline), the input is a random vector whose mean and variance are propagated through the
network as independent Gaussians (a lightweight probabilistic network): dense layers map
means and variances exactly under independence, ReLUs by the moments of the rectified
Gaussian. ``2 d^2`` propagations per sample give all ``d`` values, polynomial where exact
Shapley values cost ``2^d`` evaluations.

The moments are propagated by a ``__torch_function__`` mode (:class:`MomentPropagation`)
around the model's own forward, so functional ReLUs and wrappers work; only dense layers,
ReLUs, reshapes and eval-mode dropout have moment rules, any other operation on the
propagated input is refused.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

from xaikit.core.base import Attribution, Explainer, Model
from xaikit.core.registry import register_method
from xaikit.core.targets import Target
from xaikit.gradients._common import BaselineLike, as_baseline
from xaikit.utils.errors import InputError, ModelError

__all__ = ["DASP", "MomentPropagation", "propagated_means"]

#: Operations whose variance follows the mean's shape change.
_SHAPE_OPS = frozenset({"flatten", "view", "reshape", "contiguous", "squeeze", "unsqueeze", "clone"})


def _rectified(mean: Tensor, variance: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and variance of ``max(0, z)`` for ``z ~ N(mean, variance)`` (exact ReLU where ``variance = 0``)."""
    std = variance.clamp(min=0).sqrt()
    safe = std.clamp(min=torch.finfo(std.dtype).tiny)
    ratio = mean / safe
    cdf = 0.5 * (1 + torch.erf(ratio / math.sqrt(2)))
    pdf = torch.exp(-0.5 * ratio**2) / math.sqrt(2 * math.pi)
    first = mean * cdf + std * pdf
    second = (mean**2 + variance) * cdf + mean * std * pdf
    degenerate = std == 0
    first = torch.where(degenerate, mean.clamp(min=0), first)
    second = torch.where(degenerate, mean.clamp(min=0) ** 2, second)
    return first, (second - first**2).clamp(min=0)


class MomentPropagation(TorchFunctionMode):
    """Run a model on input means while propagating independent Gaussian variances beside them.

    Dense layers (``F.linear``) map variances by the squared weights, ReLUs by the moments
    of the rectified Gaussian, reshapes and eval-mode dropout keep them; any other
    operation on a propagated tensor raises :class:`~xaikit.utils.errors.ModelError` (its
    moments are not known), so an unsupported model never gives a silently wrong result.
    """

    def __init__(self) -> None:
        super().__init__()
        self._variance: dict[int, tuple[Tensor, Tensor]] = {}

    def track(self, mean: Tensor, variance: Tensor) -> Tensor:
        """Start propagating ``variance`` beside ``mean``; returns ``mean``."""
        self._variance[id(mean)] = (mean, variance)
        return mean

    def variance_of(self, mean: Tensor) -> Tensor:
        """The variance propagated beside ``mean``."""
        return self._variance[id(mean)][1]

    def _tracked(self, value: object) -> bool:
        return isinstance(value, Tensor) and id(value) in self._variance and self._variance[id(value)][0] is value

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if not any(self._tracked(a) for a in tree_flatten((args, kwargs))[0]):
            return func(*args, **kwargs)
        name = getattr(func, "__name__", str(func))
        if name in ("__len__", "size", "dim", "numel", "__format__", "__repr__", "__bool__", "__get__"):
            return func(*args, **kwargs)  # inspection (a user's hook looking at a layer's output), no new values
        source = args[0]
        if not self._tracked(source):
            raise ModelError(f"DASP cannot propagate moments through {name} with a propagated tensor as a "
                             "parameter; the model must apply dense layers and ReLUs to its input")
        variance = self.variance_of(source)
        if name == "linear":
            mean = func(*args, **kwargs)
            weight = args[1] if len(args) > 1 else kwargs["weight"]
            return self.track(mean, F.linear(variance, weight**2))
        if name in ("relu", "relu_"):
            mean, out_variance = _rectified(source, variance)
            return self.track(mean, out_variance)
        if name in _SHAPE_OPS:
            mean = func(*args, **kwargs)
            return self.track(mean, func(variance, *args[1:], **kwargs))
        if name == "dropout" and not (args[2] if len(args) > 2 else kwargs.get("training", False)):
            return self.track(source, variance)
        raise ModelError(
            f"DASP propagates means and variances through dense layers and ReLUs only; the model applies "
            f"{name} to a propagated tensor. Use 'shapley_sampling' or 'kernel_shap' for this model"
        )


def propagated_means(model: Model, mean: Tensor, variance: Tensor) -> Tensor:
    """The model's output means for inputs of the given means and variances ``(R, ...)``."""
    mode = MomentPropagation()
    with torch.no_grad(), mode:
        out = model(mode.track(mean, variance))
    if not mode._tracked(out):
        raise ModelError("the model's output was not computed from its input by dense layers and ReLUs that DASP "
                         "can follow (TorchScript and traced models hide their operations): pass the eager "
                         "Python module, or use 'shapley_sampling' or 'kernel_shap'")
    return out


@register_method("dasp", aliases=("deep_approximate_shapley_propagation",))
class DASP(Explainer):
    """Deep approximate Shapley propagation (Ancona et al., 2019) for dense ReLU networks.

    Parameters
    ----------
    baseline : None, float or torch.Tensor
        The value of an absent feature (zeros by default), as for exact Shapley values.

    Notes
    -----
    ``output`` is ``f(x) - f(baseline)``; the values do not sum to it exactly (the
    propagated expectations are approximations), ``extras["efficiency_gap"]`` says by how
    much. Inputs ``(N, d)``; the target's class per sample.
    """

    def __init__(self, baseline: BaselineLike = None) -> None:
        self.baseline = baseline

    def attribute(self, model: Model, inputs: Tensor, target: Target) -> Attribution:
        if inputs.ndim != 2:
            raise InputError(f"DASP explains tabular inputs (N, d), got shape {tuple(inputs.shape)}")
        x = inputs.detach()
        b = as_baseline(self.baseline, x).expand_as(x)
        n, d = x.shape
        with torch.no_grad():
            output = model(x)
            resolved = target.resolve(output)
            if resolved.index is None:
                raise InputError("DASP explains a class output; pass class indices as the target")
            k = torch.arange(d, dtype=x.dtype)
            share = (k / max(d - 1, 1)).view(1, d, 1, 1)  # (1, k, 1, 1): each other feature present with k / (d - 1)
            gap = (x - b)[:, None, None, :]  # (N, 1, 1, j)
            mean = (b[:, None, None, :] + share * gap).expand(n, d, d, d).clone()  # (N, k, i, j)
            variance = (share * (1 - share) * gap**2).expand(n, d, d, d).clone()
            eye = torch.eye(d, dtype=torch.bool)
            variance[:, :, eye] = 0.0  # the player itself is fixed: present (x_i) or absent (b_i)
            with_i, without_i = mean.clone(), mean.clone()
            with_i[:, :, eye] = x[:, None, :].expand(n, d, d)
            without_i[:, :, eye] = b[:, None, :].expand(n, d, d)
            stacked = torch.cat([with_i, without_i]).reshape(-1, d)
            means = propagated_means(model, stacked, torch.cat([variance, variance]).reshape(-1, d))
            means = means.reshape(2, n, d, d, -1)  # (with/without, N, k, i, classes)
            index = resolved.index.to(x.device)
            chosen = means.gather(-1, index.view(1, n, 1, 1, 1).expand(2, n, d, d, 1)).squeeze(-1)  # (2, N, k, i)
            values = (chosen[0] - chosen[1]).mean(1)  # average over coalition sizes: (N, d)
            explained = resolved.select(output) - resolved.select(model(b))
        return Attribution(attribution=values, output=explained, target=resolved,
                           extras={"efficiency_gap": explained - values.sum(1)})
