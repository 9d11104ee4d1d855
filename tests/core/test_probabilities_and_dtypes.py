"""Outputs that are probabilities are refused by LRP with the fix named; inputs of another
floating type than the model's are converted with a note, to the same result as converting them first."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import xaikit
from xaikit.utils.errors import ModelError


def _logit_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 1)).eval()


@pytest.mark.parametrize("head", [
    lambda: nn.Sigmoid(),
    lambda: nn.Sequential(nn.Sigmoid(), nn.Flatten()),
    lambda: nn.Sequential(nn.Sigmoid(), nn.Unflatten(1, (1, 1)), nn.Flatten()),
])
def test_a_final_sigmoid_is_refused_by_lrp_naming_the_logit(head) -> None:  # type: ignore[no-untyped-def]
    model = nn.Sequential(_logit_model(), head()).eval()
    with pytest.raises(ModelError, match=r"final sigmoid.*logit.*log\(p / \(1 - p\)\)"):
        xaikit.explain(model, torch.randn(5, 4), 0, method="lrp", composite="epsilon")


class GatedHead(nn.Module):
    """A sigmoid inside the network (a gate times a signal), not at its output."""

    def __init__(self) -> None:
        super().__init__()
        self.gate, self.signal = nn.Linear(4, 3), nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.gate(x)) * self.signal(x)


def test_an_inner_sigmoid_and_a_logit_model_are_explained() -> None:
    e = xaikit.explain(GatedHead().eval(), torch.randn(5, 4), 0, method="lrp", composite="epsilon")
    assert torch.isfinite(e.attribution).all()
    logit = xaikit.explain(_logit_model(), torch.randn(5, 4), 0, method="lrp", composite="epsilon")
    assert torch.isfinite(logit.attribution).all() and logit.attribution.shape == (5, 4)


@pytest.mark.parametrize("method, options", [("saliency", {}), ("lrp", {"composite": "epsilon"}),
                                             ("integrated_gradients", {"steps": 8})])
def test_float64_numpy_inputs_are_converted_to_the_model_dtype(method: str, options: dict) -> None:  # type: ignore[type-arg]
    model = xaikit.models.MLP(4, (8,), 3).eval()
    array = np.random.default_rng(0).standard_normal((6, 4))  # float64, NumPy's default
    with pytest.warns(UserWarning, match=r"float64\) were converted to the model's torch.float32"):
        got = xaikit.explain(model, torch.from_numpy(array), 1, method=method, **options)
    expected = xaikit.explain(model, torch.from_numpy(array).float(), 1, method=method, **options)
    assert got.attribution.dtype == torch.float32
    assert torch.equal(got.attribution, expected.attribution)
    double = xaikit.models.MLP(4, (8,), 3).double().eval()
    with pytest.warns(UserWarning, match="float32\\) were converted to the model's torch.float64"):
        up = xaikit.explain(double, torch.from_numpy(array).float(), 1, method=method, **options)
    assert up.attribution.dtype == torch.float64
