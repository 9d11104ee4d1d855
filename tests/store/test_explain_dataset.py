"""explain_dataset: the store equals explaining chunk by chunk, resumes after SIGKILL bit for
bit, refuses to mix runs, recomputes corrupt chunks, and gives the same store on Dask."""

from __future__ import annotations

import dataclasses
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from store_jobs import CHUNK, SAMPLES, job_data, job_methods, job_model, run_job
from torch.utils.data import DataLoader, TensorDataset

import xaikit
from xaikit.store import ExplanationStore, StoreError, explain_dataset, open_store
from xaikit.store import runner as store_runner

pytest.importorskip("zarr")

JOB_SCRIPT = Path(__file__).with_name("store_jobs.py")


def assert_same_store(a: ExplanationStore, b: ExplanationStore) -> None:
    assert a.spec == b.spec
    assert a.array_names() == b.array_names()
    for name in [*a.array_names(), "chunks/sha256", "chunks/input_sha256"]:
        left, right = a.read(name), b.read(name)
        assert left.dtype == right.dtype and left.shape == right.shape, name
        assert left.tobytes() == right.tobytes(), f"{name} differs"


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> ExplanationStore:
    return run_job(tmp_path_factory.mktemp("reference") / "store.zarr")


def test_store_holds_each_chunk_explained_as_one_batch(reference: ExplanationStore) -> None:
    inputs, labels = job_data()
    model = job_model()
    assert reference.complete and reference.verify() == []
    for index in (0, 7, reference.chunk_count - 1):
        start, stop = reference.chunk_bounds(index)
        e = xaikit.explain(model, inputs[start:stop], method=job_methods()["lrp"])
        assert np.array_equal(reference.read("methods/lrp/attribution", slice(start, stop)), e.attribution.numpy())
        assert np.array_equal(reference.read("methods/lrp/delta", slice(start, stop)), e.delta.numpy())
        assert np.array_equal(reference.read("methods/lrp/target", slice(start, stop)), e.target.numpy())
    logits = model(inputs).detach()
    np.testing.assert_allclose(reference.read("logits"), logits.numpy(), rtol=1e-6, atol=1e-6)
    assert np.array_equal(reference.read("prediction"), reference.read("logits").argmax(1))
    assert np.array_equal(reference.read("label"), labels.numpy())
    assert np.array_equal(reference.read("inputs"), inputs.numpy())
    # the explained output is the predicted class's logit; IG's delta is its completeness gap
    predicted = reference.read("prediction")
    np.testing.assert_allclose(
        reference.read("methods/lrp/output"), reference.read("logits")[np.arange(SAMPLES), predicted], rtol=1e-5
    )
    assert np.abs(reference.read("methods/ig/delta")).max() < 1e-2 * np.abs(reference.read("methods/ig/output")).max()


def test_provenance_names_version_methods_model_and_time(reference: ExplanationStore) -> None:
    provenance, spec = reference.provenance, reference.spec
    assert provenance["xaikit_version"] == xaikit.__version__ and provenance["created"]
    assert provenance["methods"]["ig"]["method"] == "integrated_gradients"
    assert provenance["methods"]["ig"]["options"]["steps"] == 400
    assert provenance["methods"]["smoothgrad"]["options"]["seed"] == 3
    assert spec["model"]["class"].endswith("MLP") and len(spec["model"]["sha256"]) == 64
    assert spec["samples"] == SAMPLES and spec["chunk_size"] == CHUNK and spec["sample_shape"] == [12]
    assert reference.chunk_count == 31 and reference.chunk_bounds(30) == (600, 610)


def test_a_killed_run_resumes_to_the_same_store_bit_for_bit(
    tmp_path: Path, reference: ExplanationStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "killed.zarr"
    process = subprocess.Popen([sys.executable, str(JOB_SCRIPT), str(path)])
    try:
        deadline = time.monotonic() + 120
        done = 0
        while time.monotonic() < deadline and process.poll() is None:
            try:  # the store may be half created: arrays first, its attributes last
                done = int(open_store(path).done_chunks().sum())
            except (StoreError, KeyError):
                done = 0
            if done >= 4:
                break
            time.sleep(0.05)
        assert process.poll() is None, "the job finished before it could be killed; make it slower"
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(30)
    assert process.returncode == -signal.SIGKILL
    interrupted = open_store(path)
    done_before = interrupted.done_chunks()
    assert 4 <= done_before.sum() < interrupted.chunk_count
    computed: list[int] = []
    original = store_runner.compute_chunk

    def counting(job, model, chunk, index):  # type: ignore[no-untyped-def]
        computed.append(index)
        return original(job, model, chunk, index)

    monkeypatch.setattr(store_runner, "compute_chunk", counting)
    resumed = run_job(path)
    assert sorted(computed) == [i for i in range(resumed.chunk_count) if not done_before[i]]
    assert len(resumed.provenance["resumed"]) == 1
    assert_same_store(resumed, reference)


def test_two_writers_at_once_finish_one_valid_store(tmp_path: Path, reference: ExplanationStore) -> None:
    path = tmp_path / "shared.zarr"
    writers = [subprocess.Popen([sys.executable, str(JOB_SCRIPT), str(path)]) for _ in range(2)]
    assert [writer.wait(120) for writer in writers] == [0, 0]
    store = open_store(path)
    assert store.verify() == []
    assert_same_store(store, reference)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".creating")]  # no staging folder left


