"""The model parameter randomization test, repaired: eMPRT and sMPRT (Hedström, Weber,
Lapuschkin and Höhne, "Sanity checks revisited", TMLR 2024).

The original test (:func:`~xaikit.evaluate.model_randomization`) compares each explanation
with the one after randomizing layers by a similarity (SSIM, Spearman). Hedström et al.
show that the verdict then depends on the similarity, on the layer order and on noise in
the explanations (gradients of a trained network are already "shattered"), and propose:

- :func:`efficient_model_randomization` (eMPRT): no similarity at all. Randomize the whole
  model and measure the relative rise of the explanation's complexity, the discrete
  entropy of the histogram of its values: ``(H(e_random) - H(e)) / H(e)`` per sample.
  An explanation that reflects what the trained model learned is simpler than the one of
  a random model (positive score); a model-independent one scores 0.
- :func:`smooth_model_randomization` (sMPRT): the original test, bottom-up, on explanations
  denoised by averaging over noisy copies of the input (SmoothGrad's noise, here the
  ``noise_tunnel`` method around the explained one), so that noise no longer passes for
  sensitivity to the parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from xaikit.core.base import Attribution, Explainer, Model
from xaikit.core.targets import Target, TargetLike
from xaikit.core.validation import preserved_model_state
from xaikit.evaluate._common import (
    AttributionLike,
    MethodLike,
    as_attribution,
    as_explain_fn,
    as_fixed_target,
    as_module,
    explain_batched,
    prepare_inputs,
    resolve_target,
    to_map,
    to_numpy,
)
from xaikit.evaluate.randomization import (
    RandomizationResult,
    model_randomization,
    randomized_models,
)
from xaikit.evaluate.similarity import Similarity
from xaikit.gradients.noise_tunnel import NoiseTunnel

__all__ = [
    "EfficientRandomizationResult",
    "efficient_model_randomization",
    "histogram_entropy",
    "smooth_model_randomization",
]


def histogram_entropy(attribution: AttributionLike, *, bins: int = 100, reduce_channels: bool | None = None) -> np.ndarray:
    """Discrete entropy (nats) of the histogram of each sample's attribution values.

    ``bins`` equal-width bins between the sample's smallest and largest value (NumPy's
    histogram); the entropy of the bin frequencies. Low: the values take few distinct
    levels (a structured map, most of it near zero); high: spread over many.

    Parameters
    ----------
    attribution : tensor, array or Explanation
        ``(N, ...)``.
    bins : int
        Number of bins (Hedström et al. and Quantus: 100 unless a rule picks another).
    reduce_channels : bool, optional
        Sum image channels first (default for images).

    Returns
    -------
    numpy.ndarray
        ``(N,)`` entropies.
    """
    if not isinstance(bins, int) or bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}")
    values = attribution.attribution if hasattr(attribution, "attribution") else attribution
    maps = to_numpy(to_map(torch.as_tensor(values), reduce_channels)).reshape(len(values), -1).astype(np.float64)
    out = np.empty(len(maps))
    for n, row in enumerate(maps):
        counts, _ = np.histogram(row, bins=bins)
        frequencies = counts[counts > 0] / counts.sum()
        out[n] = float(-(frequencies * np.log(frequencies)).sum())
    return out


@dataclass(frozen=True)
class EfficientRandomizationResult:
    """eMPRT's complexities and scores.

    Attributes
    ----------
    original_entropy, random_entropy : numpy.ndarray
        ``(N,)`` histogram entropy of each explanation of the trained and of the fully
        randomized model.
    original_output_entropy, random_output_entropy : numpy.ndarray
        ``(N,)`` entropy of the models' softmax outputs (what randomization did to the
        predictions, for comparison).
    layers : list of str
        The layers randomized (all of them, in ``order``).
    """

    original_entropy: np.ndarray
    random_entropy: np.ndarray
    original_output_entropy: np.ndarray
    random_output_entropy: np.ndarray
    layers: list[str]

    @property
    def scores(self) -> np.ndarray:
        """``(H(e_random) - H(e)) / H(e)`` per sample (NaN where ``H(e) = 0``); higher passes better."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.original_entropy > 0,
                            (self.random_entropy - self.original_entropy) / self.original_entropy, np.nan)

    @property
    def mean(self) -> float:
        """The mean score."""
        return float(np.nanmean(self.scores))


def _output_entropy(model: nn.Module, x: Tensor) -> np.ndarray:
    with torch.no_grad():
        p = torch.softmax(model(x).double().flatten(1), dim=1)
    return to_numpy(-(p * torch.log(p.clamp(min=torch.finfo(p.dtype).tiny))).sum(1))


