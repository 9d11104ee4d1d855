"""Opening an explanation store runs no code: array metadata naming a codec or data type an
xaikit store never uses (a pickle codec, Python objects) is refused before Zarr decodes
anything (a crafted chunk would otherwise be unpickled by such a codec)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch

import xaikit

pytest.importorskip("zarr")


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("edit", [
    {"codecs": [{"name": "numcodecs.pickle", "configuration": {}}]},
    {"data_type": "object"},
    {"storage_transformers": [{"name": "anything"}]},
])
def test_a_store_with_a_code_running_codec_is_refused(tmp_path: Path, edit: dict) -> None:  # type: ignore[type-arg]
    path = tmp_path / "s.zarr"
    xaikit.explain_dataset(xaikit.models.MLP(4, (8,), 2).eval(), torch.randn(6, 4), "saliency", store=path,
                           progress=False)
    metadata = path / "logits" / "zarr.json"
    record = json.loads(metadata.read_text())
    record.update(edit)
    metadata.write_text(json.dumps(record))
    marker = tmp_path / "ran"
    (path / "logits" / "c" / "0" / "0").write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(xaikit.store.StoreError, match="refusing to read it"):
        xaikit.store.open_store(path)
    with pytest.raises(xaikit.store.StoreError, match="refusing to read it"):  # resuming checks first too
        xaikit.explain_dataset(xaikit.models.MLP(4, (8,), 2).eval(), torch.randn(6, 4), "saliency", store=path,
                               progress=False)
    assert not marker.exists()
