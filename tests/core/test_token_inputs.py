"""Token ids and structured outputs are explained without user glue (issue 12, items 4 and 5).

A model taking integer ids is explained at its embedding's output: the attribution is per
token (the sum over the embedding dimensions), identical to explaining the rest of the
model on the embeddings; ``output=`` selects the entry of a dict, tuple or ``ModelOutput``.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import pytest
import torch
from torch import Tensor, nn

import xaikit
from xaikit.utils.errors import InputError, ModelOutputError

DT = torch.float64
METHODS = {
    "lrp": {"composite": "epsilon"},
    "saliency": {},
    "integrated_gradients": {"steps": 8},
    "occlusion": {"progress": False},
    "kernel_shap": {"samples": 64, "progress": False},
}


class Head(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.fc1, self.fc2 = nn.Linear(5 * 4, 6).to(DT), nn.Linear(6, 3).to(DT)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=gen, dtype=DT) * 0.5)

    def forward(self, embeds: Tensor) -> Tensor:
        return self.fc2(torch.relu(self.fc1(embeds.flatten(1))))


class TokenModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(7, 4).to(DT)
        with torch.no_grad():
            self.embedding.weight.copy_(torch.randn(7, 4, generator=torch.Generator().manual_seed(1), dtype=DT))
        self.head = Head()

    def forward(self, ids: Tensor) -> Tensor:
        return self.head(self.embedding(ids))


IDS = torch.tensor([[1, 4, 2, 6, 0], [3, 3, 5, 1, 2], [6, 0, 0, 4, 1]])


@pytest.mark.parametrize("method", list(METHODS))
def test_token_ids_are_explained_at_the_embedding_per_token(method: str) -> None:
    model = TokenModel().eval()
    e = xaikit.explain(model, IDS, 1, method=method, **METHODS[method])
    embeds = model.embedding(IDS).detach()
    reference = xaikit.explain(model.head, embeds, 1, method=method, **METHODS[method])
    assert e.attribution.shape == IDS.shape
    torch.testing.assert_close(e.extras["embedding_relevance"], reference.attribution, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(e.attribution, reference.attribution.sum(-1), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(e.output, reference.output, rtol=1e-12, atol=1e-12)
    assert torch.equal(e.inputs, IDS)


def test_integer_inputs_without_an_embedding_are_refused_with_the_fix() -> None:
    with pytest.raises(InputError, match=r"\.float\(\)"):
        xaikit.explain(Head().eval(), torch.ones(2, 5, 4, dtype=torch.long))


class TwoEmbeddings(TokenModel):
    def __init__(self) -> None:
        super().__init__()
        self.other = nn.Embedding(7, 4).to(DT)

    def forward(self, ids: Tensor) -> Tensor:
        return self.head(self.embedding(ids) + self.other(ids))


def test_ids_read_by_two_embeddings_are_refused() -> None:
    with pytest.raises(InputError, match="2 embedding"):
        xaikit.explain(TwoEmbeddings().eval(), IDS)


@dataclass
class Output:
    logits: Tensor


class Structured(nn.Module):
    def __init__(self, kind: str) -> None:
        super().__init__()
        self.inner, self.kind = Head(), kind

    def forward(self, x: Tensor) -> object:
        y = self.inner(x)
        if self.kind == "dict":
            return OrderedDict(logits=y, hidden=x)
        if self.kind == "tuple":
            return (y, x)
        return Output(y)


@pytest.mark.parametrize(("kind", "output"), [("dict", "logits"), ("tuple", 0), ("attribute", "logits"), ("dict", lambda out: out["logits"])])
def test_output_selects_the_entry_to_explain(kind: str, output: object) -> None:
    x = torch.rand(3, 5, 4, generator=torch.Generator().manual_seed(2), dtype=DT)
    model = Structured(kind).eval()
    reference = xaikit.explain(model.inner, x, 1, method="lrp", composite="epsilon")
    e = xaikit.explain(model, x, 1, method="lrp", composite="epsilon", output=output)
    torch.testing.assert_close(e.attribution, reference.attribution, rtol=1e-12, atol=1e-12)


def test_an_unknown_output_entry_names_the_entries() -> None:
    with pytest.raises(ModelOutputError, match="hidden"):
        xaikit.explain(Structured("dict").eval(), torch.rand(2, 5, 4, dtype=DT), method="saliency", output="scores")


def test_layer_names_are_the_users_under_the_wrappers() -> None:
    from xaikit.rules import Composite, Epsilon, LayerName, ZPlus

    composite = Composite([(LayerName("head.fc1"), ZPlus()), (LayerName("head.fc2"), Epsilon())])
    model = TokenModel().eval()
    e = xaikit.explain(model, IDS, 1, method="lrp", composite=composite)
    reference = xaikit.explain(model.head, model.embedding(IDS).detach(), 1, method="lrp",
                               composite=Composite([(LayerName("fc1"), ZPlus()), (LayerName("fc2"), Epsilon())]))
    torch.testing.assert_close(e.attribution, reference.attribution.sum(-1), rtol=1e-12, atol=1e-12)
