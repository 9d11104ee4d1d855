"""Summation-to-delta checked: DeepLIFT's and DeepSHAP's attributions must sum to ``f(x) - f(b)``.

Completeness holds only when every operation of the model has a DeepLIFT multiplier;
:func:`check_completeness` compares the gap with a round-off tolerance of the dtype (and the
lower-precision arithmetic PyTorch may use for float32) and warns or raises with the gap,
its likely cause and the fix.
"""

from __future__ import annotations

import sys
import warnings

import torch
from torch import Tensor

from xaikit.utils.errors import ModelError

__all__ = [
    "COMPLETENESS_EPS_FACTOR",
    "COMPLETENESS_MODES",
    "COMPLETENESS_RTOL_BOUNDS",
    "CompletenessWarning",
    "accumulator_dtype_of",
    "check_completeness",
    "check_completeness_mode",
    "completeness_tolerance",
    "round_off_eps",
]

#: What :class:`DeepLift` and :class:`DeepShap` do when summation-to-delta fails.
COMPLETENESS_MODES = ("warn", "raise", "ignore")

#: Relative tolerance of the completeness check, in units of the dtype's machine epsilon.
#: Round-off on ordinary ReLU networks (MLPs, CNNs, VGG with and without batch norm,
#: ResNet; Rescale and RevealCancel; DeepSHAP) stays below about 10 epsilon of the scale of
#: :func:`completeness_tolerance` in float32 and float64; operations without a DeepLIFT
#: multiplier miss by 1e5 epsilon (float32) or more.
COMPLETENESS_EPS_FACTOR = 1e3
#: Bounds of that relative tolerance: below ``1e-9`` a gap is invisible in any heatmap (and
#: the 32-point secant of a log-odds target may leave ~1e-12 in float64); above ``0.1``
#: (float16, bfloat16 and TensorFloat-32, whose round-off alone reaches a few percent) the
#: check would be void.
COMPLETENESS_RTOL_BOUNDS = (1e-9, 0.1)


class CompletenessWarning(UserWarning):
    """DeepLIFT's or DeepSHAP's attributions do not sum to the explained output difference.

    Summation-to-delta holds only when every operation of the model has a DeepLIFT
    multiplier (linear operations, element-wise activations, max-pooling). The warning
    gives the gap; ``completeness="raise"`` makes it a
    :class:`~xaikit.utils.errors.ModelError`, ``completeness="ignore"`` silences it.
    """


def check_completeness_mode(mode: str) -> None:
    if mode not in COMPLETENESS_MODES:
        raise ValueError(
            f"unknown completeness check {mode!r}; choose one of {', '.join(COMPLETENESS_MODES)}"
        )


#: Machine epsilon of TensorFloat-32 (10 mantissa bits), which float32 matmuls and
#: convolutions may use on CUDA.
TF32_EPS = 2.0**-10


def round_off_eps(dtype: torch.dtype, device: torch.device | str | None = None) -> float:
    """Machine epsilon of the arithmetic a model in ``dtype`` on ``device`` runs with.

    ``eps(dtype)``, except for float32 where PyTorch may compute matmuls and convolutions at
    lower precision: bfloat16 under ``torch.set_float32_matmul_precision("medium")``,
    TensorFloat-32 under ``"high"`` or, on CUDA devices of compute capability 8.0 and later,
    with ``torch.backends.cudnn.allow_tf32`` (PyTorch's default for convolutions).
    """
    eps = torch.finfo(dtype).eps
    if dtype != torch.float32:
        return eps
    precision = torch.get_float32_matmul_precision()
    if precision == "medium":
        return torch.finfo(torch.bfloat16).eps
    if precision == "high":
        return TF32_EPS
    device = torch.device(device) if device is not None else None
    if device is not None and device.type == "cuda" and torch.backends.cudnn.allow_tf32:
        if torch.cuda.get_device_capability(device) >= (8, 0):
            return TF32_EPS
    return eps


def completeness_tolerance(
    dtype: torch.dtype, scale: Tensor, device: torch.device | str | None = None
) -> Tensor:
    """Largest completeness gap taken for round-off, per sample.

    ``rtol * scale + tiny`` with ``rtol = COMPLETENESS_EPS_FACTOR * eps`` for the
    :func:`round_off_eps` of ``dtype`` on ``device``, clipped to
    :data:`COMPLETENESS_RTOL_BOUNDS` (1.2e-4 in float32, 1e-9 in float64, 0.1 in float16,
    bfloat16 and TensorFloat-32), and ``scale = |f(x)| + |f(b)| + sum|R| +
    sum|m_out * (out(x) - out(b))|``: round-off grows with the size of the contributions
    that cancel, not only with the explained difference.
    """
    low, high = COMPLETENESS_RTOL_BOUNDS
    rtol = min(max(COMPLETENESS_EPS_FACTOR * round_off_eps(dtype, device), low), high)
    return rtol * scale + torch.finfo(dtype).tiny


