"""Small pretrained reference models, trained locally and cached on disk.

No weights are downloaded: :func:`digits_cnn` trains a :class:`DigitsCNN` on
the scikit-learn digits (bundled with scikit-learn) in a few seconds on the
CPU and caches the ``state_dict``.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .cnn import DigitsCNN

__all__ = ["WEIGHTS_VERSION", "default_cache_dir", "digits_cnn", "load_digits_split"]

#: Version tag of the training recipe; part of the cache file name, bump it
#: whenever the architecture or the recipe changes.
WEIGHTS_VERSION = "v1"

_EPOCHS = 20
_BATCH_SIZE = 32
_LR = 3e-3


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


def load_digits_split(
    seed: int = 0, test_size: float = 0.25
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Load the scikit-learn 8x8 digits as a stratified train/test split.

    Parameters
    ----------
    seed : int, default 0
        Random state of the split.
    test_size : float, default 0.25
        Fraction of the samples put in the test set.

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

    digits = load_digits()
    images = (np.asarray(digits.images, dtype=np.float32) / 16.0).reshape(-1, 1, 8, 8)
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


def _train_digits_cnn(seed: int, progress: bool) -> DigitsCNN:
    """Train a DigitsCNN without touching the global random state."""
    x_train, y_train, _, _ = load_digits_split(seed=seed)
    # fork_rng restores the global CPU generator afterwards; the model init
    # and dropout draw from it, shuffling uses a local generator.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        model = DigitsCNN()
        opt = torch.optim.Adam(model.parameters(), lr=_LR)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=_EPOCHS)
        n = x_train.shape[0]
        model.train()
        epochs: Iterable[int] = range(_EPOCHS)
        if progress:
            from tqdm.auto import tqdm

            epochs = tqdm(epochs, desc="training digits_cnn")
        for _ in epochs:
            perm = torch.randperm(n, generator=gen)
            for start in range(0, n, _BATCH_SIZE):
                idx = perm[start : start + _BATCH_SIZE]
                opt.zero_grad(set_to_none=True)
                loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
                loss.backward()
                opt.step()
            sched.step()
    return model


def _atomic_save(state: dict[str, Tensor], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(state, fh)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def digits_cnn(
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    retrain: bool = False,
    seed: int = 0,
    progress: bool = False,
) -> DigitsCNN:
    """Return a :class:`DigitsCNN` trained on the scikit-learn digits.

    The first call trains the network on the training part of
    :func:`load_digits_split` (Adam, 20 epochs, a few seconds on a CPU;
    about 98 % test accuracy) and saves its ``state_dict`` atomically to
    ``<cache_dir>/digits_cnn-<version>-seed<seed>.pt``; later calls load it.
    Training is deterministic given ``seed`` and leaves the global torch and
    numpy random states unchanged.

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

    Returns
    -------
    DigitsCNN
        The trained model, on the CPU and in eval mode.
    """
    directory = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    path = directory / f"digits_cnn-{WEIGHTS_VERSION}-seed{int(seed)}.pt"
    model: DigitsCNN | None = None
    if not retrain and path.is_file():
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            model = DigitsCNN()
            model.load_state_dict(state)
        except (RuntimeError, OSError, EOFError, pickle.UnpicklingError, KeyError):
            model = None  # unreadable or stale cache: train again
    if model is None:
        model = _train_digits_cnn(int(seed), progress)
        _atomic_save(model.state_dict(), path)
    model.eval()
    return model
