"""Which torch operations the engine knows, grouped by how relevance crosses them.

Families
--------
route
    Operations that move, copy, select or reshape values (view, cat, indexing, max-pool,
    eval-mode dropout, padding). Their own gradient routes relevance correctly.
activation
    Elementwise non-linearities (ReLU, GELU, tanh, ...): the composite's activation rule
    (pass-through for LRP).
scale
    Multiplication or division by a constant, negation: the ``scale`` rule (pass-through
    for LRP).
sum
    Parameter-free linear maps that mix several inputs: additions (residual ``+``),
    subtractions, sums and means, average pools, linear interpolation: the ``sum`` rule
    (the normalizing rule for LRP).
dense / conv / conv_transpose
    Parametric linear layers: the composite's layer rules.
constant
    Operations whose result does not depend on the values (``zeros_like``, ``new_ones``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

Func = Callable[..., Any]

FAMILIES = ("route", "activation", "scale", "sum", "dense", "conv", "conv_transpose", "constant", "softmax", "statistic", "einsum")

_T = torch.Tensor


def _methods(*names: str) -> list[Func]:
    out: list[Func] = []
    for name in names:
        attr = getattr(_T, name, None)
        if attr is not None:
            out.append(attr)
    return out


def _functions(module: Any, *names: str) -> list[Func]:
    return [getattr(module, n) for n in names if hasattr(module, n)]


def _property_getters(*names: str) -> list[Func]:
    return [getattr(_T, n).__get__ for n in names if hasattr(_T, n)]


ROUTE: list[Func] = [
    *_methods(
        "view", "view_as", "reshape", "reshape_as", "flatten", "unflatten", "permute", "transpose",
        "t", "squeeze", "unsqueeze", "contiguous", "clone", "__getitem__", "narrow", "select",
        "expand", "expand_as", "repeat", "split", "chunk", "unbind", "to", "float", "double",
        "half", "bfloat16", "type", "type_as", "movedim", "moveaxis", "flip", "roll",
        "index_select", "gather", "masked_fill", "swapaxes", "swapdims", "tile", "max", "amax",
        "min", "amin", "topk", "sort", "cpu", "cuda", "split_with_sizes", "unfold", "diagonal",
        "tensor_split", "repeat_interleave",
    ),
    *_functions(
        torch, "flatten", "reshape", "permute", "transpose", "squeeze", "unsqueeze", "clone", "cat",
        "concat", "concatenate", "stack", "hstack", "vstack", "split", "chunk", "unbind", "narrow",
        "select", "movedim", "moveaxis", "flip", "roll", "index_select", "gather", "where",
        "max_pool1d", "max_pool2d", "max_pool3d", "max", "amax", "min", "amin", "topk", "sort",
        "tile", "swapaxes", "tensor_split", "masked_fill", "repeat_interleave",
    ),
    *_functions(
        F, "pad", "max_pool1d", "max_pool2d", "max_pool3d", "max_pool1d_with_indices",
        "max_pool2d_with_indices", "max_pool3d_with_indices", "adaptive_max_pool1d",
        "adaptive_max_pool2d", "adaptive_max_pool3d", "adaptive_max_pool1d_with_indices",
        "adaptive_max_pool2d_with_indices", "adaptive_max_pool3d_with_indices", "pixel_shuffle",
        "pixel_unshuffle", "channel_shuffle", "unfold", "fold",
    ),
    *_property_getters("T", "mT", "H", "mH"),
]

DROPOUT: list[Func] = _functions(
    F, "dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout"
)

DETACH: list[Func] = [*_methods("detach"), *_property_getters("data")]

ACTIVATION: list[Func] = [
    *_methods(
        "relu", "tanh", "sigmoid", "clamp", "clip", "clamp_min", "clamp_max", "abs", "exp",
        "__abs__",
    ),
    *_functions(torch, "relu", "tanh", "sigmoid", "clamp", "clip", "clamp_min", "clamp_max", "abs", "selu", "celu"),
    *_methods("rsqrt", "sqrt", "pow", "__pow__", "__rpow__", "erf", "reciprocal", "square"),
    *_functions(torch, "rsqrt", "sqrt", "pow", "erf", "reciprocal", "square"),
    *_functions(
        F, "relu", "relu6", "leaky_relu", "elu", "selu", "celu", "gelu", "silu", "mish",
        "softplus", "hardtanh", "hardswish", "hardsigmoid", "tanh", "sigmoid", "threshold",
        "logsigmoid", "softsign", "tanhshrink", "rrelu",
    ),
]

SCALE: list[Func] = [
    *_methods("mul", "__mul__", "__rmul__", "div", "__truediv__", "neg", "__neg__", "divide", "multiply", "true_divide"),
    *_functions(torch, "mul", "multiply", "div", "divide", "true_divide", "neg", "negative"),
]

SUM: list[Func] = [
    *_methods("add", "__add__", "__radd__", "sub", "__sub__", "__rsub__", "subtract", "sum", "mean"),
    *_functions(torch, "add", "sub", "subtract", "sum", "mean", "rsub"),
    *_functions(
        F, "avg_pool1d", "avg_pool2d", "avg_pool3d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
        "adaptive_avg_pool3d", "lp_pool1d", "lp_pool2d",
    ),
    *_functions(torch, "avg_pool1d", "adaptive_avg_pool1d"),
]

DENSE: list[Func] = [
    F.linear, *_methods("matmul", "__matmul__", "__rmatmul__", "mm", "bmm"), torch.matmul, torch.mm, torch.bmm,
]
#: Softmax: attention weights (a rule must be assigned; LRP composites refuse it by default).
SOFTMAX: list[Func] = [*_functions(F, "softmax"), *_functions(torch, "softmax"), *_methods("softmax")]
#: Statistics computed from the input that the propagation holds constant (normalizers).
STATISTIC: list[Func] = [
    *_methods("var", "std", "norm"), *_functions(torch, "var", "std", "norm", "var_mean", "std_mean"),
    torch.linalg.vector_norm, torch.linalg.norm,
]
#: Contractions of several tensors.
EINSUM: list[Func] = [torch.einsum]

#: Activations whose output is a gate in [0, 1] (or, shifted by a constant, a squashing factor):
#: a product of such a gate and a signal hands the signal all relevance ("signal-take-all").
GATES: frozenset[Func] = frozenset(
    [*_methods("sigmoid"), *_functions(torch, "sigmoid", "erf"), *_methods("erf"), *_functions(F, "sigmoid", "hardsigmoid")]
)
#: Activations whose output becomes a gate once shifted by a constant (``1 + tanh(u)``).
SQUASHES: frozenset[Func] = frozenset([*_methods("tanh"), *_functions(torch, "tanh"), *_functions(F, "tanh")])
#: Multiplications and divisions (as opposed to negations) of the scale family.
PRODUCTS: frozenset[Func] = frozenset(
    [*_methods("mul", "__mul__", "__rmul__", "multiply"), *_functions(torch, "mul", "multiply")]
)
DIVISIONS: frozenset[Func] = frozenset(
    [*_methods("div", "__truediv__", "divide", "true_divide"), *_functions(torch, "div", "divide", "true_divide")]
)
CONV: list[Func] = _functions(F, "conv1d", "conv2d", "conv3d")
CONV_TRANSPOSE: list[Func] = _functions(F, "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")

CONSTANT: list[Func] = [
    *_methods("new_zeros", "new_ones", "new_empty", "new_full", "new_tensor", "size", "dim"),
    *_functions(torch, "zeros_like", "ones_like", "empty_like", "full_like", "rand_like", "randn_like", "randint_like"),
]

#: Operations refused with a specific explanation.
REFUSED: dict[Func, str] = {
    **dict.fromkeys(
        [*_functions(F, "log_softmax", "softmin"), *_functions(torch, "log_softmax"), *_methods("log_softmax")],
        "a softmax inside the model turns logits into probabilities, which relevance propagation "
        "does not explain meaningfully; remove the final softmax from the model (explain the "
        "logits), or use target=xaikit.LogOdds(...) to explain log(p / (1 - p)).",
    ),
    **dict.fromkeys(
        _functions(torch, "_native_multi_head_attention"),
        "the fused attention fast path (taken by nn.MultiheadAttention when its parameters do not require "
        "grad) hides its products and softmax; leave requires_grad on, or use a gradient or "
        "perturbation method.",
    ),
    **dict.fromkeys(
        _methods("__setitem__", "copy_", "index_put_", "masked_scatter_", "scatter_"),
        "an in-place write into a tensor that carries relevance cannot be propagated; write "
        "the forward out of place (for example with torch.where or torch.cat).",
    ),
}

def _aten(*names: str) -> list[Func]:
    """``torch.ops.aten`` overloads as named (``"relu.default"``), skipping unknown ones.

    Programs saved with ``torch.export`` call these instead of the ``torch`` functions.
    """
    out: list[Func] = []
    for name in names:
        packet, _, overload = name.partition(".")
        op = getattr(torch.ops.aten, packet, None)
        if op is not None and hasattr(op, overload):
            out.append(getattr(op, overload))
    return out


ROUTE += _aten(
    "max_pool1d.default", "max_pool2d.default", "max_pool3d.default", "flatten.using_ints", "view.default",
    "reshape.default", "_unsafe_view.default", "cat.default", "permute.default", "transpose.int",
    "squeeze.dim", "unsqueeze.default", "clone.default", "slice.Tensor", "select.int", "expand.default",
    "adaptive_max_pool2d.default",
)
DROPOUT += _aten("dropout.default")
ACTIVATION += _aten(
    "relu.default", "gelu.default", "silu.default", "tanh.default", "sigmoid.default", "hardtanh.default",
    "leaky_relu.default", "elu.default", "hardswish.default",
)
SUM += _aten(
    "add.Tensor", "sub.Tensor", "mean.dim", "sum.dim_IntList", "avg_pool1d.default", "avg_pool2d.default",
    "avg_pool3d.default", "adaptive_avg_pool1d.default", "adaptive_avg_pool2d.default",
    "adaptive_avg_pool3d.default",
)
SCALE += _aten("mul.Tensor", "div.Tensor", "neg.default")
DENSE += _aten("linear.default")
CONV += _aten("conv1d.default", "conv2d.default", "conv3d.default")

#: In-place ``aten`` overloads and the out-of-place ones the engine runs instead (an in-place
#: op on a detached value would write into a tensor the model still uses).
ATEN_OUT_OF_PLACE: dict[Func, Func] = {
    a: b
    for (a_list, b_list) in (
        (_aten("relu_.default"), _aten("relu.default")),
        (_aten("add_.Tensor"), _aten("add.Tensor")),
        (_aten("mul_.Tensor"), _aten("mul.Tensor")),
        (_aten("hardtanh_.default"), _aten("hardtanh.default")),
    )
    for a, b in zip(a_list, b_list)
}

#: Functions that are ``F.linear`` in another form.
LINEAR: tuple[Func, ...] = (F.linear, *_aten("linear.default"))
#: Batch normalization as ``torch.ops.aten.batch_norm`` (weight and bias before the statistics).
ATEN_BATCH_NORM: tuple[Func, ...] = tuple(_aten("batch_norm.default"))

_TABLE: dict[Func, str] = {}
for _family, _funcs in (
    ("route", ROUTE),
    ("activation", ACTIVATION),
    ("scale", SCALE),
    ("sum", SUM),
    ("dense", DENSE),
    ("softmax", SOFTMAX),
    ("statistic", STATISTIC),
    ("einsum", EINSUM),
    ("conv", CONV),
    ("conv_transpose", CONV_TRANSPOSE),
    ("constant", CONSTANT),
    ("dropout", DROPOUT),
    ("detach", DETACH),
):
    for _f in _funcs:
        _TABLE[_f] = _family

#: The families the engine ships with (what :func:`unregister_operation` restores).
_BUILTIN: dict[Func, str] = dict(_TABLE)

#: Max-pooling functions and the position of their ``return_indices`` argument. They route
#: relevance by their natural gradient (winner takes all) unless a composite gives the
#: ``"max_pool"`` kind a rule (DeepLIFT does, for completeness).
MAX_POOLS: dict[Func, int | None] = {
    **dict.fromkeys(_functions(F, "max_pool1d", "max_pool2d", "max_pool3d"), 6),
    **dict.fromkeys(_functions(F, "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d"), 2),
    **dict.fromkeys(_functions(torch, "max_pool1d", "max_pool2d", "max_pool3d", "adaptive_max_pool1d"), None),
    **dict.fromkeys(_aten("max_pool1d.default", "max_pool2d.default", "max_pool3d.default"), None),
}


def returns_indices(func: Func, args: Any, kwargs: dict[str, Any]) -> bool:
    """Whether a max-pooling call also returns the indices of the maxima."""
    if "return_indices" in kwargs:
        return bool(kwargs["return_indices"])
    position = MAX_POOLS.get(func)
    return position is not None and len(args) > position and bool(args[position])


#: Routing operations that may introduce values other than their inputs' (non-zero padding).
PADDING: tuple[Func, ...] = tuple(_functions(F, "pad"))

#: Special cases handled by dedicated code in the dispatcher.
BATCH_NORM: Func = F.batch_norm
LAYER_NORM: Func = F.layer_norm
GROUP_NORM: Func = F.group_norm
INTERPOLATE: Func = F.interpolate


_RELU: tuple[Func, ...] = tuple(
    [*_methods("relu", "relu_"), *_functions(torch, "relu", "relu_"), *_functions(F, "relu", "relu_", "relu6"),
     *_aten("relu.default")]
)


def zeroes_negatives(func: Func, args: Any, kwargs: dict[str, Any]) -> bool:
    """Whether an activation call maps every negative input to zero (ReLU, ReLU6, clamp(min=0))."""
    if func in _RELU:
        return True
    if func in (torch.clamp, _T.clamp, torch.clip, _T.clip, torch.clamp_min, _T.clamp_min):
        low = kwargs.get("min", args[1] if len(args) > 1 else None)
        return isinstance(low, int | float) and low == 0
    return False


def register_operation(func: Func, family: str) -> None:
    """Teach the engine how relevance crosses ``func``.

    Parameters
    ----------
    func : callable
        The torch function or ``torch.Tensor`` method as the model calls it (for example
        ``torch.nn.functional.hardshrink``, or a custom function that dispatches through
        ``__torch_function__``).
    family : str
        One of ``"route"`` (the gradient routes relevance: reshapes, selections),
        ``"activation"`` (elementwise non-linearity; pass-through for LRP),
        ``"scale"`` (multiplication by a constant), ``"sum"`` (a parameter-free linear map
        of its tensor arguments, normalizing rule) or ``"constant"``.

    Examples
    --------
    >>> import torch, xaikit
    >>> xaikit.engine.register_operation(torch.nn.functional.hardshrink, "activation")
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; choose one of {FAMILIES}")
    _TABLE[func] = family