def _arithmetic(t: Tensor) -> str:
    name = str(t.dtype).removeprefix("torch.")
    eps = round_off_eps(t.dtype, t.device)
    if eps == TF32_EPS and t.dtype == torch.float32:
        return f"{name} with TensorFloat-32 matmuls or convolutions"
    if eps != torch.finfo(t.dtype).eps:
        return f"{name} with bfloat16 matmuls"
    return name


def accumulator_dtype_of(t: Tensor) -> torch.dtype:
    """The dtype the completeness sums run in (float64; float32 on MPS, which has no float64)."""
    return torch.float32 if t.device.type == "mps" else torch.float64


def _per_sample_sum(t: Tensor, absolute: bool = False) -> Tensor:
    """``t`` summed per sample (``|t|`` if ``absolute``) in double precision, on the CPU."""
    flat = t.detach().reshape(len(t), -1)
    return (flat.abs() if absolute else flat).sum(1, dtype=accumulator_dtype_of(t)).cpu().double()


def _cpu(t: Tensor) -> Tensor:
    return t.detach().to(accumulator_dtype_of(t)).cpu().double()


def _outside_xaikit() -> int:
    """``stacklevel`` of the first frame outside xaikit, for a warning raised in the caller."""
    level, frame = 1, sys._getframe(1)
    while frame.f_back is not None and frame.f_globals.get("__name__", "").partition(".")[0] == "xaikit":
        frame, level = frame.f_back, level + 1
    return level


def check_completeness(
    method: str,
    mode: str,
    *,
    output: Tensor,
    attribution: Tensor,
    scale: Tensor,
    target_gap: Tensor,
    nonlinear_target: bool,
    reference: str = "f(b)",
) -> None:
    """Warn (``mode="warn"``) or raise :class:`ModelError` (``"raise"``) if summation-to-delta fails.

    Parameters
    ----------
    method : str
        The method's name, for the message.
    mode : str
        ``"warn"``, ``"raise"`` or ``"ignore"``.
    output : torch.Tensor
        ``f(x) - f(b)`` per sample, what the attributions must sum to.
    attribution : torch.Tensor
        The attributions, shape ``(N, ...)``.
    scale : torch.Tensor
        Per sample, the size of the terms whose round-off the gap may hold (see
        :func:`completeness_tolerance`), without ``sum|R|``, which is added here.
    target_gap : torch.Tensor
        The part of the gap made by the secant of a non-linear target (``f(x) - f(b)``
        minus what the output multipliers distribute).
    nonlinear_target : bool
        Whether the target is log-odds or a function of the output.
    reference : str
        How the message names the reference value.
    """
    if mode == "ignore":
        return
    delta = _cpu(output)
    gap = delta - _per_sample_sum(attribution)
    tolerance = completeness_tolerance(
        attribution.dtype, _cpu(scale) + _per_sample_sum(attribution, absolute=True), attribution.device
    )
    excess = gap.abs() / tolerance
    failing = excess > 1  # NaN compares False: non-finite results are refused elsewhere
    if not bool(failing.any()):
        return
    worst = int(torch.where(failing, gap.abs(), torch.zeros_like(gap)).argmax())
    size, difference = float(gap[worst].abs()), float(delta[worst].abs())
    relative = f"{size / difference:.3g}" if difference > 0 else "inf"
    summary = (
        f"{method}: summation-to-delta does not hold for this model: in {int(failing.sum())} of "
        f"{len(gap)} sample(s) the attributions do not sum to f(x) - {reference}; the largest gap "
        f"(sample {worst}) is {size:.3g}, {relative} times |f(x) - {reference}| = {difference:.3g} "
        f"(round-off tolerance {float(tolerance[worst]):.3g} in {_arithmetic(attribution)}; "
        "extras['completeness_gap'] holds the gap of every sample). "
    )
    if nonlinear_target and float(_cpu(target_gap)[worst].abs()) >= 0.5 * size:
        cause = (
            "Most of the gap comes from the target: log-odds or a function of the output is "
            "given a multiplier averaged over 32 points between the outputs at x and at the "
            "reference, which is inexact where the outputs differ a lot or the function is not "
            "smooth. Explain a class logit (an integer target) for exact completeness, or use "
            "integrated_gradients."
        )
    else:
        cause = (
            "The likely cause is an operation without a DeepLIFT multiplier, which passes its "
            "gradient at x instead: a normalization over features or groups (LayerNorm, "
            "GroupNorm, InstanceNorm), a data-dependent torch.where, sort or topk, or a mask "
            "multiplying its own input (x * (x > t)). Use integrated_gradients (completeness up "
            "to its tolerance) or a Shapley method (shapley, shapley_sampling, kernel_shap) for "
            "attributions that sum to the output difference, or restructure the operation (for "
            "example torch.relu(x) instead of a mask times x)."
        )
    if mode == "raise":
        raise ModelError(summary + cause + " Pass completeness='warn' or 'ignore' to get the attributions anyway.")
    warnings.warn(
        summary + cause + " Pass completeness='ignore' to silence this check, or 'raise' to make it an error.",
        CompletenessWarning,
        stacklevel=_outside_xaikit(),
    )
