"""Class activation maps: Grad-CAM, Grad-CAM++ and guided Grad-CAM on a layer given by name or module."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from xaikit.core.base import Attribution, Explainer, Model
from xaikit.core.forward import check_output
from xaikit.core.registry import register_method
from xaikit.core.targets import ResolvedTarget, Target
from xaikit.core.validation import check_eager
from xaikit.gradients._common import FixedTarget, output_gradient
from xaikit.gradients.backprop_rules import GuidedRule
from xaikit.gradients.modified import modified_gradient
from xaikit.utils.errors import ModelError, ModelOutputError

_MODES = {1: "linear", 2: "bilinear", 3: "trilinear"}
INTERPOLATIONS = ("auto", "nearest", "linear", "bilinear", "bicubic", "trilinear", "area")


@dataclass
class LayerGradient:
    """A layer's output ``A`` and the gradient ``G`` of the explained value with respect to it."""

    name: str
    activation: Tensor
    gradient: Tensor
    value: Tensor
    resolved: ResolvedTarget


def _spatial_layers(model: nn.Module) -> str:
    names = [n for n, m in model.named_modules() if isinstance(m, nn.modules.conv._ConvNd | nn.ReLU | nn.modules.pooling._MaxPoolNd)]
    shown = ", ".join(repr(n) for n in names[-6:])
    return f" (convolution, ReLU and pooling modules include {shown})" if names else ""


#: Activations that follow a convolution: the default layer's map is read after them.
ACTIVATIONS: frozenset[Callable[..., Any]] = frozenset({
    F.relu, torch.relu, Tensor.relu, F.leaky_relu, F.gelu, F.silu, F.elu, F.relu6, F.hardswish, F.mish,
})


class _FollowActivation(TorchFunctionMode):
    """Follows tensors through the activation applied to them (a functional ReLU after a convolution)."""

    def __init__(self) -> None:
        super().__init__()
        self.after: dict[int, Tensor] = {}

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        if func in ACTIVATIONS and args and isinstance(args[0], Tensor) and isinstance(out, Tensor):
            self.after[id(args[0])] = out
        return out

    def activated(self, tensor: Tensor) -> Tensor:
        """``tensor`` after the activations applied to it in turn (itself if none)."""
        seen = 0
        while id(tensor) in self.after and seen < 8:
            tensor, seen = self.after[id(tensor)], seen + 1
        return tensor


def layer_name(model: nn.Module, layer: str | nn.Module) -> str:
    """The qualified name of ``layer`` in ``model`` (a name is checked; a module is looked up).

    Parameters
    ----------
    model : torch.nn.Module
    layer : str or torch.nn.Module

    Returns
    -------
    str
    """
    if isinstance(layer, str):
        _find_layer(model, layer)
        return layer
    for name, module in model.named_modules():
        if module is layer:
            return name
    raise ValueError(
        f"the {type(layer).__name__} given as layer is not a module of the model; pass one of its own "
        f"modules or its name{_spatial_layers(model)}"
    )


def _find_layer(model: Model, name: str) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise TypeError("CAM methods choose a layer by module name and need the model to be a torch.nn.Module")
    try:
        return model.get_submodule(name)
    except AttributeError:
        raise ValueError(f"the model has no module named {name!r}{_spatial_layers(model)}") from None


