"""Small pretrained reference models, trained locally and cached on disk.

No weights are downloaded: :func:`digits_cnn` trains a :class:`DigitsCNN` and
:func:`digits_vgg` a :class:`DigitsVGG` on the scikit-learn digits (bundled with
scikit-learn) in a few seconds on the CPU, and cache the ``state_dict``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from torch import Tensor, nn

from ._cache import check_location, load_cached, save_cached
from ._common import append_doc_sections
from .cnn import DigitsCNN, DigitsVGG
from .training import fit_classifier

__all__ = ["BACKGROUNDS", "WEIGHTS_VERSION", "default_cache_dir", "digits_cnn", "digits_vgg", "load_digits_split"]

#: Version tag of the training recipe; part of the cache file name, bump it
#: whenever the architecture or the recipe changes.
WEIGHTS_VERSION = "v1"

_EPOCHS = 20
_BATCH_SIZE = 32
_LR = 3e-3

# DigitsVGG: a smaller step than DigitsCNN. With 3e-3 the deeper network trains as well
# (about 98 %) but its DeconvNet maps become markedly more class-dependent (mean SSIM
# between the maps of two classes about 0.65 instead of 0.87 over training seeds).
_VGG_EPOCHS = 30
_VGG_LR = 1e-3

_M = TypeVar("_M", bound=nn.Module)

# Shared by digits_cnn and digits_vgg; {model} and {name} are filled in for each.
_PRETRAINED_SECTIONS = """\
Parameters
----------
cache_dir : str or os.PathLike or None, default None
    Where to store the weights; ``None`` uses :func:`default_cache_dir`.
retrain : bool, default False
    Train again and overwrite the cached weights.
seed : int, default 0
    Seed of the data split, the initialisation and the shuffling.
progress : bool, default False
    Show a progress bar while training.
background : {{"black", "texture"}}, default "black"
    Train on the digits as shipped, or drawn on textures (see :func:`load_digits_split`);
    the textured model is cached as ``{name}-texture-...``.

Returns
-------
{model}
    The trained model, on the CPU and in eval mode.

Raises
------
IsADirectoryError, NotADirectoryError, PermissionError
    Before any training, if the cache file could not be written: the file's path is a
    folder, the cache folder (or one above it) is a file, or it is not writable.
