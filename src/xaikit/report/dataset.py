"""The report's dataset section: SpRAy's spectrum, embedding and cluster galleries, and
the pooled-relevance figure, for explanations of a whole data set."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from xaikit.analysis import ArtefactRelevance, PooledRelevance, SprayResult
from xaikit.report.section import Section

__all__ = ["add_artefact_ranking", "add_pooled_relevance", "add_spray"]


def add_spray(
    section: Section,
    result: SprayResult,
    *,
    inputs: Any = None,
    flags: Any = None,
    flag_name: str = "flagged",
    slug: str = "spray",
) -> Section:
    """Append SpRAy's figures and cluster table to ``section``.

    Parameters
    ----------
    section : Section
    result : SprayResult
    inputs : array-like, optional
        ``(N, ...)`` inputs indexed like the relevance analysed, for the prototypes.
    flags : array of bool, optional
        A known property of each analysed sample (an artefact): the embedding is also
        coloured by it and the table gives each cluster's share of flagged samples.
    flag_name : str
        What the flag means, for captions and the table.
    slug : str
        Prefix of the figure and table file names.

    Returns
    -------
    Section
    """
    from xaikit import plot

    section.add_figure(
        plot.eigenvalue_spectrum(result),
        f"Eigenvalues of the kNN graph's normalized Laplacian: the largest gap, after eigenvalue "
        f"{result.eigengap_clusters}, suggests {result.eigengap_clusters} prototypical strategies.",
        name=f"figures/{slug}-spectrum.png",
    )
    if result.embedding is not None:
        figure = plot.new_figure((9.0 if flags is not None else 4.6, 4.0))
        panels = figure.subplots(1, 2 if flags is not None else 1, squeeze=False)[0]
        plot.embedding_scatter(result.embedding, result.labels, panels[0], title="coloured by SpRAy cluster")
        if flags is not None:
            plot.embedding_scatter(result.embedding, np.asarray(flags, dtype=np.int64), panels[1],
                                   title=f"coloured by {flag_name}")
        section.add_figure(figure, "2-D embedding of the normalized explanations.", name=f"figures/{slug}-embedding.png")
    section.add_figure(
        plot.cluster_gallery(result, inputs),
        "Each cluster's mean normalized explanation (left) and its prototypes: the samples nearest to it.",
        name=f"figures/{slug}-clusters.png",
    )
    table = pd.DataFrame({"cluster": np.arange(result.clusters), "samples": result.sizes})
    if flags is not None:
        flagged = np.asarray(flags, dtype=bool)
        table[f"share {flag_name}"] = [flagged[result.labels == c].mean() for c in range(result.clusters)]
    outliers = result.indices[np.argsort(-result.outlier_score)[:5]]
    section.add_table(table, f"SpRAy clusters; most outlying samples: {outliers.tolist()}", name=f"tables/{slug}.csv")
    return section


def add_pooled_relevance(section: Section, pooled: PooledRelevance, *, slug: str = "pooled") -> Section:
    """Append the pooled-relevance figure and table, with the conservation check, to ``section``.

    Parameters
    ----------
    section : Section
    pooled : PooledRelevance
    slug : str
        Prefix of the figure and table file names.

    Returns
    -------
    Section
    """
    from xaikit import plot

    check = f"pooled total {pooled.relevance.sum():.6g} = summed relevance {pooled.relevance_total:.6g}"
    if pooled.output_total is not None:
        check += f"; summed explained outputs {pooled.output_total:.6g} (absorbed: {pooled.absorbed:.3g})"
    section.add_figure(plot.pooled_relevance(pooled), f"Mean relevance per sample of each data group ({check}).",
                       name=f"figures/{slug}.png")
    frame = pooled.to_frame()
    frame.index = [str(i) for i in frame.index]
    return section.add_table(frame, "Pooled relevance (sums)", name=f"tables/{slug}.csv", show_index=True)


def add_artefact_ranking(section: Section, ranking: ArtefactRelevance, *, slug: str = "artefact") -> Section:
    """Append the artefact-relevance ranking of all groups to ``section``.

    Parameters
    ----------
    section : Section
    ranking : ArtefactRelevance
    slug : str
        Prefix of the table's file name.

    Returns
    -------
    Section
    """
    frame = ranking.to_frame()
    frame["group"] = frame["group"].astype(str)
    return section.add_table(frame, "Share of positive relevance on the suspect region, per class (highest first)",
                             name=f"tables/{slug}.csv")
