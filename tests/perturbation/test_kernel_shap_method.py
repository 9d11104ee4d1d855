"""KernelSHAP: exactness at full budget, efficiency, the sampler, and shap's KernelExplainer."""

from __future__ import annotations

import warnings
from math import comb

import numpy as np
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

import xaikit
from xaikit.perturbation import Background
from xaikit.perturbation.kernel_shap import kernel_weights, sample_coalitions, solve_constrained


def test_full_budget_equals_exact_shapley() -> None:
    torch.manual_seed(0)
    model = xaikit.models.MLP(6, (12,), 3).double().eval()
    x = torch.randn(3, 6, dtype=torch.float64)
    exact = xaikit.explain(model, x, target=1, method="shapley", progress=False)
    kernel = xaikit.explain(model, x, target=1, method="kernel_shap", samples=2**6 - 2, progress=False)
    torch.testing.assert_close(kernel.attribution, exact.attribution, rtol=1e-9, atol=1e-11)
    assert int(kernel.extras["enumerated"][0]) == 2**6 - 2


def test_worked_example() -> None:
    model = lambda x: x[:, 0] * (x[:, 1] + x[:, 2])  # noqa: E731
    e = xaikit.explain(model, torch.ones(1, 3), target=lambda out: out, method="kernel_shap", progress=False)
    torch.testing.assert_close(e.attribution, torch.tensor([[1.0, 0.5, 0.5]]))


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 1000), d=st.integers(2, 14), samples=st.integers(1, 80))
@example(seed=653, d=9, samples=12)  # a nearly singular regression once blew up by round-off
def test_efficiency_is_exact_at_any_budget(seed: int, d: int, samples: int) -> None:
    torch.manual_seed(seed)
    model = xaikit.models.MLP(d, (8,), 2).double().eval()
    x = torch.randn(2, d, dtype=torch.float64)
    baseline = torch.randn(d, dtype=torch.float64)
    e = xaikit.explain(
        model, x, target=0, method="kernel_shap", samples=samples, seed=seed, baseline=baseline, progress=False
    )
    expected = (model(x)[:, 0] - model(baseline[None])[0, 0]).detach()
    torch.testing.assert_close(e.output, expected, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(e.relevance_sum, e.output, rtol=1e-9, atol=1e-10)
    assert e.attribution.abs().max() < 1e3 * (1 + e.output.abs().max())


@settings(max_examples=15, deadline=None)
@given(d=st.integers(2, 16), budget=st.integers(1, 600), seed=st.integers(0, 100))
def test_sampler_distinct_paired_and_within_budget(d: int, budget: int, seed: int) -> None:
    sample = sample_coalitions(d, budget, np.random.default_rng(seed))
    z = sample.coalitions
    sizes = z.sum(1)
    assert len(z) <= min(budget, 2**d - 2)
    assert ((sizes >= 1) & (sizes <= d - 1)).all()
    assert len(np.unique(z, axis=0)) == len(z)
    keys = {row.tobytes() for row in z}
    assert all((~row).tobytes() in keys for row in z)  # paired sampling: complements present
    # the weights of each size estimate that size's kernel mass
    mass = kernel_weights(d)
    for s in np.unique(sizes):
        assert np.isclose(sample.weights[sizes == s].sum(), mass[s])
    if budget >= 2**d - 2:
        assert len(z) == 2**d - 2
    # enumerated sizes are complete
    for s in np.unique(sizes[: sample.enumerated]):
        assert (sizes[: sample.enumerated] == s).sum() == comb(d, s)


def test_constrained_solver_matches_lagrange_closed_form() -> None:
    rng = np.random.default_rng(0)
    z = rng.random((40, 5)) < 0.5
    y = rng.normal(size=40)
    w = rng.random(40)
    phi = solve_constrained(z, y, w, total=2.0)
    a = z.T.astype(float) @ (w[:, None] * z)
    b = z.T.astype(float) @ (w * y)
    inv = np.linalg.inv(a)
    ones = np.ones(5)
    nu = (ones @ inv @ b - 2.0) / (ones @ inv @ ones)
    np.testing.assert_allclose(phi, inv @ (b - nu * ones), rtol=1e-10)
    assert np.isclose(phi.sum(), 2.0)


def test_l1_is_off_by_default_and_selects_when_asked() -> None:
    torch.manual_seed(1)
    weight = torch.zeros(12, dtype=torch.float64)
    weight[:3] = torch.tensor([3.0, -2.0, 1.5])
    model = lambda x: x @ weight  # noqa: E731
    x = torch.randn(2, 12, dtype=torch.float64) + 1
    plain = xaikit.explain(model, x, target=lambda o: o, method="kernel_shap", samples=100, progress=False)
    assert xaikit.make_method("kernel_shap").l1 is None
    torch.testing.assert_close(plain.attribution, weight * x, rtol=1e-8, atol=1e-8)
    sparse = xaikit.explain(model, x, target=lambda o: o, method="kernel_shap", samples=100, l1=0.01, progress=False)
    assert (sparse.attribution[:, 3:-1] == 0).all()
    torch.testing.assert_close(sparse.relevance_sum, sparse.output)


def test_closer_to_exact_than_shap_kernel_explainer_at_equal_budget() -> None:
    import shap
    torch.manual_seed(0)
    d, budget = 10, 120
    model = xaikit.models.MLP(d, (32, 32), 2).double().eval()
    x = 1.5 * torch.randn(20, d, dtype=torch.float64)
    background = torch.randn(4, d, dtype=torch.float64)
    exact = xaikit.explain(model, x, target=1, method="shapley", baseline=Background(background), progress=False)
    ours = xaikit.explain(
        model, x, target=1, method="kernel_shap", samples=budget, seed=0, baseline=Background(background), progress=False
    )

    def f(batch: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.as_tensor(np.asarray(batch, dtype=np.float64)))[:, 1].numpy()

    rng_state = np.random.get_state()  # noqa: NPY002  (shap draws from the global generator)
    np.random.seed(0)  # noqa: NPY002
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        explainer = shap.KernelExplainer(f, background.numpy())
        theirs = explainer.shap_values(x.numpy(), nsamples=budget, silent=True, l1_reg=False)
        np.random.seed(0)  # noqa: NPY002
        theirs_default = explainer.shap_values(x.numpy(), nsamples=budget, silent=True)
    np.random.set_state(rng_state)  # noqa: NPY002
    truth = exact.attribution.numpy()

    def error(values: np.ndarray) -> float:
        return float(np.median(np.linalg.norm(values - truth, axis=1) / np.linalg.norm(truth, axis=1)))

    ours_error = error(ours.attribution.numpy())
    assert ours_error < error(np.asarray(theirs))
    assert ours_error < error(np.asarray(theirs_default))
    # both converge to the same values: the comparison is about the estimator, not a bias
    assert error(np.asarray(theirs)) < 0.2
