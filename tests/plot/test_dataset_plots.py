"""Figures of dataset-wide analyses draw what the results hold, and the report section carries them."""

from __future__ import annotations

import numpy as np
import pytest

from xaikit import plot
from xaikit.analysis import pool_relevance, spray
from xaikit.report import Section
from xaikit.report.dataset import add_artefact_ranking, add_pooled_relevance, add_spray


@pytest.fixture(scope="module")
def result():  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    relevance = np.zeros((60, 1, 6, 6))
    relevance[:30, 0, :, :3] = 1
    relevance[30:, 0, :, 3:] = 1
    relevance += 0.05 * rng.standard_normal(relevance.shape)
    return relevance, spray(relevance, embedding="spectral", seed=0)


def test_spectrum_bars_are_the_eigenvalues(result) -> None:  # type: ignore[no-untyped-def]
    _, found = result
    axes = plot.eigenvalue_spectrum(found)
    heights = [patch.get_height() for patch in axes.patches]
    np.testing.assert_allclose(heights, found.eigenvalues)


def test_gallery_has_a_row_per_cluster(result) -> None:  # type: ignore[no-untyped-def]
    relevance, found = result
    figure = plot.cluster_gallery(found, relevance, prototypes=3)
    heatmaps = [a for a in figure.axes if a.get_label() != "<colorbar>"]
    assert len(heatmaps) == found.clusters * 4
    assert sum(1 for a in heatmaps if a.images) == found.clusters * 4  # mean heatmaps and 3 prototypes each
    (bar,) = [a for a in figure.axes if a.get_label() == "<colorbar>"]  # beside the mean heatmaps
    assert bar.get_ylabel() == "relevance / each map's max |R|"


def test_pooled_bars_are_the_group_means() -> None:
    relevance = np.arange(24, dtype=float).reshape(6, 4)
    pooled = pool_relevance(relevance, {"a": [0, 1], "b": [2, 3]}, np.array([0, 0, 1, 1, 1, 2]))
    axes = plot.pooled_relevance(pooled)
    heights = np.array([patch.get_height() for patch in axes.patches]).reshape(2, 3).T  # per feature group
    np.testing.assert_allclose(heights, pooled.mean)


def test_report_section_holds_the_figures_and_tables(result) -> None:  # type: ignore[no-untyped-def]
    relevance, found = result
    flags = np.arange(60) < 30
    section = add_spray(Section("data"), found, inputs=relevance, flags=flags, flag_name="left")
    pooled = pool_relevance(relevance, None, flags.astype(int))
    add_pooled_relevance(section, pooled)
    from xaikit.analysis import artefact_relevance

    add_artefact_ranking(section, artefact_relevance(relevance, np.ones((6, 6), dtype=bool), flags.astype(int)))
    names = [block.name for block in section.blocks if getattr(block, "name", None)]
    assert names == ["figures/spray-spectrum.png", "figures/spray-embedding.png", "figures/spray-clusters.png",
                     "tables/spray.csv", "figures/pooled.png", "tables/pooled.csv", "tables/artefact.csv"]
    table = section.blocks[3].frame
    assert table["samples"].tolist() == found.sizes.tolist()
    assert sorted(table["share left"].tolist()) == [0.0, 1.0]