def layer_gradient(
    model: Model, inputs: Tensor, target: Target, layer: str | nn.Module | None, spatial_dims: int
) -> LayerGradient:
    """Run the model, capturing the output of ``layer`` and the explained value's gradient there.

    With ``layer=None`` the last convolution that runs is used, read after the activation
    applied to its output (a module or a functional ReLU, GELU, ...), or, without
    convolutions, the last module without children whose output has the input's number
    of dimensions.
    """
    check_eager(model, "the modules whose feature maps CAM reads")
    if not isinstance(model, nn.Module):
        raise ModelOutputError(
            "CAM methods choose a layer by module name and need the model to be a torch.nn.Module; "
            "wrap the function in an nn.Module whose submodules compute the feature maps"
        )
    if layer is None:
        candidates = [(n, m) for n, m in model.named_modules() if n and not any(True for _ in m.children())]
    else:
        layer = layer_name(model, layer)
        candidates = [(layer, _find_layer(model, layer))]
    captured: list[tuple[str, Any]] = []
    handles = [
        module.register_forward_hook(lambda _m, _i, out, name=name: captured.append((name, out)))
        for name, module in candidates
    ]
    follow = _FollowActivation()
    try:
        with torch.enable_grad(), follow:
            leaf = inputs.detach().requires_grad_(True)
            out = check_output(model(leaf), len(inputs))
    finally:
        for handle in handles:
            handle.remove()
    fits = [
        (n, a) for n, a in captured
        if isinstance(a, Tensor) and a.ndim == spatial_dims + 2 and a.shape[0] == len(inputs)
    ]
    if layer is not None:
        if len(captured) != 1:
            raise ValueError(
                f"module {layer!r} ran {len(captured)} times in one forward pass; CAM needs a layer that runs once"
            )
        if not fits:
            shape = getattr(captured[0][1], "shape", type(captured[0][1]).__name__)
            raise ValueError(
                f"module {layer!r} outputs {shape}; CAM needs a feature map of shape (N, channels, "
                f"{spatial_dims} spatial dimension(s)) like the input's. Choose a convolutional layer"
                f"{_spatial_layers(model)}"
            )
    elif not fits:
        raise ModelError("no module of the model outputs a feature map shaped like the input; pass layer=name")
    convolutions = {n for n, m in candidates if isinstance(m, nn.modules.conv._ConvNd)}
    name, activation = next((f for f in reversed(fits) if f[0] in convolutions), fits[-1])
    if layer is None and name in convolutions:
        activation = follow.activated(activation)
    values = out.detach()
    resolved = target.resolve(values)
    with torch.enable_grad():
        (gradient,) = torch.autograd.grad(out, activation, output_gradient(resolved, values), allow_unused=True)
    if gradient is None:
        gradient = torch.zeros_like(activation)
    return LayerGradient(name, activation.detach(), gradient, resolved.select(values), resolved)


def upsample(cam: Tensor, inputs: Tensor, interpolation: str) -> Tensor:
    """Resize a map ``(N, *spatial)`` to the input's spatial size and broadcast it over the input channels."""
    dims = inputs.ndim - 2
    mode = _MODES[dims] if interpolation == "auto" else interpolation
    linear = mode in ("linear", "bilinear", "bicubic", "trilinear")
    resized = F.interpolate(cam.unsqueeze(1), size=tuple(inputs.shape[2:]), mode=mode, align_corners=False if linear else None)
    return resized.expand(-1, inputs.shape[1], *inputs.shape[2:]).contiguous()


def grad_cam_map(lg: LayerGradient) -> Tensor:
    """``sum_k mean(G_k) A_k`` (before the ReLU), shape ``(N, *spatial)``."""
    spatial = tuple(range(2, lg.activation.ndim))
    weights = lg.gradient.mean(dim=spatial, keepdim=True)
    return (weights * lg.activation).sum(1)


def grad_cam_pp_map(lg: LayerGradient) -> Tensor:
    """Grad-CAM++ (Chattopadhyay et al., 2018): pixel-weighted positive gradients, before the ReLU.

    ``alpha = G^2 / (2 G^2 + sum_ab A_ab G^3)``, ``w_k = sum_ij alpha_ij relu(G_ij)``,
    map ``sum_k w_k A_k`` (the closed form for an exponential of the score).
    """
    spatial = tuple(range(2, lg.activation.ndim))
    g2 = lg.gradient.pow(2)
    g3 = g2 * lg.gradient
    denominator = 2 * g2 + lg.activation.sum(dim=spatial, keepdim=True) * g3
    safe = torch.where(denominator != 0, denominator, torch.ones_like(denominator))
    alpha = torch.where(denominator != 0, g2 / safe, torch.zeros_like(g2))
    weights = (alpha * lg.gradient.clamp(min=0)).sum(dim=spatial, keepdim=True)
    return (weights * lg.activation).sum(1)


def _check_interpolation(interpolation: str) -> str:
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"unknown interpolation {interpolation!r}; choose one of {', '.join(INTERPOLATIONS)}")
    return interpolation


def _spatial_dims(inputs: Tensor) -> int:
    dims = inputs.ndim - 2
    if dims not in _MODES:
        raise ValueError(
            f"CAM methods explain inputs with 1 to 3 spatial dimensions, (N, C, T), (N, C, H, W) or "
            f"(N, C, D, H, W); got shape {tuple(inputs.shape)}"
        )
    return dims


