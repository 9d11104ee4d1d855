"""The LRP rules as deep Taylor decomposition (issue 15, item 5; seed 001, Proposition 4;
seed 002, deep Taylor).

One DTD step at a layer ``z_k = sum_j a_j w_jk`` with relevance model ``R_k = a_k c_k``
(``c_k`` constant) takes the nearest root point on a search line ``a - t v_k`` and
redistributes the first-order terms ``R_{j<-k} = w_jk (a_j - root_j) c_k``. The tests
below do exactly that, with the root found geometrically (``t`` solving ``z_k(a - t v_k) = 0``),
and compare it with xaikit's rules on a bias-free two-layer rectifier network:

- LRP-gamma is the step on the line ``v_k = a (1 + gamma 1[w_k >= 0])`` (Proposition 4);
- z-plus is the step on ``v_k = a 1[w_k > 0]``, the rule for the domain ``a >= 0``;
- z^B is the step on ``v_k = a - l 1[w_k > 0] - h 1[w_k < 0]``, the rule for the box ``l <= x <= h``.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import xaikit
from xaikit.lrp import Composite, Epsilon, FirstLayer, Gamma, Kind, ZBox, ZPlus

DT = torch.float64
LOW, HIGH = -1.0, 2.0


def network(seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 7, bias=False), nn.ReLU(), nn.Linear(7, 3, bias=False)).to(DT).eval()


def deep_taylor_step(model: nn.Sequential, x: torch.Tensor, target: torch.Tensor, direction) -> torch.Tensor:  # type: ignore[no-untyped-def]
    """The input relevance of one DTD step through the first layer (LRP-0 above it)."""
    w1, w2 = model[0].weight.detach().T, model[2].weight.detach().T  # (in, hidden), (hidden, out)
    out = torch.zeros_like(x)
    for n in range(len(x)):
        a = x[n]
        z = a @ w1  # (hidden,)
        hidden = z.clamp(min=0)
        relevance_k = hidden * w2[:, target[n]]  # LRP-0 at the top layer: R_k = a_k w_kc
        for k in range(len(z)):
            if z[k] <= 0:
                continue  # a dead unit carries no relevance
            v = direction(a, w1[:, k])
            t = z[k] / (v @ w1[:, k])  # the root on the line: z_k(a - t v) = 0
            root = a - t * v
            c = relevance_k[k] / hidden[k]  # the relevance model R_k = a_k c_k
            out[n] += w1[:, k] * (a - root) * c
    return out


def lrp(model: nn.Sequential, x: torch.Tensor, target: torch.Tensor, rule: object) -> torch.Tensor:
    composite = Composite([(FirstLayer(), rule), (Kind("dense"), Epsilon(0.0))])
    return xaikit.explain(model, x, target, method="lrp", composite=composite).attribution


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), gamma=st.floats(0.0, 3.0))
def test_lrp_gamma_is_one_deep_taylor_step_proposition_4(seed: int, gamma: float) -> None:
    model = network(seed)
    x = torch.rand(4, 5, dtype=DT, generator=torch.Generator().manual_seed(seed))  # a >= 0, as after a ReLU
    target = torch.tensor([0, 1, 2, 0])
    expected = deep_taylor_step(model, x, target, lambda a, w: a * (1 + gamma * (w >= 0).to(DT)))
    torch.testing.assert_close(lrp(model, x, target, Gamma(gamma, epsilon=0.0)), expected, rtol=1e-9, atol=1e-12)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_z_plus_is_the_deep_taylor_rule_of_the_positive_domain(seed: int) -> None:
    model = network(seed)
    x = torch.rand(4, 5, dtype=DT, generator=torch.Generator().manual_seed(seed))
    target = torch.tensor([2, 1, 0, 1])
    expected = deep_taylor_step(model, x, target, lambda a, w: a * (w > 0).to(DT))
    torch.testing.assert_close(lrp(model, x, target, ZPlus(epsilon=0.0)), expected, rtol=1e-9, atol=1e-12)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_z_box_is_the_deep_taylor_rule_of_the_box(seed: int) -> None:
    model = network(seed)
    x = LOW + (HIGH - LOW) * torch.rand(4, 5, dtype=DT, generator=torch.Generator().manual_seed(seed))
    target = torch.tensor([0, 0, 1, 2])
    expected = deep_taylor_step(model, x, target, lambda a, w: a - LOW * (w > 0).to(DT) - HIGH * (w < 0).to(DT))
    torch.testing.assert_close(lrp(model, x, target, ZBox(low=LOW, high=HIGH, epsilon=0.0)), expected, rtol=1e-9, atol=1e-12)


def test_the_root_points_lie_where_dtd_wants_them() -> None:
    """Sanity of the reference itself: z^B's root stays in the box and z-plus's in the positive orthant."""
    model = network(0)
    w1 = model[0].weight.detach().T
    a = LOW + (HIGH - LOW) * torch.rand(5, dtype=DT, generator=torch.Generator().manual_seed(1))
    for k in range(w1.shape[1]):
        z = a @ w1[:, k]
        if z <= 0:
            continue
        v = a - LOW * (w1[:, k] > 0) - HIGH * (w1[:, k] < 0)
        root = a - z / (v @ w1[:, k]) * v
        assert float(root @ w1[:, k]) == pytest.approx(0.0, abs=1e-12)
        assert bool(((root >= LOW - 1e-12) & (root <= HIGH + 1e-12)).all())


def saturating_network(theta: float) -> nn.Sequential:
    """Seed 003's saturation example ``f(x) = sum_i x_i - max(0, x_i - theta)`` (for ``x >= 0``) as the
    two-layer rectifier network whose structure the lecture decomposes: hidden units ``relu(x_i)`` and
    ``relu(x_i - theta)``, output weights ``+1`` and ``-1``."""
    model = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1, bias=False)).to(DT).eval()
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]))
        model[0].bias.copy_(torch.tensor([0.0, 0.0, -theta, -theta]))
        model[2].weight.copy_(torch.tensor([[1.0, 1.0, -1.0, -1.0]]))
    return model


@pytest.mark.parametrize("theta", [0.5, 1.0, 1.5])
def test_the_lectures_saturation_example(theta: float) -> None:
    """Seed 003 ("Taylor expansions: limitations"): at ``x = (2, 2)`` the function is saturated, so the
    gradient and every first-order Taylor expansion are blind to it, while LRP with the lecture's rules
    (``R_j = a_j v_j / sum_j a_j v_j R_out`` above, ``R_i = x_i w_ij / sum_i x_i w_ij R_j`` below, no bias
    term) decomposes ``f(x) = 2 theta`` into ``theta`` per feature: each feature's own saturated
    contribution ``min(x_i, theta)``, equal to its Shapley value and to integrated gradients from zero.

    The lecture shows no figure for this example; it states the limitation and the fix. With the bias in
    the denominator (zennit's and xaikit's default LRP-0/epsilon) the relevance of the saturated unit
    goes to its bias ``-theta`` and the input relevance is ``2 - 2 = 0`` per feature: the lecture's rule
    drops the bias from the denominator, which is z-plus with ``bias=False`` here (all ``x_i w_ij >= 0``).
    """
    model, x = saturating_network(theta), torch.tensor([[2.0, 2.0]], dtype=DT)
    assert float(model(x).detach()) == pytest.approx(2 * theta)
    assert torch.equal(xaikit.explain(model, x, 0, method="saliency").attribution, torch.zeros(1, 2, dtype=DT))
    assert torch.equal(xaikit.explain(model, x, 0, method="gradient_x_input").attribution, torch.zeros(1, 2, dtype=DT))
    taylor = xaikit.explain(model, x, 0, method="taylor", root="zero")
    assert float(taylor.attribution.abs().sum()) == 0.0  # relu'(0) = 0: the expansion at the root sees nothing
    lecture = Composite([(FirstLayer(), ZPlus(bias=False, epsilon=0.0)), (Kind("dense"), Epsilon(epsilon=0.0))], name="lecture")
    decomposed = xaikit.explain(model, x, 0, method="lrp", composite=lecture)
    torch.testing.assert_close(decomposed.attribution, torch.full((1, 2), theta, dtype=DT), rtol=1e-12, atol=1e-12)
    ig = xaikit.explain(model, x, 0, method="integrated_gradients", steps=4, quadrature="riemann_middle")  # kinks at t = theta / 2: on no node
    torch.testing.assert_close(ig.attribution, decomposed.attribution, rtol=1e-6, atol=1e-6)
    absorbed = xaikit.explain(model, x, 0, method="lrp", composite=Composite([(Kind("dense"), Epsilon(epsilon=0.0))]))
    torch.testing.assert_close(absorbed.attribution, torch.zeros(1, 2, dtype=DT), rtol=0, atol=1e-12)
