"""Randomization sanity checks (Adebayo et al., 2018) and class sensitivity.

- :func:`model_randomization`: re-initialize the model's layers, cascading from the
  top (``"top_down"``), from the bottom (``"bottom_up"``), or one at a time
  (``"independent"``), and measure how similar the explanation stays to the original
  one. A method whose explanation does not change when the weights it should explain
  are destroyed fails the check.
- :func:`class_sensitivity` (random-logit test, Sixt et al., 2020): similarity of the
  explanations of two different classes for the same input; a method that explains
  every class the same way is class-insensitive.

Layers are re-initialized with their own initializer (``reset_parameters()``) on a deep
copy of the model, under a local seed (``torch.random.fork_rng``): the user's model and
the global random state are left untouched.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn

from xaikit.core.base import Model
from xaikit.core.targets import ResolvedTarget, TargetLike
from xaikit.core.validation import preserved_model_state
from xaikit.evaluate._common import (
    MethodLike,
    as_attribution,
    as_explain_fn,
    as_module,
    explain_batched,
    forward,
    prepare_inputs,
    resolve_target,
    to_map,
    to_numpy,
)
from xaikit.evaluate.similarity import Similarity, against, default_similarities, get_similarity
from xaikit.utils.options import accepts_old_names
from xaikit.utils.progress_bars import progress as progress_bar
from xaikit.utils.random import as_generator

if TYPE_CHECKING:
    import pandas as pd

ORDERS = ("top_down", "bottom_up", "independent")


def randomizable_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The layers that randomization re-initializes, in registration (forward) order.

    A layer is a module with parameters of its own and a ``reset_parameters()`` method
    (linear, convolution, normalization layers ...). Modules holding parameters but
    without ``reset_parameters`` cannot be re-initialized with their own initializer;
    they are skipped with a warning naming them.
    """
    layers, skipped = [], []
    for name, module in model.named_modules():
        if not list(module.parameters(recurse=False)):
            continue
        if callable(getattr(module, "reset_parameters", None)):
            layers.append((name, module))
        else:
            skipped.append(name or type(module).__name__)
    if skipped:
        warnings.warn(
            f"modules {skipped} hold parameters but have no reset_parameters(); they are not "
            "randomized. Give them a reset_parameters method to include them",
            stacklevel=3,
        )
    if not layers:
        raise ValueError("the model has no layer with parameters and reset_parameters(); nothing to randomize")
    return layers


@contextmanager
def _local_seed(seed: int, device: torch.device) -> Iterator[None]:
    """Seed the default generator of ``device`` inside a fork of the global random state."""
    cuda = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.random.default_generator.manual_seed(seed)
        if cuda:
            torch.cuda.default_generators[cuda[0]].manual_seed(seed)
        yield


def reinitialize(module: nn.Module, seed: int) -> None:
    """Re-initialize ``module``'s parameters with its own initializer under a local seed.

    Parameters
    ----------
    module : torch.nn.Module
        A layer with ``reset_parameters()``; modified in place (pass a copy).
    seed : int
        Seed of the default generator of the module's device, set inside
        :func:`torch.random.fork_rng`: the global random state is restored afterwards.
    """
    device = next(module.parameters()).device
    with _local_seed(seed, device), torch.no_grad():
        module.reset_parameters()  # type: ignore[operator]