def unregister_operation(func: Func) -> None:
    """Undo :func:`register_operation` for ``func`` (a built-in operation gets its own family back).

    Raises ``KeyError`` if ``func`` was never registered.
    """
    if func in _BUILTIN:
        _TABLE[func] = _BUILTIN[func]
    elif func in _TABLE:
        del _TABLE[func]
    else:
        raise KeyError(f"{describe(func)} is not a registered operation")


def family_of(func: Func) -> str | None:
    """The family of ``func``, or ``None`` if the engine does not know it."""
    family = _TABLE.get(func)
    if family is not None:
        return family
    if func in (BATCH_NORM, LAYER_NORM, GROUP_NORM, INTERPOLATE) or func in ATEN_BATCH_NORM:
        return "special"
    return None


def out_of_place(func: Func) -> Func | None:
    """The out-of-place variant of an in-place method or function (``relu_`` → ``relu``)."""
    if func in ATEN_OUT_OF_PLACE:
        return ATEN_OUT_OF_PLACE[func]
    name = getattr(func, "__name__", "")
    if name.startswith("__i") and name.endswith("__"):
        candidate = getattr(_T, "__" + name[3:], None)
        return candidate
    if name.endswith("_") and not name.endswith("__"):
        base = name[:-1]
        for owner in (_T, torch, F):
            candidate = getattr(owner, base, None)
            if candidate is not None and _TABLE.get(candidate) is not None:
                return candidate
    return None


