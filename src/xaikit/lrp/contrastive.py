"""Top-down methods that split the output layer into the target and its dual: contrastive
LRP (Gu et al., 2018) and excitation backprop with its contrastive variant (Zhang et al., 2016).

Both treat the model's last linear layer ``z = W a + b`` by hand and the network below it
with a composite of rules on the engine. At the last layer the explained class ``t`` hands
its relevance ``R`` to the layer's input by z-plus (``R_j = R c_j^+ / sum_j c_j^+`` with the
contributions ``c_j = a_j w_tj``, no bias); its *dual*, the virtual class with the negated
weights ``-w_t`` ("everything that speaks against ``t``"), hands the same amount by its own
z-plus: ``R_j = R c_j^- / sum_j c_j^-``. Below the last layer each part is propagated with
the composite, all in one backward pass (the network below is linear in the relevance it
receives, so the contrast is propagated once).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from xaikit.core.base import Attribution, Explainer, Model
from xaikit.core.explanation import LAYER_PREFIX
from xaikit.core.registry import register_method
from xaikit.core.targets import Target
from xaikit.core.wrappers import unwrapped
from xaikit.engine.kinds import LAYER_KINDS, OpKind
from xaikit.engine.taps import INPUT_SUFFIX, LayerTaps, checked_layers
from xaikit.lrp.explainer import LRP, refuse_probability_output, run_propagation
from xaikit.rules.composite import Composite
from xaikit.rules.elementwise import Norm, Pass
from xaikit.rules.linear import ZPlus
from xaikit.rules.matchers import Kind
from xaikit.rules.products import ProductRule
from xaikit.rules.softmax import RefuseSoftmax
from xaikit.utils.errors import InputError, ModelError


def top_layer(model: Any, name: str | None) -> tuple[str, nn.Linear]:
    """The model's output layer: the module ``name``, or the last ``nn.Linear`` of ``named_modules()``."""
    root = unwrapped(model)
    if not isinstance(root, nn.Module):
        raise InputError("the output layer is found by name: the model must be a torch.nn.Module")
    modules = dict(root.named_modules())
    if name is None:
        linear = [n for n, m in modules.items() if isinstance(m, nn.Linear)]
        if not linear:
            raise InputError("the model has no nn.Linear module to split into target and dual; pass top_layer=")
        name = linear[-1]
    module = modules.get(name)
    if not isinstance(module, nn.Linear):
        raise InputError(f"top_layer {name!r} must name an nn.Linear module of the model (the output layer), "
                         f"got {type(module).__name__ if module is not None else 'no module'}")
    return name, module


def split_shares(contributions: Tensor) -> tuple[Tensor, Tensor]:
    """``(c^+ / sum c^+, c^- / sum c^-)`` over all but the first axis: the target's and the dual's z-plus
    shares (zero where a sum is zero: no contribution of that sign)."""
    flat = contributions.flatten(1)
    positive, negative = flat.clamp(min=0), flat.clamp(max=0)
    total_positive = positive.sum(1, keepdim=True)
    total_negative = negative.sum(1, keepdim=True)
    target = torch.where(total_positive > 0, positive / total_positive.clamp(min=torch.finfo(flat.dtype).tiny), 0.0)
    dual = torch.where(total_negative < 0, negative / total_negative.clamp(max=-torch.finfo(flat.dtype).tiny), 0.0)
    return target.view_as(contributions), dual.view_as(contributions)


class _TargetAndDual(Explainer):
    """One forward pass; the last layer split by hand into target and dual shares; one backward pass below."""

    contrastive: bool = True
    rectify: bool = False

    def __init__(self, top_layer: str | None, layers: Sequence[str | nn.Module] | None, merge_batchnorm: bool) -> None:
        self.top_layer = top_layer
        self.layers = checked_layers(layers)
        self.merge_batchnorm = merge_batchnorm

    def _composite(self, model: Model) -> Composite:
        raise NotImplementedError

    def _start(self, explained: Tensor) -> Tensor:
        """``(N,)`` the relevance the target (and its dual) hand down from the output."""
        raise NotImplementedError

    def attribute(self, model: Model, inputs: Tensor, target: Target) -> Attribution:
        name, top = top_layer(model, self.top_layer)
        taps = LayerTaps(model, [name + INPUT_SUFFIX, *self.layers])
        prop, leaf, out = run_propagation(model, inputs, self._composite(model), merge_batchnorm=self.merge_batchnorm,
                                          taps=taps)
        refuse_probability_output(prop, out)
        values = prop.value_of(out)
        if values.ndim != 2 or values.shape[1] != top.out_features:
            raise ModelError(f"the model's output {tuple(values.shape)} is not the output of its last layer {name!r} "
                             f"({top.out_features} classes); pass top_layer= the layer whose output the model returns")
        resolved = target.resolve(values)
        if resolved.index is None or resolved.logodds:
            raise InputError(f"{self.name} explains one class per sample; pass class indices as the target")
        explained = resolved.select(values)
        activation = taps.values(prop)[name + INPUT_SUFFIX]
        weight = top.weight.detach()[resolved.index.to(top.weight.device)].to(activation)  # (N, D)
        contributions = activation * weight.view(len(inputs), *([1] * (activation.ndim - 2)), -1)
        towards, against = split_shares(contributions)
        share = towards - against if self.contrastive else towards
        start = self._start(explained).view(-1, *([1] * (activation.ndim - 1))) * share
        graphs = taps.graphs(prop)
        with torch.enable_grad():
            gradient, *at_layers = torch.autograd.grad(graphs[0], [leaf, *graphs[1:]],
                                                       prop.start_gradient(start, activation), allow_unused=True)
        if gradient is None:
            raise ModelError(f"no relevance reaches the input below layer {name!r}")
        relevance = prop.relevance_of(gradient, leaf).detach()
        if self.rectify:
            relevance = relevance.clamp(min=0)
        layer_relevance = taps.relevance(prop, at_layers, list(taps.modules)[1:])
        extras: dict[str, Any] = {
            "top_layer": name,
            "logit": explained.detach(),
            "top_relevance": start.detach(),
            **{LAYER_PREFIX + k: v for k, v in layer_relevance.items()},
        }
        # what is handed down: the start relevance, or nothing net for a contrast (class minus dual)
        handed_down = torch.zeros_like(explained) if self.contrastive else self._start(explained)
        return Attribution(attribution=relevance, output=handed_down.detach(), target=resolved, extras=extras)