def randomized_models(
    model: nn.Module,
    *,
    order: str = "top_down",
    layers: Sequence[str] | None = None,
    seed: int = 0,
    seed_per_layer: bool = True,
) -> Iterator[tuple[str, nn.Module]]:
    """Yield ``(layer name, model copy)`` with more (cascading) or other (independent) layers randomized.

    Parameters
    ----------
    model : torch.nn.Module
        The trained model; it is deep-copied, never modified.
    order : {"top_down", "bottom_up", "independent"}
        Cascading randomization from the output layer down (Adebayo et al.), from the
        input layer up, or each layer alone with all others trained. Independent
        randomization visits the layers top-down.
    layers : sequence of str, optional
        Names of the layers to randomize, in registration order; by default
        :func:`randomizable_layers`.
    seed : int
        Seed of the re-initialization.
    seed_per_layer : bool
        Re-initialize the k-th visited layer under seed ``seed + k`` (default), or every
        layer under ``seed`` (Quantus's scheme: its ``seed=s`` equals ``seed=s + 1`` here).

    Yields
    ------
    (str, torch.nn.Module)
        The layer just randomized and the model copy. In cascading orders it is the
        same copy, further randomized at each step: use it before advancing.
    """
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    names = _layer_names(model, layers)
    if order != "bottom_up":
        names = names[::-1]
    copy_ = copy.deepcopy(model)
    modules = dict(copy_.named_modules())
    original = copy.deepcopy(copy_.state_dict()) if order == "independent" else None
    for k, name in enumerate(names):
        if original is not None:
            copy_.load_state_dict(original)
        reinitialize(modules[name], seed + k if seed_per_layer else seed)
        yield name, copy_


def _layer_names(model: nn.Module, layers: Sequence[str] | None) -> list[str]:
    available = [name for name, _ in randomizable_layers(model)]
    if layers is None:
        return available
    unknown = [name for name in layers if name not in available]
    if unknown:
        raise ValueError(f"layers {unknown} are not randomizable layers of the model; choose from {available}")
    return [name for name in available if name in set(layers)]


def _similarity_table(
    names: Sequence[str | Similarity], map_ndim: int
) -> dict[str, Similarity]:
    if not names:
        names = default_similarities(map_ndim)
    table = {}
    for name in names:
        label = name if isinstance(name, str) else getattr(name, "__name__", "similarity")
        table[label] = get_similarity(name)
    return table


