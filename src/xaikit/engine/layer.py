"""Descriptions of the operations a propagation rule is applied to."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor, nn

from xaikit.engine.derived import new_generation
from xaikit.engine.kinds import LAYER_KINDS, OpKind


def clear_weight_cache() -> None:
    """Kept for compatibility: derived weights now live in the rules and never outlive a call."""
    new_generation()


@dataclass(frozen=True)
class LayerInfo:
    """Where an operation happens, for composites to choose a rule.

    Attributes
    ----------
    kind : OpKind
        What kind of operation it is (see :class:`~xaikit.engine.OpKind`); a ``str`` enum,
        so ``info.kind == "conv"`` works.
    func : callable
        The torch function that was called.
    module : torch.nn.Module or None
        The innermost module whose forward called it.
    name : str
        That module's qualified name in the model (``""`` for the model itself).
    index : int
        Position among the parametric layers (dense, conv) in forward order, from 0;
        ``-1`` for other operations.
    kind_index : int
        Position among the layers of the same kind (for example the 3rd convolution);
        ``-1`` for non-parametric operations.
    """

    kind: OpKind
    func: Callable[..., Any]
    module: nn.Module | None
    name: str
    index: int = -1
    kind_index: int = -1

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", OpKind.parse(self.kind))

    @property
    def is_layer(self) -> bool:
        """Whether this is a parametric linear layer (dense, convolution, transposed convolution)."""
        return self.kind in LAYER_KINDS

    @property
    def is_first(self) -> bool:
        """Whether this is the first parametric layer the input meets."""
        return self.index == 0


@dataclass(frozen=True)
class LinearOp:
    """A linear layer ``y = op(x, weight) + bias`` whose weight and bias a rule may transform.

    Rules call ``op(inputs, weight=..., bias=...)`` with transformed parameters
    (``rho(w)``, ``rho(b)``); the remaining arguments (stride, padding, groups, ...) are fixed.
    """

    func: Callable[..., Tensor]
    weight: Tensor
    bias: Tensor | None
    info: LayerInfo
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    #: ``"right"``: ``func(x, w, b, *args)``; ``"left"``: ``func(w, x)`` (constant on the left).
    layout: str = "right"
    #: The layer's true output on its input, when already computed by the engine.
    output: Tensor | None = None
    #: Whether the engine knows the layer input to be non-negative (after a ReLU).
    input_nonnegative: bool = False
    #: The tensors the model passed as weight and bias (keys of the derived-weight cache).
    sources: tuple[Tensor | None, Tensor | None] = (None, None)
    #: The explanation call this layer runs in (derived weights are cached within it).
    generation: int = 0
    #: The engine's notes on this layer call: its input values, the output :meth:`own_forward` computed.
    memo: dict[str, Tensor] = field(default_factory=dict, compare=False, repr=False)

    def __call__(self, inputs: Tensor, weight: Tensor | None = None, bias: Tensor | None = None) -> Tensor:
        w = self.weight if weight is None else weight
        if self.layout == "left":
            out = self.func(w, inputs)
            return out if bias is None else out + bias
        if self.layout == "matmul":
            out = self.func(inputs, w)
            return out if bias is None else out + bias
        return self.func(inputs, w, bias, *self.args, **self.kwargs)

    def value(self, inputs: Tensor) -> Tensor:
        """The layer's true output on ``inputs`` (no graph); reuses :attr:`output` when known.

        ``inputs`` must be the layer's own input when :attr:`output` is set.
        """
        if self.output is not None:
            return self.output
        with torch.no_grad():
            return self(inputs.detach(), self.weight, self.bias)

    def with_params(self, weight: Tensor, bias: Tensor | None) -> LinearOp:
        """The same layer with other parameters (used to merge batch normalization)."""
        return replace(self, weight=weight, bias=bias, output=None, sources=(None, None), memo={})

    def own_forward(self, inputs: Tensor, *, differentiable_rows: int | None = None) -> Tensor:
        """The layer with its own weight and bias applied to ``inputs`` (a graph of the layer input).

        When ``inputs`` holds the layer's input values (the graph the engine handed the
        rule, or :func:`~xaikit.engine.times_input` of it), the result is the layer's true
        output, and the engine takes it from here instead of running the layer again.
        ``differentiable_rows = n`` keeps the graph for the first ``n`` rows only (the others
        are computed without one).
        """
        if differentiable_rows is None:
            out = self(inputs, self.weight, self.bias)
        else:
            n = differentiable_rows
            with torch.no_grad():
                rest = self(inputs[n:].detach(), self.weight, self.bias)
            out = torch.cat([self(inputs[:n], self.weight, self.bias), rest])
        if _same_values(inputs, self.memo.get("input")):
            self.memo["output"] = out.detach()
        return out

    def computed_output(self) -> Tensor | None:
        """The output recorded by :meth:`own_forward` on the layer input, if it ran."""
        return self.memo.get("output")

    def has_negative_inputs(self, inputs: Tensor) -> bool:
        """Whether ``inputs`` has negative entries (answered without a pass when known)."""
        return not self.input_nonnegative and bool((inputs.detach() < 0).any())

    def output_shape_of_bias(self, like: Tensor) -> Tensor | None:
        """The bias broadcast to the layer's output shape (``None`` if there is none)."""
        if self.bias is None:
            return None
        shape = [1] * like.ndim
        channel_dim = 1 if self.info.kind in (OpKind.CONV, OpKind.CONV_TRANSPOSE) else like.ndim - 1
        shape[channel_dim] = -1
        return self.bias.view(shape).expand_as(like)


def bias_of(op: LinearOp, constant: Tensor, output: Tensor) -> Tensor | None:
    """``constant`` as the bias of the bias-free layer ``op``, if adding it to ``output`` adds one value per feature.

    Parameters
    ----------
    op : LinearOp
        A dense or convolution layer without a bias.
    constant : torch.Tensor
        What the model adds to the layer's output.
    output : torch.Tensor
        The layer's output.

    Returns
    -------
    torch.Tensor or None
        The bias of shape ``(features,)``, or ``None`` if ``op`` has a bias already, is of
        another kind or layout, or ``constant`` varies along other dimensions than the
        features (or would change the output's shape or dtype). A single value is the
        same bias for every feature.
    """
    if op.bias is not None or op.layout not in ("right", "matmul") or op.info.kind not in (OpKind.DENSE, OpKind.CONV):
        return None
    if constant.dtype != output.dtype or constant.ndim > output.ndim:
        return None
    feature_dim = 1 if op.info.kind is OpKind.CONV else output.ndim - 1
    features = output.shape[feature_dim]
    if constant.numel() == 1:
        return constant.detach().reshape(1).expand(features)
    shape = (1,) * (output.ndim - constant.ndim) + tuple(constant.shape)
    expected = tuple(features if d == feature_dim else 1 for d in range(output.ndim))
    if shape != expected:
        return None
    return constant.detach().reshape(features)


def _same_values(x: Tensor, reference: Tensor | None) -> bool:
    """Whether ``x`` views the very memory of ``reference`` with the same layout (so the same values)."""
    return (
        reference is not None
        and x.data_ptr() == reference.data_ptr()
        and x.shape == reference.shape
        and x.stride() == reference.stride()
        and x.dtype == reference.dtype
        and x.device == reference.device
    )
