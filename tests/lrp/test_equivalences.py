"""Equivalences from the literature and architecture coverage without glue."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from lrp_nets import DT, seeded
from torch import Tensor, nn

import xaikit
from xaikit.lrp import Composite, Epsilon, Kind, Norm

LRP0 = Composite([(Kind("dense", "conv"), Epsilon(0.0)), (Kind("sum"), Norm(0.0))])


def gradient_x_input(model: nn.Module, x: Tensor, target: Tensor) -> Tensor:
    leaf = x.detach().clone().requires_grad_(True)
    out = model(leaf)
    (grad,) = torch.autograd.grad(out.gather(1, target[:, None]).sum(), leaf)
    return grad * x


@pytest.mark.parametrize("net", ["mlp", "vgg", "resnet"])
def test_lrp0_equals_gradient_times_input(nets, net: str) -> None:  # type: ignore[no-untyped-def]
    model, x = nets[net]
    e = xaikit.explain(model, x, composite=LRP0)
    assert e.target is not None
    torch.testing.assert_close(e.attribution, gradient_x_input(model, x, e.target), rtol=1e-6, atol=1e-9)


class TwoBranch(nn.Module):
    """y = A x[:, :3] + B x[:, 3:], a residual-style sum of two paths on disjoint inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(3, 2, bias=False)
        self.b = nn.Linear(2, 2, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.a(x[:, :3]) + self.b(x[:, 3:])


def test_residual_sum_splits_relevance_in_proportion() -> None:
    model = seeded(TwoBranch, 3).to(DT)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(5, 5, generator=gen, dtype=DT)
    e = xaikit.explain(model, x, target=0, composite=LRP0)
    a = model.a(x[:, :3])[:, 0].detach()
    b = model.b(x[:, 3:])[:, 0].detach()
    f = a + b
    torch.testing.assert_close(e.attribution[:, :3].sum(1), a / f * f)
    torch.testing.assert_close(e.attribution[:, 3:].sum(1), b / f * f)


class ModuleReLU(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(6, 8), nn.Linear(8, 8), nn.Linear(8, 3)
        self.act = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        return self.fc3(self.act(self.fc2(self.act(self.fc1(x)))))


class FunctionalReLU(ModuleReLU):
    def forward(self, x: Tensor) -> Tensor:
        return self.fc3(torch.relu(F.relu(self.fc2(F.relu(self.fc1(x), inplace=True)))).relu())


@pytest.mark.parametrize("preset", ["epsilon_plus", "epsilon_gamma_box", "epsilon_alpha2_beta1", "lrp_cmp"])
def test_module_and_functional_relu_give_identical_explanations(preset: str) -> None:
    modular = seeded(ModuleReLU, 4).to(DT)
    functional = FunctionalReLU().to(DT)
    functional.load_state_dict(modular.state_dict())
    x = torch.randn(7, 6, generator=torch.Generator().manual_seed(0), dtype=DT)
    a = xaikit.explain(modular, x, composite=preset)
    b = xaikit.explain(functional, x, composite=preset)
    assert torch.equal(a.attribution, b.attribution)


class Shared(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = nn.Linear(5, 5)
        self.head = nn.Linear(5, 2)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(F.relu(self.block(F.relu(self.block(x)))))


class Unrolled(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.first, self.second, self.head = nn.Linear(5, 5), nn.Linear(5, 5), nn.Linear(5, 2)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(F.relu(self.second(F.relu(self.first(x)))))


def test_module_used_twice_matches_unrolled_copy() -> None:
    shared = seeded(Shared, 5).to(DT)
    unrolled = Unrolled().to(DT)
    with torch.no_grad():
        for layer in (unrolled.first, unrolled.second):
            layer.weight.copy_(shared.block.weight)
            layer.bias.copy_(shared.block.bias)
        unrolled.head.load_state_dict(shared.head.state_dict())
    x = torch.randn(4, 5, generator=torch.Generator().manual_seed(1), dtype=DT)
    for preset in ("epsilon_plus", "epsilon_gamma_box"):
        a = xaikit.explain(shared, x, composite=preset)
        b = xaikit.explain(unrolled, x, composite=preset)
        torch.testing.assert_close(a.attribution, b.attribution)


def test_batchnorm_is_merged_for_the_explanation_only() -> None:
    """Conv+BN explained with BN merged equals the same net with BN folded into the conv by hand."""
    gen = torch.Generator().manual_seed(2)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 5 * 5, 3)).to(DT)
    bn = net[1]
    with torch.no_grad():
        bn.running_mean.copy_(torch.randn(4, generator=gen, dtype=DT))
        bn.running_var.copy_(torch.rand(4, generator=gen, dtype=DT) + 0.5)
        bn.weight.copy_(torch.randn(4, generator=gen, dtype=DT))
        bn.bias.copy_(torch.randn(4, generator=gen, dtype=DT))
    net.eval()
    folded = copy.deepcopy(net)
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    with torch.no_grad():
        folded[0].weight.mul_(scale.view(-1, 1, 1, 1))
        folded[0].bias.copy_((net[0].bias - bn.running_mean) * scale + bn.bias)
    folded[1] = nn.Identity()
    before = copy.deepcopy(net.state_dict())
    x = torch.rand(3, 2, 5, 5, generator=gen, dtype=DT)
    for preset in ("epsilon_plus", "epsilon_gamma_box", "epsilon_alpha2_beta1"):
        a = xaikit.explain(net, x, composite=preset, composite_options={"low": 0.0, "high": 1.0} if "box" in preset else None)
        b = xaikit.explain(folded, x, composite=preset, composite_options={"low": 0.0, "high": 1.0} if "box" in preset else None)
        torch.testing.assert_close(a.attribution, b.attribution, rtol=1e-7, atol=1e-10)
        torch.testing.assert_close(a.output, net(x).gather(1, a.target[:, None]).squeeze(1).detach())
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


class EveryLayer(nn.Module):
    """Conv1d/2d/3d, pools, Flatten, GELU, LayerNorm, Identity, Upsample, Dropout, a functional mean."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv1d(1, 4, 3, padding=1)
        self.c2 = nn.Conv2d(1, 4, 3, padding=1)
        self.c3 = nn.Conv3d(1, 2, 2)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.bil = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.pool = nn.MaxPool2d(2)
        self.avg = nn.AdaptiveAvgPool2d(2)
        self.norm = nn.LayerNorm(16)
        self.drop = nn.Dropout(0.5)
        self.ident = nn.Identity()
        self.gelu = nn.GELU()
        self.head = nn.Linear(16 + 4 + 2, 3)

    def forward(self, x: Tensor) -> Tensor:
        seq = self.c1(x.flatten(2)[:, :, :8]).mean(dim=2)  # (N, 4)
        img = self.avg(self.pool(self.bil(self.up(F.relu(self.c2(x))))))  # (N, 4, 2, 2)
        img = self.drop(self.ident(self.gelu(self.norm(img.flatten(1)))))
        vol = self.c3(x.unsqueeze(1).expand(-1, -1, 2, -1, -1)).amax(dim=(2, 3, 4))  # (N, 2)
        return self.head(torch.cat([img, seq, F.silu(vol)], dim=1))


def test_many_layer_types_run_and_lrp0_is_gradient_times_input_where_it_should() -> None:
    model = seeded(EveryLayer, 6).to(DT).eval()
    x = torch.rand(2, 1, 4, 4, generator=torch.Generator().manual_seed(0), dtype=DT)
    for preset in ("epsilon_plus", "epsilon_gamma_box", "epsilon_alpha2_beta1", "lrp_cmp", "epsilon_plus_flat"):
        e = xaikit.explain(model, x, composite=preset)
        assert e.attribution.shape == x.shape
        assert torch.isfinite(e.attribution).all()
        torch.testing.assert_close(e.output, model(x).gather(1, e.target[:, None]).squeeze(1).detach())


@pytest.mark.parametrize(
    "act",
    [nn.ReLU(inplace=True), nn.LeakyReLU(0.1, inplace=True), nn.ELU(inplace=True), nn.Hardtanh(-2.0, 2.0, inplace=True), nn.ReLU6(inplace=True)],
    ids=lambda m: type(m).__name__,
)
def test_inplace_activations_do_not_corrupt_the_forward(act: nn.Module) -> None:
    """In-place flags (some passed positionally by torch's modules) must not write into shared values."""

    class Residual(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1, self.fc2, self.act = nn.Linear(4, 4), nn.Linear(4, 3), act

        def forward(self, x: Tensor) -> Tensor:
            h = self.fc1(x)
            return self.fc2(self.act(h) + h)  # h is used again after the in-place activation

    model = seeded(Residual, 7).to(DT).eval()
    x = torch.randn(5, 4, generator=torch.Generator().manual_seed(0), dtype=DT)
    with torch.no_grad():
        expected = model(x)
    e = xaikit.explain(model, x, composite="epsilon_plus")
    torch.testing.assert_close(e.output, expected.gather(1, e.target[:, None]).squeeze(1))


def test_exported_programs_are_explained_like_the_module() -> None:
    model = seeded(lambda: xaikit.models.resnet_small(num_classes=4), 0).eval()
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    exported = torch.export.export(model, (x,)).module()
    for preset in ("epsilon_plus", "epsilon_gamma_box"):
        a = xaikit.explain(model, x, composite=preset)
        b = xaikit.explain(exported, x, composite=preset)
        torch.testing.assert_close(b.attribution, a.attribution, rtol=1e-4, atol=1e-6)
