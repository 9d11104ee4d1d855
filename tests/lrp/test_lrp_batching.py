"""LRP in batches: the same relevance as one pass (float64, any target kind), batches chosen
automatically from the model's activations so memory does not grow with the samples."""

from __future__ import annotations

import pytest
import torch

import xaikit
from xaikit.core import forward as forward_module
from xaikit.lrp import explainer as lrp_module


@pytest.fixture(scope="module")
def model_and_inputs() -> tuple[torch.nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    return xaikit.models.DigitsCNN().double().eval(), torch.rand(40, 1, 8, 8, dtype=torch.float64)


@pytest.mark.parametrize("target", [None, "classes", "logodds", 4])
@pytest.mark.parametrize("batch_size", [1, 7, 39])
def test_batches_give_the_one_pass_relevance(model_and_inputs, target, batch_size: int) -> None:  # type: ignore[no-untyped-def]
    model, x = model_and_inputs
    classes = torch.arange(40) % 10
    spec = {"classes": classes, "logodds": xaikit.LogOdds(classes)}.get(target, target)  # type: ignore[arg-type]
    whole = xaikit.explain(model, x, spec, method="lrp", composite="epsilon_plus", batch_size=40)
    parts = xaikit.explain(model, x, spec, method="lrp", composite="epsilon_plus", batch_size=batch_size)
    torch.testing.assert_close(parts.attribution, whole.attribution, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(parts.output, whole.output, rtol=1e-12, atol=1e-12)
    assert torch.equal(parts.target, whole.target)


def test_the_default_batch_follows_the_activation_budget(model_and_inputs, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    model, x = model_and_inputs
    whole = xaikit.explain(model, x, method="lrp")
    calls: list[int] = []
    original = lrp_module.run_propagation

    def counting(model, inputs, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(len(inputs))
        return original(model, inputs, *args, **kwargs)

    monkeypatch.setattr(lrp_module, "run_propagation", counting)
    monkeypatch.setattr(forward_module, "ACTIVATION_BUDGET", 8 * 16 * 8 * 8 * 4)  # four rows of the largest activation x 8
    batched = xaikit.explain(model, x, method="lrp")
    assert max(calls) < len(x) and sum(calls) == len(x)
    torch.testing.assert_close(batched.attribution, whole.attribution, rtol=1e-10, atol=1e-12)


def test_a_bad_batch_size_is_refused() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        xaikit.make_method("lrp", batch_size=0)
