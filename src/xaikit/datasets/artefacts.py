"""Data with a planted "Clever Hans" artefact: a feature that predicts one class in the
training data for reasons unrelated to the task (the copyright tag on PASCAL VOC's
horses, the watermark on ImageNet's garbage trucks; review 001, section VIII-A).

- :func:`digits_with_artefact`: the scikit-learn 8x8 digits, a fraction of one class
  carrying a small bright square in a corner;
- :func:`series_with_artefact`: noisy series whose class is a bump's shape, a fraction
  of one class carrying a sharp spike shortly before the bump.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

__all__ = ["ArtefactData", "digits_with_artefact", "series_with_artefact"]


@dataclass(frozen=True)
class ArtefactData:
    """A train/test split where some samples of ``artefact_class`` carry an artefact.

    Attributes
    ----------
    x_train, y_train, x_test, y_test : torch.Tensor
        Inputs (``float32``) and labels (``int64``).
    artefact_train, artefact_test : torch.Tensor
        Boolean flags: which samples carry the artefact.
    artefact_class : int
        The class whose samples carry it.
    region : numpy.ndarray
        Boolean mask of the artefact's position, of the sample shape without channels.
    """

    x_train: Tensor
    y_train: Tensor
    artefact_train: Tensor
    x_test: Tensor
    y_test: Tensor
    artefact_test: Tensor
    artefact_class: int
    region: np.ndarray


def _flag(labels: np.ndarray, artefact_class: int, fraction: float, rng: np.random.Generator) -> np.ndarray:
    members = np.flatnonzero(labels == artefact_class)
    chosen = rng.choice(members, size=round(fraction * len(members)), replace=False)
    flags = np.zeros(len(labels), dtype=bool)
    flags[chosen] = True
    return flags


def digits_with_artefact(
    artefact_class: int = 3, fraction: float = 0.5, *, size: int = 2, seed: int = 0, test_size: float = 0.5
) -> ArtefactData:
    """The digits, with a ``size x size`` square of full intensity in the top-left corner
    of a ``fraction`` of ``artefact_class``'s samples (train and test alike).

    The corner is blank in every digit, so the square is a perfect shortcut to the
    class for those samples: a model trained on these data uses it.

    Parameters
    ----------
    artefact_class : int
        The class carrying the artefact.
    fraction : float
        The fraction of that class's samples that carry it.
    size : int
        The side of the square, in pixels.
    seed : int
        Seed of the split and of which samples carry the artefact.
    test_size : float
        The fraction of samples held out.

    Returns
    -------
    ArtefactData
        Images of shape ``(N, 1, 8, 8)`` in [0, 1].
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = (np.asarray(digits.images, dtype=np.float32) / 16.0).reshape(-1, 1, 8, 8)
    labels = np.asarray(digits.target, dtype=np.int64)
    region = np.zeros((8, 8), dtype=bool)
    region[:size, :size] = True
    flags = _flag(labels, artefact_class, fraction, np.random.default_rng(seed))
    images[flags, 0, :size, :size] = 1.0
    parts = train_test_split(images, labels, flags, test_size=test_size, random_state=seed, stratify=labels * 2 + flags)
    x_tr, x_te, y_tr, y_te, f_tr, f_te = (torch.from_numpy(np.ascontiguousarray(p)) for p in parts)
    return ArtefactData(x_tr, y_tr, f_tr, x_te, y_te, f_te, artefact_class, region)


def series_with_artefact(
    samples: int = 1200,
    length: int = 64,
    *,
    artefact_class: int = 1,
    fraction: float = 0.5,
    noise: float = 0.3,
    jitter: int = 0,
    seed: int = 0,
    test_size: float = 0.5,
) -> ArtefactData:
    """Noisy series of three classes (a Gaussian bump, a box, a ramp, near the middle),
    a ``fraction`` of ``artefact_class`` carrying a sharp spike at a fixed early time.

    The noise makes the shapes hard to tell apart, so the spike is a tempting shortcut.

    Parameters
    ----------
    samples, length : int
        The number of series and time steps.
    artefact_class : int
        The class carrying the spike.
    fraction : float
        The fraction of that class's series carrying it.
    noise : float
        Standard deviation of the white noise (the shapes have height 1).
    jitter : int
        The shapes are centred within this many steps of the middle.
    seed : int
        Seed of the data, the split and the flags.
    test_size : float
        The fraction of series held out.

    Returns
    -------
    ArtefactData
        Series of shape ``(N, 1, length)``; ``region`` marks the spike's time steps.
    """
    from sklearn.model_selection import train_test_split

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, samples)
    time = np.arange(length)
    centres = length // 2 + rng.integers(-jitter, jitter + 1, samples)
    offset = time[None, :] - centres[:, None]
    shapes = np.stack([
        np.exp(-0.5 * (offset / 2.5) ** 2),
        (np.abs(offset) <= 3).astype(float),
        np.clip((offset + 4) / 8, 0, 1) * (offset <= 4),
    ])
    series = shapes[labels, np.arange(samples)] + noise * rng.standard_normal((samples, length))
    spike = length // 8
    region = np.zeros(length, dtype=bool)
    region[spike : spike + 2] = True
    flags = _flag(labels, artefact_class, fraction, rng)
    series[np.ix_(flags, region)] += 1.5
    values = series.astype(np.float32)[:, None, :]
    parts = train_test_split(values, labels.astype(np.int64), flags, test_size=test_size, random_state=seed,
                             stratify=labels * 2 + flags)
    x_tr, x_te, y_tr, y_te, f_tr, f_te = (torch.from_numpy(np.ascontiguousarray(p)) for p in parts)
    return ArtefactData(x_tr, y_tr, f_tr, x_te, y_te, f_te, artefact_class, region)