_INPLACE_POSITION: dict[Func, int | None] = {}


def without_inplace(
    func: Func, args: list[Any], kwargs: dict[str, Any]
) -> tuple[list[Any], dict[str, Any], bool]:
    """The call's arguments with ``inplace`` forced to ``False``, and whether it was ``True``.

    ``inplace`` may be passed by keyword or by position.

    ``nn.LeakyReLU``, ``nn.ELU``, ``nn.Hardtanh`` and others pass ``inplace`` positionally;
    an in-place activation on a detached alias would corrupt values the model still uses.
    """
    was_inplace = bool(kwargs.get("inplace", False))
    if "inplace" in kwargs:
        kwargs = {**kwargs, "inplace": False}
    if func not in _INPLACE_POSITION:
        position = None
        try:
            params = list(inspect.signature(func).parameters)
        except (TypeError, ValueError):
            params = []
        if "inplace" in params:
            position = params.index("inplace")
        _INPLACE_POSITION[func] = position
    position = _INPLACE_POSITION[func]
    if position is not None and len(args) > position and args[position]:
        args = [*args[:position], False, *args[position + 1:]]
        was_inplace = True
    return args, kwargs, was_inplace


def supported_operations() -> dict[str, list[str]]:
    """The operations the engine knows, by family (names as ``module.function``)."""
    out: dict[str, list[str]] = {}
    for func, family in _TABLE.items():
        out.setdefault(family, []).append(describe(func))
    for func in (BATCH_NORM, LAYER_NORM, GROUP_NORM, INTERPOLATE):
        out.setdefault("special", []).append(describe(func))
    return {k: sorted(set(v)) for k, v in out.items()}