#: Excitation backprop's rules below the output layer: marginal winning probabilities are
#: z-plus without bias on every layer (Zhang et al., eq. 6-7), passed through activations
#: unchanged, split proportionally by sums and pooling; max-pooling routes to the winner.
def excitation_composite() -> Composite:
    """Marginal winning probabilities as a composite: bias-free z-plus on every linear layer."""
    zplus = ZPlus(bias=False, signed=False, epsilon=1e-12)
    defaults = {**dict.fromkeys(LAYER_KINDS, zplus), OpKind.SUM: Norm(), OpKind.ACTIVATION: Pass(),
                OpKind.SCALE: Pass(), OpKind.MAX_POOL: None, OpKind.PRODUCT: ProductRule(),
                OpKind.SOFTMAX: RefuseSoftmax()}
    return Composite([(Kind(*LAYER_KINDS), zplus)], name="excitation", defaults=defaults)


@register_method("excitation_backprop", aliases=("excitation", "mwp", "marginal_winning_probability"))
class ExcitationBackprop(_TargetAndDual):
    """Excitation backprop (Zhang et al., 2016): marginal winning probabilities, top-down.

    The explained class gets probability one; each neuron passes its probability to its
    inputs in proportion to their excitatory contributions ``a_j w_jk^+`` (bias-free
    z-plus), so the probabilities of every layer sum to one (up to neurons without any
    excitatory input, which pass nothing). The contrastive variant (c-MWP) subtracts the
    probabilities of the dual class (the negated output weights): what speaks for the class
    minus what speaks against it, a map that sums to zero.

    Parameters
    ----------
    contrastive : bool
        c-MWP instead of MWP.
    top_layer : str, optional
        The model's output layer (an ``nn.Linear``); by default the last one.
    layers : sequence of str or torch.nn.Module, optional
        Also return the probabilities at these layers (below the output layer).
    merge_batchnorm : bool
        Merge eval-mode batch normalization into the layer before it.

    Notes
    -----
    The explanation's ``output`` is the probability mass handed down (1; 0 for c-MWP);
    ``extras["logit"]`` is the class's logit.
    """

    def __init__(self, contrastive: bool = False, top_layer: str | None = None,
                 layers: Sequence[str | nn.Module] | None = None, merge_batchnorm: bool = True) -> None:
        super().__init__(top_layer, layers, merge_batchnorm)
        self.contrastive = contrastive

    def _composite(self, model: Model) -> Composite:
        return excitation_composite()

    def _start(self, explained: Tensor) -> Tensor:
        return torch.ones_like(explained)


@register_method("contrastive_lrp", aliases=("clrp",))
class ContrastiveLRP(_TargetAndDual):
    """Contrastive LRP (Gu, Yang and Tresp, 2018): the class's LRP minus that of its dual.

    At the output layer the class's logit ``z_t`` is split by z-plus between the inputs
    that speak for the class and, for the dual class (the negated weights), the same amount
    between those that speak against it; the difference is propagated with ``composite``.
    The result is LRP of the class minus LRP of the dual class, each started with ``z_t``;
    it sums to (about) zero.

    Parameters
    ----------
    composite : str or Composite, optional
        The rules below the output layer (``"epsilon_plus"`` by default).
    composite_options : dict, optional
        Options of a preset composite.
    rectify : bool
        Keep only the positive part, ``max(0, R_target - R_dual)`` (the paper's CLRP map).
    top_layer : str, optional
        The model's output layer (an ``nn.Linear``); by default the last one.
    layers : sequence of str or torch.nn.Module, optional
        Also return the contrastive relevance at these layers (below the output layer).
    merge_batchnorm : bool
        Merge eval-mode batch normalization into the layer before it.
    """

    def __init__(self, composite: str | Composite | None = None, composite_options: dict[str, Any] | None = None,
                 rectify: bool = False, top_layer: str | None = None,
                 layers: Sequence[str | nn.Module] | None = None, merge_batchnorm: bool = True) -> None:
        super().__init__(top_layer, layers, merge_batchnorm)
        self.rectify = rectify
        self._lrp = LRP(composite=composite, composite_options=composite_options)

    def _composite(self, model: Model) -> Composite:
        return self._lrp.composite_for(model)

    def _start(self, explained: Tensor) -> Tensor:
        return explained
