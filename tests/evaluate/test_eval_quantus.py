"""Agreement with Quantus (the reference toolkit) on the same model, inputs and attributions.

Quantus 0.6 reseeds the global torch RNG and calls ``np.trapz`` (removed in NumPy 2.4);
every Quantus call here restores the global random state, and ``np.trapz`` is patched
only inside this test module, for the AUC path.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
import quantus  # a dev requirement: missing, the suite fails instead of skipping
import torch
from _models import seeded_digits_cnn

import xaikit
from xaikit.evaluate import (
    efficient_model_randomization,
    histogram_entropy,
    model_randomization,
    pixel_flipping,
)


@contextmanager
def _quantus_sandbox() -> Iterator[None]:
    """Restore the global random state Quantus reseeds; give Quantus the ``np.trapz`` it needs."""
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()  # noqa: NPY002
    had_trapz = hasattr(np, "trapz")
    if not had_trapz:
        setattr(np, "trapz", np.trapezoid)  # noqa: B010
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        if not had_trapz:
            delattr(np, "trapz")
        torch.set_rng_state(torch_state)
        np.random.set_state(np_state)  # noqa: NPY002


def _setup(seed: int = 0) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    model = seeded_digits_cnn(seed)
    x = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(seed + 1))
    y = model(x).argmax(1)
    return model, x, y


@pytest.mark.parametrize("step", [1, 4])
def test_pixel_flipping_curves_match_quantus(step: int) -> None:
    model, x, y = _setup()
    attribution = torch.randn(x.shape, generator=torch.Generator().manual_seed(2))  # no ties
    ours = pixel_flipping(model, x, attribution, y, step=step, removal=0.0)
    with _quantus_sandbox():
        metric = quantus.PixelFlipping(
            features_in_step=step, perturb_baseline=0.0, disable_warnings=True, display_progressbar=False
        )
        theirs = metric(
            model=model, x_batch=x.numpy(), y_batch=y.numpy(), a_batch=attribution.numpy(),
            softmax=False, device="cpu", channel_first=True,
        )
        auc = quantus.PixelFlipping(
            features_in_step=step, perturb_baseline=0.0, return_auc_per_sample=True, disable_warnings=True
        )(model=model, x_batch=x.numpy(), y_batch=y.numpy(), a_batch=attribution.numpy(), softmax=False, channel_first=True)
    theirs = np.asarray(theirs)
    # Quantus records the output after each step; our curve also starts with the unperturbed output
    assert theirs.shape == ours.curves[:, 1:].shape
    np.testing.assert_allclose(ours.curves[:, 1:], theirs, atol=1e-5, rtol=0)
    np.testing.assert_allclose(np.trapezoid(ours.curves[:, 1:], dx=1, axis=1), auc, atol=1e-4, rtol=0)


def _grad_x_input_np(model: torch.nn.Module, inputs: np.ndarray, targets: np.ndarray, **_: Any) -> np.ndarray:
    x = torch.as_tensor(inputs).float().requires_grad_(True)
    model(x).gather(1, torch.as_tensor(targets).long()[:, None]).sum().backward()
    return (x.grad * x).detach().numpy()


def _as_xaikit_method(fn: Callable[..., np.ndarray]) -> Callable[..., torch.Tensor]:
    def explain(model: torch.nn.Module, inputs: torch.Tensor, target: Any) -> torch.Tensor:
        return torch.from_numpy(fn(model, inputs.numpy(), target.index.numpy()))

    return explain


@pytest.mark.parametrize("method", ["gradient_x_input", "lrp"])
def test_mprt_spearman_top_down_matches_quantus(method: str) -> None:
    model, x, y = _setup(3)
    if method == "lrp":

        def fn(model: torch.nn.Module, inputs: np.ndarray, targets: np.ndarray, **_: Any) -> np.ndarray:
            return xaikit.explain(model, torch.as_tensor(inputs), torch.as_tensor(targets), method="lrp").numpy()

    else:
        fn = _grad_x_input_np
    with _quantus_sandbox():
        metric = quantus.MPRT(layer_order="top_down", seed=42, disable_warnings=True, display_progressbar=False)
        theirs = metric(model=model, x_batch=x.numpy(), y_batch=y.numpy(), a_batch=None, explain_func=fn, softmax=False)
    state = torch.get_rng_state()
    # Quantus re-initializes every layer under seed + 1; ours under the given seed when seed_per_layer=False
    ours = model_randomization(
        model, x, _as_xaikit_method(fn), y, order="top_down", similarities=["spearman_abs"],
        seeds=43, seed_per_layer=False,
    )
    assert torch.equal(torch.get_rng_state(), state)  # we never touch the global RNG
    assert ours.layers == [k for k in theirs if k != "original"]
    for k, layer in enumerate(ours.layers):
        np.testing.assert_allclose(ours.scores["spearman_abs"][0, k], theirs[layer], atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind", ["tabular", "series"])
def test_pixel_flipping_and_mprt_match_quantus_beyond_images(kind: str) -> None:
    torch.manual_seed(0)
    if kind == "tabular":
        model: torch.nn.Module = xaikit.models.MLP(12, (16,), 3).eval()
        x = torch.randn(5, 12, generator=torch.Generator().manual_seed(1))
    else:
        model = xaikit.models.CNN1d(2, 3, length=10).eval()
        x = torch.randn(5, 2, 10, generator=torch.Generator().manual_seed(1))
    y = model(x).argmax(1)
    attribution = torch.randn(x.shape, generator=torch.Generator().manual_seed(2))
    step = 1 if kind == "tabular" else 2  # Quantus rejects steps > 1 on (N, d) inputs
    with _quantus_sandbox():
        curves = quantus.PixelFlipping(features_in_step=step, perturb_baseline=0.5, disable_warnings=True)(
            model=model, x_batch=x.numpy(), y_batch=y.numpy(), a_batch=attribution.numpy(),
            softmax=False, channel_first=True,
        )
        mprt = quantus.MPRT(seed=7, disable_warnings=True)(
            model=model, x_batch=x.numpy(), y_batch=y.numpy(), a_batch=None,
            explain_func=_grad_x_input_np, softmax=False,
        )
    ours = pixel_flipping(model, x, attribution, y, step=step, removal=0.5, channels="separate")
    np.testing.assert_allclose(ours.curves[:, 1:], np.asarray(curves), atol=1e-5, rtol=0)
    randomized = model_randomization(
        model, x, _as_xaikit_method(_grad_x_input_np), y, similarities=["spearman_abs"], seeds=8, seed_per_layer=False
    )
    for k, layer in enumerate(randomized.layers):
        np.testing.assert_allclose(randomized.scores["spearman_abs"][0, k], mprt[layer], atol=1e-5, rtol=0)


def test_histogram_entropy_is_quantus_discrete_entropy() -> None:
    from quantus.functions.complexity_func import discrete_entropy

    maps = np.random.default_rng(0).standard_normal((5, 1, 8, 8)) ** 3
    for bins in (100, 37):
        theirs = [discrete_entropy(a=m, x=m, n_bins=bins) for m in maps]
        np.testing.assert_allclose(histogram_entropy(maps, bins=bins), theirs, rtol=1e-12)


@pytest.mark.parametrize("method", ["gradient_x_input", "lrp"])
def test_emprt_matches_quantus_efficient_mprt(method: str) -> None:
    model, x, y = _setup(4)

    def fn(model: torch.nn.Module, inputs: np.ndarray, targets: np.ndarray, **_: Any) -> np.ndarray:
        return xaikit.explain(model, torch.as_tensor(inputs), torch.as_tensor(targets), method=method).numpy()

    with _quantus_sandbox():
        metric = quantus.EfficientMPRT(layer_order="bottom_up", seed=42, complexity_func_kwargs={"n_bins": 100},
                                       disable_warnings=True, display_progressbar=False)
        # softmax=True: Quantus also takes the entropy of the predictions, which needs probabilities
        theirs = metric(model=model, x_batch=x.numpy(), y_batch=y.numpy(), a_batch=None, explain_func=fn,
                        softmax=True)
    ours = efficient_model_randomization(model, x, method, y, order="bottom_up", seed=43, seed_per_layer=False)
    np.testing.assert_allclose(ours.scores, theirs, rtol=1e-9, atol=1e-12)
