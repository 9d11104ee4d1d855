"""Export to CoRelAy/ViRelAy's HDF5 layout: files ViRelAy's own reader opens, and read back."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import xaikit
from xaikit.analysis import export_virelay, read_virelay_analysis, spray
from xaikit.store import StoreError

h5py = pytest.importorskip("h5py")
pytest.importorskip("zarr")


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("virelay")
    generator = torch.Generator().manual_seed(0)
    inputs = torch.rand(60, 1, 8, 8, generator=generator)
    labels = torch.arange(60) % 3
    store = xaikit.explain_dataset(xaikit.models.DigitsCNN().eval(), inputs, "lrp", store=folder / "s.zarr",
                                   labels=labels, chunk_size=16, progress=False)
    analyses = {c: spray(store, samples=store.read("label") == c, clusters=2, seed=0) for c in range(3)}
    project = export_virelay(store, folder / "project", analyses, class_names=["zero", "one", "two"] + [""] * 7)
    return store, analyses, project


def test_files_follow_the_virelay_layout(exported) -> None:  # type: ignore[no-untyped-def]
    store, analyses, project = exported
    folder = project.parent
    with h5py.File(folder / "input.h5") as file:
        assert file["data"].dtype == np.float32 and file["data"].shape == (60, 1, 8, 8)
        np.testing.assert_array_equal(file["data"][()], store.read("inputs"))
        assert file["label"].dtype == np.uint16
    with h5py.File(folder / "attribution.h5") as file:
        np.testing.assert_array_equal(file["attribution"][()], store.read("methods/lrp/attribution"))
        np.testing.assert_array_equal(file["prediction"][()], store.read("logits"))
        np.testing.assert_array_equal(file["index"][()], np.arange(60))
    label_map = json.loads((folder / "label-map.json").read_text())
    assert label_map[1] == {"index": 1, "word_net_id": "00000001", "name": "one"}
    back = read_virelay_analysis(folder / "analysis.h5")
    assert sorted(back) == ["00000000", "00000001", "00000002"]
    for category, result in analyses.items():
        read = back[f"{category:08d}"]
        np.testing.assert_array_equal(read.index, result.indices)
        np.testing.assert_array_equal(read.clusterings["kmeans-02"], result.labels)
        np.testing.assert_allclose(read.embeddings["tsne"], result.embedding, rtol=1e-6)
        np.testing.assert_allclose(read.eigenvalues, result.eigenvalues[: result.spectral.shape[1]], rtol=1e-6)


def test_virelay_own_reader_opens_the_project(exported) -> None:  # type: ignore[no-untyped-def]
    model = pytest.importorskip("virelay.model", reason="ViRelAy is installed by scripts/test.sh (no deps)")
    store, analyses, project_file = exported
    project = model.Project(str(project_file))
    try:
        sample = project.get_sample(7)
        assert sample.data.shape[:2] == (8, 8)
        attribution = project.get_attribution(7)
        np.testing.assert_allclose(np.asarray(attribution.data).reshape(-1),
                                   store.read("methods/lrp/attribution", [7]).reshape(-1), rtol=1e-6)
        assert project.get_analysis_methods() == ["SpRAy"]
        analysis = project.get_analysis("SpRAy", "00000001", "kmeans-02", "tsne")
        np.testing.assert_array_equal(np.asarray(analysis.clustering), analyses[1].labels)
    finally:
        project.close()


def test_only_finished_image_stores_with_labels_export(tmp_path: Path) -> None:
    table = xaikit.explain_dataset(xaikit.models.MLP(4, (8,), 2).eval(), torch.randn(10, 4), "lrp",
                                   store=tmp_path / "t.zarr", labels=torch.zeros(10, dtype=torch.long), progress=False)
    with pytest.raises(StoreError, match="ViRelAy shows images"):
        export_virelay(table, tmp_path / "out")
    unlabelled = xaikit.explain_dataset(xaikit.models.DigitsCNN().eval(), torch.rand(5, 1, 8, 8), "lrp",
                                        store=tmp_path / "u.zarr", progress=False)
    with pytest.raises(StoreError, match="label"):
        export_virelay(unlabelled, tmp_path / "out")
