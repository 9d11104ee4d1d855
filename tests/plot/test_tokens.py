"""Tokens coloured by relevance: the sign decides red or blue, the magnitude the saturation."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from matplotlib.colors import to_rgba

from xaikit.plot import token_relevance


def _colours(axes) -> list[tuple[float, ...]]:  # type: ignore[no-untyped-def]
    return [to_rgba(text.get_bbox_patch().get_facecolor()) for text in axes.texts]


def test_evidence_is_red_counter_evidence_blue_and_zero_white() -> None:
    axes = token_relevance([["a", "b", "c"]], np.array([1.0, -1.0, 0.0]))
    red, blue, white = _colours(axes)
    assert red[0] > red[2] and blue[2] > blue[0]
    assert white[0] > 0.9 and white[1] > 0.9 and white[2] > 0.9
    assert [t.get_text() for t in axes.texts] == ["a", "b", "c"]


def test_rows_are_scaled_alone_or_together() -> None:
    relevance = np.array([[1.0, 0.0], [0.01, 0.0]])
    alone = _colours(token_relevance([["x", "y"], ["x", "y"]], relevance))
    together = _colours(token_relevance([["x", "y"], ["x", "y"]], relevance, per_row=False))
    assert alone[2] == pytest.approx(alone[0])  # each row's largest token is fully red
    assert together[2][1] > together[0][1]  # the small row is paler on a shared scale


def test_a_shape_mismatch_is_refused() -> None:
    with pytest.raises(ValueError, match="shape"):
        token_relevance([["a", "b"]], np.array([1.0, 2.0, 3.0]))