def efficient_model_randomization(
    model: nn.Module,
    x: Tensor,
    method: MethodLike,
    target: TargetLike = None,
    *,
    order: str = "bottom_up",
    layers: Sequence[str] | None = None,
    bins: int = 100,
    seed: int = 0,
    seed_per_layer: bool = True,
    method_options: Mapping[str, Any] | None = None,
    attribution: Any = None,
    reduce_channels: bool | None = None,
    batch_size: int | None = None,
) -> EfficientRandomizationResult:
    """eMPRT: the relative rise in explanation complexity after randomizing the whole model.

    Parameters
    ----------
    model : torch.nn.Module
        The trained model, in eval mode; never modified (randomization works on a copy).
    x : torch.Tensor
        Inputs ``(N, ...)``.
    method : str, Explainer or callable
        The explanation method.
    target : int, tensor, callable, Target or None
        The explained class; by default the trained model's prediction, kept for the
        randomized model.
    order : {"bottom_up", "top_down"}
        The cascade that randomizes all layers (the end state is the same; it fixes which
        seed each layer gets).
    layers : sequence of str, optional
        Layers to randomize (default: all with ``reset_parameters``).
    bins : int
        Histogram bins of the entropy.
    seed : int
        Seed of the re-initialization.
    seed_per_layer : bool
        See :func:`~xaikit.evaluate.randomized_models` (``False``: Quantus's scheme).
    method_options : mapping, optional
        Options of a method given by name.
    attribution : tensor, optional
        The trained model's explanation, if already computed.
    reduce_channels : bool, optional
        Sum image channels before measuring (default for images).
    batch_size : int, optional
        Inputs explained per call.

    Returns
    -------
    EfficientRandomizationResult
    """
    if order not in ("bottom_up", "top_down"):
        raise ValueError(f"eMPRT randomizes every layer: order must be 'bottom_up' or 'top_down', got {order!r}")
    model = as_module(model, "eMPRT")
    xs = prepare_inputs(model, x)
    explain = as_explain_fn(method, method_options)
    with preserved_model_state(model):
        resolved = resolve_target(model, xs, target, batch_size)
        original = explain_batched(explain, model, xs, resolved, batch_size) if attribution is None else \
            as_attribution(attribution, xs)
        cascade = list(randomized_models(model, order=order, layers=layers, seed=seed, seed_per_layer=seed_per_layer))  # one copy, all randomized
        visited, random_model = [name for name, _ in cascade], cascade[-1][1]
        randomized = explain_batched(explain, random_model, xs, resolved, batch_size)
        return EfficientRandomizationResult(
            original_entropy=histogram_entropy(original, bins=bins, reduce_channels=reduce_channels),
            random_entropy=histogram_entropy(randomized, bins=bins, reduce_channels=reduce_channels),
            original_output_entropy=_output_entropy(model, xs),
            random_output_entropy=_output_entropy(random_model, xs),
            layers=visited,
        )


class _CallableMethod(Explainer):
    """A callable ``fn(model, inputs, target)`` as an explainer, so that noise_tunnel can smooth it."""

    def __init__(self, explain: Callable[..., Any]) -> None:
        self.explain = as_explain_fn(explain)

    def attribute(self, model: Model, inputs: Tensor, target: Target) -> Attribution:
        with torch.no_grad():
            output = model(inputs)
        resolved = target.resolve(output)
        values = self.explain(model, inputs, as_fixed_target(resolved))
        return Attribution(attribution=values, output=resolved.select(output), target=resolved)


def smooth_model_randomization(
    model: nn.Module,
    x: Tensor,
    method: MethodLike,
    target: TargetLike = None,
    *,
    samples: int = 50,
    noise: float = 0.1,
    order: str = "bottom_up",
    layers: Sequence[str] | None = None,
    similarities: Sequence[str | Similarity] = ("spearman_abs",),
    seeds: int | Sequence[int] = (0,),
    method_options: Mapping[str, Any] | None = None,
    batch_size: int | None = None,
    progress: bool | None = None,
) -> RandomizationResult:
    """sMPRT: the randomization test on explanations averaged over noisy copies of the input.

    Parameters
    ----------
    model, x, target
        As in :func:`~xaikit.evaluate.model_randomization`.
    method : str, Explainer or callable
        The explanation method, wrapped in ``noise_tunnel`` (SmoothGrad's average).
    samples : int
        Noisy copies per input (the paper's 50).
    noise : float
        Noise standard deviation relative to each input's range (the paper's 0.1).
    order : {"bottom_up", "top_down", "independent"}
        Bottom-up, as the paper recommends.
    layers, similarities, seeds, batch_size, progress
        As in :func:`~xaikit.evaluate.model_randomization` (Spearman of absolute values by
        default, the paper's choice).
    method_options : mapping, optional
        Options of a method given by name.

    Returns
    -------
    RandomizationResult
    """
    if isinstance(method, str):
        smooth = NoiseTunnel(base_method=method, base_options=dict(method_options or {}), samples=samples,
                             stdev=noise, seed=0, progress=False)
    else:
        if method_options:
            raise TypeError("pass method_options only with a method name; configure the explainer object instead")
        inner = method if isinstance(method, Explainer) else _CallableMethod(method)
        smooth = NoiseTunnel(base_method=inner, samples=samples, stdev=noise, seed=0, progress=False)
    return model_randomization(model, x, smooth, target, order=order, layers=layers, similarities=similarities,
                               seeds=seeds, batch_size=batch_size, progress=progress)
