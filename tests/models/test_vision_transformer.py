"""The reference ViT: shapes, and relevance conservation under CP-LRP when nothing adds constants."""

from __future__ import annotations

import pytest
import torch

import xaikit
from xaikit.models import VisionTransformer, reference_model


def _constant_free(seed: int = 0) -> VisionTransformer:
    torch.manual_seed(seed)
    model = VisionTransformer(image_size=8, patch_size=2, dim=16, depth=2, heads=2).double().eval()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("bias") or name in ("class_token", "positions"):
                parameter.zero_()
    return model


def test_logits_and_the_registry() -> None:
    model = reference_model("vision-transformer", num_classes=3).eval()
    assert model(torch.rand(5, 1, 8, 8)).shape == (5, 3)
    with pytest.raises(ValueError, match="multiple of patch_size"):
        VisionTransformer(image_size=8, patch_size=3)


def test_cp_lrp_conserves_on_the_constant_free_vit() -> None:
    model, x = _constant_free(), torch.rand(4, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    e = xaikit.explain(model, x, None, method="lrp", composite="cp_lrp", composite_options={"epsilon": 1e-12})
    gap = ((e.attribution.sum((1, 2, 3)) - e.output).abs() / e.output.abs()).max()
    # the sum rule (residuals, layer norm centering) keeps its own relative stabilizer 1e-9
    assert gap < 1e-6
