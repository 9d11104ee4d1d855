"""Activation maximization: the input pattern a model output responds to most.

A global explanation: instead of explaining one prediction, synthesize

.. math:: x^* = \\arg\\max_x\\; f_c(x) - \\lambda \\|x\\|^2 + \\beta \\log p(x)

by gradient ascent, where the norm penalty keeps the problem bounded (for a linear
``f(x) = w^T x + b`` the solution is ``w / (2 lambda)``) and the optional data
log-density ``log p(x)`` favours inputs that look like data (for ``f = log p(c|x)`` the
maximizer is then the most typical input of class ``c``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from xaikit.core.base import Model
from xaikit.core.forward import check_output
from xaikit.core.targets import Predicted, TargetLike, as_target
from xaikit.core.validation import check_eval_mode, model_device, preserved_model_state
from xaikit.utils.progress_bars import progress as progress_bar
from xaikit.utils.random import as_generator

__all__ = ["MaximizationResult", "activation_maximization"]

LogDensity = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class MaximizationResult:
    """What :func:`activation_maximization` found.

    Attributes
    ----------
    inputs : torch.Tensor
        ``(starts, *shape)`` the synthesized inputs (detached).
    value : torch.Tensor
        ``(starts,)`` the explained output ``f_c`` at them.
    objective : torch.Tensor
        ``(starts,)`` the regularized objective at them.
    history : torch.Tensor
        ``(steps, starts)`` the objective before each step.
    """

    inputs: Tensor
    value: Tensor
    objective: Tensor
    history: Tensor


def _initial(
    init: str | Tensor, shape: tuple[int, ...], starts: int, scale: float, seed: int | None, device: torch.device, dtype: torch.dtype
) -> Tensor:
    if isinstance(init, Tensor):
        try:
            return torch.broadcast_to(init.detach().to(device, dtype), (starts, *shape)).clone()
        except RuntimeError:
            raise ValueError(
                f"init of shape {tuple(init.shape)} fits neither {shape} nor {(starts, *shape)}"
            ) from None
    if init == "zeros":
        return torch.zeros((starts, *shape), device=device, dtype=dtype)
    if init == "random":
        gen = as_generator(seed, device=device)
        return scale * torch.randn((starts, *shape), generator=gen, device=device, dtype=dtype)
    raise ValueError(f"init must be 'zeros', 'random' or a tensor, got {init!r}")


def activation_maximization(
    model: Model,
    target: TargetLike,
    shape: Sequence[int],
    *,
    l2: float = 0.01,
    steps: int = 500,
    lr: float = 0.05,
    optimizer: Literal["adam", "sgd"] = "adam",
    init: str | Tensor = "zeros",
    init_scale: float = 0.01,
    starts: int = 1,
    log_density: LogDensity | None = None,
    density_weight: float = 1.0,
    bounds: tuple[float, float] | None = None,
    seed: int | None = 0,
    dtype: torch.dtype | None = None,
    progress: bool | None = None,
) -> MaximizationResult:
    """Synthesize inputs maximizing ``f_c(x) - l2 ||x||^2 + density_weight log p(x)``.

    Parameters
    ----------
    model : torch.nn.Module or callable
        Maps a batch ``(B, *shape)`` to outputs; in eval mode, never modified.
    target : int or callable or Target
        The output to maximize: a class index, or a callable mapping the output to one
        value per sample (any neuron or objective). The predicted class is not allowed
        (it changes during the ascent).
    shape : sequence of int
        Shape of one input, e.g. ``(3, 64, 64)``.
    l2 : float
        Weight ``lambda`` of the squared-norm penalty (>= 0).
    steps : int
        Gradient-ascent steps.
    lr : float
        Step size.
    optimizer : {"adam", "sgd"}
        Adam, or plain gradient ascent.
    init : {"zeros", "random"} or torch.Tensor
        Starting point(s); ``"random"`` draws ``init_scale * N(0, 1)`` from ``seed``.
    init_scale : float
        Scale of a random start.
    starts : int
        Number of ascents run in parallel (from different random starts).
    log_density : callable, optional
        ``x -> log p(x)`` per sample, e.g. :class:`~xaikit.perturbation.priors.GaussianPrior`
        or :class:`~xaikit.perturbation.priors.GaussianMixturePrior` fitted to data.
    density_weight : float
        Weight ``beta`` of the log-density.
    bounds : (float, float), optional
        Keep each input element in this box (projected ascent).
    seed : int or None
        Seed of a random start.
    dtype : torch.dtype, optional
        Dtype of the synthesized inputs; that of the model's parameters by default
        (float32 for a model without parameters).
    progress : bool or None
        Show a progress bar over the steps.

    Returns
    -------
    MaximizationResult
        The inputs, their output, objective, and the objective history.

    Examples
    --------
    >>> import torch
    >>> model = torch.nn.Linear(2, 1)
    >>> with torch.no_grad():
    ...     _ = model.weight.copy_(torch.tensor([[1.0, -2.0]]))
    >>> r = activation_maximization(model, 0, (2,), l2=0.5, steps=300, lr=0.5, optimizer="sgd")
    >>> torch.allclose(r.inputs[0], torch.tensor([1.0, -2.0]), atol=1e-4)
    True
    """
    if steps < 1 or starts < 1:
        raise ValueError(f"steps and starts must be positive, got steps={steps}, starts={starts}")
    if l2 < 0 or lr <= 0:
        raise ValueError(f"l2 must be >= 0 and lr > 0, got l2={l2}, lr={lr}")
    if optimizer not in ("adam", "sgd"):
        raise ValueError(f"optimizer must be 'adam' or 'sgd', got {optimizer!r}")
    goal = as_target(target)
    if isinstance(goal, Predicted):
        raise ValueError(
            "activation maximization needs a fixed target: a class index or a callable selecting "
            "the output to maximize (the predicted class changes during the ascent)"
        )
    if bounds is not None and not bounds[0] < bounds[1]:
        raise ValueError(f"bounds must be (low, high) with low < high, got {bounds}")
    shape = tuple(int(s) for s in shape)
    device = model_device(model)
    if dtype is None:
        params = list(model.parameters()) if isinstance(model, torch.nn.Module) else []
        dtype = params[0].dtype if params else torch.float32
    check_eval_mode(model)
    x = _initial(init, shape, starts, init_scale, seed, device, dtype)
    if bounds is not None:
        x = x.clamp(*bounds)
    x.requires_grad_(True)
    opt: torch.optim.Optimizer = torch.optim.Adam([x], lr=lr) if optimizer == "adam" else torch.optim.SGD([x], lr=lr)
    history = torch.empty((steps, starts), dtype=torch.float64)

    def evaluate(point: Tensor) -> tuple[Tensor, Tensor]:
        output = check_output(model(point), len(point))
        value = goal.resolve(output.detach()).select(output)
        objective = value - l2 * point.flatten(1).pow(2).sum(1)
        if log_density is not None:
            objective = objective + density_weight * log_density(point)
        return value, objective

    with preserved_model_state(model), torch.enable_grad():
        for step in progress_bar(range(steps), desc="activation maximization", enabled=progress, min_items=50):
            _, objective = evaluate(x)
            history[step] = objective.detach().cpu().double()
            (grad,) = torch.autograd.grad(objective.sum(), x)
            x.grad = -grad
            opt.step()
            if bounds is not None:
                with torch.no_grad():
                    x.clamp_(*bounds)
        value, objective = evaluate(x)
    return MaximizationResult(x.detach(), value.detach(), objective.detach(), history)
