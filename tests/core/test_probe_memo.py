"""The model probe runs once per module and input signature, and again when the module changes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

import xaikit
from xaikit.core.probe import PROBE_CALLS, probe_key
from xaikit.utils.errors import ModelError


class Counting(nn.Module):
    """A linear model that counts its calls and drops out features when training."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(6, 3)
        self.calls = 0

    def forward(self, x: Tensor) -> Tensor:
        self.calls += 1
        return self.linear(F.dropout(x, 0.5, training=self.training))


def _calls_of_one_explanation(model: Counting, x: Tensor) -> int:
    before = model.calls
    xaikit.explain(model, x, 0, method="saliency")
    return model.calls - before


def test_a_passed_module_is_not_probed_again_for_the_same_signature() -> None:
    model, x = Counting().eval(), torch.randn(4, 6)
    first = _calls_of_one_explanation(model, x)
    assert _calls_of_one_explanation(model, torch.randn(4, 6)) == first - PROBE_CALLS
    assert _calls_of_one_explanation(model, torch.randn(4, 7)[:, :6].contiguous()) == first - PROBE_CALLS
    # another sample shape, dtype or batch-free signature: probed anew
    assert _calls_of_one_explanation(model.double(), x.double()) == first


def test_a_noise_hook_added_after_a_passed_probe_is_caught() -> None:
    model, x = Counting().eval(), torch.randn(4, 6)
    xaikit.explain(model, x, 0, method="saliency")
    handle = model.linear.register_forward_hook(lambda module, args, out: out + torch.randn_like(out))
    try:
        with pytest.raises(ModelError, match="differ"):
            xaikit.explain(model, x, 0, method="saliency")
    finally:
        handle.remove()
    assert _calls_of_one_explanation(model, x) < 1 + PROBE_CALLS  # the passed signature is remembered again


def test_switching_to_training_mode_after_a_passed_probe_is_caught() -> None:
    model, x = Counting().eval(), torch.randn(4, 6)
    xaikit.explain(model, x, 0, method="occlusion", patch=(1,))
    model.train()
    with pytest.raises(ModelError, match="differ"):
        xaikit.explain(model, x, 0, method="occlusion", patch=(1,))


def test_functions_and_selector_wrappers_have_their_own_signatures() -> None:
    model, x = Counting().eval(), torch.randn(4, 6)
    assert probe_key(lambda t: model(t), x) is None
    from xaikit.core.wrappers import SelectedOutput

    first, second = probe_key(SelectedOutput(model, 0), x), probe_key(SelectedOutput(model, 1), x)
    assert first is not None and second is not None
    assert first[0] is model and second[0] is model and first[1] != second[1]
