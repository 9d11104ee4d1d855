"""A neuralized model carries its NEON composite: the defaults conserve its evidence."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans

import xaikit


@pytest.fixture(scope="module")
def kmeans_and_data() -> tuple[KMeans, np.ndarray]:
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(c, 0.6, size=(40, 5)) for c in (-2.0, 0.0, 2.5)])
    return KMeans(n_clusters=3, n_init=4, random_state=0).fit(X), X


def test_explain_with_no_composite_conserves_the_cluster_evidence(kmeans_and_data: tuple[KMeans, np.ndarray]) -> None:
    kmeans, X = kmeans_and_data
    e = xaikit.explain(xaikit.neuralize(kmeans), torch.from_numpy(X))
    assert e.extras["composite"] == "neon"
    torch.testing.assert_close(e.relevance_sum, e.output, rtol=0.0, atol=1e-9)


def test_another_composite_on_a_neuralized_model_warns(kmeans_and_data: tuple[KMeans, np.ndarray]) -> None:
    kmeans, X = kmeans_and_data
    model = xaikit.neuralize(kmeans)
    with pytest.warns(UserWarning, match="carries its own composite.*does not conserve"):
        e = xaikit.explain(model, torch.from_numpy(X), composite="epsilon_plus")
    assert float((e.relevance_sum - e.output).abs().max()) > 1e-3  # the warning is warranted
    with pytest.warns(UserWarning) as record:
        xaikit.explain(model, torch.from_numpy(X), composite="neon")
        import warnings

        warnings.warn("sentinel", UserWarning, stacklevel=1)
    assert [str(w.message) for w in record] == ["sentinel"]


def test_composite_options_reach_the_models_own_composite(kmeans_and_data: tuple[KMeans, np.ndarray]) -> None:
    kmeans, X = kmeans_and_data
    model = xaikit.neuralize(kmeans)
    default = xaikit.explain(model, torch.from_numpy(X[:5]), composite_options={"rule": "midpoint"})
    explicit = xaikit.explain(model, torch.from_numpy(X[:5]), composite="neon", composite_options={"rule": "midpoint"})
    torch.testing.assert_close(default.attribution, explicit.attribution, rtol=0.0, atol=0.0)
