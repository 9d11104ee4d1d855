"""Taylor decomposition at a root point (issue 15, item 5) and the seed's reductions to it
(001, Propositions 1 and 2): occlusion on a homogeneous linear model, integrated gradients on
a bias-free rectifier network."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import xaikit
from xaikit.utils.errors import InputError

DT = torch.float64


def linear(bias: float = 0.0) -> nn.Linear:
    torch.manual_seed(0)
    model = nn.Linear(5, 2).to(DT).eval()
    with torch.no_grad():
        model.bias.fill_(bias)
    return model


X = torch.rand(4, 5, dtype=DT, generator=torch.Generator().manual_seed(1)) + 0.5


@pytest.mark.parametrize("root", ["search", "nearest"])
def test_at_a_root_of_a_linear_model_the_terms_add_up_to_the_output(root: str) -> None:
    model = linear(bias=-0.7)
    e = xaikit.explain(model, X, 0, method="taylor", root=root, reference=-5.0)
    torch.testing.assert_close(e.extras["root_output"], torch.zeros(4, dtype=DT), rtol=0, atol=1e-10)
    torch.testing.assert_close(e.relevance_sum, e.output, rtol=1e-9, atol=1e-10)
    w = model.weight[0].detach()
    torch.testing.assert_close(e.attribution, w * (X - e.extras["root"]), rtol=1e-12, atol=1e-14)
    if root == "nearest":  # the orthogonal projection onto the decision boundary
        expected = X - (e.output / w.dot(w))[:, None] * w
        torch.testing.assert_close(e.extras["root"], expected, rtol=1e-10, atol=1e-12)
    else:  # on the segment from the reference
        direction = (e.extras["root"] + 5.0) / (X + 5.0)
        torch.testing.assert_close(direction, direction[:, :1].expand_as(direction), rtol=1e-8, atol=1e-10)


def test_proposition_1_occlusion_of_a_homogeneous_linear_model_is_taylor_at_zero() -> None:
    model = linear(bias=0.0)
    taylor = xaikit.explain(model, X, 1, method="taylor", root="zero")
    occlusion = xaikit.explain(model, X, 1, method="occlusion", patch=1, baseline=0.0, progress=False)
    torch.testing.assert_close(taylor.attribution, occlusion.attribution, rtol=1e-12, atol=1e-14)


def test_proposition_2_ig_of_a_bias_free_rectifier_net_is_taylor_at_eps_x() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 8, bias=False), nn.ReLU(), nn.Linear(8, 3, bias=False)).to(DT).eval()
    ig = xaikit.explain(model, X, 2, method="integrated_gradients", steps=16)
    taylor = xaikit.explain(model, X, 2, method="taylor", root=1e-6 * X)
    torch.testing.assert_close(taylor.attribution, ig.attribution * (1 - 1e-6), rtol=1e-9, atol=1e-12)


def test_no_sign_change_on_the_segment_is_said_and_bad_roots_are_refused() -> None:
    model = linear(bias=10.0)
    with pytest.warns(UserWarning, match="does not change sign"):
        e = xaikit.explain(model, X, 0, method="taylor", root="search")
    torch.testing.assert_close(e.extras["root"], torch.zeros_like(X))
    with pytest.raises(InputError, match="root must be"):
        xaikit.explain(model, X, 0, method="taylor", root="middle")
