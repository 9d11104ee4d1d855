"""Each LRP rule against its explicit matrix formula, on dense and convolutional layers.

The reference builds the layer's weight matrix W (outputs x inputs) from the Jacobian of
the layer and evaluates R_j = sum_k a_j rho(w_jk) / (eps + sum_j a_j rho(w_jk) + rho(b_k)) R_k
directly; the engine computes the same through its modified backward pass.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor, nn

import xaikit
from xaikit.lrp import AlphaBeta, Composite, Epsilon, Flat, Gamma, Kind, WSquare, ZBox, ZPlus

DT = torch.float64

LAYERS: dict[str, Callable[[torch.Generator], nn.Module]] = {
    "linear": lambda g: nn.Linear(7, 5),
    "conv1d": lambda g: nn.Conv1d(2, 3, kernel_size=3, padding=1),
    "conv2d": lambda g: nn.Conv2d(2, 3, kernel_size=3, stride=2, padding=1),
    "conv3d": lambda g: nn.Conv3d(1, 2, kernel_size=2),
}
SHAPES = {"linear": (7,), "conv1d": (2, 6), "conv2d": (2, 5, 5), "conv3d": (1, 3, 3, 3)}


def make_layer(kind: str, seed: int) -> nn.Module:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        layer = LAYERS[kind](torch.Generator()).double().eval()
        with torch.no_grad():
            for p in layer.parameters():
                p.normal_()
    return layer


def matrices(layer: nn.Module, shape: tuple[int, ...]) -> tuple[Tensor, Tensor, Tensor]:
    """Weight matrix W (K, J), bias vector b (K,) and connectivity mask (K, J)."""
    j = int(torch.tensor(shape).prod())

    def linear_part(flat: Tensor) -> Tensor:
        x = flat.view(1, *shape)
        out = layer(x) - layer(torch.zeros_like(x))
        return out.flatten()

    w = torch.autograd.functional.jacobian(linear_part, torch.zeros(j, dtype=DT))
    b = layer(torch.zeros(1, *shape, dtype=DT)).flatten().detach()
    if isinstance(layer, nn.Linear):
        mask = torch.ones_like(w)
    elif not hasattr(layer, "in_channels"):
        mask = (w != 0).to(w.dtype)
    else:
        ones = type(layer)(layer.in_channels, layer.out_channels, layer.kernel_size, stride=layer.stride,
                           padding=layer.padding, bias=False).double()
        nn.init.ones_(ones.weight)
        mask = torch.autograd.functional.jacobian(lambda f: ones(f.view(1, *shape)).flatten(), torch.zeros(j, dtype=DT)) != 0
    return w.detach(), b, mask.to(w.dtype)


def stabilized(d: Tensor, eps: float, relative: bool) -> Tensor:
    scale = d.abs().mean() if relative else torch.tensor(1.0, dtype=d.dtype)
    sign = torch.where(d >= 0, torch.ones_like(d), -torch.ones_like(d))  # sign(0) = 1, in d's dtype
    return d + eps * scale * sign


def reference(
    a: Tensor, w: Tensor, b: Tensor, r_out: Tensor, rho: Callable[[Tensor], Tensor], eps: float, relative: bool,
    use_bias: bool = True,
) -> Tensor:
    """R_j = sum_k a_j rho(w_jk) / stab(sum_j a_j rho(w_jk) + rho(b_k)) R_k, for one sample (flat)."""
    contrib = a[None, :] * rho(w)  # (K, J)
    denom = contrib.sum(1) + (rho(b) if use_bias else 0.0)
    return (contrib / stabilized(denom, eps, relative)[:, None] * r_out[:, None]).sum(0)


def engine_relevance(layer: nn.Module, rule: object, x: Tensor, r_out: Tensor) -> Tensor:
    """Inject the output relevance ``r_out`` through a linear output selection."""
    out = layer(x).detach()
    coef = r_out.view_as(out) / out

    def select(o: Tensor) -> Tensor:
        return (o * coef).flatten(1).sum(1)

    composite = Composite([(Kind("dense", "conv"), rule)])
    return xaikit.explain(layer, x, target=select, composite=composite).attribution


KINDS = list(LAYERS)


def _case(kind: str, seed: int, nonnegative: bool) -> tuple[nn.Module, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    layer = make_layer(kind, seed)
    gen = torch.Generator().manual_seed(seed + 1)  # data; the layer has its own seed
    x = torch.randn(1, *SHAPES[kind], generator=gen, dtype=DT)
    if nonnegative:
        x = x.abs()
    w, b, mask = matrices(layer, SHAPES[kind])
    r_out = torch.randn(w.shape[0], generator=gen, dtype=DT)
    return layer, x, w, b, mask, r_out, layer(x).detach().flatten()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("relative", [False, True])
def test_epsilon_matches_formula(kind: str, relative: bool) -> None:
    layer, x, w, b, _, r_out, _ = _case(kind, 0, nonnegative=False)
    eps = 0.3
    got = engine_relevance(layer, Epsilon(eps, relative=relative), x, r_out).flatten()
    want = reference(x.flatten(), w, b, r_out, lambda t: t, eps, relative)
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("kind", KINDS)
def test_gamma_matches_formula_on_positive_outputs(kind: str) -> None:
    layer, x, w, b, _, r_out, z = _case(kind, 1, nonnegative=True)
    gamma = 0.7
    r_out = torch.where(z > 0, r_out, 0.0)  # the textbook rule; negative outputs see the signed variant

    def rho(t: Tensor) -> Tensor:
        return t + gamma * t.clamp(min=0)

    got = engine_relevance(layer, Gamma(gamma, epsilon=0.0), x, r_out).flatten()
    want = reference(x.flatten(), w, b, r_out, rho, 0.0, False)
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("kind", KINDS)
def test_unsigned_gamma_matches_formula_everywhere(kind: str) -> None:
    layer, x, w, b, _, r_out, _ = _case(kind, 2, nonnegative=True)
    gamma = 0.25

    def rho(t: Tensor) -> Tensor:
        return t + gamma * t.clamp(min=0)

    got = engine_relevance(layer, Gamma(gamma, signed=False, epsilon=0.0), x, r_out).flatten()
    want = reference(x.flatten(), w, b, r_out, rho, 0.0, False)
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("kind", KINDS)
def test_signed_gamma_mirrors_for_negative_outputs(kind: str) -> None:
    layer, x, w, b, _, r_out, z = _case(kind, 3, nonnegative=True)
    gamma = 0.5
    up = reference(x.flatten(), w, b, torch.where(z >= 0, r_out, 0.0), lambda t: t + gamma * t.clamp(min=0), 0.0, False)
    down = reference(x.flatten(), w, b, torch.where(z < 0, r_out, 0.0), lambda t: t + gamma * t.clamp(max=0), 0.0, False)
    got = engine_relevance(layer, Gamma(gamma, epsilon=0.0), x, r_out).flatten()
    torch.testing.assert_close(got, up + down, rtol=1e-6, atol=1e-9)


def _alpha_beta_reference(x: Tensor, w: Tensor, b: Tensor, r_out: Tensor, alpha: float, beta: float,
                          z: Tensor | None) -> Tensor:
    """Explicit alpha-beta with (a w)^+ = a^+ w^+ + a^- w^-; signed roles when ``z`` is given."""
    contrib = x[None, :] * w
    pos, neg = contrib.clamp(min=0), contrib.clamp(max=0)
    pos_d, neg_d = pos.sum(1) + b.clamp(min=0), neg.sum(1) + b.clamp(max=0)
    negative = torch.zeros_like(r_out, dtype=torch.bool) if z is None else z < 0
    weaker_empty = torch.where(negative, pos_d == 0, neg_d == 0)
    a_k = torch.where(weaker_empty, 1.0, alpha)
    b_k = torch.where(weaker_empty, 0.0, beta)
    c_pos = torch.where(negative, -b_k, a_k) / torch.where(pos_d == 0, torch.inf, pos_d)
    c_neg = torch.where(negative, a_k, -b_k) / torch.where(neg_d == 0, -torch.inf, neg_d)
    return ((pos * c_pos[:, None] + neg * c_neg[:, None]) * r_out[:, None]).sum(0)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("nonnegative", [True, False])
def test_zplus_matches_formula(kind: str, nonnegative: bool) -> None:
    layer, x, w, b, _, r_out, z = _case(kind, 4, nonnegative=nonnegative)
    r_pos = torch.where(z > 0, r_out, 0.0)
    got = engine_relevance(layer, ZPlus(epsilon=0.0), x, r_pos).flatten()
    want = _alpha_beta_reference(x.flatten(), w, b, r_pos, 1.0, 0.0, None)
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-9)
    if nonnegative:  # the classic z+ formula with rho(w) = w^+ (a >= 0)
        classic = reference(x.flatten(), w, b, r_pos, lambda t: t.clamp(min=0), 0.0, False)
        torch.testing.assert_close(got, classic, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("signed", [True, False])
@pytest.mark.parametrize(("alpha", "beta"), [(2.0, 1.0), (1.0, 0.0), (3.0, 2.0)])
def test_alpha_beta_matches_formula(kind: str, signed: bool, alpha: float, beta: float) -> None:
    layer, x, w, b, _, r_out, z = _case(kind, 5, nonnegative=False)
    got = engine_relevance(layer, AlphaBeta(alpha, beta, signed=signed, epsilon=0.0), x, r_out).flatten()
    want = _alpha_beta_reference(x.flatten(), w, b, r_out, alpha, beta, z if signed else None)
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("kind", KINDS)
def test_zbox_matches_formula(kind: str) -> None:
    layer, x, w, _, _, r_out, _ = _case(kind, 6, nonnegative=False)
    low, high = -3.0, 3.0
    xf = x.flatten()
    contrib = xf[None, :] * w - low * w.clamp(min=0) - high * w.clamp(max=0)
    want = (contrib / contrib.sum(1, keepdim=True) * r_out[:, None]).sum(0)
    got = engine_relevance(layer, ZBox(low=low, high=high, epsilon=0.0), x, r_out).flatten()
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("kind", KINDS)
def test_zbox_with_tensor_bounds(kind: str) -> None:
    layer, x, w, _, _, r_out, _ = _case(kind, 7, nonnegative=False)
    gen = torch.Generator().manual_seed(9)
    low = x - torch.rand(x.shape, generator=gen, dtype=DT)
    high = x + torch.rand(x.shape, generator=gen, dtype=DT)
    lf, hf, xf = low.flatten(), high.flatten(), x.flatten()
    contrib = xf[None, :] * w - lf[None, :] * w.clamp(min=0) - hf[None, :] * w.clamp(max=0)
    want = (contrib / contrib.sum(1, keepdim=True) * r_out[:, None]).sum(0)
    got = engine_relevance(layer, ZBox(low=low[0], high=high[0], epsilon=0.0), x, r_out).flatten()
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("rule", ["flat", "wsquare"])
def test_input_independent_rules_match_formula(kind: str, rule: str) -> None:
    layer, x, w, _, mask, r_out, _ = _case(kind, 8, nonnegative=False)
    rho = (lambda t: mask) if rule == "flat" else (lambda t: t * t)
    weights = rho(w)
    want = (weights / weights.sum(1, keepdim=True) * r_out[:, None]).sum(0)
    got = engine_relevance(layer, Flat(epsilon=0.0) if rule == "flat" else WSquare(epsilon=0.0), x, r_out).flatten()
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-9)


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    eps=st.floats(0.0, 2.0),
    n_in=st.integers(1, 9),
    n_out=st.integers(1, 6),
)
def test_epsilon_formula_property(seed: int, eps: float, n_in: int, n_out: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    layer = nn.Linear(n_in, n_out).double()
    with torch.no_grad():
        layer.weight.copy_(torch.randn(n_out, n_in, generator=gen, dtype=DT))
        layer.bias.copy_(torch.randn(n_out, generator=gen, dtype=DT))
    x = torch.randn(1, n_in, generator=gen, dtype=DT)
    r_out = torch.randn(n_out, generator=gen, dtype=DT)
    got = engine_relevance(layer, Epsilon(eps, relative=False), x, r_out).flatten()
    want = reference(x.flatten(), layer.weight.detach(), layer.bias.detach(), r_out, lambda t: t, eps, False)
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-9)


def test_functional_conv_with_string_padding_and_groups() -> None:
    gen = torch.Generator().manual_seed(0)
    weight = torch.randn(4, 1, 3, 3, generator=gen, dtype=DT)

    class Grouped(nn.Module):
        def forward(self, x: Tensor) -> Tensor:
            return F.conv2d(x, weight, None, 1, "same", 1, 2)

    model = Grouped()
    x = torch.rand(1, 2, 5, 5, generator=gen, dtype=DT)
    w, b, _ = matrices(model, (2, 5, 5))  # type: ignore[arg-type]
    r_out = torch.randn(w.shape[0], generator=gen, dtype=DT)
    r_pos = torch.where(model(x).flatten() > 0, r_out, 0.0)
    got = engine_relevance(model, ZPlus(epsilon=0.0), x, r_pos).flatten()
    want = _alpha_beta_reference(x.flatten(), w, b, r_pos, 1.0, 0.0, None)
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-9)


def test_alpha_beta_validates_parameters() -> None:
    with pytest.raises(ValueError, match="alpha - beta = 1"):
        AlphaBeta(2.0, 2.0)
    with pytest.raises(ValueError, match="alpha - beta = 1"):
        AlphaBeta(0.5, -0.5)
    with pytest.raises(ValueError, match="gamma must be >= 0"):
        Gamma(-1.0)
    with pytest.raises(ValueError, match="epsilon must be >= 0"):
        Epsilon(-0.1)


def contribution_reference(a: Tensor, w: Tensor, b: Tensor, r_out: Tensor, gamma: float) -> Tensor:
    """Gamma on contributions: z_jk + gamma z_jk^+ with z_jk = a_j w_jk, bias b_k + gamma b_k^+ (one sample, flat)."""
    contrib = a[None, :] * w
    favoured = contrib + gamma * contrib.clamp(min=0)
    denom = favoured.sum(1) + b + gamma * b.clamp(min=0)
    return (favoured / denom[:, None] * r_out[:, None]).sum(0)


@pytest.mark.parametrize("kind", KINDS)
def test_gamma_splits_contributions_by_sign_on_inputs_of_both_signs(kind: str) -> None:
    """A negative input contributes positively through w^-: gamma favours it there, like z-plus and alpha-beta."""
    layer, x, w, b, _, r_out, _ = _case(kind, 4, nonnegative=False)
    assert bool((x < 0).any()) and bool((x > 0).any())
    gamma = 0.6
    got = engine_relevance(layer, Gamma(gamma, signed=False, epsilon=0.0), x, r_out).flatten()
    want = contribution_reference(x.flatten(), w, b, r_out, gamma)
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("kind", KINDS)
def test_gamma_tends_to_zplus_on_inputs_of_both_signs(kind: str) -> None:
    """gamma -> inf approaches z-plus (which splits contributions by sign) on standardized inputs too."""
    layer, x, _, _, _, r_out, z = _case(kind, 5, nonnegative=False)
    r_out = torch.where(z > 0, r_out, 0.0)  # as behind a ReLU: outputs with no positive contribution carry none
    large = engine_relevance(layer, Gamma(1e7, signed=False, epsilon=0.0), x, r_out)
    zplus = engine_relevance(layer, ZPlus(signed=False, epsilon=0.0), x, r_out)
    # the gap is O(1 / gamma) of the relevance (it was 3.3x when gamma ignored the input's sign)
    torch.testing.assert_close(large, zplus, rtol=0.0, atol=1e-5 * float(zplus.abs().max()))


def test_zbox_default_bounds_are_per_sample() -> None:
    """Without bounds, a sample's z^B heatmap does not depend on its batch-mates."""
    layer = make_layer("conv2d", 6)
    gen = torch.Generator().manual_seed(7)
    x = torch.rand(3, *SHAPES["conv2d"], generator=gen, dtype=DT)
    x[2] *= 10.0  # a batch-mate with a much wider range
    composite = Composite([(Kind("conv"), ZBox(epsilon=0.0))])
    alone = xaikit.explain(layer, x[:1], target=lambda out: out.flatten(1).sum(1), method="lrp", composite=composite)
    batch = xaikit.explain(layer, x, target=lambda out: out.flatten(1).sum(1), method="lrp", composite=composite)
    torch.testing.assert_close(batch.attribution[:1], alone.attribution, rtol=1e-12, atol=1e-12)


def test_zbox_refuses_a_constant_input_instead_of_exploding() -> None:
    layer = make_layer("conv2d", 8)
    x = torch.full((1, *SHAPES["conv2d"]), 0.5, dtype=DT)
    composite = Composite([(Kind("conv"), ZBox())])
    with pytest.raises(ValueError, match=r"high > low.*constant.*low"):
        xaikit.explain(layer, x, target=lambda out: out.flatten(1).sum(1), method="lrp", composite=composite)
    with pytest.raises(ValueError, match="high == low"):
        xaikit.explain(layer, torch.rand(1, *SHAPES["conv2d"], dtype=DT), target=lambda out: out.flatten(1).sum(1),
                       method="lrp", composite=Composite([(Kind("conv"), ZBox(low=0.0, high=0.0))]))
    boxed = xaikit.explain(layer, x, target=lambda out: out.flatten(1).sum(1), method="lrp",
                           composite=Composite([(Kind("conv"), ZBox(low=0.0, high=1.0, epsilon=0.0))]))
    assert torch.isfinite(boxed.attribution).all()
    torch.testing.assert_close(boxed.relevance_sum, boxed.output, rtol=1e-9, atol=1e-9)
