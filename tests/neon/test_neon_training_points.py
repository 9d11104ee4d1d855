"""Neuralized KDE and one-class SVM explaining points of their own training set.

Issue 11, finding 11: a training point is one of the support points, its own term takes
nearly all the pooling weight and the distance rule dissipates its relevance. Checked
here: the leave-one-out option (equal to the estimator fitted on the remaining points,
relevance conserved), the warning when a point coincides with a support point without
it, and the documented mapping between the neuralized output and ``score_samples``.
"""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.neighbors import KernelDensity
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import OneClassSVM

import xaikit
from xaikit.neon import (
    CoincidentSupportWarning,
    KDEOutlierness,
    OneClassSVMOutlierness,
    leave_out_log_weights,
    neuralize,
    on_features,
)

ROWS = [0, 7, 33, 120, 199]


@pytest.fixture
def points() -> np.ndarray:
    """200 points in 5 dimensions; with bandwidth 0.3 each one's own kernel term dominates."""
    return np.random.default_rng(0).normal(size=(200, 5))


def _loo_outlierness(x: np.ndarray, support: np.ndarray, weights: np.ndarray, gamma: float) -> np.ndarray:
    """``-(1/gamma) log sum_{k kept} w_k exp(-gamma h_k) / sum_{k kept} w_k``, coinciding k left out."""
    h = ((x[:, None, :] - support[None]) ** 2).sum(-1)
    kept = h > 0
    num = (np.where(kept, weights * np.exp(-gamma * h), 0.0)).sum(1)
    den = np.where(kept, weights, 0.0).sum(1)
    return -np.log(num / den) / gamma


# --------------------------------------------------------------------------- leave-one-out, KDE
@pytest.mark.parametrize("bandwidth", [0.3, "scott"])
@pytest.mark.parametrize("weighted", [False, True])
def test_kde_leave_one_out_equals_the_kde_fitted_on_the_other_points(
    points: np.ndarray, bandwidth: float | str, weighted: bool
) -> None:
    weights = np.random.default_rng(1).uniform(0.5, 2.0, len(points)) if weighted else None
    kde = KernelDensity(bandwidth=bandwidth).fit(points, sample_weight=weights)
    model = neuralize(kde, leave_one_out=True)
    assert isinstance(model, KDEOutlierness) and model.leave_one_out
    b = kde.bandwidth_
    out = model(torch.as_tensor(points[ROWS])).numpy()
    log_density = model.score_samples(torch.as_tensor(points[ROWS])).numpy()
    for i, r in enumerate(ROWS):
        rest = np.delete(points, r, axis=0)
        rest_w = None if weights is None else np.delete(weights, r)
        refit = KernelDensity(bandwidth=b).fit(rest, sample_weight=rest_w)  # same bandwidth
        expected_log_density = refit.score_samples(points[r : r + 1])[0]
        np.testing.assert_allclose(log_density[i], expected_log_density, rtol=0, atol=1e-9)
        np.testing.assert_allclose(
            out[i], -(expected_log_density - model.log_normalizer) / model.gamma, rtol=0, atol=1e-9
        )
    w = np.ones(len(points)) if weights is None else weights
    np.testing.assert_allclose(out, _loo_outlierness(points[ROWS], points, w, model.gamma), rtol=0, atol=1e-9)


def test_kde_leave_one_out_conserves_the_relevance_of_training_points(points: np.ndarray) -> None:
    kde = KernelDensity(bandwidth=0.3).fit(points)
    x = points[ROWS]
    with pytest.warns(CoincidentSupportWarning):
        before = neuralize(kde).explain(x)
    # Before: the own term takes the pooling weight, the distance rule dissipates it.
    assert (before.relevance_sum < 0.2 * before.output).all()
    after = neuralize(kde, leave_one_out=True).explain(x)
    np.testing.assert_allclose(after.relevance_sum.numpy(), after.output.numpy(), rtol=1e-8, atol=0)
    # The gap is exactly the documented eps-dissipation of the distance rule ...
    loo = neuralize(kde, leave_one_out=True)
    assert isinstance(loo, KDEOutlierness)
    np.testing.assert_allclose(after.delta.numpy(), loo.dissipation(torch.as_tensor(x)).numpy(), atol=1e-13)
    # ... and without the stabilizer relevance sums to the output to rounding.
    exact = KDEOutlierness(points, loo.gamma, eps=0.0, leave_one_out=True).explain(x)
    np.testing.assert_allclose(exact.relevance_sum.numpy(), exact.output.numpy(), rtol=1e-12, atol=1e-12)
    assert (exact.attribution >= 0).all()


