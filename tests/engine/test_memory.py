"""The engine lets go of intermediate tensors as the model does (memory bounded as without it)."""

from __future__ import annotations

import gc
import weakref

import pytest
import torch
from torch import Tensor, nn

from xaikit.engine.run import run_engine
from xaikit.rules.presets import as_composite


class Remembering(nn.Module):
    """A small MLP with a residual sum and a product that keeps weak references to its intermediates."""

    def __init__(self) -> None:
        super().__init__()
        self.first, self.second, self.head = nn.Linear(6, 8), nn.Linear(8, 8), nn.Linear(8, 2)
        self.refs: list[weakref.ref[Tensor]] = []

    def forward(self, x: Tensor) -> Tensor:
        h = torch.relu(self.first(x))
        g = self.second(h)
        summed, gate = h + g, torch.sigmoid(g)
        mixed = summed * gate  # the head's input: its pending graph needs it while the output lives
        self.refs = [weakref.ref(t) for t in (h, g, summed, gate)]
        return self.head(mixed)


@pytest.mark.parametrize("composite", ["epsilon", "attnlrp", "cp_lrp"])
def test_intermediate_tensors_are_freed_during_the_propagation(composite: str) -> None:
    torch.manual_seed(0)
    model = Remembering().eval()
    prop, leaf, out = run_engine(model, torch.randn(3, 6), as_composite(composite).bind(model))
    gc.collect()
    assert [r() is None for r in model.refs] == [True] * 4, "the engine keeps intermediates alive"
    # and the propagation still works off the autograd graph alone
    (relevance,) = torch.autograd.grad(prop.graph_of(out), leaf, torch.ones_like(out))
    assert torch.isfinite(relevance).all()
