"""Model randomization and class sensitivity: copies, layer orders, local seeds, results."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _models import gradient, seeded_digits_cnn
from torch import nn

import xaikit
from xaikit.evaluate import (
    class_sensitivity,
    model_randomization,
    randomizable_layers,
    randomized_models,
    reinitialize,
)


def _changed(a: nn.Module, b: nn.Module) -> set[str]:
    sb = b.state_dict()
    return {k.rsplit(".", 1)[0] for k, v in a.state_dict().items() if not torch.equal(v, sb[k])}


def test_layers_in_forward_order() -> None:
    names = [name for name, _ in randomizable_layers(seeded_digits_cnn())]
    assert names == ["features.0", "features.2", "classifier.1", "classifier.4"]


def test_cascading_and_independent_orders_on_a_copy() -> None:
    model = seeded_digits_cnn()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    seen = []
    for name, copy_ in randomized_models(model, order="top_down", seed=1):
        seen.append(name)
        assert _changed(model, copy_) == set(seen)  # all layers above and this one are random
    assert seen == ["classifier.4", "classifier.1", "features.2", "features.0"]
    for name, copy_ in randomized_models(model, order="independent", seed=1):
        assert _changed(model, copy_) == {name}
    bottom_up = [name for name, _ in randomized_models(model, order="bottom_up")]
    assert bottom_up == seen[::-1]
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_reinitialization_uses_the_layers_initializer_under_a_local_seed() -> None:
    layer = nn.Linear(50, 40)
    with torch.no_grad():
        layer.weight.fill_(7.0)
    state = torch.get_rng_state()
    reinitialize(layer, seed=5)
    first = layer.weight.detach().clone()
    reinitialize(layer, seed=5)
    assert torch.equal(layer.weight, first)  # same seed, same weights
    bound = 1 / np.sqrt(50)  # PyTorch's default (Kaiming-uniform) bound for Linear
    assert first.abs().max() <= bound and first.std() > bound / 3
    assert torch.equal(torch.get_rng_state(), state)  # the global generator is untouched
    reinitialize(layer, seed=6)
    assert not torch.equal(layer.weight, first)


def test_modules_without_reset_parameters_are_named_in_a_warning() -> None:
    class Scale(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.alpha = nn.Parameter(torch.ones(1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * self.alpha

    model = nn.Sequential(nn.Linear(3, 3), Scale(), nn.Linear(3, 2))
    with pytest.warns(UserWarning, match=r"\['1'\].*reset_parameters"):
        names = [name for name, _ in randomizable_layers(model)]
    assert names == ["0", "2"]
    with pytest.raises(ValueError, match="nothing to randomize"):
        randomizable_layers(nn.Sequential(nn.ReLU()))


def test_model_randomization_result_and_determinism() -> None:
    model = seeded_digits_cnn()
    x = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    result = model_randomization(model, x, gradient, seeds=(0, 1), similarities=["ssim", "spearman", "hog"])
    assert result.layers == ["classifier.4", "classifier.1", "features.2", "features.0"]
    assert result.scores["ssim"].shape == (2, 4, 4)
    assert result.mean("spearman").shape == (4,) and result.std("spearman").shape == (4,)
    frame = result.to_frame()
    assert len(frame) == 3 * 2 * 4 * 4 and set(frame["layer"]) == set(result.layers)
    assert set(result.summary()["similarity"]) == {"ssim", "spearman", "hog"}
    again = model_randomization(model, x, gradient, seeds=(0, 1), similarities=["ssim", "spearman", "hog"])
    for name in result.scores:
        np.testing.assert_array_equal(result.scores[name], again.scores[name])
    # the gradient of a fully randomized network has nothing in common with the trained one
    assert abs(result.mean("spearman")[-1]) < 0.5
    independent = model_randomization(model, x, gradient, order="independent", layers=["classifier.4"])
    assert independent.layers == ["classifier.4"]


def test_model_randomization_on_tabular_and_time_series() -> None:
    torch.manual_seed(0)
    mlp = xaikit.models.MLP(6, (16,), 3).eval()
    r = model_randomization(mlp, torch.randn(5, 6), "lrp")
    assert set(r.scores) == {"ssim_abs", "ssim", "spearman", "spearman_abs"}
    cnn = xaikit.models.CNN1d(2, 3, length=20).eval()
    r = model_randomization(cnn, torch.randn(3, 2, 20), gradient, similarities=["ssim"])
    assert r.scores["ssim"].shape == (1, len(randomizable_layers(cnn)), 3)


def test_class_sensitivity() -> None:
    model = seeded_digits_cnn()
    x = torch.rand(5, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    result = class_sensitivity(model, x, gradient, seed=3)
    assert (result.other != result.target).all()
    assert set(result.scores) == {"ssim_abs", "ssim", "spearman", "spearman_abs", "hog"}
    second = class_sensitivity(model, x, gradient, other="second", similarities=["spearman"])
    logits = model(x).detach()
    assert (second.other == logits.topk(2, dim=1).indices[:, 1].numpy()).all()
    same = class_sensitivity(model, x, lambda m, i, t: i, similarities=["spearman"])  # class-blind map
    np.testing.assert_allclose(same.scores["spearman"], 1.0)
    with pytest.raises(ValueError, match="equals the explained class"):
        class_sensitivity(model, x, gradient, target=2, other=2)
    assert len(result.to_frame()) == 5 * 5


def test_errors() -> None:
    model = seeded_digits_cnn()
    x = torch.rand(2, 1, 8, 8)
    with pytest.raises(ValueError, match="order must be one of"):
        model_randomization(model, x, gradient, order="sideways")
    with pytest.raises(ValueError, match="not randomizable layers"):
        model_randomization(model, x, gradient, layers=["features.1"])
    with pytest.raises(TypeError, match=r"needs a torch\.nn\.Module"):
        model_randomization(lambda t: t.flatten(1), x, gradient)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="HOG similarity needs 2-D image"):
        model_randomization(xaikit.models.MLP(4, (4,), 2).eval(), torch.randn(2, 4), "lrp", similarities=["hog"])
