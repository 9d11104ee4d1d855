"""The one entry point: ``xaikit.explain``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor

from xaikit.core.base import Explainer, Model
from xaikit.core.explanation import Explanation
from xaikit.core.registry import make_method
from xaikit.core.targets import TargetLike
from xaikit.core.wrappers import OutputSelector


def explain(
    model: Model,
    inputs: Tensor,
    target: TargetLike = None,
    method: str | Explainer = "lrp",
    *,
    feature_names: Sequence[str] | None = None,
    output: OutputSelector | None = None,
    **options: Any,
) -> Explanation:
    """Explain ``model``'s predictions on a batch.

    Parameters
    ----------
    model : torch.nn.Module or callable
        The model, in eval mode; it is never modified.
    inputs : torch.Tensor
        A batch of shape ``(N, ...)``: tabular ``(N, d)``, time series ``(N, C, T)``,
        images ``(N, C, H, W)``, volumes. Never modified.
    target : int, tensor, callable, Target or None
        What to explain: a class index (or one per sample), ``None`` for the predicted
        class, ``xaikit.LogOdds(c)`` for log-odds, or a callable mapping the output to one
        value per sample.
    method : str or Explainer
        A registered method name (see :func:`xaikit.methods`) or an explainer object.
    feature_names : sequence of str, optional
        Names of tabular features, kept for plots.
    output : str, int or callable, optional
        For a model returning a dict, tuple or Hugging Face ``ModelOutput``: the entry to
        explain (``"logits"``, an index, or a callable on the output such as
        ``lambda out: out.logits[:, -1]`` for a language model's next token).
    **options
        The method's options, for example ``composite="epsilon_gamma_box"`` for LRP.

    Returns
    -------
    Explanation
        Attribution with the same shape and device as ``inputs``, in the model's
        floating-point type (inputs of another type, such as NumPy's float64, are
        converted with a warning), the explained output per sample, target, method name
        and options.

    Examples
    --------
    >>> import torch, xaikit
    >>> model = xaikit.models.MLP(4, (8,), 3).eval()
    >>> e = xaikit.explain(model, torch.randn(5, 4), method="lrp", composite="epsilon")
    >>> e.attribution.shape
    torch.Size([5, 4])
    """
    if isinstance(method, Explainer):
        if options:
            raise TypeError("pass options to the explainer's constructor when giving an explainer object")
        explainer = method
    else:
        explainer = make_method(method, **options)
    return explainer(model, inputs, target, feature_names=feature_names, output=output)
