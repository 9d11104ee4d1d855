"""The forward pass every propagation method starts with: the model run under the engine.

:func:`run_engine` is shared by LRP (:func:`xaikit.lrp.run_propagation`) and the
modified-gradient methods of :mod:`xaikit.gradients`; each then reads its result off the
input with one backward pass through the engine's graph.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from xaikit.core.base import Model
from xaikit.core.forward import check_output
from xaikit.core.validation import check_eager
from xaikit.engine.composite_protocol import RuleProvider
from xaikit.engine.dispatch import Propagation
from xaikit.utils.errors import ModelError


def run_engine(
    model: Model,
    inputs: Tensor,
    rules: RuleProvider,
    *,
    merge_batchnorm: bool = False,
    setup: Callable[[Propagation], None] | None = None,
) -> tuple[Propagation, Tensor, Tensor]:
    """Run ``model`` on ``inputs`` under the engine with ``rules``.

    Parameters
    ----------
    merge_batchnorm : bool
        Merge eval-mode batch normalization into the layer before it. Gradient-type rules do
        not need it (batch normalization then keeps its natural gradient, and no layer is
        evaluated twice); rules that look at a layer's weights do.
    setup : callable, optional
        Called with the engine before the forward pass (rules that need to query it).

    Returns
    -------
    (engine, input leaf, model output)
    """
    check_eager(model, "its operations from the propagation engine")
    leaf = inputs.detach().requires_grad_(True)
    prop = Propagation(model, rules, merge_batchnorm=merge_batchnorm)
    if setup is not None:
        setup(prop)
    with torch.enable_grad(), prop:
        prop.track(leaf)
        out = model(leaf)
    out = check_output(out, len(inputs))
    if not prop.carries(out):
        raise ModelError(
            "the engine saw no path from the input to the model output: the output was computed "
            "under torch.no_grad() or inference mode inside forward, by a custom torch.autograd.Function, "
            "or from .detach()-ed values (or it does not depend on the input at all). Remove the no_grad "
            "block or the detach, or give the custom function a rule with xaikit.engine.explainable(rule)"
        )
    return prop, leaf, out
