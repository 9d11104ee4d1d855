"""Pictures of explanations (matplotlib, headless): heatmaps, overlays, grids, bars, curves.

Conventions: red is positive relevance (evidence for the explained output), blue
negative, white none; heatmaps are normalized symmetrically around zero. Every function
returns the matplotlib ``Axes`` or ``Figure`` it drew on and never calls ``show()``;
figures are created without pyplot, so they work without a display and are freed when
dropped.

Functions
---------
- :func:`heatmap`, :func:`overlay`, :func:`input_image`, :func:`heatmap_rgb`: images.
- :func:`grid`: methods x inputs comparison.
- :func:`bars`: tabular attributions (error bars over draws).
- :func:`time_series`: relevance-coloured curves, optional spectrogram.
- :func:`pixel_flipping_curves`, :func:`randomization_curves`: evaluation.
- :func:`embedding_scatter`: a 2-D embedding coloured by a score.
- :func:`eigenvalue_spectrum`, :func:`cluster_gallery`, :func:`pooled_relevance`:
  dataset-wide analyses (SpRAy, relevance pooling).
- :func:`concept_heatmaps`, :func:`reference_gallery`, :func:`tcav_scores`,
  :func:`layer_relevance_profile`: inside the network (CRP, relevance maximization,
  TCAV, relevance at layers).
- :func:`plot_explanation`: the picture that fits an explanation's shape
  (what :meth:`xaikit.Explanation.plot` calls).
"""

from xaikit.core.hooks import register_plotter
from xaikit.plot._arrays import display_image, reduce_channels, to_numpy
from xaikit.plot._figure import new_axes, new_figure
from xaikit.plot.colors import (
    DIVERGING,
    NEGATIVE_COLOR,
    POSITIVE_CMAP,
    POSITIVE_COLOR,
    relevance_cmap,
    sign_colors,
)
from xaikit.plot.concepts import (
    concept_heatmaps,
    layer_relevance_profile,
    reference_gallery,
    tcav_scores,
)
from xaikit.plot.curves import pixel_flipping_curves, randomization_curves
from xaikit.plot.dataset import cluster_gallery, eigenvalue_spectrum, pooled_relevance
from xaikit.plot.embedding import embedding_scatter
from xaikit.plot.explanation import describe, plot_explanation
from xaikit.plot.grid import grid
from xaikit.plot.heatmap import heatmap, heatmap_rgb, input_image, overlay
from xaikit.plot.io import figure_to_png, rgb_to_png, save_png
from xaikit.plot.normalize import normalize_relevance, relevance_scale
from xaikit.plot.series import time_series
from xaikit.plot.tabular import bars
from xaikit.plot.tokens import token_relevance

# Explanation.plot draws through this hook: the core never imports the plotting layer.
register_plotter(plot_explanation)

__all__ = [
    "DIVERGING",
    "NEGATIVE_COLOR",
    "POSITIVE_CMAP",
    "POSITIVE_COLOR",
    "bars",
    "cluster_gallery",
    "concept_heatmaps",
    "describe",
    "display_image",
    "eigenvalue_spectrum",
    "embedding_scatter",
    "figure_to_png",
    "grid",
    "heatmap",
    "heatmap_rgb",
    "input_image",
    "layer_relevance_profile",
    "new_axes",
    "new_figure",
    "normalize_relevance",
    "overlay",
    "pixel_flipping_curves",
    "plot_explanation",
    "pooled_relevance",
    "randomization_curves",
    "reduce_channels",
    "reference_gallery",
    "relevance_cmap",
    "relevance_scale",
    "rgb_to_png",
    "save_png",
    "sign_colors",
    "tcav_scores",
    "time_series",
    "to_numpy",
    "token_relevance",
]