class _Cam(Explainer):
    """Shared options and flow of the CAM methods."""

    def __init__(self, layer: str | nn.Module | None = None, relu: bool = True, interpolation: str = "auto") -> None:
        if layer is not None and not isinstance(layer, str | nn.Module):
            raise TypeError(f"layer must be a module name, a module of the model or None, got {type(layer).__name__}")
        self.layer = layer
        self.relu = relu
        self.interpolation = _check_interpolation(interpolation)

    def _map(self, lg: LayerGradient) -> Tensor:
        return grad_cam_map(lg)

    def _cam(self, model: Model, inputs: Tensor, target: Target) -> tuple[Tensor, LayerGradient]:
        lg = layer_gradient(model, inputs, target, self.layer, _spatial_dims(inputs))
        cam = self._map(lg)
        cam = cam.clamp(min=0) if self.relu else cam
        blank = int((cam.flatten(1) == 0).all(1).sum())
        if blank:
            warnings.warn(
                f"{self.name}: the map of {blank} of {len(cam)} sample(s) is zero everywhere at layer {lg.name!r}: "
                + ("its gradient there is zero" if not bool(lg.gradient.any()) else
                   "the gradient-weighted feature maps are nowhere positive, so the ReLU removes them all")
                + "; pass relu=False to see the signed map, or choose another layer (by name or module)",
                UserWarning,
                stacklevel=4,
            )
        return cam, lg

    def attribute(self, model: Model, inputs: Tensor, target: Target) -> Attribution:
        cam, lg = self._cam(model, inputs, target)
        return Attribution(
            attribution=upsample(cam, inputs, self.interpolation).to(inputs.dtype),
            output=lg.value,
            target=lg.resolved,
            extras={"cam": cam, "layer": lg.name},
        )


@register_method("grad_cam", aliases=("gradcam",))
class GradCam(_Cam):
    """Grad-CAM (Selvaraju et al., 2017): ``ReLU(sum_k mean(dy/dA_k) A_k)`` upsampled to the input.

    Parameters
    ----------
    layer : str, torch.nn.Module or None
        The module whose output ``A`` is used, by qualified name (``"features.28"``) or as
        the module itself (``model.features[28]``); ``None`` picks the last convolution that
        runs, read after its activation (also a functional one, ``F.relu(conv(x))``).
    relu : bool
        Apply the ReLU of the paper to the map.
    interpolation : str
        ``"auto"`` (linear, bilinear or trilinear by the number of spatial dimensions) or a
        mode of :func:`torch.nn.functional.interpolate`.

    Notes
    -----
    The attribution has the input's shape (the map is broadcast over channels);
    ``extras["cam"]`` holds the map at the layer's resolution and ``extras["layer"]`` the
    layer's name. An in-place activation after the layer (``nn.ReLU(inplace=True)``)
    overwrites its output, so the map is then that of the activation (as in Captum). A map
    that is zero everywhere (all weighted feature maps negative, or no gradient) warns.
    """


@register_method("grad_cam_plus_plus", aliases=("gradcam++", "grad_cam++", "gradcam_plus_plus"))
class GradCamPlusPlus(_Cam):
    """Grad-CAM++ (Chattopadhyay et al., 2018); options as :class:`GradCam`."""

    def _map(self, lg: LayerGradient) -> Tensor:
        return grad_cam_pp_map(lg)


@register_method("guided_grad_cam", aliases=("guided_gradcam",))
class GuidedGradCam(_Cam):
    """Guided Grad-CAM (Selvaraju et al., 2017): guided backprop times the upsampled Grad-CAM map.

    Options as :class:`GradCam`. The guided-backprop part runs through the propagation
    engine and is correct with functional activations.
    """

    def attribute(self, model: Model, inputs: Tensor, target: Target) -> Attribution:
        cam, lg = self._cam(model, inputs, target)
        guided, _, _, _ = modified_gradient(model, inputs, FixedTarget(lg.resolved), GuidedRule(), self.name)
        return Attribution(
            attribution=guided * upsample(cam, inputs, self.interpolation).to(inputs.dtype),
            output=lg.value,
            target=lg.resolved,
            extras={"cam": cam, "layer": lg.name},
        )
