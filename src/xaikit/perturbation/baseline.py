"""What replaces a feature that is "removed" by an explainer: the ``baseline`` option.

Every perturbation method removes features by replacing them; its ``baseline`` option is
resolved by :func:`resolve_baseline` into a :class:`~xaikit.perturbation.removal.Removal`
(the one replacement API of explainers and metrics, :mod:`xaikit.perturbation.removal`):

- ``None``: zeros;
- a number: that constant everywhere;
- a tensor of the sample shape (or broadcastable to it, for example ``(C, 1, 1)`` for a
  per-channel value), shared by all samples, or of the batch shape ``(N, ...)`` for one
  baseline per sample;
- :class:`Background`: a set of reference samples ``(M, ...)``. With
  ``mode="expectation"`` (default) the value of a perturbed input is the *average model
  output* over the background rows, ``E_b[f(x_S, b_rest)]`` (the interventional
  expectation of SHAP, as in ``shap``'s ``Independent`` masker and ``KernelExplainer``);
  it costs ``M`` model evaluations per perturbation. With ``mode="mean"`` the removed
  features are replaced by the background *mean* (one evaluation per perturbation);
- any other :class:`~xaikit.perturbation.removal.Removal`, such as
  :class:`~xaikit.perturbation.removal.Blur` (random values come from a generator
  seeded with 0, so results are deterministic).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from xaikit.perturbation.removal import Reference, Removal

__all__ = ["Background", "BaselineLike", "Reference", "resolve_baseline"]

BackgroundMode = Literal["expectation", "mean"]


@dataclass(frozen=True, eq=False)
class Background(Removal):
    """A background (reference) data set whose features replace the removed ones.

    Parameters
    ----------
    data : torch.Tensor or numpy.ndarray
        Reference samples of shape ``(M, ...)``, each of the explained samples' shape.
    mode : {"expectation", "mean"}
        ``"expectation"``: average the model output over all ``M`` rows (``M`` model
        evaluations per perturbation; the SHAP convention). ``"mean"``: replace removed
        features by the mean of the rows (one evaluation per perturbation).

    Examples
    --------
    >>> import torch
    >>> bg = Background(torch.randn(20, 4))
    >>> len(bg)
    20
    """

    data: Tensor | np.ndarray
    mode: BackgroundMode = "expectation"

    def __post_init__(self) -> None:
        if self.mode not in ("expectation", "mean"):
            raise ValueError(f"Background mode must be 'expectation' or 'mean', got {self.mode!r}")
        if not isinstance(self.data, Tensor | np.ndarray):
            raise TypeError(
                f"Background data must be a tensor or array of shape (M, ...), got {type(self.data).__name__}"
            )
        if self.data.shape[0] == 0:
            raise ValueError("Background data is empty; pass at least one reference sample")

    def __len__(self) -> int:
        return int(self.data.shape[0])

    @property
    def expectation(self) -> bool:
        """Whether outputs are averaged over the rows (``mode="expectation"``)."""
        return self.mode == "expectation"

    @property
    def rows(self) -> int:
        """Model evaluations per perturbed input: ``M`` for an expectation, else 1."""
        return len(self) if self.expectation else 1

    def fill(self, x: Tensor, mask: Tensor, generator: torch.Generator) -> Tensor:
        """The background rows ``(M, ...)`` (an expectation), or their mean broadcast to ``x``.

        Parameters
        ----------
        x : torch.Tensor
            The inputs ``(N, ...)``; the rows are taken to their device and dtype.
        mask, generator
            Unused (the replacement depends on neither).

        Returns
        -------
        torch.Tensor
            ``(M, ...)`` rows, or the mean row expanded to ``x``'s shape.
        """
        data = _as_tensor(self.data, x, "Background data")
        sample = tuple(x.shape[1:])
        if tuple(data.shape[1:]) != sample:
            raise ValueError(
                f"Background rows have shape {tuple(data.shape[1:])} but the inputs' samples have "
                f"shape {sample}; pass background data of shape (M, {', '.join(map(str, sample))})"
            )
        if self.expectation:
            return data
        return data.mean(0, keepdim=True).expand(x.shape)


BaselineLike = Removal | Tensor | np.ndarray | float | int | None


def _as_tensor(value: Tensor | np.ndarray, like: Tensor, what: str) -> Tensor:
    tensor = torch.from_numpy(value) if isinstance(value, np.ndarray) else value
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{what} must be a tensor or array, got {type(value).__name__}")
    tensor = tensor.detach().to(device=like.device, dtype=like.dtype)
    if not bool(torch.isfinite(tensor).all()):
        raise ValueError(f"{what} contains NaN or inf values; pass finite reference values")
    return tensor


def resolve_baseline(baseline: BaselineLike, inputs: Tensor) -> Removal:
    """Resolve a user's ``baseline`` option against the batch ``inputs``.

    Parameters
    ----------
    baseline : None, float, tensor, array, Background or Removal
        See the module documentation.
    inputs : torch.Tensor
        The explained batch ``(N, ...)``.

    Returns
    -------
    Removal
        A :class:`~xaikit.perturbation.removal.Reference` with the values on the inputs'
        device and dtype for ``None``, a number, a tensor or a :class:`Background`; any
        other removal as it is.

    Raises
    ------
    ValueError
        If the shape fits neither the sample nor the batch shape, or values are not finite.
    """
    n, sample = inputs.shape[0], tuple(inputs.shape[1:])
    if baseline is None:
        return Reference(torch.zeros((1, *sample), dtype=inputs.dtype, device=inputs.device))
    if isinstance(baseline, bool):
        raise TypeError("baseline must be a number, tensor or Background, not a bool")
    if isinstance(baseline, int | float):
        if not np.isfinite(baseline):
            raise ValueError(f"baseline must be finite, got {baseline}")
        return Reference(torch.full((1, *sample), float(baseline), dtype=inputs.dtype, device=inputs.device))
    if isinstance(baseline, Background):
        reference = baseline.prepare(inputs)
        assert reference is not None
        return reference
    if isinstance(baseline, Removal):
        return baseline
    if isinstance(baseline, Tensor | np.ndarray):
        tensor = _as_tensor(baseline, inputs, "baseline")
        if tensor.ndim == inputs.ndim and tensor.shape[0] in (1, n) and tuple(tensor.shape[1:]) == sample:
            return Reference(tensor)
        try:
            shared = torch.broadcast_to(tensor, sample)
        except RuntimeError:
            raise ValueError(
                f"baseline of shape {tuple(tensor.shape)} fits neither one sample {sample} nor the "
                f"batch {(n, *sample)}; for a set of reference samples use "
                "baseline=xaikit.perturbation.Background(data)"
            ) from None
        return Reference(shared[None].contiguous())
    raise TypeError(
        f"cannot use a {type(baseline).__name__} as baseline; pass None (zeros), a number, a "
        "tensor, xaikit.perturbation.Background(data) or a removal such as xaikit.perturbation.Blur()"
    )
