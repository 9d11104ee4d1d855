"""Export to (and read back from) the HDF5 files of CoRelAy's analyses, which the ViRelAy
web viewer opens: an input file, an attribution file, an analysis file, a label map and
a project YAML file.

The layout follows what ViRelAy's reader (``virelay/model.py``) loads:

- ``input.h5``: ``data`` float32 ``(N, C, H, W)``, ``label`` uint16 ``(N,)``;
- ``attribution.h5``: ``attribution`` float32 ``(N, C, H, W)``, ``prediction`` float32
  ``(N, classes)`` (the logits), ``label`` uint16 ``(N,)``, ``index`` uint32 ``(N,)``;
- ``analysis.h5``: one group per category named by its label map id (``"00000003"``),
  holding ``index`` uint32 ``(n,)`` (rows of the attribution file), ``embedding/spectral``
  float32 ``(n, m)`` with attribute ``eigenvalue``, ``embedding/tsne`` float32 ``(n, 2)``,
  and ``cluster/kmeans-<k>`` int32 ``(n,)``;
- ``label-map.json``: ``[{"index": 0, "word_net_id": "00000000", "name": "0"}, ...]``;
- ``project.yaml``: the project naming these files.

ViRelAy shows images only, so only stores of ``(C, H, W)`` samples can be exported.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xaikit.analysis.spray import SprayResult
from xaikit.store.layout import ExplanationStore, StoreError

__all__ = ["VirelayAnalysis", "export_virelay", "read_virelay_analysis"]


def _h5py() -> Any:
    try:
        import h5py
    except ImportError as error:  # pragma: no cover - part of the datasets extra
        raise ImportError("the ViRelAy export needs h5py; install xaikit[datasets]") from error
    return h5py


def _word_net_id(category: int) -> str:
    return f"{int(category):08d}"


def _copy_by_chunks(store: ExplanationStore, name: str, target: Any, as_name: str) -> None:
    """Copy store array ``name`` into HDF5 dataset ``as_name`` (float32), a chunk at a time."""
    array = store.array(name)
    dataset = target.create_dataset(as_name, shape=array.shape, dtype="float32")
    for start in range(0, store.samples, store.chunk_size):
        stop = min(start + store.chunk_size, store.samples)
        dataset[start:stop] = np.asarray(array[start:stop]).astype(np.float32)


def export_virelay(
    store: ExplanationStore,
    folder: str | os.PathLike[str],
    analyses: Mapping[int, SprayResult] | None = None,
    *,
    method: str | None = None,
    class_names: Sequence[str] | None = None,
    project: str = "xaikit explanations",
    model: str = "model",
) -> Path:
    """Write a store (and SpRAy results per class) as a ViRelAy project in ``folder``.

    Parameters
    ----------
    store : ExplanationStore
        A finished store of image explanations with its inputs and labels.
    folder : str or os.PathLike
        Where the files go (created).
    analyses : mapping of int to SprayResult, optional
        SpRAy results per class, each over samples of the store (their ``indices``).
    method : str, optional
        The store's method to export (the only one by default).
    class_names : sequence of str, optional
        Display names of the classes (their numbers by default).
    project, model : str
        Names shown by ViRelAy.

    Returns
    -------
    pathlib.Path
        The project YAML file.
    """
    import yaml

    h5py = _h5py()
    key = store.method_name(method)
    names = store.array_names()
    missing = [n for n in ("inputs", "label") if n not in names]
    if missing:
        raise StoreError(f"a ViRelAy export needs the store's {missing}; explain with store_inputs=True and labels=")
    if len(store.spec["sample_shape"]) != 3:
        raise StoreError(
            f"ViRelAy shows images (C, H, W); the store's samples have shape {tuple(store.spec['sample_shape'])}"
        )
    if not store.complete:
        raise StoreError(f"the store {store.path} is not complete; finish it with explain_dataset first")
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    labels = store.read("label")
    if labels.min() < 0 or labels.max() > np.iinfo(np.uint16).max:
        raise StoreError(f"ViRelAy stores labels as uint16; the store's range {labels.min()}..{labels.max()} does not fit")
    classes = int(store.array("logits").shape[1]) if "logits" in names else int(labels.max()) + 1
    with h5py.File(out / "input.h5", "w") as file:
        _copy_by_chunks(store, "inputs", file, "data")
        file.create_dataset("label", data=labels.astype(np.uint16))
    with h5py.File(out / "attribution.h5", "w") as file:
        _copy_by_chunks(store, f"methods/{key}/attribution", file, "attribution")
        _copy_by_chunks(store, "logits", file, "prediction")
        file.create_dataset("label", data=labels.astype(np.uint16))
        file.create_dataset("index", data=np.arange(store.samples, dtype=np.uint32))
    analysis_sources = []
    if analyses:
        with h5py.File(out / "analysis.h5", "w") as file:
            for category, result in analyses.items():
                _write_analysis(file.create_group(_word_net_id(category)), result)
        analysis_sources = [{"analysis_method": "SpRAy", "sources": ["analysis.h5"]}]
    label_map = [
        {"index": c, "word_net_id": _word_net_id(c), "name": str(class_names[c]) if class_names else str(c)}
        for c in range(classes)
    ]
    (out / "label-map.json").write_text(json.dumps(label_map, indent=1))
    description = store.provenance["methods"][key]["method"]
    spec = {
        "project": {
            "name": project,
            "model": model,
            "label_map": "label-map.json",
            "dataset": {
                "name": "inputs", "type": "hdf5", "path": "input.h5",
                "input_width": int(store.spec["sample_shape"][2]), "input_height": int(store.spec["sample_shape"][1]),
                "up_sampling_method": "none", "down_sampling_method": "none",
            },
            "attributions": {
                "attribution_method": description,
                "attribution_strategy": "true_label" if store.spec["target"] == "label" else "predicted_label",
                "sources": ["attribution.h5"],
            },
            "analyses": analysis_sources,
        }
    }
    path = out / "project.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def _write_analysis(group: Any, result: SprayResult) -> None:
    group.create_dataset("index", data=np.asarray(result.indices, dtype=np.uint32))
    spectral = group.create_dataset("embedding/spectral", data=np.asarray(result.spectral, dtype=np.float32))
    spectral.attrs["eigenvalue"] = np.asarray(result.eigenvalues[: result.spectral.shape[1]], dtype=np.float32)
    if result.embedding is not None and result.embedding_method != "spectral":
        name = f"embedding/{result.embedding_method}"
        embedded = group.create_dataset(name, data=np.asarray(result.embedding, dtype=np.float32))
        embedded.attrs["embedding"] = "spectral"
        embedded.attrs["index"] = np.array([0, 1])
    clusters = group.create_dataset(f"cluster/kmeans-{result.clusters:02d}", data=result.labels.astype(np.int32))
    clusters.attrs["embedding"] = "spectral"
    clusters.attrs["k"] = result.clusters
    clusters.attrs["index"] = np.arange(result.spectral.shape[1])


@dataclass(frozen=True)
class VirelayAnalysis:
    """One category of a ViRelAy analysis file, read back.

    Attributes
    ----------
    index : numpy.ndarray
        The rows of the attribution file analysed.
    clusterings : dict of str to numpy.ndarray
        Cluster labels by clustering name (``"kmeans-02"``).
    embeddings : dict of str to numpy.ndarray
        Coordinates by embedding name (``"spectral"``, ``"tsne"``).
    eigenvalues : numpy.ndarray or None
        The spectral embedding's eigenvalues, when stored.
    """

    index: np.ndarray
    clusterings: dict[str, np.ndarray]
    embeddings: dict[str, np.ndarray]
    eigenvalues: np.ndarray | None


def read_virelay_analysis(path: str | os.PathLike[str]) -> dict[str, VirelayAnalysis]:
    """Read a CoRelAy/ViRelAy analysis file: per category, indices, clusterings, embeddings.

    Only numeric datasets are read (h5py never unpickles), so reading runs no code.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    dict of str to VirelayAnalysis
        Keyed by the category's group name (its label map id).
    """
    h5py = _h5py()
    categories = {}
    with h5py.File(path, "r") as file:
        for name, group in file.items():
            spectral = group.get("embedding/spectral")
            categories[name] = VirelayAnalysis(
                index=np.asarray(group["index"][()]),
                clusterings={k: np.asarray(v[()]) for k, v in group.get("cluster", {}).items()},
                embeddings={k: np.asarray(v[()]) for k, v in group.get("embedding", {}).items()},
                eigenvalues=None if spectral is None or "eigenvalue" not in spectral.attrs
                else np.asarray(spectral.attrs["eigenvalue"]),
            )
    return categories