def test_a_restart_with_other_arguments_model_or_data_is_refused(tmp_path: Path, reference: ExplanationStore) -> None:
    path = tmp_path / "store.zarr"
    inputs, labels = job_data()
    explain_dataset(job_model(), inputs, "lrp", store=path, labels=labels, chunk_size=CHUNK, progress=False)
    with pytest.raises(StoreError, match=r"(?s)methods\.lrp.*composite.*overwrite=True"):
        explain_dataset(job_model(), inputs, "lrp", store=path, labels=labels, chunk_size=CHUNK, progress=False,
                        composite="epsilon_plus")
    with pytest.raises(StoreError, match="chunk_size"):
        explain_dataset(job_model(), inputs, "lrp", store=path, labels=labels, chunk_size=CHUNK + 1, progress=False)
    changed = job_model()
    with torch.no_grad():
        next(changed.parameters())[0, 0] += 1e-3
    with pytest.raises(StoreError, match=r"model\.sha256"):
        explain_dataset(changed, inputs, "lrp", store=path, labels=labels, chunk_size=CHUNK, progress=False)
    other = inputs.clone()
    other[3 * CHUNK + 5, 0] += 1.0
    with pytest.raises(StoreError, match=f"samples {3 * CHUNK}:{4 * CHUNK} differ"):
        explain_dataset(job_model(), other, "lrp", store=path, labels=labels, chunk_size=CHUNK, progress=False)
    with pytest.raises(StoreError, match="target"):
        explain_dataset(job_model(), inputs, "lrp", store=path, labels=labels, chunk_size=CHUNK, progress=False,
                        target="label")
    # equal weights, another layer: the structure differs
    tanh = job_model()
    tanh.net[1] = torch.nn.Tanh()
    with pytest.raises(StoreError, match=r"model\.structure"):
        explain_dataset(tanh, inputs, "lrp", store=path, labels=labels, chunk_size=CHUNK, progress=False)
    # composite objects that differ only in a field their repr leaves out (units)
    from xaikit.engine import GradientUnits
    from xaikit.rules.presets import as_composite

    base = as_composite("epsilon")
    other = dataclasses.replace(base, units=GradientUnits(1e-6))
    assert repr(other) == repr(base)
    composite_path = tmp_path / "composite.zarr"
    explain_dataset(job_model(), inputs, "lrp", store=composite_path, chunk_size=CHUNK, progress=False, composite=base)
    explain_dataset(job_model(), inputs, "lrp", store=composite_path, chunk_size=CHUNK, progress=False, composite=base)
    with pytest.raises(StoreError, match="units"):
        explain_dataset(job_model(), inputs, "lrp", store=composite_path, chunk_size=CHUNK, progress=False,
                        composite=other)
    # overwrite=True replaces it
    replaced = explain_dataset(job_model(), inputs, "lrp", store=path, labels=labels, chunk_size=CHUNK,
                               progress=False, target="label", overwrite=True)
    assert np.array_equal(replaced.read("methods/lrp/target"), labels.numpy())
    not_a_store = tmp_path / "folder"
    not_a_store.mkdir()
    (not_a_store / "notes.txt").write_text("mine")
    with pytest.raises(StoreError, match="not an explanation store"):
        explain_dataset(job_model(), inputs, "lrp", store=not_a_store, overwrite=True, progress=False)
    assert (not_a_store / "notes.txt").read_text() == "mine"


