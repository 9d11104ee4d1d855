"""Neuralized KDE: outlierness, direct and random-feature inlierness."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.neighbors import KernelDensity
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import xaikit
from xaikit.neon import (
    KDEInlierness,
    KDEOutlierness,
    RandomFeatureInlierness,
    neuralize,
    redraw_inlierness,
)


@pytest.mark.parametrize("bandwidth", [0.8, "scott"])
@pytest.mark.parametrize("weighted", [False, True])
def test_outlierness_matches_score_samples(blobs: np.ndarray, bandwidth: float | str, weighted: bool) -> None:
    weights = np.random.default_rng(2).uniform(0.5, 2.0, len(blobs)) if weighted else None
    kde = KernelDensity(bandwidth=bandwidth).fit(blobs, sample_weight=weights)
    model = neuralize(kde)
    assert isinstance(model, KDEOutlierness)
    h = kde.bandwidth_
    assert model.gamma == pytest.approx(1.0 / (2.0 * h * h))
    queries = blobs[::7] + np.random.default_rng(3).normal(scale=0.5, size=blobs[::7].shape)
    log_density = kde.score_samples(queries)
    expected = -(log_density + 0.5 * blobs.shape[1] * math.log(2 * math.pi * h * h)) / model.gamma
    out = model(torch.as_tensor(queries)).numpy()
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose(model.score_samples(torch.as_tensor(queries)).numpy(), log_density, atol=1e-9)


@pytest.mark.filterwarnings("ignore::xaikit.neon.CoincidentSupportWarning")  # explains support points
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), gamma=st.floats(0.05, 5.0), eps=st.sampled_from([1e-9, 1e-3, 0.5]))
def test_outlierness_conserved_up_to_eps_dissipation(seed: int, gamma: float, eps: float) -> None:
    rng = np.random.default_rng(seed)
    support = rng.normal(size=(30, 4))
    x = np.concatenate([rng.normal(size=(10, 4)), support[:3]])  # includes support points (h = 0)
    model = KDEOutlierness(support, gamma, eps=eps)
    e = model.explain(x)
    dissipated = model.dissipation(torch.as_tensor(x))
    np.testing.assert_allclose(e.delta.numpy(), dissipated.numpy(), rtol=1e-9, atol=1e-9)
    assert (dissipated >= 0).all()
    # Away from the support the dissipation is negligible for the default-size eps.
    if eps == 1e-9:
        assert dissipated[:10].max() < 1e-6 * e.output[:10].abs().max()


def test_zero_relevance_where_x_equals_every_support_point() -> None:
    rng = np.random.default_rng(0)
    support = rng.normal(size=(25, 3))
    support[:, 1] = 0.7
    x = rng.normal(size=(8, 3))
    x[:, 1] = 0.7
    e = KDEOutlierness(support, 0.5).explain(x)
    assert e.attribution[:, 1].abs().max() < 1e-12
    assert (e.attribution[:, [0, 2]] > 0).all()


def test_explains_outlying_feature() -> None:
    rng = np.random.default_rng(0)
    support = rng.normal(size=(200, 4))
    x = np.zeros((1, 4))
    x[0, 2] = 6.0
    e = KDEOutlierness(support, 1.0).explain(x)
    r = e.attribution[0]
    assert float(r[2]) > 0.5 * float(e.output[0])
    assert float(r[2]) > 3.0 * float(r[[0, 1, 3]].max())


def test_direct_inlierness_is_exact_and_uniform(blobs: np.ndarray) -> None:
    kde = KernelDensity(bandwidth=1.3).fit(blobs)
    model = neuralize(kde, kind="inlierness")
    assert isinstance(model, KDEInlierness)
    x = blobs[:20]
    np.testing.assert_allclose(model.score_samples(torch.as_tensor(x)).numpy(), kde.score_samples(x), atol=1e-9)
    e = model.explain(x)
    np.testing.assert_allclose(e.relevance_sum.numpy(), e.output.numpy(), rtol=1e-8)
    expected = np.repeat(e.output.numpy()[:, None] / x.shape[1], x.shape[1], 1)
    np.testing.assert_allclose(e.attribution.numpy(), expected, rtol=1e-8)


def test_random_features_converge_to_kde_inlierness(blobs: np.ndarray) -> None:
    gamma = 0.2
    x = torch.as_tensor(blobs[::5])
    exact = KDEInlierness(blobs, gamma)(x)
    errors = []
    for h in (200, 20000):
        draws = [RandomFeatureInlierness(blobs, gamma, h, seed=s)(x) for s in range(4)]
        errors.append(float(torch.stack([(d - exact).abs().mean() for d in draws]).mean()))
    # 100 times the features: about 10 times smaller error (Monte Carlo rate).
    assert 5.0 < errors[0] / errors[1] < 20.0


def test_random_features_conserve_and_follow_the_seed(blobs: np.ndarray) -> None:
    torch_state = torch.get_rng_state()
    np_state = np.random.get_state()[1].copy()  # noqa: NPY002 - the global state must stay untouched
    a = RandomFeatureInlierness(blobs, 0.3, 500, seed=7)
    b = RandomFeatureInlierness(blobs, 0.3, 500, seed=7)
    c = RandomFeatureInlierness(blobs, 0.3, 500, seed=8)
    assert torch.equal(torch.get_rng_state(), torch_state)
    np.testing.assert_array_equal(np.random.get_state()[1], np_state)  # noqa: NPY002
    x = blobs[:10]
    ea, eb, ec = a.explain(x), b.explain(x), c.explain(x)
    torch.testing.assert_close(ea.attribution, eb.attribution, rtol=0, atol=0)
    assert not torch.equal(ea.attribution, ec.attribution)
    np.testing.assert_allclose(ea.relevance_sum.numpy(), ea.output.numpy(), rtol=1e-9, atol=1e-12)
    raw = RandomFeatureInlierness(omega=a.phases.omega, phase=a.phases.phase, mu=a.detection.mu)
    torch.testing.assert_close(raw(torch.as_tensor(x)), a(torch.as_tensor(x)))


def test_random_feature_relevance_follows_the_frequencies() -> None:
    # One feature with a frequency along input 0 only: all relevance goes to input 0.
    model = RandomFeatureInlierness(omega=torch.tensor([[1.5, 0.0]]), phase=torch.tensor([0.3]), mu=torch.tensor([0.8]))
    e = model.explain(np.array([[0.2, -1.0], [1.0, 3.0]]))
    assert torch.all(e.attribution[:, 1] == 0)
    torch.testing.assert_close(e.attribution[:, 0], e.output)


def test_redraws_give_error_bars(blobs: np.ndarray) -> None:
    summary = redraw_inlierness(blobs, blobs[:3], 0.3, n_features=300, n_draws=6, seed=1)
    assert summary.relevance.shape == (6, 3, 5)
    assert (summary.relevance_std > 0).all()
    again = redraw_inlierness(blobs, blobs[:3], 0.3, n_features=300, n_draws=6, seed=1)
    torch.testing.assert_close(summary.relevance, again.relevance, rtol=0, atol=0)


@pytest.mark.filterwarnings("ignore::xaikit.neon.CoincidentSupportWarning")  # explains support points
def test_pipeline_and_preset(blobs: np.ndarray) -> None:
    pipe = make_pipeline(StandardScaler(), KernelDensity(bandwidth=0.5)).fit(blobs * 3.0 + 1.0)
    model = neuralize(pipe)
    x = model.transform(blobs[:4] * 3.0 + 1.0)
    e = xaikit.explain(model, x, method="lrp", composite="neon")
    assert e.target is not None and (e.target == 0).all()
    torch.testing.assert_close(e.output, model(x))


def test_clear_errors(blobs: np.ndarray) -> None:
    with pytest.raises(ValueError, match="kernel='gaussian'"):
        neuralize(KernelDensity(kernel="tophat").fit(blobs))
    with pytest.raises(ValueError, match="metric='euclidean'"):
        neuralize(KernelDensity(metric="manhattan").fit(blobs))
    with pytest.raises(ValueError, match="kind"):
        neuralize(KernelDensity().fit(blobs), kind="clusters")
    with pytest.raises(ValueError, match="gamma"):
        KDEOutlierness(blobs, -1.0)
    with pytest.raises(ValueError, match="weights"):
        KDEOutlierness(blobs, 1.0, weights=-np.ones(len(blobs)))
    with pytest.raises(ValueError, match="omega, phase and mu"):
        RandomFeatureInlierness(blobs, 1.0, omega=np.ones((3, 5)))


def test_hard_beta_explains_by_the_nearest_support_point() -> None:
    rng = np.random.default_rng(5)
    support = rng.normal(size=(12, 3))
    x = rng.normal(size=(4, 3)) * 2.0
    e = KDEOutlierness(support, 0.7, beta=None).explain(x)
    diff2 = (x[:, None, :] - support[None]) ** 2
    nearest = diff2.sum(-1).argmin(1)
    d = diff2[np.arange(4), nearest]
    expected = d / d.sum(1, keepdims=True) * e.output.numpy()[:, None]
    np.testing.assert_allclose(e.attribution.numpy(), expected, rtol=1e-7)
    with pytest.raises(ValueError, match="beta"):
        KDEOutlierness(support, 0.7, beta="soft")
