"""Figures of explanations inside the network draw what the results hold (issue 15, item 6),
and the report helpers carry them with their tables."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import xaikit
from xaikit import plot
from xaikit.concepts import TCAVResult, reference_samples
from xaikit.report import Section
from xaikit.report.concepts import (
    add_concept_heatmaps,
    add_layer_profile,
    add_reference_samples,
    add_tcav,
)


@pytest.fixture(scope="module")
def setup() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(),
                          nn.Flatten(), nn.Linear(6 * 8 * 8, 3)).eval()
    x = torch.rand(12, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    return model, x, torch.tensor([0, 1, 2] * 4)


def test_concept_heatmaps_rows_are_concepts_and_titles_their_share(setup) -> None:  # type: ignore[no-untyped-def]
    model, x, y = setup
    crp = xaikit.explain(model, x[:3], y[:3], method="crp", layer="3", per_concept=True)
    figure = plot.concept_heatmaps(crp, concepts=[4, 1])
    cells = np.array(figure.axes[:-1]).reshape(4, 3)  # input, all, channel 4, channel 1 (the last axes: colour bar)
    assert [cells[r, 0].get_ylabel() for r in (1, 2, 3)] == ["CRP, all", "channel 4", "channel 1"]
    totals = crp.extras["concept_relevance"]
    for n in range(3):
        share = float(totals[n, 1] / totals[n].abs().sum())
        assert cells[3, n].get_title() == f"{share:+.0%}"
    with pytest.raises(ValueError, match="were not explained"):
        plot.concept_heatmaps(xaikit.explain(model, x[:2], y[:2], method="crp", layer="3", concepts=[0, 2],
                                             per_concept=True), concepts=[1])
    with pytest.raises(ValueError, match="per_concept=True"):
        plot.concept_heatmaps(xaikit.explain(model, x[:2], y[:2], method="lrp"))


def test_reference_gallery_shows_each_rankings_samples_in_order(setup) -> None:  # type: ignore[no-untyped-def]
    model, x, _ = setup
    refs = reference_samples(model, x, "3", top_k=3, progress=False)
    for by, picks in (("relevance", refs.by_relevance), ("activation", refs.by_activation)):
        figure = plot.reference_gallery(refs, x, [2, 5], by=by)
        titles = [cell.get_title().split(":")[0] for cell in figure.axes]
        assert titles == [f"#{int(i)}" for i in np.concatenate([picks[2], picks[5]])]
    maps = {2: refs.heatmaps(model, x, 2).attribution}
    assert len(plot.reference_gallery(refs, x, [2], heatmaps=maps).axes) == 3
    with pytest.raises(ValueError, match="by='relevance'"):
        plot.reference_gallery(refs, x, [2], by="activation", heatmaps=maps)
    with pytest.raises(ValueError, match="not a channel"):
        plot.reference_gallery(refs, x, [6])


def tcav_result(scores: list[float], random: list[float], p: float) -> TCAVResult:
    return TCAVResult(np.array(scores), np.array(random), p, np.array([0.9, 0.95]), p, p / 2)


def test_tcav_bars_are_the_mean_scores_marked_by_significance() -> None:
    results = {"stripes": tcav_result([0.9, 1.0], [0.4, 0.6], 0.004),
               "dots": tcav_result([0.2, 0.3], [0.5, 0.5], 0.03), "noise": tcav_result([0.5, 0.7], [0.4, 0.6], 0.4)}
    axes = plot.tcav_scores(results)
    heights = [patch.get_height() for patch in axes.patches]
    np.testing.assert_allclose(heights, [0.95, 0.5, 0.25, 0.5, 0.6, 0.5])
    marks = [text.get_text().split("\n")[0] for text in axes.texts]
    assert marks == ["**", "*", "n.s."]
    colours = [patch.get_facecolor() for patch in axes.patches[::2]]
    assert colours[0] != colours[1] != colours[2]  # for, against (both significant), grey
    section = add_tcav(Section("t"), results)
    (table,) = [b for b in section.blocks if hasattr(b, "frame")]
    np.testing.assert_allclose(table.frame["TCAV score"], [0.95, 0.25, 0.6])


def test_layer_profile_bars_are_the_relevance_sums(setup) -> None:  # type: ignore[no-untyped-def]
    model, x, y = setup
    e = xaikit.explain(model, x, y, method="lrp", layers=["1", "3"])
    axes = plot.layer_relevance_profile(e)
    expected = [e.output.mean(), *(e.layer_relevance(n).flatten(1).sum(1).mean() for n in ("3", "1")),
                e.relevance_sum.mean()]
    np.testing.assert_allclose([p.get_height() for p in axes.patches], torch.stack(expected).numpy(), rtol=1e-6)
    assert [t.get_text() for t in axes.get_xticklabels()] == ["output", "3", "1", "input"]
    section = add_layer_profile(Section("t"), e)
    (table,) = [b for b in section.blocks if hasattr(b, "frame")]
    np.testing.assert_allclose(np.cumsum(table.frame["absorbed since the level above"]),
                               table.frame["relevance"].iloc[0] - table.frame["relevance"], atol=1e-5)
    with pytest.raises(ValueError, match="layers="):
        plot.layer_relevance_profile(xaikit.explain(model, x, y, method="lrp"))


def test_report_helpers_add_figures_and_tables(setup) -> None:  # type: ignore[no-untyped-def]
    model, x, y = setup
    crp = xaikit.explain(model, x[:2], y[:2], method="crp", layer="3", per_concept=True)
    section = add_concept_heatmaps(Section("t"), crp, concepts=[0, 1], slug="c")
    assert [b.name for b in section.images] == ["figures/c-concepts.png"]
    refs = reference_samples(model, x, "3", top_k=2, progress=False)
    add_reference_samples(section, refs, x, [0, 3], slug="r")
    assert [b.name for b in section.images][1:] == ["figures/r-by-relevance.png", "figures/r-by-activation.png"]
    (table,) = [b for b in section.blocks if hasattr(b, "frame")]
    np.testing.assert_allclose(table.frame.iloc[:, 1], refs.overlap()[[0, 3]])