def test_corrupt_and_partial_chunks_are_found_and_recomputed(tmp_path: Path, reference: ExplanationStore) -> None:
    path = tmp_path / "store.zarr"
    run_job(path)
    chunk_file = path / "methods" / "ig" / "attribution" / "c" / "5" / "0"
    chunk_file.write_bytes(chunk_file.read_bytes()[:-7])  # truncated
    other = path / "logits" / "c" / "9" / "0"
    data = bytearray(other.read_bytes())
    data[len(data) // 2] ^= 0xFF  # a flipped byte
    other.write_bytes(bytes(data))
    store = open_store(path, "r+")
    store.group["methods/lrp/attribution"][12 * CHUNK : 13 * CHUNK] = 0.0  # written after its digest
    assert open_store(path).verify() == [5, 9, 12]
    assert_same_store(run_job(path), reference)


def test_a_dask_local_cluster_of_two_processes_gives_the_same_store(
    tmp_path: Path, reference: ExplanationStore
) -> None:
    pytest.importorskip("distributed")
    assert_same_store(run_job(tmp_path / "dask.zarr", workers=2), reference)


def test_sources_datasets_loaders_and_on_disk_arrays(tmp_path: Path) -> None:
    zarr = pytest.importorskip("zarr")
    inputs, labels = job_data()
    model = job_model()
    expected = explain_dataset(model, inputs, "lrp", store=tmp_path / "a.zarr", labels=labels, chunk_size=64,
                               progress=False)
    on_disk = zarr.open_array(str(tmp_path / "inputs.zarr"), mode="w", shape=inputs.shape, chunks=(50, 12),
                              dtype="float32")
    on_disk[:] = inputs.numpy()
    dataset = TensorDataset(inputs, labels)
    for i, data in enumerate((on_disk, dataset, DataLoader(dataset, batch_size=7), inputs.numpy())):
        got = explain_dataset(model, data, "lrp", store=tmp_path / f"{i}.zarr", chunk_size=64, progress=False,
                              labels=None if i == 1 or i == 2 else labels)
        assert np.array_equal(got.read("methods/lrp/attribution"), expected.read("methods/lrp/attribution"))
        assert np.array_equal(got.read("label"), labels.numpy())
    with pytest.raises(ValueError, match="shuffle=False"):
        explain_dataset(model, DataLoader(dataset, shuffle=True), "lrp", store=tmp_path / "x.zarr")
    with pytest.raises(ValueError, match="target='label' needs labels"):
        explain_dataset(model, inputs, "lrp", store=tmp_path / "y.zarr", target="label", progress=False)
    with pytest.raises(ValueError, match="chunk_size"):
        explain_dataset(model, inputs, "lrp", store=tmp_path / "z.zarr", chunk_size=0)
    with pytest.raises(TypeError, match="one method given by name"):
        explain_dataset(model, inputs, ["lrp", "saliency"], store=tmp_path / "z.zarr", composite="epsilon")


def test_seeded_methods_draw_per_chunk_streams(reference: ExplanationStore) -> None:
    attribution = reference.read("methods/smoothgrad/attribution")
    inputs, _ = job_data()
    first = xaikit.explain(job_model(), inputs[:CHUNK], method="smoothgrad", samples=8, seed=3)
    assert not np.array_equal(attribution[:CHUNK], first.attribution.numpy())  # chunk 0 has its own seed
    from xaikit.store.chunks import chunk_seed

    again = xaikit.explain(job_model(), inputs[:CHUNK], method="smoothgrad", samples=8, seed=chunk_seed(3, 0))
    assert np.array_equal(attribution[:CHUNK], again.attribution.numpy())


def test_explanation_from_a_store_behaves_like_one_in_memory(reference: ExplanationStore) -> None:
    e = reference.explanation("lrp", [3, 1, 4])
    assert e.attribution.shape == (3, 12) and e.method == "lrp"
    np.testing.assert_array_equal(e.delta.numpy(), reference.read("methods/lrp/delta", [3, 1, 4]))
    with pytest.raises(StoreError, match="several methods"):
        reference.attribution()
    with pytest.raises(StoreError, match="no method 'gradcam'"):
        reference.explanation("gradcam")


def test_targets_as_arrays_and_numpy_integers_and_masks(tmp_path: Path) -> None:
    inputs, labels = job_data()
    model = job_model()
    per_sample = (labels.numpy() + 1) % 3
    store = explain_dataset(model, inputs, "saliency", store=tmp_path / "a.zarr", target=per_sample,
                            chunk_size=CHUNK, progress=False)
    assert np.array_equal(store.read("methods/saliency/target"), per_sample)
    one = explain_dataset(model, inputs, "saliency", store=tmp_path / "b.zarr", target=np.int64(2),
                          chunk_size=CHUNK, progress=False)
    assert (one.read("methods/saliency/target") == 2).all()
    mask = np.zeros(SAMPLES, dtype=bool)
    mask[[3, 4, 600]] = True
    np.testing.assert_array_equal(one.read("inputs", mask), inputs.numpy()[[3, 4, 600]])
    assert len(one.explanation(index=mask)) == 3
    with pytest.raises(StoreError, match="one entry per sample"):
        one.read("inputs", mask[:-1])
    with pytest.raises(ValueError, match="per-sample target"):
        explain_dataset(model, inputs, "saliency", store=tmp_path / "c.zarr", target=per_sample[:-1])


def test_analyses_refuse_an_unfinished_store(tmp_path: Path) -> None:
    from xaikit.analysis import pool_relevance, spray

    path = tmp_path / "s.zarr"
    store = run_job(path)
    store = open_store(path, "r+")
    store.group["chunks/sha256"][4] = np.zeros(32, dtype=np.uint8)  # as if chunk 4 were not done
    with pytest.raises(StoreError, match="not complete"):
        pool_relevance(open_store(path), method="lrp")
    with pytest.raises(StoreError, match="not complete"):
        spray(open_store(path), method="lrp")


def test_an_unseeded_random_method_warns(tmp_path: Path) -> None:
    inputs, _ = job_data()
    with pytest.warns(UserWarning, match="seed"):
        explain_dataset(job_model(), inputs[:40], "smoothgrad", store=tmp_path / "s.zarr", seed=None,
                        samples=2, progress=False)
