"""Demo section: neuralization (NEON) of k-means and KDE on the wholesale customers."""

from __future__ import annotations

from typing import Any

import pandas as pd

from xaikit.demo.context import DemoContext
from xaikit.demo.registry import register_section
from xaikit.report import Section

TITLE = "Wholesale customers: explaining k-means and kernel density (NEON)"

INTRO = """\
The worked example of the literature (Montavon et al., 2022): the annual spending of 440 \
customers of a wholesale distributor on six product categories, log-transformed and \
standardized. A kernel density estimate (gamma = 1, leave-one-out) scores how typical \
(inlierness) or unusual (outlierness) each customer is; k-means with 6 clusters assigns \
segments. The fitted models are neuralized (rewritten as equivalent networks, without \
retraining) and explained by LRP in one pass. Inlierness is explained through random \
Fourier features (H = {n_features}); its error bars are the spread over {n_draws} redraws.

The literature's findings: customer 337 is an inlier, with 'frozen' contributing least to \
its inlierness; customer 338 has inlierness near zero, its outlierness is carried mostly by \
milk, frozen and detergents/paper (and fresh), and 'fresh' carries the largest share of the \
evidence for its cluster of low fresh and delicatessen spending."""


def _customer_figure(result: Any, row: int) -> Any:
    from xaikit import plot

    customer = result.customers[row]
    names = [n.replace("_", " ").lower() for n in result.feature_names]
    figure = plot.new_figure((11.0, 3.0))
    left, middle, right = figure.subplots(1, 3)
    plot.bars(customer.inlierness_relevance, names, left, errors=customer.inlierness_relevance_std,
              horizontal=True, title=f"inlierness {customer.inlierness:.3g}")
    plot.bars(customer.outlierness_relevance, names, middle, horizontal=True,
              title=f"outlierness {customer.outlierness:.3g}")
    plot.bars(customer.cluster_relevance, names, right, horizontal=True,
              title=f"evidence for cluster {customer.cluster}: {customer.cluster_evidence:.3g}")
    for axes in (middle, right):
        axes.tick_params(labelleft=False)
    figure.suptitle(f"customer {row} (0-based row)")
    return figure


def _map_figure(result: Any) -> Any:
    from xaikit import plot

    figure = plot.new_figure((13.0, 4.0))
    panels = figure.subplots(1, 3)
    rows = list(result.customers)
    plot.embedding_scatter(result.embedding, result.inlierness, panels[0], highlight=rows,
                           score_label="inlierness", title="inlierness", size=9)
    plot.embedding_scatter(result.embedding, result.outlierness, panels[1], highlight=rows,
                           score_label="outlierness", title="outlierness", size=9)
    plot.embedding_scatter(result.embedding, result.clusters.astype(int), panels[2], highlight=rows,
                           score_label="cluster", title="k-means cluster", size=9)
    return figure


def _summary(result: Any) -> pd.DataFrame:
    rows = []
    for row, customer in result.customers.items():
        rows.append({
            "customer": row,
            "inlierness": customer.inlierness,
            "inlierness (random features)": customer.inlierness_rff,
            "± (redraws)": customer.inlierness_rff_std,
            "outlierness": customer.outlierness,
            "cluster": customer.cluster,
            "cluster evidence": customer.cluster_evidence,
        })
    return pd.DataFrame(rows)


def _relevance(result: Any) -> pd.DataFrame:
    records = []
    for row, customer in result.customers.items():
        for score, values in (("inlierness", customer.inlierness_relevance),
                              ("outlierness", customer.outlierness_relevance),
                              ("cluster evidence", customer.cluster_relevance)):
            records.append({"customer": row, "explained": score,
                            **{name: float(v) for name, v in zip(result.feature_names, values)}})
    return pd.DataFrame(records)


@register_section("wholesale", TITLE, order=40, requires=("xaikit.neon.wholesale:reproduce",))
def wholesale_section(context: DemoContext) -> Section:
    """Reproduce the NEON wholesale analysis and draw its bar charts and t-SNE map."""
    from xaikit.neon.wholesale import reproduce

    n_draws = 20 if context.quick else 100
    result = reproduce(n_draws=n_draws, seed=context.seed, progress=context.progress)
    n_features = result.settings.get("n_features", 2500)
    section = Section(TITLE).add_text(INTRO.format(n_features=n_features, n_draws=n_draws))
    section.add_table(_summary(result), "Scores of the two customers", name="tables/wholesale-scores.csv")
    for row in result.customers:
        section.add_figure(_customer_figure(result, row),
                           f"Customer {row}: relevance of each category (red: raises the score, blue: lowers it).",
                           name=f"figures/wholesale-customer-{row}.png")
    section.add_table(_relevance(result), "Relevance per category", name="tables/wholesale-relevance.csv")
    if result.embedding is not None:
        section.add_figure(_map_figure(result), "t-SNE map of all customers, the two discussed are circled.",
                           name="figures/wholesale-tsne.png")
    section.add_settings(result.settings, "Settings of the analysis")
    section.add_conclusion(_conclusion(result))
    return section


def _conclusion(result: Any) -> str:
    """Which customer is atypical, and which spending makes it so (from the relevance)."""
    import numpy as np

    sentences = []
    for row, customer in result.customers.items():
        relevance = np.asarray(customer.outlierness_relevance, dtype=float)
        positive = np.clip(relevance, 0.0, None)
        top = int(np.argmax(relevance))
        share = positive[top] / positive.sum() if positive.sum() > 0 else float("nan")
        sentences.append(
            f"customer {row} has outlierness {customer.outlierness:.3g}, {share:.0%} of its positive "
            f"relevance on {result.feature_names[top]}"
        )
    rows = list(result.customers)
    odd = max(rows, key=lambda r: result.customers[r].outlierness)
    text = "; ".join(sentences)
    return (
        f"{text[:1].upper()}{text[1:]}. Customer {odd} is the more atypical, and the bars say in "
        "which spending category: a reviewer can check that reason against the raw figures without "
        "knowing how the outlier model works. The scores are the neuralized model's own outputs, so the "
        "relevance adds up to them exactly."
    )
