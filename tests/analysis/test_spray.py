"""SpRAy: the Clever-Hans acceptance test, and its parts against independent references
(brute-force neighbours, a dense Laplacian's spectrum, planted clusters)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

import xaikit
from xaikit.analysis import Normalization, artefact_relevance, spray
from xaikit.analysis.spectral import DENSE_LIMIT, knn_graph, spectral_clusters
from xaikit.datasets.artefacts import digits_with_artefact
from xaikit.models.training import fit_classifier


@pytest.fixture(scope="module")
def clever_hans() -> tuple[object, object]:
    data = digits_with_artefact(artefact_class=3, fraction=0.5, seed=0)
    model = fit_classifier(xaikit.models.DigitsCNN, data.x_train, data.y_train, seed=0, epochs=15)
    return data, model


def test_clever_hans_spray_separates_the_artefact_samples(clever_hans, tmp_path: Path) -> None:
    pytest.importorskip("zarr")
    data, model = clever_hans
    # the model uses the mark: without it, a tenth of the marked threes are no longer threes
    unmarked = data.x_test.clone()
    unmarked[data.artefact_test, 0, :2, :2] = 0.0
    marked_threes = data.artefact_test
    assert (model(data.x_test[marked_threes]).argmax(1) == 3).float().mean() == 1.0
    assert (model(unmarked[marked_threes]).argmax(1) == 3).float().mean() < 0.95
    store = xaikit.explain_dataset(model, data.x_test, "lrp", store=tmp_path / "digits.zarr", labels=data.y_test,
                                   target="label", chunk_size=128, progress=False)
    threes = store.read("label") == 3
    result = spray(store, samples=threes, seed=0)
    flags = data.artefact_test.numpy()[result.indices]
    assert result.eigengap_clusters == 2 == result.clusters  # two strategies: the digit, and the mark
    cluster, purity, recall = result.best_match(flags)
    assert purity >= 0.9 and recall >= 0.9
    # the cluster's mean heatmap sits on the mark (4 of 64 pixels), the other's hardly
    share = [m[:2, :2].sum() / np.clip(m, 0, None).sum() for m in result.mean_relevance]
    assert share[cluster] > 0.3 and share[cluster] > 5 * share[1 - cluster]
    assert result.embedding is not None and result.embedding.shape == (int(threes.sum()), 2)
    # screening all classes: the artefact class comes first, by a wide margin
    ranking = artefact_relevance(store, data.region)
    assert ranking.groups[0] == 3
    assert ranking.scores[0] > 3 * ranking.scores[1]


def test_knn_graph_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    points = rng.standard_normal((60, 5))
    graph, distances = knn_graph(points, 4)
    full = np.linalg.norm(points[:, None] - points[None], axis=-1)
    np.fill_diagonal(full, np.inf)
    nearest = np.argsort(full, axis=1)[:, :4]
    expected = np.zeros((60, 60))
    expected[np.repeat(np.arange(60), 4), nearest.reshape(-1)] = 1
    expected = np.maximum(expected, expected.T)
    np.testing.assert_array_equal(graph.toarray(), expected)
    np.testing.assert_allclose(distances, np.sort(full, axis=1)[:, :4])
    assert graph.nnz <= 2 * 60 * 4


@pytest.mark.parametrize("size", [90, DENSE_LIMIT + 150])
def test_spectrum_matches_the_dense_normalized_laplacian(size: int) -> None:
    rng = np.random.default_rng(size)
    graph, _ = knn_graph(rng.standard_normal((size, 3)), 6)
    found = spectral_clusters(graph, max_clusters=6)
    adjacency = graph.toarray()
    scale = 1 / np.sqrt(adjacency.sum(1))
    laplacian = np.eye(size) - scale[:, None] * adjacency * scale[None, :]
    np.testing.assert_allclose(found.eigenvalues, np.linalg.eigvalsh(laplacian)[:7], atol=1e-8)


def test_planted_groups_are_found_and_counted_by_the_eigengap() -> None:
    blocks = [np.ones((n, n)) - np.eye(n) for n in (30, 20, 12)]
    graph = sp.csr_matrix(sp.block_diag(blocks))
    found = spectral_clusters(graph)
    assert found.eigengap_clusters == 3
    np.testing.assert_allclose(found.eigenvalues[:3], 0, atol=1e-10)
    assert found.labels.tolist() == [0] * 30 + [1] * 20 + [2] * 12  # numbered by size


def test_spray_scores_an_unlike_explanation_as_outlier_and_is_deterministic() -> None:
    rng = np.random.default_rng(1)
    left = np.zeros((40, 1, 6, 6))
    left[:, 0, :, :3] = 1
    right = np.zeros((40, 1, 6, 6))
    right[:, 0, :, 3:] = 1
    odd = np.zeros((1, 1, 6, 6))
    odd[0, 0, 0, 0] = -5
    relevance = np.concatenate([left, right, odd]) + 0.05 * rng.standard_normal((81, 1, 6, 6))
    first = spray(relevance, embedding="spectral", seed=3)
    again = spray(relevance, embedding="spectral", seed=3)
    np.testing.assert_array_equal(first.labels, again.labels)
    np.testing.assert_array_equal(first.embedding, again.embedding)
    assert int(np.argmax(first.outlier_score)) == 80
    assert set(first.labels[:40].tolist()).isdisjoint(first.labels[40:80].tolist())
    assert first.mean_relevance.shape == (first.clusters, 6, 6)
    assert all(len(p) <= 8 for p in first.prototypes.values())
    fixed = spray(relevance, clusters=2, embedding=None)
    assert fixed.clusters == 2 and fixed.embedding is None
    with pytest.raises(ValueError, match="embedding"):
        spray(relevance, embedding="pca")
    with pytest.raises(ValueError, match="at least 3"):
        spray(relevance[:2])


def test_normalization_sums_channels_resizes_and_scales() -> None:
    rng = np.random.default_rng(2)
    images = rng.standard_normal((5, 3, 16, 16))
    flat = Normalization(size=(8, 8))(images)
    assert flat.shape == (5, 64)
    np.testing.assert_allclose(np.linalg.norm(flat, axis=1), 1, rtol=1e-6)
    plain = Normalization(scale=None)(images)
    np.testing.assert_allclose(plain, images.sum(1).reshape(5, -1), rtol=1e-6)
    pooled = Normalization(size=(8, 8), scale=None)(np.ones((2, 1, 16, 16)))
    np.testing.assert_allclose(pooled, 1.0, rtol=1e-6)
    assert Normalization(channels=None).shape((3, 16, 16)) == (3, 16, 16)
    z = Normalization(scale="zscore")(images)
    np.testing.assert_allclose(z.mean(1), 0, atol=1e-6)
    np.testing.assert_allclose(z.std(1), 1, rtol=1e-5)
    with pytest.raises(ValueError, match="scale"):
        Normalization(scale="unit")


def test_clever_hans_on_time_series_a_spike_before_the_event() -> None:
    from functools import partial

    from xaikit.datasets import series_with_artefact

    data = series_with_artefact(seed=0)
    model = fit_classifier(partial(xaikit.models.CNN1d, 1, 3, 64), data.x_train, data.y_train, seed=0, epochs=30)
    explanation = xaikit.explain(model, data.x_test, data.y_test, method="lrp")
    ones = (data.y_test == data.artefact_class).numpy()
    result = spray(explanation.attribution[ones], clusters=2, normalization=Normalization(size=(16,)), embedding=None)
    _, purity, recall = result.best_match(data.artefact_test.numpy()[ones])
    assert purity >= 0.9 and recall >= 0.9
    ranking = artefact_relevance(explanation, data.region, data.y_test.numpy())
    assert ranking.groups[0] == data.artefact_class and ranking.scores[0] > 2 * ranking.scores[1]


def test_tabular_explanations_cluster_by_which_features_carry_them() -> None:
    rng = np.random.default_rng(4)
    strategies = np.array([[1.0, 0.6, 0, 0, 0, 0], [0, 0, 0, 0, 0.7, 1.0]])  # by features 0-1, or by 4-5
    relevance = strategies[np.repeat([0, 1], 45)] * rng.uniform(0.5, 2.0, (90, 1))  # any strength
    relevance += 0.05 * rng.standard_normal(relevance.shape)
    result = spray(relevance, embedding=None)
    assert result.eigengap_clusters == 2
    assert len(set(result.labels[:45])) == 1 and set(result.labels[:45]).isdisjoint(result.labels[45:])
    assert result.mean_relevance.shape == (2, 6)