ValueError
    If the cache file holds something other than a mapping of names to tensors (so it
    is not xaikit's); it is left as it is.

Warns
-----
RuntimeWarning
    If the cached weights are unreadable, corrupted (checksum mismatch), lack a
    checksum, hold non-finite values or do not fit the architecture; the model is then
    trained again and the file replaced.

Notes
-----
The first call trains the network on the training part of :func:`load_digits_split`
and saves its ``state_dict`` with a SHA-256 checksum, atomically, to
``<cache_dir>/{name}-<version>-seed<seed>.pt``; later calls verify the checksum and
that the weights are finite, and load it. Training is deterministic given ``seed``;
training and loading leave the global torch and numpy random states unchanged.
"""


def default_cache_dir() -> Path:
    """Return the directory used to cache trained weights.

    Returns
    -------
    pathlib.Path
        ``$XAIKIT_CACHE`` if that environment variable is set and non-empty,
        else ``~/.cache/xaikit``.
    """
    env = os.environ.get("XAIKIT_CACHE")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "xaikit"


#: The backgrounds :func:`load_digits_split` can draw the digits on.
BACKGROUNDS = ("black", "texture")


def load_digits_split(
    seed: int = 0, test_size: float = 0.25, *, background: str = "black"
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Load the scikit-learn 8x8 digits as a stratified train/test split.

    Parameters
    ----------
    seed : int, default 0
        Random state of the split (and of the textures).
    test_size : float, default 0.25
        Fraction of the samples put in the test set.
    background : {"black", "texture"}, default "black"
        The digits as scikit-learn ships them, on black, or drawn onto a smooth random
        texture in [0.15, 0.65] (:func:`~xaikit.datasets.smooth_noise`, one per image):
        ``x = digit + (1 - digit) * texture``. On black, a removal that fills in zeros
        looks like background; on the texture every fill value is visible, as on natural
        images (the setting of ROAD's and the relevance gain's findings).

    Returns
    -------
    x_train : torch.Tensor
        ``float32`` images of shape ``(N_train, 1, 8, 8)`` with values in [0, 1].
    y_train : torch.Tensor
        ``int64`` labels of shape ``(N_train,)``.
    x_test : torch.Tensor
        ``float32`` images of shape ``(N_test, 1, 8, 8)`` with values in [0, 1].
    y_test : torch.Tensor
        ``int64`` labels of shape ``(N_test,)``.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if background not in BACKGROUNDS:
        raise ValueError(f"background must be one of {BACKGROUNDS}, got {background!r}")
    digits = load_digits()
    images = (np.asarray(digits.images, dtype=np.float32) / 16.0).reshape(-1, 1, 8, 8)
    if background == "texture":
        from xaikit.datasets.backgrounds import smooth_noise

        images = images + (1.0 - images) * smooth_noise(len(images), (8, 8), seed=seed)[:, None]
    labels = np.asarray(digits.target, dtype=np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        images, labels, test_size=test_size, random_state=seed, stratify=labels
    )
    return (
        torch.from_numpy(np.ascontiguousarray(x_tr)),
        torch.from_numpy(np.ascontiguousarray(y_tr)),
        torch.from_numpy(np.ascontiguousarray(x_te)),
        torch.from_numpy(np.ascontiguousarray(y_te)),
    )


def _train(
    factory: Callable[[], _M], seed: int, epochs: int, lr: float, progress: bool, desc: str, background: str = "black"
) -> _M:
    """Train ``factory()`` on the digits without touching the global random state."""
    x_train, y_train, _, _ = load_digits_split(seed=seed, background=background)
    model = fit_classifier(
        factory, x_train, y_train, seed=seed, epochs=epochs, lr=lr, batch_size=_BATCH_SIZE, progress=progress, desc=desc
    )
    return model


def _train_digits_cnn(seed: int, progress: bool, background: str) -> DigitsCNN:
    """Train a DigitsCNN without touching the global random state."""
    return _train(DigitsCNN, seed, _EPOCHS, _LR, progress, "training digits_cnn", background)


def _train_digits_vgg(seed: int, progress: bool, background: str) -> DigitsVGG:
    """Train a DigitsVGG without touching the global random state."""
    return _train(DigitsVGG, seed, _VGG_EPOCHS, _VGG_LR, progress, "training digits_vgg", background)


def _cache_name(name: str, background: str) -> str:
    """The cache file's stem: ``name``, with the background unless it is black."""
    if background not in BACKGROUNDS:
        raise ValueError(f"background must be one of {BACKGROUNDS}, got {background!r}")
    return name if background == "black" else f"{name}-{background}"


@append_doc_sections(_PRETRAINED_SECTIONS, model="DigitsCNN", name="digits_cnn")
def digits_cnn(
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    retrain: bool = False,
    seed: int = 0,
    progress: bool = False,
    background: str = "black",
) -> DigitsCNN:
    """Return a :class:`DigitsCNN` trained on the scikit-learn digits.

    Training takes a few seconds on a CPU (Adam, 20 epochs); the model reaches about
    98 % test accuracy.
    """
    train = partial(_train_digits_cnn, int(seed), progress, background)
    return _cached(_cache_name("digits_cnn", background), DigitsCNN, train, cache_dir, retrain, seed)


@append_doc_sections(_PRETRAINED_SECTIONS, model="DigitsVGG", name="digits_vgg")
def digits_vgg(
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    retrain: bool = False,
    seed: int = 0,
    progress: bool = False,
    background: str = "black",
) -> DigitsVGG:
    """Return a :class:`DigitsVGG` trained on the scikit-learn digits.

    A deeper counterpart of :func:`digits_cnn`: seven convolutions and four max-pool
    stages on the digits upsampled to 16x16 inside the model (see :class:`DigitsVGG`), so
    it takes the 8x8 digits of :func:`load_digits_split` as they are. Training takes about
    8 s on one CPU thread (Adam with learning rate 1e-3, 30 epochs); the model reaches
    about 98 % test accuracy.
    """
    train = partial(_train_digits_vgg, int(seed), progress, background)
    return _cached(_cache_name("digits_vgg", background), DigitsVGG, train, cache_dir, retrain, seed)


def _cached(
    name: str,
    factory: Callable[[], _M],
    train: Callable[[], _M],
    cache_dir: str | os.PathLike[str] | None,
    retrain: bool,
    seed: int,
) -> _M:
    """Load ``<cache_dir>/<name>-<version>-seed<seed>.pt`` into ``factory()``, or train and save it."""
    directory = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    path = directory / f"{name}-{WEIGHTS_VERSION}-seed{int(seed)}.pt"
    check_location(path)  # before training: the weights could not be saved
    model = None if retrain else load_cached(path, factory)
    if model is None:
        model = train()
        save_cached(model.state_dict(), path)
    model.eval()
    return model
