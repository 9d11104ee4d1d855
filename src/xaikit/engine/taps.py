"""Relevance at named layers, read off the same backward pass as the input's.

In the engine's convention the gradient reaching a carried tensor's propagation graph is
that tensor's relevance (in gradient units, relevance is value x gradient). A
:class:`LayerTaps` captures the outputs of named modules during the forward pass; the
backward pass then asks autograd for the gradient at their graphs together with the
input's, so the relevance of every tapped layer costs no extra pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from xaikit.core.explanation import LAYER_PREFIX
from xaikit.core.wrappers import unwrapped
from xaikit.engine.composite_protocol import RuleProvider
from xaikit.engine.dispatch import Propagation
from xaikit.engine.run import run_engine
from xaikit.utils.errors import InputError, ModelError

#: A layer name ending in this taps the module's (first) input instead of its output:
#: ``"attn.o_proj:input"`` is the concatenated attention heads before the output projection.
INPUT_SUFFIX = ":input"


def checked_layers(layers: Sequence[str | nn.Module] | None) -> list[str | nn.Module]:
    """``layers`` as a list (empty for ``None``), refusing a bare string (a common slip for ``[name]``)."""
    if isinstance(layers, str):
        raise InputError(f"layers must be a list of module names, got the string {layers!r}; pass [{layers!r}]")
    return [] if layers is None else list(layers)


def layer_modules(model: Any, layers: Sequence[str | nn.Module]) -> dict[str, nn.Module]:
    """The modules of ``model`` named ``layers`` (names as in ``model.named_modules()``, or the
    modules themselves), keyed by their names (``NAME:input`` for a module's input, kept as given).

    Raises
    ------
    InputError
        If a layer is not a module of the model (the message lists some that are).
    """
    root = unwrapped(model)
    if not isinstance(root, nn.Module):
        raise InputError("relevance at named layers needs a torch.nn.Module (its layers are found by name)")
    modules = dict(root.named_modules())
    names = {id(module): name for name, module in modules.items()}
    found: dict[str, nn.Module] = {}
    for layer in layers:
        if isinstance(layer, nn.Module) and id(layer) in names and names[id(layer)]:
            found[names[id(layer)]] = layer
        elif isinstance(layer, str) and layer and layer in modules:
            found[layer] = modules[layer]
        elif isinstance(layer, str) and layer.endswith(INPUT_SUFFIX) and layer[:-len(INPUT_SUFFIX)] in modules:
            found[layer] = modules[layer[:-len(INPUT_SUFFIX)]]
        else:
            known = [n for n in modules if n][:12]
            shown = f"module {type(layer).__name__}" if isinstance(layer, nn.Module) else repr(layer)
            raise InputError(
                f"layer {shown} is not a module of {type(root).__name__}; give names from "
                f"model.named_modules(), such as {', '.join(map(repr, known))}, or the modules themselves"
            )
    return found


class LayerTaps:
    """Capture the outputs of named modules while the engine runs the model.

    Parameters
    ----------
    model : torch.nn.Module
        The explained model (or a xaikit wrapper of it).
    layers : sequence of str or torch.nn.Module
        Module names, as in ``model.named_modules()``, or the modules; each must run once
        per forward pass and return one tensor. ``"NAME:input"`` taps the module's first
        input instead (for example the attention heads entering an output projection).
    """

    def __init__(self, model: Any, layers: Sequence[str | nn.Module]) -> None:
        self.modules = layer_modules(model, layers)
        named = {name for name, _ in unwrapped(model).named_modules()}
        self._input_taps = {name for name in self.modules if name.endswith(INPUT_SUFFIX) and name not in named}
        self.outputs: dict[str, Tensor] = {}
        self._versions: dict[str, int] = {}
        self._handles: list[Any] = []

    def attach(self, prop: Propagation | None = None) -> None:
        """Register the hooks (as :func:`~xaikit.engine.run.run_engine`'s ``setup``); :meth:`detach` removes them."""
        self.outputs.clear()
        for name, module in self.modules.items():
            capture = self._capture(name)
            if name in self._input_taps:
                self._handles.append(module.register_forward_pre_hook(
                    lambda m, args, capture=capture: capture(m, args, args[0] if args else None)))
            else:
                self._handles.append(module.register_forward_hook(capture))

    def _capture(self, name: str) -> Any:
        def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
            if name in self.outputs:
                raise ModelError(
                    f"layer {name!r} runs more than once per forward pass, so its relevance is not one "
                    "tensor; name a module that runs once (for example a layer inside the shared block)"
                )
            if not isinstance(output, Tensor):
                raise ModelError(f"layer {name!r} returns a {type(output).__name__}, not a tensor")
            self.outputs[name] = output
            self._versions[name] = output._version
        return hook

    def detach(self) -> None:
        """Remove the hooks (the model is left as it was)."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _check_ran(self) -> None:
        missing = [name for name in self.modules if name not in self.outputs]
        if missing:
            raise ModelError(f"layer(s) {missing} did not run in the forward pass")

    def unmodified_outputs(self) -> list[Tensor]:
        """The captured outputs, in the order of the names, for plain autograd (no engine).

        Raises
        ------
        ModelError
            If a layer did not run, or a later operation changed its output in place (its
            gradient would then be that of the changed tensor).
        """
        self._check_ran()
        changed = [name for name in self.modules if self.outputs[name]._version != self._versions[name]]
        if changed:
            raise ModelError(
                f"the output of layer(s) {changed} was changed in place by a later operation (an "
                "activation with inplace=True), so its gradient is not that layer's; name the activation "
                "after it, or build the model with inplace=False"
            )
        return [self.outputs[name] for name in self.modules]

    def graphs(self, prop: Propagation) -> list[Tensor]:
        """The propagation graph each tapped output took part in, in the order of the names."""
        self._check_ran()
        graphs = []
        for name in self.modules:
            output = self.outputs[name]
            if not prop.carries(output):
                raise ModelError(f"the output of layer {name!r} does not depend on the explained input")
            graphs.append(prop.consumed_graph_of(output))
        return graphs

    def received(self, gradients: Sequence[Tensor | None], names: Sequence[str] | None = None) -> dict[str, Tensor]:
        """The gradient each layer's graph received, by name (in the units the engine carries);
        ``names`` (all, by default) are the layers the gradients belong to, in order.

        Raises
        ------
        ModelError
            If nothing reached a layer although the output depends on it: its propagation
            was folded into another (a convolution merged with the batch norm after it), so
            relevance exists only at the folded layer's output.
        """
        out: dict[str, Tensor] = {}
        for name, gradient in zip(self.modules if names is None else names, gradients, strict=True):
            if gradient is None:
                raise ModelError(
                    f"no relevance passes through layer {name!r}'s output: the engine folded it into the next "
                    "layer (a batch norm merged into the convolution before it); name the batch norm instead, "
                    "or pass merge_batchnorm=False"
                )
            out[name] = gradient.detach()
        return out

    def relevance(self, prop: Propagation, gradients: Sequence[Tensor | None],
                  names: Sequence[str] | None = None) -> dict[str, Tensor]:
        """Each layer's relevance from the gradients its graphs received (see :meth:`received`)."""
        return {name: prop.relevance_of(gradient, prop.value_of(self.outputs[name])).detach()
                for name, gradient in self.received(gradients, names).items()}

    def values(self, prop: Propagation) -> dict[str, Tensor]:
        """Each tapped layer's output value in the last forward pass, by name."""
        return {name: prop.value_of(output).detach() for name, output in self.outputs.items()}

    def backward(self, prop: Propagation, leaf: Tensor, out: Tensor, grad_output: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """The engine's backward pass from ``grad_output``: the gradient at the input and at each layer.

        One pass serves all of them; for modified-gradient methods the layer gradients are the
        modified gradients (DeepLIFT's multipliers) at the layers' outputs.
        """
        with torch.enable_grad():
            gradient, *at_layers = torch.autograd.grad(prop.graph_of(out), [leaf, *self.graphs(prop)], grad_output,
                                                       allow_unused=True)
        return (torch.zeros_like(leaf) if gradient is None else gradient), self.received(at_layers)

    def extras(self, prop: Propagation, gradients: Sequence[Tensor | None]) -> dict[str, Tensor]:
        """:meth:`relevance` as the extras of an :class:`~xaikit.Explanation` (``layer:NAME``)."""
        return {LAYER_PREFIX + name: value for name, value in self.relevance(prop, gradients).items()}


def run_tapped(
    model: Any,
    inputs: Tensor,
    rules: RuleProvider,
    taps: LayerTaps | None,
    *,
    merge_batchnorm: bool = False,
    setup: Callable[[Propagation], None] | None = None,
) -> tuple[Propagation, Tensor, Tensor]:
    """:func:`~xaikit.engine.run.run_engine` with ``taps`` capturing named layers (hooks removed after)."""
    if taps is None:
        return run_engine(model, inputs, rules, merge_batchnorm=merge_batchnorm, setup=setup)

    def attach(prop: Propagation) -> None:
        taps.attach(prop)
        if setup is not None:
            setup(prop)

    try:
        return run_engine(model, inputs, rules, merge_batchnorm=merge_batchnorm, setup=attach)
    finally:
        taps.detach()
