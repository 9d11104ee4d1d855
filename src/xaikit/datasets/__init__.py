"""Small data sets bundled with xaikit (no network access needed).

- :func:`load_wholesale`: the UCI "Wholesale customers" data (440 x 8),
  shipped in ``xaikit/datasets/files`` (see ``ATTRIBUTION.md`` there).
- :func:`load_texture`: test images bundled with scikit-image.
- :func:`smooth_noise`: class-free random textures (:mod:`xaikit.datasets.backgrounds`).
- :func:`digits_with_artefact`, :func:`series_with_artefact`: data with a planted
  "Clever Hans" artefact (:mod:`xaikit.datasets.artefacts`).
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from typing import Literal, overload

import numpy as np
import pandas as pd

from xaikit.datasets.artefacts import ArtefactData, digits_with_artefact, series_with_artefact
from xaikit.datasets.backgrounds import smooth_noise

__all__ = [
    "TEXTURES",
    "WHOLESALE_COLUMNS",
    "WHOLESALE_SPENDING",
    "ArtefactData",
    "digits_with_artefact",
    "load_texture",
    "load_wholesale",
    "series_with_artefact",
    "smooth_noise",
]

#: The six annual spending columns (monetary units) of the wholesale data.
WHOLESALE_SPENDING: tuple[str, ...] = (
    "Fresh",
    "Milk",
    "Grocery",
    "Frozen",
    "Detergents_Paper",
    "Delicassen",
)

#: All columns of the wholesale data, in file order.
WHOLESALE_COLUMNS: tuple[str, ...] = ("Channel", "Region", *WHOLESALE_SPENDING)

#: Names accepted by :func:`load_texture` (all bundled with scikit-image).
TEXTURES: tuple[str, ...] = (
    "brick",
    "grass",
    "gravel",
    "camera",
    "astronaut",
    "coffee",
    "chelsea",
)

_WHOLESALE_FILE = "wholesale_customers.csv"


@lru_cache(maxsize=1)
def _read_wholesale() -> pd.DataFrame:
    resource = files(__name__).joinpath("files", _WHOLESALE_FILE)
    with resource.open("r", encoding="utf-8") as fh:
        frame = pd.read_csv(fh)
    if tuple(frame.columns) != WHOLESALE_COLUMNS:
        raise RuntimeError(
            f"unexpected columns in bundled {_WHOLESALE_FILE}: {list(frame.columns)}"
        )
    return frame.astype("int64")


@overload
def load_wholesale(*, as_frame: Literal[True] = ...) -> pd.DataFrame: ...
@overload
def load_wholesale(*, as_frame: Literal[False]) -> np.ndarray: ...
@overload
def load_wholesale(*, as_frame: bool) -> pd.DataFrame | np.ndarray: ...


def load_wholesale(*, as_frame: bool = True) -> pd.DataFrame | np.ndarray:
    """Load the UCI "Wholesale customers" data set.

    440 customers of a wholesale distributor in Portugal: ``Channel``
    (1 Horeca, 2 Retail), ``Region`` (1 Lisbon, 2 Oporto, 3 Other) and the
    annual spending in monetary units on six product categories
    (:data:`WHOLESALE_SPENDING`).

    Source: M. G. M. S. Cardoso, UCI Machine Learning Repository, licence
    CC BY 4.0 (see ``xaikit/datasets/files/ATTRIBUTION.md``).

    Parameters
    ----------
    as_frame : bool, default True
        Return a :class:`pandas.DataFrame` (``int64`` columns
        :data:`WHOLESALE_COLUMNS`); otherwise a ``float64`` array of shape
        ``(440, 8)`` with the columns in the same order.

    Returns
    -------
    pandas.DataFrame or numpy.ndarray
        A fresh copy of the data (safe to modify).

    Examples
    --------
    >>> df = load_wholesale()
    >>> df.shape
    (440, 8)
    >>> spending = df[list(WHOLESALE_SPENDING)].to_numpy(dtype=float)
    """
    frame = _read_wholesale()
    if as_frame:
        return frame.copy()
    return frame.to_numpy(dtype=np.float64, copy=True)


def _center_crop_square(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    side = min(h, w)
    top = (h - side) // 2
    left = (w - side) // 2
    return image[top : top + side, left : left + side]


def load_texture(name: str = "brick", size: int | None = None) -> np.ndarray:
    """Load a grayscale or colour test image bundled with scikit-image.

    Parameters
    ----------
    name : str, default "brick"
        One of :data:`TEXTURES`: the grayscale ``"brick"``, ``"grass"``,
        ``"gravel"``, ``"camera"`` or the RGB ``"astronaut"``, ``"coffee"``,
        ``"chelsea"``.
    size : int or None, default None
        If given, the image is centre-cropped to a square and resized
        (with anti-aliasing) to ``size x size``.

    Returns
    -------
    numpy.ndarray
        ``float32`` image with values in [0, 1], of shape ``(H, W)`` for
        grayscale and ``(H, W, 3)`` for colour images.

    Raises
    ------
    ValueError
        If the name is unknown or ``size`` is not positive.
    """
    from skimage import data as skdata
    from skimage.transform import resize
    from skimage.util import img_as_float

    key = name.lower()
    if key not in TEXTURES:
        raise ValueError(f"unknown texture {name!r}; expected one of: {', '.join(TEXTURES)}")
    image = np.asarray(img_as_float(getattr(skdata, key)()), dtype=np.float64)
    if size is not None:
        if size < 1:
            raise ValueError(f"size must be positive, got {size}")
        image = _center_crop_square(image)
        image = resize(
            image, (size, size, *image.shape[2:]), anti_aliasing=True, preserve_range=True
        )
    return np.clip(image, 0.0, 1.0).astype(np.float32)
