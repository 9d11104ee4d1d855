"""Neuralized k-means: exactness, assignments, conservation, reference points, API."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.exceptions import NotFittedError
from sklearn.mixture import GaussianMixture
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import xaikit
from xaikit.neon import NeuralizedKMeans, neuralize


def _gap(distances: np.ndarray, cluster: np.ndarray) -> np.ndarray:
    """``min_{k != c} d_k^2 - d_c^2`` from ``KMeans.transform`` distances."""
    d2 = distances**2
    own = d2[np.arange(len(d2)), cluster]
    others = d2.copy()
    others[np.arange(len(d2)), cluster] = np.inf
    return others.min(1) - own


@pytest.mark.parametrize("cls", [KMeans, MiniBatchKMeans])
def test_output_equals_transform_gap_and_predict(cls: type, blobs: np.ndarray) -> None:
    est = cls(n_clusters=4, n_init=3, random_state=0).fit(blobs)
    model = neuralize(est)
    queries = np.random.default_rng(1).normal(scale=4.0, size=(300, 5))
    out = model(torch.as_tensor(queries)).numpy()
    distances = est.transform(queries)
    for c in range(4):
        np.testing.assert_allclose(out[:, c], _gap(distances, np.full(len(queries), c)), rtol=0, atol=1e-9)
    np.testing.assert_array_equal(model.predict(torch.as_tensor(queries)).numpy(), est.predict(queries))
    # f_c > 0 exactly for the assigned cluster.
    assert ((out > 0).sum(1) == 1).all()


@pytest.mark.parametrize("rule", ["wsquare", "midpoint"])
def test_explains_assigned_cluster_with_exact_conservation(rule: str, blobs: np.ndarray) -> None:
    est = KMeans(4, n_init=3, random_state=0).fit(blobs)
    model = neuralize(est, rule=rule)
    e = model.explain(blobs)
    np.testing.assert_array_equal(e.target.numpy(), est.predict(blobs))
    np.testing.assert_allclose(e.output.numpy(), _gap(est.transform(blobs), est.predict(blobs)), atol=1e-9)
    np.testing.assert_allclose(e.relevance_sum.numpy(), e.output.numpy(), rtol=1e-10, atol=1e-10)


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    k=st.integers(2, 6),
    d=st.integers(1, 6),
    beta=st.one_of(st.none(), st.floats(0.01, 10.0)),
    rule=st.sampled_from(["wsquare", "midpoint"]),
)
def test_conservation_any_cluster(seed: int, k: int, d: int, beta: float | None, rule: str) -> None:
    rng = np.random.default_rng(seed)
    centroids = rng.normal(scale=3.0, size=(k, d))
    x = rng.normal(scale=3.0, size=(20, d))
    model = NeuralizedKMeans(centroids, beta=beta, rule=rule)
    target = int(rng.integers(k))
    e = model.explain(x, target=target)
    np.testing.assert_allclose(e.relevance_sum.numpy(), e.output.numpy(), rtol=1e-8, atol=1e-8)
    assert (e.target == target).all()


def test_wsquare_gives_no_relevance_where_centroids_agree() -> None:
    rng = np.random.default_rng(0)
    centroids = rng.normal(size=(5, 4))
    centroids[:, 2] = 1.5  # no centroid difference along feature 2
    x = rng.normal(size=(50, 4))
    e = NeuralizedKMeans(centroids).explain(x, rule="wsquare")
    assert torch.all(e.attribution[:, 2] == 0)
    assert torch.all(e.attribution[:, [0, 1, 3]].abs().sum(1) > 0)


def test_midpoint_gives_no_relevance_to_features_at_the_midpoint() -> None:
    mu = np.array([[0.0, 0.0, 0.0], [2.0, 4.0, -2.0]])
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 3))
    x[:, 1] = 2.0  # the midpoint's coordinate
    e = NeuralizedKMeans(mu).explain(x, rule="midpoint")
    assert e.attribution[:, 1].abs().max() < 1e-12
    np.testing.assert_allclose(e.relevance_sum.numpy(), e.output.numpy(), atol=1e-10)
    # x = (t, 0, 0): w = 2 (mu_0 - mu_1) = (-4, -8, 4), m = (1, 2, -1), so the shares are
    # w_i (x_i - m_i) / h = (4 - 4t, 16, 4) / (24 - 4t).
    t = np.linspace(-1.0, 0.9, 5)
    x0 = np.zeros((5, 3))
    x0[:, 0] = t
    mid = NeuralizedKMeans(mu).explain(x0, target=0, rule="midpoint").attribution
    shares = (mid / mid.sum(1, keepdim=True)).numpy()
    expected = np.stack([4 - 4 * t, np.full(5, 16.0), np.full(5, 4.0)], 1) / (24 - 4 * t)[:, None]
    np.testing.assert_allclose(shares, expected, atol=1e-12)


def test_hard_beta_sends_relevance_to_nearest_competitor() -> None:
    mu = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 10.0]])
    model = NeuralizedKMeans(mu, beta=None)
    e = model.explain(np.array([[0.5, 0.0]]))
    # Only the competitor at (3, 0) counts: its direction is feature 0 alone.
    assert float(e.attribution[0, 1]) == 0.0
    assert float(e.attribution[0, 0]) == pytest.approx(float(e.output[0]))


def test_other_cluster_on_request_is_negative_evidence(blobs: np.ndarray) -> None:
    est = KMeans(4, n_init=3, random_state=0).fit(blobs)
    model = neuralize(est)
    assigned = est.predict(blobs[:10])
    other = (assigned + 1) % 4
    e = model.explain(blobs[:10], target=torch.as_tensor(other))
    assert (e.output < 0).all()
    np.testing.assert_allclose(e.relevance_sum.numpy(), e.output.numpy(), atol=1e-9)


def test_pipeline_explains_in_scaled_space(blobs: np.ndarray) -> None:
    raw = blobs * np.array([1.0, 10.0, 100.0, 1000.0, 0.1]) + 5.0
    pipe = make_pipeline(StandardScaler(), KMeans(4, n_init=3, random_state=0)).fit(raw)
    model = neuralize(pipe)
    assert model.preprocessor is not None
    assert "'standardscaler'" in model.input_space and "'kmeans'" in model.input_space
    assert model.feature_names == ("x0", "x1", "x2", "x3", "x4")
    x = model.transform(raw)
    np.testing.assert_allclose(x.numpy(), pipe[:-1].transform(raw))
    np.testing.assert_array_equal(model.predict(x).numpy(), pipe.predict(raw))
    e = model.explain(raw)
    assert e.feature_names == model.feature_names
    np.testing.assert_allclose(e.inputs.numpy(), pipe[:-1].transform(raw))


def test_composite_preset_by_name(blobs: np.ndarray) -> None:
    model = neuralize(KMeans(4, n_init=3, random_state=0).fit(blobs))
    x = model.transform(blobs[:7])
    for rule in ("wsquare", "midpoint"):
        by_name = xaikit.explain(model, x, method="lrp", composite="neon", composite_options={"rule": rule})
        direct = model.explain(x, rule=rule, preprocess=False)
        torch.testing.assert_close(by_name.attribution, direct.attribution)
    with pytest.raises(ValueError, match="wsquare, midpoint"):
        model.explain(x, rule="alpha", preprocess=False)


def test_estimator_and_data_are_not_modified(blobs: np.ndarray) -> None:
    est = KMeans(4, n_init=3, random_state=0).fit(blobs)
    centres = est.cluster_centers_.copy()
    data = blobs.copy()
    model = neuralize(est)
    model.explain(blobs)
    assert not np.shares_memory(model.centroids.numpy(), est.cluster_centers_)
    np.testing.assert_array_equal(est.cluster_centers_, centres)
    np.testing.assert_array_equal(blobs, data)


def test_float32_inputs_are_explained_in_float64(blobs: np.ndarray) -> None:
    model = neuralize(KMeans(4, n_init=3, random_state=0).fit(blobs))
    x = torch.as_tensor(blobs[:5], dtype=torch.float32)
    e = xaikit.explain(model, x, method="lrp", composite=model.composite())
    assert e.attribution.dtype == torch.float32
    assert e.output.dtype == torch.float64


def test_clear_errors(blobs: np.ndarray) -> None:
    with pytest.raises(NotFittedError):
        neuralize(KMeans(3))
    with pytest.raises(TypeError, match="KernelDensity"):
        neuralize(GaussianMixture(2).fit(blobs))
    with pytest.raises(ValueError, match="K >= 2"):
        NeuralizedKMeans(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="beta"):
        NeuralizedKMeans(np.eye(3), beta="sharp")
    with pytest.raises(ValueError, match="kind"):
        neuralize(KMeans(2, n_init=1).fit(blobs), kind="outlierness")