@dataclass(frozen=True)
class RandomizationResult:
    """Similarity of explanations of randomized models to the original explanation.

    Attributes
    ----------
    order : str
        The randomization order.
    layers : list of str
        The layer randomized at each step (cascading: all layers up to it are random).
    scores : dict of str to numpy.ndarray
        Per similarity, an array ``(seeds, layers, N)``.
    seeds : list of int
        The seeds used.
    """

    order: str
    layers: list[str]
    scores: dict[str, np.ndarray]
    seeds: list[int] = field(default_factory=list)

    def mean(self, similarity: str) -> np.ndarray:
        """Mean over seeds and inputs per layer, ``(layers,)``."""
        return np.nanmean(self.scores[similarity], axis=(0, 2))

    def std(self, similarity: str) -> np.ndarray:
        """Standard deviation over seeds and inputs per layer, ``(layers,)``."""
        return np.nanstd(self.scores[similarity], axis=(0, 2))

    def last(self, similarity: str) -> np.ndarray:
        """Similarity after the last step per input (the fully randomized model in cascading orders), averaged over seeds."""
        return np.nanmean(self.scores[similarity][:, -1], axis=0)

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: ``similarity, seed, step, layer, sample, value``."""
        import pandas as pd

        rows = []
        for name, values in self.scores.items():
            s, k, n = values.shape
            rows.append(
                pd.DataFrame(
                    {
                        "similarity": name,
                        "seed": np.repeat(self.seeds, k * n),
                        "step": np.tile(np.repeat(np.arange(k), n), s),
                        "layer": np.tile(np.repeat(self.layers, n), s),
                        "sample": np.tile(np.arange(n), s * k),
                        "value": values.reshape(-1),
                    }
                )
            )
        return pd.concat(rows, ignore_index=True)

    def summary(self) -> pd.DataFrame:
        """Mean and standard deviation per similarity and layer."""
        return (
            self.to_frame()
            .groupby(["similarity", "step", "layer"], sort=True)["value"]
            .agg(["mean", "std"])
            .reset_index()
        )


@accepts_old_names(show_progress="progress")
def model_randomization(
    model: nn.Module,
    x: Tensor,
    method: MethodLike,
    target: TargetLike = None,
    *,
    order: str = "top_down",
    layers: Sequence[str] | None = None,
    similarities: Sequence[str | Similarity] = (),
    seeds: int | Sequence[int] = (0,),
    seed_per_layer: bool = True,
    method_options: Mapping[str, Any] | None = None,
    attribution: Any = None,
    reduce_channels: bool | None = None,
    batch_size: int | None = None,
    progress: bool | None = None,
) -> RandomizationResult:
    """Model parameter randomization test (Adebayo et al., 2018).

    Parameters
    ----------
    model : torch.nn.Module
        The trained model, in eval mode; never modified (randomization works on copies).
    x : torch.Tensor
        Inputs ``(N, ...)``.
    method : str, Explainer or callable
        The explanation method: a registered name, an explainer, or
        ``fn(model, inputs, target)``.
    target : int, tensor, callable, Target or None
        The explained class; ``None``: the class the *trained* model predicts, kept for
        the randomized models.
    order : {"top_down", "bottom_up", "independent"}
        Cascading from the top (the original protocol), from the bottom, or independent.
    layers : sequence of str, optional
        Layers to randomize (default: all with ``reset_parameters``).
    similarities : sequence of str or callable
        Names from :data:`~xaikit.evaluate.SIMILARITIES` (``"ssim_abs"``, ``"ssim"``,
        ``"spearman"``, ``"spearman_abs"``, ``"pearson"``, ``"hog"``, ``"mse"``) or callables
        ``(a, b) -> (N,)``; default SSIM of the absolute and of the signed maps (each scaled
        to ``[0, 1]``), Spearman with and without absolute values, and HOG for images.
    seeds : int or sequence of int
        One run per seed; results keep the seed axis.
    seed_per_layer : bool
        See :func:`randomized_models`.
    method_options : mapping, optional
        Options of a method given by name.
    attribution : tensor, optional
        The original explanation, if already computed (else computed here).
    reduce_channels : bool, optional
        Sum image channels before comparing (default for images).
    batch_size : int, optional
        Inputs explained per call.
    progress : bool, optional
        Show a progress bar.

    Returns
    -------
    RandomizationResult
        Scores ``(seeds, layers, N)`` per similarity.
    """
    model = as_module(model, "model randomization")
    xs = prepare_inputs(model, x)
    explain = as_explain_fn(method, method_options)
    seed_list = [int(seeds)] if isinstance(seeds, int | np.integer) else [int(s) for s in seeds]
    if not seed_list:
        raise ValueError("seeds must name at least one seed")
    with preserved_model_state(model):
        rt = resolve_target(model, xs, target, batch_size)
        if attribution is None:
            original = explain_batched(explain, model, xs, rt, batch_size)
        else:
            original = as_attribution(attribution, xs)
        original_map = to_map(original, reduce_channels)
        table = _similarity_table(similarities, original_map.ndim)
        names = _layer_names(model, layers)
        steps_count = len(names)
        scores = {name: np.empty((len(seed_list), steps_count, len(xs))) for name in table}
        layer_order: list[str] = []

        def steps() -> Iterator[tuple[int, int, str, nn.Module]]:
            for si, seed in enumerate(seed_list):
                generator = randomized_models(
                    model, order=order, layers=layers, seed=seed, seed_per_layer=seed_per_layer
                )
                for k, (name, random_model) in enumerate(generator):
                    yield si, k, name, random_model

        compare = {label: against(fn, original_map) for label, fn in table.items()}
        total = len(seed_list) * steps_count
        for si, k, name, random_model in progress_bar(
            steps(), total=total, desc=f"randomization ({order})", enabled=progress
        ):
            if si == 0:
                layer_order.append(name)
            random_map = to_map(explain_batched(explain, random_model, xs, rt, batch_size), reduce_channels)
            for label, fn in compare.items():
                scores[label][si, k] = to_numpy(fn(random_map))
    return RandomizationResult(order=order, layers=layer_order, scores=scores, seeds=seed_list)


@dataclass(frozen=True)
class ClassSensitivityResult:
    """Similarity of the explanations of two classes for the same inputs.

    Attributes
    ----------
    target : numpy.ndarray
        The explained class per input ``(N,)``.
    other : numpy.ndarray
        The compared class per input ``(N,)``.
    scores : dict of str to numpy.ndarray
        Similarity per input ``(N,)``; high values mean class-insensitive explanations.
    """

    target: np.ndarray
    other: np.ndarray
    scores: dict[str, np.ndarray]

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: ``similarity, sample, target, other, value``."""
        import pandas as pd

        n = len(self.target)
        return pd.concat(
            [
                pd.DataFrame(
                    {"similarity": name, "sample": np.arange(n), "target": self.target, "other": self.other, "value": v}
                )
                for name, v in self.scores.items()
            ],
            ignore_index=True,
        )


