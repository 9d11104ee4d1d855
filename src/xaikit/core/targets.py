"""What to explain: a class, the predicted class, log-odds, or any selection of the output.

Every target resolves, given the model output of a batch, to a differentiable scalar
per sample (:meth:`ResolvedTarget.select`) and, for propagation methods, a starting
relevance on the output (:meth:`ResolvedTarget.start_relevance`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import Tensor

from xaikit.utils.errors import TargetError

OutputFn = Callable[[Tensor], Tensor]


def _as_2d(output: Tensor) -> Tensor:
    if output.ndim == 1:
        return output[:, None]
    if output.ndim != 2:
        raise TargetError(
            f"model output has shape {tuple(output.shape)}; class targets need an output of "
            "shape (N, classes) or (N,). Pass target=callable mapping the output to one "
            "value per sample instead."
        )
    return output


@dataclass(frozen=True)
class ResolvedTarget:
    """A target bound to one batch of model outputs.

    Attributes
    ----------
    index : torch.Tensor or None
        Explained class per sample, ``(N,)`` long; ``None`` for arbitrary selections.
    logodds : bool
        Whether the explained value is the log-odds of the class.
    selection : callable or None
        The user's selection function, for :class:`OutputSelection` targets.
    """

    index: Tensor | None
    logodds: bool = False
    selection: OutputFn | None = None

    def select(self, output: Tensor) -> Tensor:
        """The explained value per sample, differentiable in ``output``; shape ``(N,)``."""
        if self.selection is not None:
            value = self.selection(output)
            if not isinstance(value, Tensor) or value.shape != (output.shape[0],):
                shape = getattr(value, "shape", type(value).__name__)
                raise TargetError(
                    f"target callable must return a tensor of shape (N,) = ({output.shape[0]},); "
                    f"it returned {shape}"
                )
            return value
        assert self.index is not None
        out = _as_2d(output)
        chosen = out.gather(1, self.index[:, None].to(out.device)).squeeze(1)
        if not self.logodds:
            return chosen
        return logodds(out, self.index)

    def take(self, index: slice | Tensor | Sequence[int]) -> ResolvedTarget:
        """The target of the samples ``index`` of the batch (rows may repeat, in any order)."""
        if self.index is None:
            return self
        if isinstance(index, Tensor):
            index = index.to(self.index.device)
        return replace(self, index=self.index[index])

    def repeat(self, times: int) -> ResolvedTarget:
        """The target of ``times`` stacked copies of the batch (``[x; x; ...]``)."""
        if self.index is None:
            return self
        return replace(self, index=self.index.repeat(times))

    def start_relevance(self, output: Tensor) -> Tensor:
        """Relevance put on the output to start a backward propagation.

        ``output * d select / d output``: for a class target the one-hot mask times the
        logit, for any selection that is linear in the output a decomposition whose sum
        is the selected value.
        """
        out = output.detach().requires_grad_(True)
        with torch.enable_grad():
            value = self.select(out)
            (grad,) = torch.autograd.grad(value.sum(), out)
        return output.detach() * grad


def logodds(logits: Tensor, index: Tensor) -> Tensor:
    """``log(P(c|x) / (1 - P(c|x)))`` from logits: ``z_c - logsumexp_{k != c} z_k``."""
    logits = _as_2d(logits)
    if logits.shape[1] < 2:
        raise TargetError("log-odds need at least two classes in the model output")
    idx = index[:, None].to(logits.device)
    chosen = logits.gather(1, idx).squeeze(1)
    others = logits.scatter(1, idx, float("-inf"))
    return chosen - torch.logsumexp(others, dim=1)


class Target(ABC):
    """A specification of what to explain, resolved per batch."""

    @abstractmethod
    def resolve(self, output: Tensor) -> ResolvedTarget:
        """Bind the target to a batch of model outputs."""


def _check_index(index: Tensor, output: Tensor) -> Tensor:
    out = _as_2d(output)
    n, k = out.shape
    if index.ndim == 0:
        index = index.expand(n)
    if index.shape != (n,):
        raise TargetError(
            f"target has shape {tuple(index.shape)} but the batch has {n} samples; "
            f"pass one class index, or a tensor of shape ({n},)"
        )
    if index.dtype.is_floating_point or index.dtype == torch.bool:
        raise TargetError(
            f"target class indices must be integers, got dtype {index.dtype}; pass class indices "
            "(for example target.long()), or a callable for another selection of the output"
        )
    if len(index) and (int(index.min()) < 0 or int(index.max()) >= k):
        bad = int(index.max()) if int(index.max()) >= k else int(index.min())
        raise TargetError(
            f"target {bad} is out of range for a model output with {k} classes; "
            f"pass class indices in 0..{k - 1}"
        )
    return index.to(device=output.device, dtype=torch.long)


@dataclass(frozen=True)
class ClassTarget(Target):
    """Explain the output of a given class (one index, or one per sample)."""

    index: int | Sequence[int] | Tensor | np.ndarray

    def resolve(self, output: Tensor) -> ResolvedTarget:
        try:
            index = torch.as_tensor(self.index)
        except (OverflowError, RuntimeError, TypeError, ValueError) as error:
            raise TargetError(
                f"target {self.index!r} is not a class index or a sequence of them ({error}); pass "
                f"class indices in 0..{_as_2d(output).shape[1] - 1}"
            ) from None
        return ResolvedTarget(index=_check_index(index, output))


@dataclass(frozen=True)
class Predicted(Target):
    """Explain the predicted (arg-max) class of each sample."""

    def resolve(self, output: Tensor) -> ResolvedTarget:
        return ResolvedTarget(index=_as_2d(output).detach().argmax(1))


@dataclass(frozen=True)
class LogOdds(Target):
    """Explain the log-odds ``log(P(c|x) / (1 - P(c|x)))`` of class ``c``.

    Equal to the soft-min over ``k != c`` of the logit differences ``z_c - z_k``. With LRP
    the last linear layer is neuralized into the difference layer followed by that
    soft-min, so that evidence for a competing class shows up negative.

    Parameters
    ----------
    index : int, sequence or tensor, optional
        The class; the predicted class when omitted.
    """

    index: int | Sequence[int] | Tensor | np.ndarray | None = None

    def resolve(self, output: Tensor) -> ResolvedTarget:
        base = Predicted() if self.index is None else ClassTarget(self.index)
        return ResolvedTarget(index=base.resolve(output).index, logodds=True)


@dataclass(frozen=True)
class OutputSelection(Target):
    """Explain ``fn(output)``, any function mapping the output to one value per sample."""

    fn: OutputFn

    def resolve(self, output: Tensor) -> ResolvedTarget:
        return ResolvedTarget(index=None, selection=self.fn)


TargetLike = Target | int | Sequence[int] | Tensor | np.ndarray | OutputFn | str | None


def as_target(target: TargetLike) -> Target:
    """Turn what users pass as ``target=`` into a :class:`Target`.

    ``None`` or ``"predicted"`` → the predicted class; an int, sequence, array or tensor →
    those classes; ``"logodds"`` → log-odds of the predicted class; a callable → an output
    selection; a :class:`Target` as is.
    """
    if target is None:
        return Predicted()
    if isinstance(target, Target):
        return target
    if isinstance(target, str):
        if target == "predicted":
            return Predicted()
        if target == "logodds":
            return LogOdds()
        raise TargetError(f"unknown target {target!r}; use 'predicted', 'logodds', an index or a callable")
    if isinstance(target, bool):
        raise TargetError("target must be a class index, not a bool; pass the index itself (target=1)")
    if isinstance(target, int | np.integer | Tensor | np.ndarray | list | tuple):
        return ClassTarget(target if not isinstance(target, np.integer) else int(target))
    if callable(target):
        return OutputSelection(target)
    raise TargetError(
        f"cannot interpret target of type {type(target).__name__}; pass a class index, a tensor of "
        "indices, 'predicted', 'logodds', a callable on the output, or a Target"
    )
