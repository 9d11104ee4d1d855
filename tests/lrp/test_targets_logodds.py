"""Targets: class indices, predicted class, output selections, and the neuralized log-odds."""

from __future__ import annotations

import copy

import pytest
import torch
from lrp_nets import DT, seeded, zero_biases
from torch import nn

import xaikit
from xaikit.lrp import Composite, Epsilon, Kind


def test_logodds_of_a_linear_model_shows_competing_evidence_negative() -> None:
    model = nn.Linear(2, 2, bias=False).to(DT)
    with torch.no_grad():
        model.weight.copy_(torch.eye(2, dtype=DT))
    x = torch.tensor([[2.0, 1.0]], dtype=DT)
    logit = xaikit.explain(model, x, target=0, composite="lrp0")
    logodds = xaikit.explain(model, x, target=xaikit.LogOdds(0), composite="lrp0")
    torch.testing.assert_close(logit.attribution, torch.tensor([[2.0, 0.0]], dtype=DT))
    torch.testing.assert_close(logodds.attribution, torch.tensor([[2.0, -1.0]], dtype=DT))
    torch.testing.assert_close(logodds.output, torch.tensor([1.0], dtype=DT))


@pytest.mark.parametrize("net", ["mlp", "vgg"])
def test_logodds_value_and_conservation(nets, net: str) -> None:  # type: ignore[no-untyped-def]
    model, x = nets[net]
    model = zero_biases(copy.deepcopy(model))
    e = xaikit.explain(model, x, target=xaikit.LogOdds(), composite=Composite([(Kind("dense", "conv"), Epsilon(0.0))]))
    probs = torch.softmax(model(x), dim=1).detach()
    p = probs.gather(1, e.target[:, None]).squeeze(1)
    torch.testing.assert_close(e.output, torch.log(p / (1 - p)))
    assert (e.relative_delta < 1e-6).all()


def test_logodds_needs_a_final_linear_layer() -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU())
    with pytest.raises(ValueError, match="linear layer"):
        xaikit.explain(model, torch.rand(2, 3), target=xaikit.LogOdds())


def test_per_sample_targets_and_callable_selection() -> None:
    model = seeded(lambda: nn.Sequential(nn.Linear(5, 4, bias=False)), 1).to(DT)
    x = torch.rand(3, 5, generator=torch.Generator().manual_seed(0), dtype=DT)
    targets = torch.tensor([0, 3, 1])
    e = xaikit.explain(model, x, target=targets, composite="lrp0")
    torch.testing.assert_close(e.output, model(x).gather(1, targets[:, None]).squeeze(1).detach())
    torch.testing.assert_close(e.relevance_sum, e.output)
    diff = xaikit.explain(model, x, target=lambda out: out[:, 0] - out[:, 1], composite="lrp0")
    parts = [xaikit.explain(model, x, target=k, composite="lrp0").attribution for k in (0, 1)]
    torch.testing.assert_close(diff.attribution, parts[0] - parts[1])
    assert diff.target is None


def test_bad_targets_name_the_problem() -> None:
    model = nn.Linear(5, 4)
    x = torch.rand(3, 5)
    with pytest.raises(ValueError, match=r"shape \(2,\).*\(3,\)"):
        xaikit.explain(model, x, target=torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="out of range"):
        xaikit.explain(model, x, target=-1)
    with pytest.raises(TypeError, match="integers"):
        xaikit.explain(model, x, target=torch.tensor([0.5, 1.0, 2.0]))
    with pytest.raises(ValueError, match=r"callable must return a tensor of shape \(N,\)"):
        xaikit.explain(model, x, target=lambda out: out)