def test_leave_one_out_does_not_change_other_points(points: np.ndarray) -> None:
    queries = points[:20] + np.random.default_rng(2).normal(scale=0.2, size=(20, 5))
    full = KDEOutlierness(points, 2.0)
    loo = KDEOutlierness(points, 2.0, leave_one_out=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a, b = full.explain(queries), loo.explain(queries)
    torch.testing.assert_close(a.output, b.output, rtol=0, atol=0)
    torch.testing.assert_close(a.attribution, b.attribution, rtol=0, atol=0)


def test_duplicated_training_point_leaves_every_copy_out(points: np.ndarray) -> None:
    data = np.concatenate([points, points[:3]])  # rows 0, 1, 2 twice
    model = KDEOutlierness(data, 2.0, leave_one_out=True)
    out = model(torch.as_tensor(points[:3])).numpy()
    for r in range(3):
        rest = data[(data != points[r]).any(1)]
        assert len(rest) == len(data) - 2
        refit = KernelDensity(bandwidth=0.5).fit(rest)  # gamma = 2 <=> bandwidth 0.5
        expected = -(refit.score_samples(points[r : r + 1])[0] + 2.5 * math.log(2 * math.pi * 0.25)) / 2.0
        np.testing.assert_allclose(out[r], expected, rtol=0, atol=1e-9)


def test_tolerance_of_coincidence(points: np.ndarray) -> None:
    model = KDEOutlierness(points, 2.0, leave_one_out=True)
    rounded = torch.as_tensor(points[:4]).float().double()  # a copy that went through float32
    assert model.coincides(rounded).all()
    assert not model.coincides(torch.as_tensor(points[:4] + 1e-3)).any()
    expected = _loo_outlierness(points[:4], points, np.ones(len(points)), 2.0)
    np.testing.assert_allclose(model(rounded).numpy(), expected, rtol=0, atol=1e-6)
    strict = KDEOutlierness(points, 2.0, leave_one_out=True, coincidence_tol=0.0)
    assert not strict.coincides(rounded).all()
    with pytest.raises(ValueError, match="coincidence_tol"):
        KDEOutlierness(points, 2.0, coincidence_tol=-1.0)


def test_hard_pooling_leave_one_out_uses_the_nearest_other_point(points: np.ndarray) -> None:
    model = KDEOutlierness(points, 2.0, beta=None, leave_one_out=True)
    e = model.explain(points[ROWS])
    h = ((points[ROWS][:, None, :] - points[None]) ** 2).sum(-1)
    h[np.arange(len(ROWS)), ROWS] = np.inf
    nearest = h.argmin(1)
    d = (points[ROWS] - points[nearest]) ** 2
    expected = d / d.sum(1, keepdims=True) * e.output.numpy()[:, None]
    np.testing.assert_allclose(e.attribution.numpy(), expected, rtol=1e-7)


def test_leave_one_out_switch_and_no_support_left() -> None:
    support = np.array([[0.0, 1.0], [2.0, 0.5]])
    model = KDEOutlierness(support, 1.0)
    x = torch.as_tensor(support[:1])
    full = float(model(x)[0])
    model.leave_one_out = True
    assert model.leave_one_out and "leave_out=True" in repr(model)
    np.testing.assert_allclose(float(model(x)[0]), float(((support[0] - support[1]) ** 2).sum()), atol=1e-12)
    model.leave_one_out = False
    assert float(model(x)[0]) == full
    single = KDEOutlierness(support[:1], 1.0, leave_one_out=True)
    with pytest.raises(ValueError, match="no support point"):
        single(x)


# --------------------------------------------------------------------------- leave-one-out, SVM
def test_ocsvm_leave_one_out_drops_the_support_vectors_own_term(points: np.ndarray) -> None:
    svm = OneClassSVM(gamma=1.0, nu=0.3).fit(points)
    rows = svm.support_[[0, 5, 17, 40]]
    x = points[rows]
    with pytest.warns(CoincidentSupportWarning):
        before = neuralize(svm).explain(x)
    assert (before.relevance_sum < 0.85 * before.output).all()
    model = neuralize(svm, leave_one_out=True)
    assert isinstance(model, OneClassSVMOutlierness)
    alpha = svm.dual_coef_[0]
    sv = svm.support_vectors_
    expected = _loo_outlierness(x, sv, alpha, svm._gamma)
    after = model.explain(x)
    np.testing.assert_allclose(after.output.numpy(), expected, rtol=0, atol=1e-9)
    # Explicit reference on the remaining support vectors, one row at a time.
    for i, r in enumerate(rows):
        k = int(np.flatnonzero(svm.support_ == r)[0])
        rest, rest_alpha = np.delete(sv, k, axis=0), np.delete(alpha, k)
        terms = rest_alpha * np.exp(-svm._gamma * ((points[r] - rest) ** 2).sum(1))
        np.testing.assert_allclose(
            after.output[i].item(), -math.log(terms.sum() / rest_alpha.sum()) / svm._gamma, atol=1e-9
        )
    np.testing.assert_allclose(after.relevance_sum.numpy(), after.output.numpy(), rtol=1e-8, atol=0)
    np.testing.assert_allclose(after.delta.numpy(), model.dissipation(torch.as_tensor(x)).numpy(), atol=1e-13)
    # A training point that is not a support vector is not affected.
    other = np.setdiff1d(np.arange(len(points)), svm.support_)[:5]
    full = neuralize(svm)
    torch.testing.assert_close(
        model(torch.as_tensor(points[other])), full(torch.as_tensor(points[other])), rtol=0, atol=0
    )


# --------------------------------------------------------------------------- the warning
def test_warns_when_an_explained_point_is_a_support_point(points: np.ndarray) -> None:
    kde = KernelDensity(bandwidth=0.3).fit(points)
    model = neuralize(kde)
    with pytest.warns(CoincidentSupportWarning, match=r"leave_one_out=True") as record:
        model.explain(points[[3, 50]])
    assert issubclass(record[0].category, UserWarning)
    assert "row(s) 0, 1" in str(record[0].message)
    queries = torch.as_tensor(points[:2] + 0.05)
    mixed = torch.cat([queries, torch.as_tensor(points[5:6])])
    with pytest.warns(CoincidentSupportWarning, match=r"row\(s\) 2 "):
        xaikit.explain(model, mixed, method="lrp", composite="neon")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.explain(queries)  # no training point: no warning
        model(torch.as_tensor(points[:3]))  # scoring (not explaining) does not warn
        neuralize(kde, leave_one_out=True).explain(points[[3, 50]])


def test_warns_for_pipelines_and_svms(points: np.ndarray) -> None:
    raw = points * 3.0 + 1.0
    pipe = make_pipeline(StandardScaler(), KernelDensity(bandwidth=0.3)).fit(raw)
    with pytest.warns(CoincidentSupportWarning):
        neuralize(pipe).explain(raw[:2])
    loo = neuralize(pipe, leave_one_out=True)
    assert isinstance(loo, KDEOutlierness) and loo.leave_one_out
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        e = loo.explain(raw[:2])
    np.testing.assert_allclose(e.relevance_sum.numpy(), e.output.numpy(), rtol=1e-8)
    svm = OneClassSVM(gamma=1.0, nu=0.3).fit(points)
    with pytest.warns(CoincidentSupportWarning, match="leave_one_out=True"):
        neuralize(svm).explain(points[svm.support_[:2]])


def test_leave_one_out_is_refused_where_it_does_not_apply(points: np.ndarray) -> None:
    kde = KernelDensity(bandwidth=0.5).fit(points)
    for kind in ("inlierness", "random_features"):
        with pytest.raises(ValueError, match=r"np\.delete"):
            neuralize(kde, kind=kind, leave_one_out=True)
    with pytest.raises(ValueError, match="no support points"):
        neuralize(KMeans(3, n_init=1, random_state=0).fit(points), leave_one_out=True)
    with pytest.raises(ValueError, match="leave_one_out = False"):
        on_features(torch.nn.Identity(), KDEOutlierness(points, 1.0, leave_one_out=True))


# --------------------------------------------------------------------------- the mapping
def _flat(doc: str | None) -> str:
    return re.sub(r"\s+", " ", doc or "")


def test_kde_output_is_the_documented_transform_of_score_samples(points: np.ndarray) -> None:
    kde = KernelDensity(bandwidth=0.7).fit(points)
    model = neuralize(kde)
    assert isinstance(model, KDEOutlierness)
    b, d = kde.bandwidth_, points.shape[1]
    assert model.gamma == pytest.approx(1 / (2 * b * b))
    assert model.log_normalizer == pytest.approx(-(d / 2) * math.log(2 * math.pi * b * b))
    x = points[:30] + np.random.default_rng(4).normal(scale=0.4, size=(30, 5))
    scores = kde.score_samples(x)
    out = model(torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(out, -(scores - model.log_normalizer) / model.gamma, rtol=0, atol=1e-9)
    np.testing.assert_allclose(model.outlierness_from_score_samples(scores).numpy(), out, rtol=0, atol=1e-9)
    assert not np.allclose(out, scores)  # a transformed outlierness, not the score
    for doc in (neuralize.__doc__, KDEOutlierness.__doc__):
        assert "o(x) = -(score_samples(x) - log_normalizer) / gamma" in _flat(doc)


def test_ocsvm_output_is_the_documented_transform_of_score_samples(points: np.ndarray) -> None:
    svm = OneClassSVM(gamma="scale", nu=0.2).fit(points)
    model = neuralize(svm)
    assert isinstance(model, OneClassSVMOutlierness)
    x = points[:30] + np.random.default_rng(5).normal(scale=0.4, size=(30, 5))
    scores = svm.score_samples(x)
    total = svm.dual_coef_.sum()
    out = model(torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(out, -np.log(scores / total) / svm._gamma, rtol=0, atol=1e-9)
    np.testing.assert_allclose(model.score_samples(torch.as_tensor(x)).numpy(), scores, rtol=1e-12, atol=0)
    np.testing.assert_allclose(model.outlierness_from_score_samples(scores).numpy(), out, rtol=0, atol=1e-9)
    np.testing.assert_allclose(
        model.decision_function(torch.as_tensor(x)).numpy(), svm.decision_function(x), rtol=0, atol=1e-9
    )
    assert "o(x) = -log(score_samples(x) / A) / gamma" in _flat(OneClassSVMOutlierness.__doc__)
    assert "o(x) = -log(score_samples(x) / A) / gamma" in _flat(neuralize.__doc__)


def test_neuralize_docstring_no_longer_claims_the_estimators_score() -> None:
    doc = _flat(neuralize.__doc__)
    assert "output equals the estimator's score" not in doc
    assert "not (except for direct KDE inlierness) equal to them" in doc


def test_leave_out_log_weights_rescale_to_the_original_total() -> None:
    h = torch.tensor([[0.0, 1.0, 2.0, 3.0]], dtype=torch.float64)
    exclude = torch.full((4,), 1e-12, dtype=torch.float64)
    log_w = torch.log(torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64))
    out = leave_out_log_weights(h, log_w, exclude)
    torch.testing.assert_close(out.exp(), torch.tensor([[0.0, 2 / 9, 3 / 9, 4 / 9]], dtype=torch.float64))
    torch.testing.assert_close(
        leave_out_log_weights(h, None, exclude).exp(),
        torch.tensor([[0.0, 4 / 3, 4 / 3, 4 / 3]], dtype=torch.float64),
    )
