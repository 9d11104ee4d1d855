"""The bad-input catalogue of the whole-dataset features (issue 13): explain_dataset, the
store, the analyses and the ViRelAy export. Each bad input raises a XaikitError whose message
names the fix; nothing of the caller's model or data changes, also when it fails."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import xaikit
from xaikit.analysis import Normalization, artefact_relevance, export_virelay, pool_relevance, spray
from xaikit.utils.errors import XaikitError

pytest.importorskip("zarr")

MODEL = xaikit.models.MLP(4, (6,), 3).eval()
DATA = torch.randn(12, 4)
LABELS = torch.arange(12) % 3
RELEVANCE = np.random.default_rng(0).standard_normal((12, 4))


def _run(store: Path, **kwargs: Any) -> Any:
    options = {"store": store, "progress": False, **kwargs}
    data = options.pop("data", DATA)
    methods = options.pop("methods", "saliency")
    return xaikit.explain_dataset(MODEL, data, methods, **options)


#: (case, call on a fresh folder, a fragment of the message that names the problem or the fix)
CASES: list[tuple[str, Callable[[Path], Any], str]] = [
    ("chunk size zero", lambda p: _run(p / "s", chunk_size=0), "positive integer"),
    ("workers zero", lambda p: _run(p / "s", workers=0), "positive integer"),
    ("workers and client", lambda p: _run(p / "s", workers=2, client=object()), "not both"),
    ("no method", lambda p: _run(p / "s", methods=[]), "at least one method"),
    ("unknown method", lambda p: _run(p / "s", methods="nonesuch"), "nonesuch"),
    ("options for several methods", lambda p: _run(p / "s", methods=["lrp", "saliency"], composite="epsilon"),
     "one method given by name"),
    ("method name with slash", lambda p: _run(p / "s", methods={"a/b": "saliency"}), "without '/'"),
    ("unknown target word", lambda p: _run(p / "s", target="largest"), "is not known"),
    ("per-sample target of the wrong length", lambda p: _run(p / "s", target=np.zeros(5, dtype=int)),
     "per-sample target"),
    ("target label without labels", lambda p: _run(p / "s", target="label"), "needs labels"),
    ("labels of the wrong length", lambda p: _run(p / "s", labels=np.zeros(5, dtype=int)), "one entry per sample"),
    ("float labels", lambda p: _run(p / "s", labels=np.zeros(12)), "must be integers"),
    ("no samples", lambda p: _run(p / "s", data=DATA[:0]), "no samples"),
    ("not an array", lambda p: _run(p / "s", data=object()), "give a tensor"),
    ("object array", lambda p: _run(p / "s", data=np.array([[object()] * 4] * 2)), "Python objects"),
    ("shuffling loader", lambda p: _run(p / "s", data=DataLoader(TensorDataset(DATA), shuffle=True)),
     "shuffle=False"),
    ("not a store", lambda p: xaikit.store.open_store(p), "not an explanation store"),
    ("pool: unknown feature word", lambda p: pool_relevance(RELEVANCE, "rows"), "is not known"),
    ("pool: overlapping groups", lambda p: pool_relevance(RELEVANCE, {"a": [0, 1], "b": [1]}), "overlaps"),
    ("pool: label map of the wrong shape", lambda p: pool_relevance(RELEVANCE, np.zeros(3, dtype=int)),
     "label map"),
    ("pool: store word on an array", lambda p: pool_relevance(RELEVANCE, None, "label"), "one label per sample"),
    ("pool: method for an array", lambda p: pool_relevance(RELEVANCE, method="lrp"), "names a method of a store"),
    ("pool: one value", lambda p: pool_relevance(np.zeros(3)), "one row per sample"),
    ("spray: too few samples", lambda p: spray(RELEVANCE[:2]), "at least 3"),
    ("spray: unknown embedding", lambda p: spray(RELEVANCE, embedding="pca"), "embedding"),
    ("spray: mask of the wrong length", lambda p: spray(RELEVANCE, samples=np.ones(5, dtype=bool)), "one entry"),
    ("spray: clusters out of range", lambda p: spray(RELEVANCE, clusters=0, embedding=None), "clusters must be"),
    ("spray: bad scale", lambda p: Normalization(scale="unit"), "scale must be"),
    ("spray: negative blur", lambda p: Normalization(blur=-1.0), "non-negative"),
    ("artefact: region of the wrong shape", lambda p: artefact_relevance(RELEVANCE, np.ones(3, dtype=bool), None),
     "region's mask"),
    ("virelay: tabular store", lambda p: export_virelay(_run(p / "s", labels=LABELS), p / "out"),
     "ViRelAy shows images"),
]


@pytest.mark.parametrize(("case", "call", "fragment"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_raises_a_clear_error_and_changes_nothing(case: str, call: Any, fragment: str, tmp_path: Path) -> None:
    weights = [p.detach().clone() for p in MODEL.parameters()]
    data, relevance = DATA.clone(), RELEVANCE.copy()
    with pytest.raises(XaikitError) as raised:
        call(tmp_path)
    assert fragment in str(raised.value), str(raised.value)
    assert all(torch.equal(a, b) for a, b in zip(weights, MODEL.parameters()))
    assert torch.equal(data, DATA) and np.array_equal(relevance, RELEVANCE)
    assert MODEL.training is False
