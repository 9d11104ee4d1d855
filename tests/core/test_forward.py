"""The one batched forward: one output check for every family, an activation-aware batch size."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

import xaikit
from xaikit.core.forward import (
    ACTIVATION_BUDGET,
    activation_elements,
    auto_batch_size,
    check_output,
    forward,
)


class DictModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        return {"logits": self.fc(x)}


class Upsampling(nn.Module):
    """A 4-feature input that becomes a (64, 16, 16) activation inside."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 64, 3, padding=1)
        self.fc = nn.Linear(64, 2)

    def forward(self, x: Tensor) -> Tensor:
        h = F.interpolate(x.view(-1, 1, 2, 2), size=(16, 16))
        return self.fc(self.conv(h).mean((2, 3)))


@pytest.mark.parametrize("method", ["lrp", "saliency", "integrated_gradients", "guided_backprop", "occlusion", "kernel_shap"])
def test_every_family_words_a_bad_output_alike(method: str) -> None:
    with pytest.raises(TypeError, match=r"^the model returned dict; xaikit needs a model returning one tensor"):
        xaikit.explain(DictModel().eval(), torch.rand(2, 4), method=method)


def test_a_metric_words_a_bad_output_alike() -> None:
    with pytest.raises(TypeError, match=r"^the model returned dict; xaikit needs a model returning one tensor"):
        xaikit.evaluate.pixel_flipping(DictModel().eval(), torch.rand(2, 4), torch.rand(2, 4), target=0)


def test_rows_must_match() -> None:
    with pytest.raises(ValueError, match="output of shape \\(3,\\) for a batch of 2 samples"):
        check_output(torch.zeros(3), 2)
    model = lambda x: torch.zeros(len(x) + 1, 2)  # noqa: E731
    with pytest.raises(ValueError, match="keep the batch dimension first"):
        forward(model, torch.rand(4, 3), batch_size=2)


def test_the_automatic_batch_follows_the_activations_not_the_input() -> None:
    x = torch.rand(8, 4)
    mlp = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)).eval()
    up = Upsampling().eval()
    assert activation_elements(up, x) == 64 * 16 * 16
    rows = auto_batch_size(up, x)
    assert rows * 64 * 16 * 16 <= ACTIVATION_BUDGET < (rows + 1) * 64 * 16 * 16
    assert auto_batch_size(mlp, x) > 100 * rows
    assert auto_batch_size(up, x, copies=4) == rows // 4


def test_weights_do_not_count_as_activations() -> None:
    """A wide dense layer's transposed weight (512 x 64) is larger than any activation of one row;
    counted, it would cut the automatic batch 16-fold."""
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(512, 64), nn.ReLU(),
                          nn.Linear(64, 3)).eval()
    x = torch.rand(4, 1, 8, 8)
    assert activation_elements(model, x) == 8 * 8 * 8  # the convolution's output per row
    assert auto_batch_size(model, x) == ACTIVATION_BUDGET // 512


def test_forward_batches_agree_with_one_pass() -> None:
    model = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3)).double().eval()
    x = torch.rand(11, 5, dtype=torch.float64)
    torch.testing.assert_close(forward(model, x, batch_size=3), model(x).detach(), rtol=1e-15, atol=1e-15)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        forward(model, x, batch_size=0)
