"""Neuralized one-class SVM: exactness against decision_function, conservation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.svm import OneClassSVM

from xaikit.neon import OneClassSVMOutlierness, neuralize


@pytest.mark.parametrize("gamma", ["scale", 0.3])
def test_decision_function_is_exact(blobs: np.ndarray, gamma: str | float) -> None:
    svm = OneClassSVM(gamma=gamma, nu=0.2).fit(blobs)
    model = neuralize(svm)
    assert isinstance(model, OneClassSVMOutlierness)
    queries = blobs[::3] + np.random.default_rng(0).normal(scale=0.3, size=blobs[::3].shape)
    decision = svm.decision_function(queries)
    x = torch.as_tensor(queries)
    np.testing.assert_allclose(model.decision_function(x).numpy(), decision, rtol=0, atol=1e-9)
    expected = model.outlierness_from_decision(torch.as_tensor(decision))
    np.testing.assert_allclose(model(x).numpy(), expected.numpy(), rtol=0, atol=1e-9)
    # o(x) decreases as the decision function increases.
    order = np.argsort(decision)
    assert np.all(np.diff(model(x).numpy()[order]) <= 1e-12)


@pytest.mark.filterwarnings("ignore::xaikit.neon.CoincidentSupportWarning")  # explains support points
def test_conservation_and_reference_points(blobs: np.ndarray) -> None:
    svm = OneClassSVM(gamma=0.1, nu=0.3).fit(blobs)
    model = neuralize(svm)
    e = model.explain(blobs[:25])
    dissipated = model.dissipation(torch.as_tensor(blobs[:25]))
    np.testing.assert_allclose(e.delta.numpy(), dissipated.numpy(), rtol=1e-9, atol=1e-9)
    sv = np.random.default_rng(0).normal(size=(6, 3))
    sv[:, 0] = -1.0
    raw = OneClassSVMOutlierness(sv, np.linspace(0.1, 1.0, 6), gamma=0.5)
    x = np.random.default_rng(1).normal(size=(5, 3))
    x[:, 0] = -1.0
    assert raw.explain(x).attribution[:, 0].abs().max() < 1e-12


def test_non_rbf_kernel_is_refused(blobs: np.ndarray) -> None:
    with pytest.raises(ValueError, match="kernel='rbf'"):
        neuralize(OneClassSVM(kernel="linear").fit(blobs))
