"""LSTM and GRU explained through their unrolled computation (issue 12).

The engine runs the module's own weights through an unrolled implementation whose values
equal the fused kernel's (``tests/engine/test_recurrent_unrolled.py``); gates are held
constant (signal-take-all, Arras et al.), so on a bias-free network relevance is conserved.
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

import xaikit

DT = torch.float64


class Recurrent(nn.Module):
    def __init__(self, kind: str, bidirectional: bool = True, layers: int = 2) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        cls = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[kind]
        self.rnn = cls(3, 5, num_layers=layers, bidirectional=bidirectional, batch_first=True, bias=False).to(DT)
        self.head = nn.Linear(5 * (2 if bidirectional else 1), 2, bias=False).to(DT)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=gen, dtype=DT) * 0.6)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.rnn(x)[0][:, -1])


def _sequence() -> Tensor:
    return torch.randn(4, 7, 3, generator=torch.Generator().manual_seed(1), dtype=DT)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("composite", ["cp_lrp", "epsilon"])
def test_a_bias_free_bidirectional_recurrent_network_conserves_relevance(kind: str, composite: str) -> None:
    e = xaikit.explain(Recurrent(kind).eval(), _sequence(), 1, method="lrp", composite=composite, composite_options={"epsilon": 1e-12})
    assert float(e.relative_delta.max()) < 1e-6
    assert e.attribution.shape == (4, 7, 3)


def test_the_explained_output_is_the_fused_kernels() -> None:
    model, x = Recurrent("lstm").eval(), _sequence()
    e = xaikit.explain(model, x, 1, method="lrp", composite="cp_lrp")
    torch.testing.assert_close(e.output, model(x)[:, 1].detach(), rtol=1e-12, atol=1e-12)
