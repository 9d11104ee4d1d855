"""DASP (issue 16, item 4): polynomial-time Shapley values by moment propagation, against exact
Shapley values by enumeration of all 2^d coalitions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import xaikit
from xaikit.utils.errors import InputError, ModelError

DT = torch.float64


def relative_errors(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    dasp = xaikit.explain(model, x, 0, method="dasp")
    exact = xaikit.explain(model, x, 0, method="shapley", progress=False)
    torch.testing.assert_close(dasp.output, exact.output)  # both explain f(x) - f(0)
    return ((dasp.attribution - exact.attribution).norm(dim=1) / exact.attribution.norm(dim=1)).numpy()


def test_dasp_is_exact_on_a_linear_model() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(7, 3)).to(DT).eval()
    x = torch.randn(4, 7, dtype=DT, generator=torch.Generator().manual_seed(1))
    assert float(relative_errors(model, x).max()) < 1e-12


def test_dasp_is_within_5_percent_of_exact_shapley_on_small_dense_networks() -> None:
    """One hidden ReLU layer, d = 6 and 12: mean relative error (L2 over the features) 3.5%
    (measured over 8 networks x 8 inputs; with two hidden layers it grows to 8%)."""
    errors = []
    for seed in range(8):
        torch.manual_seed(seed)
        d = (6, 12)[seed % 2]
        model = nn.Sequential(nn.Linear(d, 16), nn.ReLU(), nn.Linear(16, 3)).to(DT).eval()
        x = torch.randn(8, d, dtype=DT, generator=torch.Generator().manual_seed(100 + seed))
        errors.append(relative_errors(model, x))
    assert float(np.concatenate(errors).mean()) < 0.05


class Functional(nn.Module):
    """Functional ReLU and a flatten: the moments follow the model's own forward."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.fc1, self.fc2 = nn.Linear(5, 8), nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


def test_functional_activations_work_and_unknown_operations_are_refused() -> None:
    x = torch.randn(3, 5, dtype=DT, generator=torch.Generator().manual_seed(4))
    assert float(relative_errors(Functional().to(DT).eval(), x).mean()) < 0.2
    sigmoid = nn.Sequential(nn.Linear(5, 4), nn.Sigmoid(), nn.Linear(4, 2)).to(DT)
    with pytest.raises(ModelError, match="sigmoid"):
        xaikit.explain(sigmoid, x, 0, method="dasp")
    with pytest.raises(InputError, match="tabular"):
        xaikit.explain(sigmoid, torch.rand(2, 1, 5, dtype=DT), 0, method="dasp")
