"""The wholesale-customer reproduction: literature orderings, Monte-Carlo convergence, figures."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from xaikit.neon.wholesale import main, random_feature_convergence, reproduce, tsne_embedding

FRESH, MILK, GROCERY, FROZEN, DETERGENTS, DELICATESSEN = range(6)


@pytest.fixture(scope="module")
def result():  # type: ignore[no-untyped-def]
    return reproduce(n_draws=20, tsne=False, progress=False)


def test_row_337_is_an_inlier_and_frozen_contributes_least(result) -> None:  # type: ignore[no-untyped-def]
    a = result.customers[337]
    assert a.inlierness > np.quantile(result.inlierness, 0.75)
    # Random features estimate the exact KDE inlierness without bias.
    assert abs(a.inlierness_rff - a.inlierness) < 4.0 * a.inlierness_rff_std / np.sqrt(20) + 1e-4
    rel, err = a.inlierness_relevance, a.inlierness_relevance_std
    others = np.delete(np.arange(6), FROZEN)
    assert rel[FROZEN] + 2 * err[FROZEN] < (rel[others] - 2 * err[others]).min()
    np.testing.assert_allclose(rel.sum(), a.inlierness_rff, rtol=1e-9)


def test_row_338_outlierness_is_milk_frozen_detergents_and_fresh(result) -> None:  # type: ignore[no-untyped-def]
    a = result.customers[338]
    assert a.inlierness < 1e-3 * np.median(result.inlierness)
    r = a.outlierness_relevance
    total = r.sum()
    assert total == pytest.approx(a.outlierness, rel=1e-6)
    assert r[[FRESH, MILK, FROZEN, DETERGENTS]].sum() > 0.95 * total
    assert max(r[GROCERY], r[DELICATESSEN]) < 0.03 * total
    assert int(np.argmax(r)) == FROZEN
    assert min(r[MILK], r[DETERGENTS], r[FRESH]) > 0.1 * total


def test_row_338_cluster_is_low_fresh_and_delicatessen_and_fresh_explains_it(result) -> None:  # type: ignore[no-untyped-def]
    a = result.customers[338]
    assert set(np.argsort(a.cluster_profile)[:2]) == {FRESH, DELICATESSEN}
    assert int(np.argmax(a.cluster_relevance)) == FRESH
    assert a.cluster_evidence > 0
    np.testing.assert_allclose(a.cluster_relevance.sum(), a.cluster_evidence, rtol=1e-10)
    # Row 337 sits closer to a cluster border than 338 sits in its cluster.
    assert result.customers[337].cluster_evidence < 0.5 * a.cluster_evidence


@pytest.mark.slow
def test_random_features_converge_at_the_monte_carlo_rate() -> None:
    conv = random_feature_convergence(n_features=(100, 500, 2500, 10000), n_draws=6)
    mae = conv.mae.mean(1)
    assert np.all(np.diff(mae) < 0)
    assert -0.7 < conv.mae_slope < -0.3
    assert 5e-4 < mae[2] < 6e-3  # a few thousandths at H = 2500
    spread = conv.relevance_std.mean(1)
    assert np.all(np.diff(spread) < 0)
    assert -0.75 < conv.relevance_slope < -0.25
    # The explanation's mean settles: frozen contributes least at every H >= 500.
    assert np.all(conv.relevance_mean[1:].argmin(1) == FROZEN)


def test_figures_and_command_line(result, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    # t-SNE itself on a subset (the full map takes seconds); the figure on a stand-in map.
    small = tsne_embedding(result.data[:60], perplexity=100.0, seed=0)
    assert small.shape == (60, 2) and np.isfinite(small).all()
    stand_in = result.data[:, :2] @ np.array([[1.0, 0.3], [-0.2, 1.0]])
    replace(result, embedding=stand_in).save_figures(tmp_path / "figs")
    files = sorted(p.name for p in (tmp_path / "figs").iterdir())
    assert files == ["customer_337.png", "customer_338.png", "tsne.png"]
    assert all((tmp_path / "figs" / f).stat().st_size > 5000 for f in files)
    assert main(["--no-tsne", "--draws", "2", "--features", "100", "--rows", "338"]) == 0
    out = capsys.readouterr().out
    assert "row 338" in out and "Frozen" in out
    with pytest.raises(ValueError, match="rows"):
        reproduce(rows=(440,), tsne=False)
