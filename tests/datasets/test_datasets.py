"""Tests of the bundled data sets."""

from __future__ import annotations

from importlib.resources import files

import numpy as np
import pandas as pd
import pytest

from xaikit.datasets import (
    TEXTURES,
    WHOLESALE_COLUMNS,
    WHOLESALE_SPENDING,
    load_texture,
    load_wholesale,
)


def test_wholesale_frame() -> None:
    df = load_wholesale()
    assert isinstance(df, pd.DataFrame)
    assert df.shape == (440, 8)
    assert tuple(df.columns) == WHOLESALE_COLUMNS
    assert WHOLESALE_SPENDING == (
        "Fresh",
        "Milk",
        "Grocery",
        "Frozen",
        "Detergents_Paper",
        "Delicassen",
    )
    assert all(df[c].dtype == np.int64 for c in df.columns)
    assert set(df["Channel"]) == {1, 2}
    assert set(df["Region"]) == {1, 2, 3}


def test_wholesale_documented_rows() -> None:
    df = load_wholesale()
    spending = df[list(WHOLESALE_SPENDING)]
    assert spending.iloc[337].tolist() == [9351, 1347, 2611, 8170, 442, 868]
    assert spending.iloc[338].tolist() == [3, 333, 7021, 15601, 15, 550]
    means = spending.mean().round().astype(int).tolist()
    assert means == [12000, 5796, 7951, 3072, 2881, 1525]


def test_wholesale_array_and_copy() -> None:
    arr = load_wholesale(as_frame=False)
    assert isinstance(arr, np.ndarray)
    assert arr.shape == (440, 8) and arr.dtype == np.float64
    assert arr[338, 2:].tolist() == [3.0, 333.0, 7021.0, 15601.0, 15.0, 550.0]
    df = load_wholesale()
    df.iloc[0, 0] = -1
    arr[0, 0] = -1
    assert load_wholesale().iloc[0, 0] == 2
    assert load_wholesale(as_frame=False)[0, 0] == 2


def test_bundled_files_present() -> None:
    root = files("xaikit.datasets").joinpath("files")
    assert root.joinpath("wholesale_customers.csv").is_file()
    attribution = root.joinpath("ATTRIBUTION.md").read_text(encoding="utf-8")
    assert "UCI Machine Learning Repository" in attribution
    assert "Cardoso" in attribution
    assert "CC BY 4.0" in attribution


@pytest.mark.parametrize("name", TEXTURES)
def test_load_texture(name: str) -> None:
    img = load_texture(name)
    assert img.dtype == np.float32
    assert img.ndim in (2, 3)
    if img.ndim == 3:
        assert img.shape[2] == 3
    assert float(img.min()) >= 0.0 and float(img.max()) <= 1.0
    assert float(img.max()) > 0.5


@pytest.mark.parametrize(("name", "ndim"), [("brick", 2), ("chelsea", 3)])
def test_load_texture_resized(name: str, ndim: int) -> None:
    img = load_texture(name, size=32)
    assert img.shape[:2] == (32, 32) and img.ndim == ndim
    assert float(img.min()) >= 0.0 and float(img.max()) <= 1.0


def test_load_texture_errors() -> None:
    with pytest.raises(ValueError, match="unknown texture"):
        load_texture("moon-landing")
    with pytest.raises(ValueError):
        load_texture("brick", size=0)