def describe(func: Func) -> str:
    """A readable name for a torch function or method."""
    name = getattr(func, "__qualname__", None) or getattr(func, "__name__", None) or repr(func)
    if name.startswith("getset_descriptor") or name == "__get__":
        return f"Tensor.{getattr(getattr(func, '__self__', None), '__name__', '?')} (property)"
    module = getattr(func, "__module__", None)
    if name.startswith("TensorBase."):
        return "Tensor." + name[len("TensorBase."):]
    if name.startswith("_VariableFunctionsClass."):
        return "torch." + name[len("_VariableFunctionsClass."):]
    if module and module.startswith("torch.nn.functional"):
        return "torch.nn.functional." + getattr(func, "__name__", name)
    if "boolean_dispatch" in name:
        return "torch.nn.functional." + getattr(func, "__name__", "?")
    if module and not name.startswith(module):
        return f"{module}.{name}"
    return name


#: Binary additions and subtractions (``a + b``, ``a - b``, and ``b - a`` for the reversed
#: ones): a constant added to a layer's output may be folded into the layer's bias.
ADDITIONS: frozenset[Func] = frozenset([*_methods("add", "__add__", "__radd__"), torch.add, *_aten("add.Tensor")])
SUBTRACTIONS: frozenset[Func] = frozenset(
    [*_methods("sub", "__sub__", "subtract"), *_functions(torch, "sub", "subtract"), *_aten("sub.Tensor")]
)
REVERSED_SUBTRACTIONS: frozenset[Func] = frozenset([*_methods("__rsub__"), torch.rsub])
