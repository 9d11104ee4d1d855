"""Every plot type renders headless (Agg) with the right colours in the right places."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import matplotlib as mpl
import numpy as np
import pytest
import torch
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure

import xaikit
from xaikit import plot
from xaikit.core.explanation import Explanation


def render(figure: Figure) -> np.ndarray:
    """The figure drawn by Agg, as an ``(H, W, 3)`` float array in [0, 1]."""
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba(), dtype=np.float64)[..., :3] / 255.0


def axes_pixels(axes: Axes, image: np.ndarray) -> np.ndarray:
    """The pixels inside an axes (its data area), top row first."""
    box = axes.get_window_extent()
    height = image.shape[0]
    top, bottom = int(np.ceil(height - box.y1)) + 2, int(np.floor(height - box.y0)) - 2
    return image[top:bottom, int(np.ceil(box.x0)) + 2 : int(np.floor(box.x1)) - 2]


def is_red(rgb: np.ndarray) -> np.ndarray:
    return (rgb[..., 0] > 0.7) & (rgb[..., 2] < 0.45) & (rgb[..., 1] < 0.45)


def is_blue(rgb: np.ndarray) -> np.ndarray:
    return (rgb[..., 2] > 0.55) & (rgb[..., 0] < 0.35)


def is_white(rgb: np.ndarray) -> np.ndarray:
    return np.all(rgb > 0.97, axis=-1)


def halves() -> np.ndarray:
    """A 6x6 attribution: positive on the left third, zero in the middle, negative on the right."""
    a = np.zeros((6, 6))
    a[:, :2] = 1.0
    a[:, 4:] = -1.0
    return a


# --- heatmap_rgb and normalization ----------------------------------------------------


def test_heatmap_rgb_is_red_positive_blue_negative_white_zero() -> None:
    rgb = plot.heatmap_rgb(halves())
    assert rgb.shape == (6, 6, 3)
    assert np.allclose(rgb[:, :2], [1.0, 0.0, 0.0], atol=0.01)
    assert np.allclose(rgb[:, 2:4], [1.0, 1.0, 1.0], atol=0.01)
    assert np.allclose(rgb[:, 4:], [0.0, 0.0, 1.0], atol=0.01)


def test_heatmap_rgb_is_symmetric_around_zero() -> None:
    a = np.array([[4.0, -1.0, 0.0]])
    rgb = plot.heatmap_rgb(a)
    # -1 is a quarter of the scale: pale blue; +4 full red
    assert np.allclose(rgb[0, 0], [1, 0, 0], atol=0.01)
    assert rgb[0, 1, 2] > rgb[0, 1, 0] > 0.6
    assert np.allclose(rgb[0, 2], 1.0, atol=0.01)


def test_heatmap_rgb_sums_channels_of_torch_images() -> None:
    a = torch.zeros(1, 3, 4, 4)
    a[0, 0, 0, 0], a[0, 1, 0, 0] = 2.0, -1.0  # net +1
    a[0, 2, 3, 3] = -1.0
    rgb = plot.heatmap_rgb(a)
    assert rgb.shape == (4, 4, 3)
    assert np.allclose(rgb[0, 0], [1, 0, 0], atol=0.01)
    assert np.allclose(rgb[3, 3], [0, 0, 1], atol=0.01)
    assert np.allclose(plot.heatmap_rgb(a, reduce="abs")[0, 0], [1, 0, 0], atol=0.01)


def test_positive_only_hides_negative_relevance() -> None:
    rgb = plot.heatmap_rgb(halves(), positive_only=True)
    assert np.allclose(rgb[:, :2], [1, 0, 0], atol=0.01)
    assert is_white(rgb[:, 4:]).all()


def test_clip_percentile_saturates_outliers() -> None:
    a = np.linspace(0.0, 1.0, 100).reshape(10, 10)
    a[0, 0] = 100.0
    plain, clipped = plot.heatmap_rgb(a), plot.heatmap_rgb(a, clip_percentile=98)
    # without clipping the outlier washes everything else out to near white
    assert plain[5, 5].min() > 0.98
    assert clipped[5, 5, 1] < 0.6  # clearly red
    assert np.allclose(clipped[0, 0], [1, 0, 0], atol=0.01)


def test_gamma_brightens_faint_relevance_and_keeps_sign() -> None:
    a = np.array([[1.0, 0.1, -0.1]])
    normal = plot.normalize_relevance(a)
    bright = plot.normalize_relevance(a, gamma=0.5)
    assert bright[0, 0] == pytest.approx(1.0)
    assert bright[0, 1] == pytest.approx(np.sqrt(0.1)) and bright[0, 1] > normal[0, 1]
    assert bright[0, 2] == pytest.approx(-np.sqrt(0.1))
    with pytest.raises(ValueError, match="gamma"):
        plot.normalize_relevance(a, gamma=0.0)


def test_normalization_of_zero_attribution_is_zero_not_nan() -> None:
    out = plot.normalize_relevance(np.zeros((3, 3)))
    assert np.all(out == 0.0)
    assert is_white(plot.heatmap_rgb(np.zeros((3, 3)))).all()


def test_shared_scale_compares_magnitudes() -> None:
    weak = plot.heatmap_rgb(np.full((2, 2), 0.5), scale=1.0)
    assert 0.4 < weak[0, 0, 1] < 0.6  # half-way between white and red


def test_colormap_choice_and_error() -> None:
    rgb = plot.heatmap_rgb(halves(), cmap="PiYG")
    assert not np.allclose(rgb[:, :2], [1, 0, 0], atol=0.05)
    with pytest.raises(ValueError, match="unknown colormap"):
        plot.heatmap_rgb(halves(), cmap="no-such-map")


def test_rgb_to_png_upscales_and_is_a_png() -> None:
    from io import BytesIO

    from PIL import Image

    png = plot.rgb_to_png(plot.heatmap_rgb(halves()), upscale=4)
    image = np.asarray(Image.open(BytesIO(png)))
    assert png.startswith(b"\x89PNG") and image.shape == (24, 24, 3)
    assert tuple(image[0, 0]) == (255, 0, 0) and tuple(image[-1, -1]) == (0, 0, 255)


# --- drawn figures --------------------------------------------------------------------


def test_heatmap_draws_sign_colours_where_the_attribution_has_that_sign() -> None:
    axes = plot.heatmap(halves(), colorbar=True, title="t")
    pixels = axes_pixels(axes, render(axes.figure))
    width = pixels.shape[1]
    assert is_red(pixels[:, : width // 3 - 2]).mean() > 0.95
    assert is_white(pixels[:, width // 3 + 2 : 2 * width // 3 - 2]).mean() > 0.95
    assert is_blue(pixels[:, 2 * width // 3 + 2 :]).mean() > 0.95
    assert len(axes.figure.axes) == 2  # the colorbar


def test_overlay_colours_relevance_and_shows_the_image_elsewhere() -> None:
    image = np.zeros((6, 6))
    image[:, 2:4] = 1.0  # a white bar where the relevance is zero
    axes = plot.overlay(image, halves(), alpha=1.0, fade=0.0)
    pixels = axes_pixels(axes, render(axes.figure))
    width = pixels.shape[1]
    assert is_red(pixels[:, : width // 3 - 2]).mean() > 0.9
    assert is_blue(pixels[:, 2 * width // 3 + 2 :]).mean() > 0.9
    assert is_white(pixels[:, width // 3 + 2 : 2 * width // 3 - 2]).mean() > 0.9
    with pytest.raises(ValueError, match="differ"):
        plot.overlay(np.zeros((5, 5)), halves())


def test_grid_has_one_row_per_method_and_colours_each_cell() -> None:
    x = torch.rand(3, 1, 6, 6)
    positive = torch.ones(3, 1, 6, 6)
    negative = -positive
    explanations = {"pos": positive, "neg": negative}
    figure = plot.grid(explanations, x, column_labels=["a", "b", "c"])
    axes = np.array(figure.axes[:9]).reshape(3, 3)
    image = render(figure)
    assert [axes[r, 0].get_ylabel() for r in range(3)] == ["input", "pos", "neg"]
    assert [axes[0, c].get_title() for c in range(3)] == ["a", "b", "c"]
    for col in range(3):
        assert is_red(axes_pixels(axes[1, col], image)).mean() > 0.95
        assert is_blue(axes_pixels(axes[2, col], image)).mean() > 0.95
    with pytest.raises(ValueError, match="one image batch shape"):
        plot.grid({"a": torch.ones(2, 1, 4, 4), "b": torch.ones(2, 1, 5, 5)})


def test_grid_takes_inputs_from_explanations_and_overlays() -> None:
    model = xaikit.models.MLP(4, (4,), 2).eval()
    del model
    x = torch.rand(2, 1, 5, 5)
    e = Explanation(attribution=torch.ones_like(x), output=torch.ones(2), target=None, method="m", inputs=x)
    figure = plot.grid({"m": e}, use_overlay=True, indices=[1], colorbar=False)
    assert len(figure.axes) == 2


def _colour_bars(figure: Any) -> list[Any]:
    return [axes for axes in figure.axes if axes.get_label() == "<colorbar>"]


def test_grid_colour_bar_says_what_full_colour_means() -> None:
    """One bar for per-map scales (red +1 at the top, blue -1 below); one per row when shared."""
    x = torch.rand(2, 1, 6, 6)
    small = torch.linspace(-1, 2, 72).reshape(2, 1, 6, 6)
    rows = {"small": small, "large": 10 * small}
    figure = plot.grid(rows, x)
    (bar,) = _colour_bars(figure)
    assert bar.get_ylabel() == "relevance / each map's max |R|"
    assert [t.get_text() for t in bar.get_yticklabels()] == ["-1", "0", "+1"]
    pixels = axes_pixels(bar, render(figure))
    assert is_red(pixels[:3]).mean() > 0.9 and is_blue(pixels[-3:]).mean() > 0.9
    clipped = plot.grid(rows, x, clip_percentile=99, gamma=0.5)
    assert _colour_bars(clipped)[0].get_ylabel() == "relevance / each map's 99th percentile of |R|, gamma 0.5"
    shared = _colour_bars(plot.grid(rows, x, shared_scale=True))
    assert [b.get_ylabel() for b in shared] == ["relevance / 2", "relevance / 20"]
    positive = _colour_bars(plot.grid(rows, x, positive_only=True))[0]
    assert [t.get_text() for t in positive.get_yticklabels()] == ["0", "+0.5", "+1"]


def test_bars_colour_by_sign_with_feature_names() -> None:
    names = ["Fresh", "Milk", "Grocery"]
    axes = plot.bars(np.array([2.0, -1.0, 0.5]), names)
    colours = [patch.get_facecolor()[:3] for patch in axes.patches]
    assert is_red(np.array(colours[0])) and is_blue(np.array(colours[1])) and is_red(np.array(colours[2]))
    assert [t.get_text() for t in axes.get_xticklabels()] == names
    image = axes_pixels(axes, render(axes.figure))
    assert is_red(image).any() and is_blue(image).any()


def test_bars_draw_error_bars_from_several_draws() -> None:
    draws = np.array([[1.0, -1.0], [3.0, -2.0], [2.0, -3.0]])
    axes = plot.bars(draws, ["a", "b"], horizontal=True)
    from matplotlib.container import BarContainer

    container = next(c for c in axes.containers if isinstance(c, BarContainer))
    assert np.allclose([p.get_width() for p in container.patches], draws.mean(0))
    assert container.errorbar is not None
    segments = container.errorbar.lines[2][0].get_segments()
    lengths = [abs(s[1][0] - s[0][0]) / 2 for s in segments]
    assert np.allclose(lengths, draws.std(0, ddof=1))
    with pytest.raises(ValueError, match="feature names"):
        plot.bars(np.ones(3), ["a"])


def test_time_series_colours_segments_by_relevance() -> None:
    t = np.linspace(0, 6, 60)
    signal = np.sin(t)
    relevance = np.where(t < 2, 1.0, np.where(t > 4, -1.0, 0.0))
    figure = plot.time_series(signal, relevance)
    lines = next(c for c in figure.axes[0].collections if isinstance(c, LineCollection))
    colours = lines.to_rgba(lines.get_array())
    assert is_red(colours[5][:3]) and is_blue(colours[-5][:3]) and is_white(colours[30][:3])
    pixels = axes_pixels(figure.axes[0], render(figure))
    assert is_red(pixels).sum() > 20 and is_blue(pixels).sum() > 20


def test_time_series_scatter_with_spectrogram_and_channels() -> None:
    rng = np.random.default_rng(0)
    signal = rng.normal(size=(2, 128))
    relevance = np.zeros((2, 128))
    relevance[0, 10:20] = 1.0
    relevance[1, 50:60] = -1.0
    figure = plot.time_series(signal, relevance, style="scatter", spectrogram=True, channel_names=["a", "b"])
    panels = [a for a in figure.axes if a.get_ylabel() in ("a", "b")]
    assert len(panels) == 2
    assert sum(a.get_ylabel() == "frequency" and len(a.images) == 1 for a in figure.axes) == 2
    points = next(c for c in panels[0].collections if isinstance(c, PathCollection))
    faces = points.to_rgba(points.get_array())
    assert is_red(faces[15][:3]) and is_white(faces[100][:3])
    pixels = axes_pixels(panels[1], render(figure))
    assert is_blue(pixels).any()
    with pytest.raises(ValueError, match="shape"):
        plot.time_series(signal, relevance[:1])


def test_pixel_flipping_curves_plot_means_bands_and_areas() -> None:
    fractions = np.linspace(0, 1, 5)
    draws = np.array([[1.0, 0.5, 0.2, 0.1, 0.0], [1.0, 0.7, 0.4, 0.1, 0.0]])
    axes = plot.pixel_flipping_curves({"lrp": draws, "random": 1 - fractions}, fractions)
    lines = axes.get_lines()
    assert np.allclose(lines[0].get_ydata(), draws.mean(0))
    assert lines[1].get_linestyle() == "--"
    labels = [t.get_text() for t in axes.get_legend().get_texts()]
    # the legend names the metric of the report's tables: AOPC, the mean drop per sample
    from xaikit.evaluate.faithfulness import FlippingResult

    aopc = FlippingResult("morf", np.arange(5), fractions, draws).aopc.mean()
    assert labels[0] == f"lrp (AOPC {aopc:.3g})"
    assert len(axes.collections) == 1  # one band, for the curve with several samples
    auc = plot.pixel_flipping_curves({"lrp": draws}, fractions, metric="auc").get_legend().get_texts()[0]
    assert auc.get_text() == f"lrp (AUC {np.trapezoid(draws.mean(0), fractions):.3g})"
    with pytest.raises(ValueError, match="different numbers of steps"):
        plot.pixel_flipping_curves({"a": np.ones(3), "b": np.ones(4)})


def test_randomization_curves_label_layers() -> None:
    layers = ["fc2", "fc1", "conv2", "conv1"]
    sims = {"saliency": np.array([[0.5, 0.2, 0.1, 0.0], [0.3, 0.2, 0.1, 0.0]]), "lrp": np.ones(4)}
    axes = plot.randomization_curves(sims, layers)
    assert [t.get_text() for t in axes.get_xticklabels()] == layers
    assert np.allclose(axes.get_lines()[0].get_ydata(), [0.4, 0.2, 0.1, 0.0])
    with pytest.raises(ValueError, match="layer names"):
        plot.randomization_curves(sims, layers[:2])


def test_embedding_scatter_signed_scores_centre_white_at_zero() -> None:
    points = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0]])
    axes = plot.embedding_scatter(points, np.array([-2.0, 0.0, 5.0]), highlight=[2], highlight_labels=["338"])
    scatter = axes.collections[0]
    assert isinstance(scatter.norm, TwoSlopeNorm) and scatter.norm.vcenter == 0.0
    faces = scatter.to_rgba(scatter.get_array())
    assert is_blue(faces[0][:3]) and is_white(faces[1][:3]) and is_red(faces[2][:3])
    assert [t.get_text() for t in axes.texts] == ["338"]


def test_embedding_scatter_categorical_legend() -> None:
    points = np.random.default_rng(0).normal(size=(30, 2))
    axes = plot.embedding_scatter(points, np.arange(30) % 3, score_label="cluster")
    legend = axes.get_legend()
    assert legend.get_title().get_text() == "cluster"
    assert [t.get_text() for t in legend.get_texts()] == ["0", "1", "2"]
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        plot.embedding_scatter(np.ones((3, 3)))


# --- Explanation.plot -----------------------------------------------------------------


def explanation(attribution: torch.Tensor, **kwargs: object) -> Explanation:
    n = attribution.shape[0]
    return Explanation(attribution=attribution, output=torch.ones(n), target=torch.zeros(n, dtype=torch.long),
                       method="lrp", options={"composite": "epsilon_plus"}, **kwargs)  # type: ignore[arg-type]


def test_plot_explanation_tabular_is_a_bar_chart() -> None:
    e = explanation(torch.tensor([[1.0, -2.0, 0.5]]), inputs=torch.ones(1, 3), feature_names=["a", "b", "c"])
    figure = e.plot()
    assert isinstance(figure, Figure)
    axes = figure.axes[0]
    assert [t.get_text() for t in axes.get_xticklabels()] == ["a", "b", "c"]
    assert len(axes.patches) == 3
    assert axes.get_title() == "lrp (epsilon_plus), class 0, output 1"


def test_plot_explanation_time_series_is_a_coloured_curve() -> None:
    x = torch.randn(2, 2, 40)
    e = explanation(x.clone(), inputs=x)
    figure = e.plot(1)
    assert any(isinstance(c, LineCollection) for a in figure.axes for c in a.collections)


def test_plot_explanation_image_shows_input_and_heatmap() -> None:
    x = torch.rand(2, 1, 6, 6)
    a = torch.from_numpy(halves()).float().expand(2, 1, 6, 6)
    figure = explanation(a, inputs=x).plot(0)
    titles = [ax.get_title() for ax in figure.axes]
    assert titles[:2] == ["input", "relevance"]
    pixels = axes_pixels(figure.axes[1], render(figure))
    assert is_red(pixels).mean() > 0.2 and is_blue(pixels).mean() > 0.2
    overlay_figure = explanation(a, inputs=x).plot(0, kind="overlay")
    assert len(overlay_figure.axes[1].images) == 2
    no_inputs = explanation(a).plot(1)
    assert len(no_inputs.axes) == 2  # heatmap and colorbar


def test_plot_explanation_rejects_bad_index_and_shape() -> None:
    with pytest.raises(IndexError):
        explanation(torch.ones(2, 3)).plot(5)
    with pytest.raises(ValueError, match="no default picture"):
        explanation(torch.ones(1, 1, 2, 2, 2)).plot()


def test_plot_explanation_of_a_real_lrp_explanation() -> None:
    model = xaikit.models.DigitsCNN().eval()
    x = torch.rand(2, 1, 8, 8)
    e = xaikit.explain(model, x, method="lrp")
    figure = e.plot(0, clip_percentile=99)
    assert figure.axes[0].get_title() == "input"
    assert figure.get_suptitle().startswith("lrp (epsilon_plus)")


@pytest.mark.slow
def test_plots_need_no_display_and_never_import_pyplot() -> None:
    code = (
        "import os, sys; os.environ.pop('DISPLAY', None); os.environ.pop('MPLBACKEND', None)\n"
        "import numpy as np, xaikit.plot as p\n"
        "p.heatmap(np.ones((3, 3))); p.bars(np.ones(2)); p.time_series(np.ones(9), np.ones(9))\n"
        "p.pixel_flipping_curves({'a': np.ones(3)}); p.randomization_curves({'a': np.ones(2)})\n"
        "p.embedding_scatter(np.ones((4, 2)), np.arange(4.0)); p.grid({'a': np.ones((1, 1, 2, 2))})\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_backend_is_untouched() -> None:
    before = mpl.get_backend()
    plot.heatmap(halves())
    assert mpl.get_backend() == before
