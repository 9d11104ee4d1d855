"""Rule assignment by layer kind, type, name and forward position; the named presets."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from lrp_nets import DT, seeded
from torch import Tensor, nn

import xaikit
from xaikit.engine.layer import LayerInfo
from xaikit.lrp import (
    AlphaBeta,
    Composite,
    Epsilon,
    FirstLayer,
    Flat,
    Gamma,
    Kind,
    LayerName,
    LayerType,
    ZBox,
    ZPlus,
    composites,
    get_composite,
    run_propagation,
)


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.Conv2d(3, 3, 3, padding=1), nn.ReLU())
        self.head = nn.Linear(3 * 4 * 4, 2)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(F.relu(self.features(x)).flatten(1))


def info(kind: str, name: str = "", index: int = -1, kind_index: int = -1, module: nn.Module | None = None) -> LayerInfo:
    return LayerInfo(kind=kind, func=F.linear, module=module, name=name, index=index, kind_index=kind_index)


def test_first_match_wins_and_matchers_select_what_they_say() -> None:
    conv = nn.Conv2d(1, 1, 1)
    composite = Composite(
        [
            (FirstLayer(), Flat()),
            (LayerName("features.2"), Gamma(0.5)),
            (LayerType(nn.Conv2d), ZPlus()),
            (Kind("dense"), Epsilon(0.1)),
        ]
    )
    assert composite.rule_for(info("conv", "features.0", 0, 0, conv)) == Flat()
    assert composite.rule_for(info("conv", "features.2", 1, 1, conv)) == Gamma(0.5)
    assert composite.rule_for(info("conv", "other", 2, 2, conv)) == ZPlus()
    assert composite.rule_for(info("dense", "head", 3, 0)) == Epsilon(0.1)
    assert composite.rule_for(info("sum")) is None


def test_the_engine_reports_names_kinds_and_forward_order() -> None:
    model = seeded(Net, 0).to(DT)
    prop, _, _ = run_propagation(model, torch.rand(2, 1, 4, 4, dtype=DT), get_composite("epsilon_plus"))
    assert [(i.kind, i.name, i.index, i.kind_index) for i in prop.layers] == [
        ("conv", "features.0", 0, 0),
        ("conv", "features.2", 1, 1),
        ("dense", "head", 2, 0),
    ]


def test_rule_by_name_changes_only_that_layer() -> None:
    model = seeded(Net, 1).to(DT)
    x = torch.rand(3, 1, 4, 4, generator=torch.Generator().manual_seed(0), dtype=DT)
    base = Composite([(Kind("conv", "dense"), Epsilon(0.0))])
    by_name = base.with_rules((LayerName("features.0"), ZBox(low=0.0, high=1.0, epsilon=0.0)))
    first = base.with_rules((FirstLayer(), ZBox(low=0.0, high=1.0, epsilon=0.0)))
    a = xaikit.explain(model, x, composite=by_name)
    b = xaikit.explain(model, x, composite=first)
    c = xaikit.explain(model, x, composite=base)
    torch.testing.assert_close(a.attribution, b.attribution)
    assert not torch.allclose(a.attribution, c.attribution)


def test_presets_are_registered() -> None:
    for name in [
        "epsilon_plus", "epsilon_plus_flat", "epsilon_gamma_box", "epsilon_gamma_box_flat",
        "epsilon_alpha2_beta1", "epsilon_alpha2_beta1_flat", "lrp_cmp", "lrp_cmp_flat",
    ]:
        assert name in composites()
    preset = get_composite("epsilon_alpha2_beta1")
    assert preset.rule_for(info("conv", index=3, kind_index=3)) == AlphaBeta(2.0, 1.0)
    assert preset.rule_for(info("dense", index=4, kind_index=0)) == Epsilon()
    flat = get_composite("epsilon_plus_flat")
    assert flat.rule_for(info("conv", index=0, kind_index=0)) == Flat()
    assert isinstance(flat.rule_for(info("conv", index=1, kind_index=1)), AlphaBeta)
    box = get_composite("epsilon_gamma_box", low=-2.0, high=2.0)
    assert box.rule_for(info("conv", index=0, kind_index=0)) == ZBox(low=-2.0, high=2.0)


def test_lrp_cmp_splits_convolutions_into_lower_and_upper() -> None:
    model = seeded(lambda: xaikit.models.vgg16(num_classes=3, width=0.125, input_size=32), 0)
    bound = get_composite("lrp_cmp", low=0.0, high=1.0).bind(model)
    rules = [bound.rule_for(info("conv", index=k, kind_index=k)) for k in range(13)]
    assert rules[0] == ZBox(low=0.0, high=1.0)
    assert all(isinstance(r, Gamma) for r in rules[1:6])  # round(0.5 * 13) = 6 lower convolutions
    assert all(r == Epsilon(0.25) for r in rules[6:])
    assert bound.rule_for(info("dense", index=13, kind_index=0)) == Epsilon(1e-6)


def test_composite_options_only_for_preset_names() -> None:
    with pytest.raises(TypeError, match="preset names only"):
        xaikit.lrp.as_composite(Composite([]), low=0.0)


def test_a_layer_rule_matched_by_block_name_leaves_the_block_sum_to_the_default() -> None:
    """LayerName("layer1.0") also sees the residual sum performed by that block itself."""
    model = seeded(lambda: xaikit.models.resnet_small(num_classes=3), 0).eval()
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    by_block = get_composite("epsilon_plus").with_rules((LayerName("layer1.0"), Gamma(0.5)))
    e = xaikit.explain(model, x, composite=by_block)
    assert torch.isfinite(e.attribution).all()
    prop, _, _ = run_propagation(model, x, by_block)
    assert any(info.name == "layer1.0.conv1" for info in prop.layers)