def _other_classes(
    output: Tensor, index: Tensor, other: Any, generator: torch.Generator
) -> Tensor:
    n, k = output.shape
    if k < 2:
        raise ValueError("class sensitivity needs a model with at least two output classes")
    if isinstance(other, str):
        if other == "random":
            shift = torch.randint(1, k, (n,), generator=generator).to(index.device)
            return (index + shift) % k
        if other == "second":
            masked = output.detach().scatter(1, index[:, None], float("-inf"))
            return masked.argmax(1)
        if other == "least":
            return output.detach().argmin(1)
        raise ValueError(f"other must be 'random', 'second', 'least', a class index or a tensor, got {other!r}")
    idx = torch.as_tensor(other, device=index.device).expand(n).long()
    if bool((idx == index).any()):
        raise ValueError("the compared class equals the explained class for some inputs; choose another class")
    return idx


def class_sensitivity(
    model: Model,
    x: Tensor,
    method: MethodLike,
    target: TargetLike = None,
    *,
    other: Any = "random",
    similarities: Sequence[str | Similarity] = (),
    method_options: Mapping[str, Any] | None = None,
    reduce_channels: bool | None = None,
    batch_size: int | None = None,
    seed: int | torch.Generator | None = 0,
) -> ClassSensitivityResult:
    """Random-logit test: similarity between the explanations of two classes of the same input.

    Parameters
    ----------
    model : torch.nn.Module or callable
        The model (class outputs ``(N, K)``), in eval mode.
    x : torch.Tensor
        Inputs ``(N, ...)``.
    method : str, Explainer or callable
        The explanation method.
    target : int, tensor or None
        The first class (default: the predicted class).
    other : {"random", "second", "least"}, int or tensor
        The second class: uniformly random among the others (local generator), the
        runner-up, the least likely, or given.
    similarities : sequence of str or callable
        As in :func:`model_randomization`.
    seed : int or torch.Generator
        Seed of the random choice of the other class.
    method_options : mapping, optional
        Options of a method given by name.
    reduce_channels : bool, optional
        Sum image channels before comparing (default for images).
    batch_size : int, optional
        Inputs explained per call.

    Returns
    -------
    ClassSensitivityResult
        Both classes per input and one similarity per input for each measure.
    """
    xs = prepare_inputs(model, x)
    explain = as_explain_fn(method, method_options)
    with preserved_model_state(model):
        output = forward(model, xs, batch_size)
        if output.ndim != 2:
            raise ValueError(f"class sensitivity needs class outputs (N, K); the model returned {tuple(output.shape)}")
        first = resolve_target(model, xs, target, batch_size)
        if first.index is None or first.logodds:
            raise ValueError("class sensitivity needs class targets (an index, indices or None)")
        second_index = _other_classes(output, first.index, other, as_generator(seed))
        second = ResolvedTarget(index=second_index)
        a = to_map(explain_batched(explain, model, xs, first, batch_size), reduce_channels)
        b = to_map(explain_batched(explain, model, xs, second, batch_size), reduce_channels)
    table = _similarity_table(similarities, a.ndim)
    scores = {name: to_numpy(fn(a, b)) for name, fn in table.items()}
    return ClassSensitivityResult(
        target=first.index.cpu().numpy(), other=second_index.cpu().numpy(), scores=scores
    )


__all__ = [
    "ORDERS",
    "ClassSensitivityResult",
    "RandomizationResult",
    "class_sensitivity",
    "model_randomization",
    "randomizable_layers",
    "randomized_models",
    "reinitialize",
]
