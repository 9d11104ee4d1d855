"""Reproduction of the literature's findings on the cached digits CNN (few samples, CI-sized).

- Sanity checks (Adebayo et al., 2018; Sixt et al., 2020; Nuzzo, ch. 5 and 7): under
  cascading randomization of the dense layers, guided backprop and LRP z-plus keep their
  explanation while saliency, gradient x input, integrated gradients and DeepLIFT lose it.
- Class sensitivity (Nuzzo, sec. 7.3; Mahendran and Vedaldi, 2016; Nie et al., 2018): on
  the VGG-style digits CNN (four max-pools down to 1x1) guided backprop and DeconvNet explain
  two classes nearly identically, the gradient does not; on the shallow digits CNN only
  guided backprop does.
- Pixel-flipping (Samek et al., 2021, sec. IV-A): LRP, occlusion and integrated gradients
  destroy the class evidence much faster than a random order.
- JPEG size (Samek et al., 2021, sec. IV-B): occlusion < LRP < integrated gradients.

Each part runs once its methods are registered. The full figures are produced by
``benchmarks/reproduce_sanity_checks.py``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import xaikit
from xaikit.evaluate import class_sensitivity, jpeg_size, model_randomization, pixel_flipping
from xaikit.models import digits_cnn, digits_vgg, load_digits_split

REGISTERED = set(xaikit.methods())


def needs(*names: str) -> pytest.MarkDecorator:
    """Every method named must be registered: a broken registration fails here instead of skipping."""
    missing = sorted(set(names) - REGISTERED)
    assert not missing, f"methods not registered: {missing}"
    return pytest.mark.literature


@pytest.fixture(scope="module")
def digits() -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    model = digits_cnn().eval()
    _, _, x_test, y_test = load_digits_split()
    return model, x_test[:128], y_test[:128]


@pytest.fixture(scope="module")
def digits_vgg_model() -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    model = digits_vgg().eval()  # trained once (about 8 s on one thread), then cached
    _, _, x_test, y_test = load_digits_split()
    with torch.no_grad():
        assert (model(x_test).argmax(1) == y_test).float().mean() > 0.95  # a well-trained model
    return model, x_test[:32], y_test[:32]


def _class_ssim(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    return {
        name: float(np.mean(class_sensitivity(model, x, name, y, similarities=["ssim"], seed=0).scores["ssim"]))
        for name in ("guided_backprop", "deconvnet", "saliency")
    }


SIMILAR = {"guided_backprop": ("guided_backprop", {}), "lrp_zplus": ("lrp", {"composite": "zplus"})}
DISSIMILAR = {
    "saliency": ("saliency", {}),
    "gradient_x_input": ("gradient_x_input", {}),
    "integrated_gradients": ("integrated_gradients", {}),
    "deeplift": ("deeplift", {}),
}


def _dense_layers_randomized(digits: Any, method: str, options: dict[str, Any]) -> dict[str, float]:
    model, x, y = digits
    result = model_randomization(
        model, x[:16], method, y[:16], method_options=options, seeds=(0, 1),
        similarities=["ssim_abs", "ssim"], progress=False,
    )
    assert result.layers[:2] == ["classifier.4", "classifier.1"]
    # mean over seeds, inputs and the two dense layers (the last, then the last two randomized)
    return {name: float(np.mean(scores[:, :2])) for name, scores in result.scores.items()}


@pytest.mark.parametrize(
    "label", [pytest.param(k, marks=needs(v[0])) for k, v in {**SIMILAR, **DISSIMILAR}.items()]
)
@pytest.mark.slow
def test_cascading_randomization(digits: Any, label: str) -> None:
    method, options = {**SIMILAR, **DISSIMILAR}[label]
    scores = _dense_layers_randomized(digits, method, options)
    if label in SIMILAR:
        # the explanation survives the destruction of the weights it should explain
        assert scores["ssim_abs"] > 0.7, scores
    else:
        assert scores["ssim_abs"] < 0.65, scores
        assert scores["ssim"] < 0.3, scores


@needs("guided_backprop", "lrp", "saliency", "gradient_x_input", "integrated_gradients", "deeplift")
def test_randomization_separates_the_two_groups(digits: Any) -> None:
    similar = [_dense_layers_randomized(digits, *v)["ssim_abs"] for v in SIMILAR.values()]
    dissimilar = [_dense_layers_randomized(digits, *v)["ssim_abs"] for v in DISSIMILAR.values()]
    assert min(similar) > max(dissimilar) + 0.1, (similar, dissimilar)


@pytest.mark.slow
@needs("guided_backprop", "deconvnet", "saliency")
def test_class_sensitivity(digits_vgg_model: Any) -> None:
    # VGG-style CNN, four max-pools down to 1x1: the maps of the true and a random other class
    # are nearly identical for guided backprop and DeconvNet, not for the gradient. Means over
    # 32 digits for 10 training seeds: guided backprop 0.97-0.99, DeconvNet 0.79-0.91,
    # saliency -0.52 to -0.14.
    scores = _class_ssim(*digits_vgg_model)
    assert scores["guided_backprop"] > 0.9, scores
    assert scores["deconvnet"] > 0.75, scores
    assert scores["saliency"] < 0.1, scores
    assert scores["deconvnet"] > scores["saliency"] + 0.6, scores


@needs("guided_backprop", "deconvnet", "saliency")
def test_class_sensitivity_shallow_cnn(digits: Any) -> None:
    model, x, y = digits
    scores = _class_ssim(model, x[:32], y[:32])
    assert scores["guided_backprop"] > 0.7, scores  # nearly the same map for two classes
    assert scores["saliency"] < 0.1, scores  # the gradient depends on the class
    # DeconvNet on this shallow CNN (one max-pool, 4x4 map before the dense layers): far more
    # alike than the gradient but not nearly identical; the dense layers pick image regions
    assert scores["deconvnet"] > scores["saliency"] + 0.4, scores
    assert scores["deconvnet"] < 0.7, scores


FLIPPED = {
    "lrp": ("lrp", {}),
    "occlusion": ("occlusion", {"patch": 4, "stride": 2}),
    "integrated_gradients": ("integrated_gradients", {}),
}


@pytest.mark.parametrize("label", [pytest.param(k, marks=needs(v[0])) for k, v in FLIPPED.items()])
def test_pixel_flipping_decays_much_faster_than_random(digits: Any, label: str) -> None:
    model, x, y = digits
    x, y = x[:16], y[:16]
    method, options = FLIPPED[label]
    attribution = xaikit.explain(model, x, y, method=method, **options)
    settings = {"removal": "inpaint", "step": 2, "progress": False}
    morf = pixel_flipping(model, x, attribution, y, **settings)
    random = pixel_flipping(model, x, None, y, order="random", seed=0, **settings)
    assert morf.aopc.mean() > 1.5 * random.aopc.mean(), (morf.aopc.mean(), random.aopc.mean())
    # after removing a fifth of the pixels most of the evidence is gone, unlike for random
    fifth = int(np.searchsorted(morf.fractions, 0.2))
    lost = morf.mean_curve[0] - morf.mean_curve[fifth]
    lost_random = random.mean_curve[0] - random.mean_curve[fifth]
    assert lost > 2 * lost_random, (lost, lost_random)


@needs("occlusion", "lrp", "integrated_gradients")
def test_jpeg_size_ranks_occlusion_lrp_integrated_gradients(digits: Any) -> None:
    model, x, y = digits
    sizes = {
        name: jpeg_size(xaikit.explain(model, x, y, method=method, **options)).mean()
        for name, (method, options) in {
            "occlusion": FLIPPED["occlusion"], "lrp": ("lrp", {}), "integrated_gradients": ("integrated_gradients", {})
        }.items()
    }
    assert sizes["occlusion"] < sizes["lrp"] < sizes["integrated_gradients"], sizes
