"""Input checks that turn silent mistakes into clear errors."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from xaikit.utils.errors import InputError, ModelError

_TRAINING_SENSITIVE: tuple[type[nn.Module], ...] = (
    nn.modules.dropout._DropoutNd,
    nn.modules.batchnorm._BatchNorm,
    nn.modules.instancenorm._InstanceNorm,
)


def all_finite(values: Tensor) -> bool:
    """Whether a tensor holds no NaN or infinity, without an elementwise temporary in the common case.

    A finite sum means every value is finite (NaN and infinity propagate through a sum;
    opposite infinities give NaN); only when the sum is not finite (a value is not, or
    the sum overflowed) are the values checked one by one.

    Parameters
    ----------
    values : torch.Tensor

    Returns
    -------
    bool
    """
    if not (values.is_floating_point() or values.is_complex()) or values.numel() == 0:
        return True
    if bool(torch.isfinite(values.sum())):
        return True
    return bool(torch.isfinite(values).all())


def check_inputs(inputs: Any, *, name: str = "inputs", min_ndim: int = 2) -> Tensor:
    """Validate a batch of inputs and return it as a tensor (never a modified copy).

    Raises
    ------
    xaikit.utils.errors.InputError
        If ``inputs`` is not a floating-point tensor or array, lies on the meta device,
        has no batch dimension, is an empty batch, or contains NaN or inf.
    """
    if isinstance(inputs, np.ndarray):
        inputs = torch.from_numpy(inputs)
    if not isinstance(inputs, Tensor):
        raise InputError(
            f"{name} must be a torch.Tensor or numpy array, got {type(inputs).__name__}; "
            "convert with torch.as_tensor(...)"
        )
    if not inputs.dtype.is_floating_point:
        raise InputError(
            f"{name} must be floating point, got dtype {inputs.dtype}; convert values with .float(). "
            "Integer ids fed to an nn.Embedding cannot be converted: explain the embedded inputs "
            "instead, passing embedding(ids) to the part of the model after the embedding"
        )
    if inputs.device.type == "meta":
        raise InputError(
            f"{name} are on the meta device, which holds shapes but no values; create them on a "
            "real device (for example torch.randn(..., device='cpu')) or move them with .to('cpu')"
        )
    if inputs.ndim < min_ndim:
        raise InputError(
            f"{name} has shape {tuple(inputs.shape)}; pass a batch of shape (N, ...) "
            f"(for a single sample use x[None])"
        )
    if inputs.shape[0] == 0:
        raise InputError(f"{name} hold an empty batch (shape {tuple(inputs.shape)}); pass at least one sample")
    if not all_finite(inputs):
        bad = (~torch.isfinite(inputs)).nonzero()
        raise InputError(
            f"{name} contain {len(bad)} NaN or inf value(s) (first at index {tuple(bad[0].tolist())}); "
            "clean or impute them before explaining"
        )
    return inputs


def check_eager(model: Callable[..., Any], needs: str) -> None:
    """Raise a :class:`~xaikit.utils.errors.ModelError` for a TorchScript model where ``needs`` requires Python modules.

    Parameters
    ----------
    model : callable
        The model.
    needs : str
        What the method needs to see, for the message (``"the model's operations"``).
    """
    if isinstance(model, torch.jit.ScriptModule | torch.jit.ScriptFunction):
        raise ModelError(
            f"the model is TorchScript (torch.jit.script, trace or freeze), which hides {needs} from "
            "xaikit; explain the eager nn.Module (build the Python class and load its state dict), or "
            "use a gradient or perturbation method (saliency, integrated_gradients, occlusion, "
            "kernel_shap), which work on TorchScript"
        )


def check_eval_mode(model: Callable[..., Any]) -> None:
    """Raise if a module whose behaviour depends on training mode is in training mode."""
    if not isinstance(model, nn.Module):
        return
    for name, module in model.named_modules():
        if getattr(module, "training", False) and isinstance(module, _TRAINING_SENSITIVE):
            where = f"module {name!r}" if name else "the model"
            raise ModelError(
                f"{where} ({type(module).__name__}) is in training mode, where its output is "
                "random or batch-dependent and explanations would be wrong; call model.eval() "
                "before explaining"
            )


def model_dtype(model: Callable[..., Any]) -> torch.dtype | None:
    """Floating-point type of the model's first floating parameter (``None`` if it has none).

    Parameters
    ----------
    model : torch.nn.Module or callable

    Returns
    -------
    torch.dtype or None
    """
    if isinstance(model, nn.Module):
        for parameter in model.parameters():
            if parameter.dtype.is_floating_point:
                return parameter.dtype
    return None


def to_model_dtype(model: Callable[..., Any], inputs: Tensor) -> Tensor:
    """``inputs`` in the model's floating-point type, converted with a warning if they differ.

    NumPy arrays are float64 by default and most models float32: such inputs are
    converted (a note says so) instead of failing inside the model with a dtype error.

    Parameters
    ----------
    model : torch.nn.Module or callable
    inputs : torch.Tensor

    Returns
    -------
    torch.Tensor
        ``inputs`` itself when no conversion is needed.
    """
    dtype = model_dtype(model)
    if dtype is None or not inputs.is_floating_point() or inputs.dtype == dtype:
        return inputs
    warnings.warn(
        f"the inputs ({inputs.dtype}) were converted to the model's {dtype}; the explanation is in {dtype} "
        f"(convert the inputs yourself, for example torch.from_numpy(a).to({dtype}), to silence this)",
        UserWarning,
        stacklevel=3,
    )
    return inputs.to(dtype)


def model_device(model: Callable[..., Any], default: torch.device | None = None) -> torch.device:
    """Device of the model's first parameter or buffer (``default`` or CPU if it has none)."""
    if isinstance(model, nn.Module):
        for param in model.parameters():
            return param.device
        for buffer in model.buffers():
            return buffer.device
    return default if default is not None else torch.device("cpu")


_HOOK_DICTS = (
    "_forward_hooks",
    "_forward_hooks_with_kwargs",
    "_forward_hooks_always_called",
    "_forward_pre_hooks",
    "_forward_pre_hooks_with_kwargs",
    "_backward_hooks",
    "_backward_pre_hooks",
)


@contextmanager
def preserved_model_state(model: Callable[..., Any]) -> Iterator[None]:
    """Restore training flags, ``requires_grad``, ``.grad`` and hooks on exit, also after errors.

    Explainers never edit parameters or buffers; this guard restores what temporary
    instrumentation may touch, so that the user's model is unchanged after any call.
    """
    if not isinstance(model, nn.Module):
        yield
        return
    modules = list(model.modules())
    training = [getattr(m, "training", None) for m in modules]  # a frozen TorchScript module has none
    params = list(model.parameters())
    requires_grad = [p.requires_grad for p in params]
    grads = [p.grad for p in params]
    hooks = [{k: dict(getattr(m, k, {})) for k in _HOOK_DICTS} for m in modules]
    try:
        yield
    finally:
        for module, flag, saved in zip(modules, training, hooks):
            if flag is not None:
                module.training = flag
            for key, before in saved.items():
                current = getattr(module, key, None)
                if current is None:
                    continue
                for handle_id in [h for h in current if h not in before]:
                    del current[handle_id]
        for param, flag, grad in zip(params, requires_grad, grads):
            param.requires_grad_(flag)
            param.grad = grad
