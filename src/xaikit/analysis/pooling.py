"""Relevance pooling (review 001, section VI-B1): the contribution of a group of features
on a group of data points, ``R_{I,G} = sum_{n in G} sum_{i in I} R_{i,n}``.

For methods that conserve (LRP, integrated gradients), the pooled relevances add up to
the summed explained outputs minus what biases absorbed (the summed deltas).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from xaikit.analysis.rows import as_rows
from xaikit.utils.errors import InputError

__all__ = ["PooledRelevance", "channel_groups", "grid_groups", "pool_relevance", "window_groups"]


@dataclass(frozen=True)
class PooledRelevance:
    """Relevance summed over groups of data points (rows) and groups of features (columns).

    Attributes
    ----------
    relevance : numpy.ndarray
        ``(sample groups, feature groups)`` sums, float64.
    sample_groups, feature_groups : tuple
        The group names, in the order of rows and columns.
    counts : numpy.ndarray
        Samples per sample group.
    relevance_total : float
        The sum of every sample's relevance (float64): the pooled matrix sums to it.
    output_total : float or None
        The sum of the explained outputs, when known.
    delta_total : float or None
        The sum of the per-sample deltas (explained output minus relevance sum), when known.
    """

    relevance: np.ndarray
    sample_groups: tuple[Any, ...]
    feature_groups: tuple[Any, ...]
    counts: np.ndarray
    relevance_total: float
    output_total: float | None
    delta_total: float | None

    @property
    def mean(self) -> np.ndarray:
        """The pooled relevance per sample of each group: ``relevance / counts``."""
        return self.relevance / np.maximum(self.counts, 1)[:, None]

    @property
    def conservation_error(self) -> float:
        """``|sum of the pooled matrix - relevance_total|`` (float round-off for any grouping)."""
        return float(abs(self.relevance.sum() - self.relevance_total))

    @property
    def absorbed(self) -> float | None:
        """``output_total - relevance_total``: what biases and stabilizers absorbed (``None`` if unknown)."""
        return None if self.output_total is None else self.output_total - self.relevance_total

    def to_frame(self) -> Any:
        """The pooled matrix as a pandas ``DataFrame`` (rows: sample groups, columns: feature groups)."""
        import pandas as pd

        return pd.DataFrame(self.relevance, index=list(self.sample_groups), columns=list(self.feature_groups))


def channel_groups(sample_shape: Sequence[int], names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """One feature group per channel of ``(C, ...)`` samples (images, time series).

    Parameters
    ----------
    sample_shape : sequence of int
        The shape of one sample, channels first.
    names : sequence of str, optional
        The channels' names (``"channel 0"``, ... by default).

    Returns
    -------
    dict of str to numpy.ndarray
        A boolean mask of the sample shape per channel.
    """
    channels = int(sample_shape[0])
    labels = names or [f"channel {c}" for c in range(channels)]
    grid = np.broadcast_to(np.arange(channels).reshape(-1, *([1] * (len(sample_shape) - 1))), tuple(sample_shape))
    return {str(labels[c]): grid == c for c in range(channels)}


def window_groups(sample_shape: Sequence[int], window: int) -> dict[str, np.ndarray]:
    """Feature groups of consecutive time steps (the last axis), ``window`` steps each.

    Parameters
    ----------
    sample_shape : sequence of int
        The shape of one sample, time last.
    window : int
        Steps per group (the last group may be shorter).

    Returns
    -------
    dict of str to numpy.ndarray
        A boolean mask of the sample shape per window, named by its steps (``"t 0-9"``).
    """
    steps = int(sample_shape[-1])
    position = np.broadcast_to(np.arange(steps) // window, tuple(sample_shape))
    return {f"t {w * window}-{min((w + 1) * window, steps) - 1}": position == w for w in range(-(-steps // window))}


def grid_groups(sample_shape: Sequence[int], cells: tuple[int, int]) -> dict[str, np.ndarray]:
    """Feature groups of a ``rows x columns`` grid of regions over the last two axes (images).

    Parameters
    ----------
    sample_shape : sequence of int
        The shape of one sample, height and width last.
    cells : tuple of int
        The grid's rows and columns.

    Returns
    -------
    dict of str to numpy.ndarray
        A boolean mask of the sample shape per region, named ``"region r,c"``.
    """
    height, width = int(sample_shape[-2]), int(sample_shape[-1])
    rows = np.minimum(np.arange(height) * cells[0] // height, cells[0] - 1)
    cols = np.minimum(np.arange(width) * cells[1] // width, cells[1] - 1)
    cell = np.broadcast_to(rows[:, None] * cells[1] + cols[None, :], tuple(sample_shape))
    return {f"region {r},{c}": cell == r * cells[1] + c for r in range(cells[0]) for c in range(cells[1])}


def _feature_labels(
    features: Any, sample_shape: tuple[int, ...], feature_names: Sequence[str] | None
) -> tuple[np.ndarray, list[Any]]:
    """One group code per feature (flattened), and the group names; ``-1``: ungrouped."""
    size = int(np.prod(sample_shape))
    if features is None:
        return np.zeros(size, dtype=np.int64), ["all features"]
    if isinstance(features, str):
        if features == "channels":
            features = channel_groups(sample_shape)
        else:
            raise InputError(f"features={features!r} is not known: give 'channels', a dict of groups or a label map")
    if isinstance(features, Mapping):
        codes = np.full(size, -1, dtype=np.int64)
        for code, (name, members) in enumerate(features.items()):
            mask = _members(members, sample_shape, feature_names, name)
            if (codes[mask] >= 0).any():
                raise InputError(f"feature group {name!r} overlaps another group; pooled groups must not overlap")
            codes[mask] = code
        return codes, list(features)
    label_map = np.asarray(features)
    if label_map.shape != sample_shape or label_map.dtype.kind not in "iu":
        raise InputError(
            f"a feature label map must be integers of the sample shape {sample_shape}, got {label_map.dtype} "
            f"{label_map.shape}"
        )
    names, codes = np.unique(label_map.reshape(-1), return_inverse=True)
    codes = codes.astype(np.int64)
    if (names < 0).any():  # negative labels mean "not in a group"
        codes = np.where(label_map.reshape(-1) < 0, -1, codes - int((names < 0).sum()))
        names = names[names >= 0]
    return codes, names.tolist()


def _members(members: Any, sample_shape: tuple[int, ...], feature_names: Sequence[str] | None, name: Any) -> np.ndarray:
    size = int(np.prod(sample_shape))
    array = np.asarray(members)
    if array.dtype == bool:
        if array.shape != sample_shape:
            raise InputError(f"the mask of feature group {name!r} has shape {array.shape}, not {sample_shape}")
        return array.reshape(-1)
    mask = np.zeros(size, dtype=bool)
    if array.dtype.kind in "US":
        if feature_names is None:
            raise InputError(f"feature group {name!r} names features; pass feature_names= to say which is which")
        known = {str(n): i for i, n in enumerate(feature_names)}
        unknown = [str(m) for m in array.reshape(-1) if str(m) not in known]
        if unknown:
            raise InputError(f"feature group {name!r} names unknown features {unknown}; known: {list(known)}")
        mask[[known[str(m)] for m in array.reshape(-1)]] = True
        return mask
    if array.dtype.kind not in "iu" or ((array < 0) | (array >= size)).any():
        raise InputError(f"feature group {name!r} must be a boolean mask, feature names or flat indices < {size}")
    mask[array.reshape(-1)] = True
    return mask


def pool_relevance(
    relevance: Any,
    features: Any = None,
    samples: Any = None,
    *,
    method: str | None = None,
    feature_names: Sequence[str] | None = None,
) -> PooledRelevance:
    """Pool relevance over groups of features and groups of data points.

    Parameters
    ----------
    relevance : array, tensor, Explanation or ExplanationStore
        ``(N, ...)`` relevance; a store is read chunk by chunk (memory bounded by a chunk).
    features : None, "channels", dict or label map
        The feature groups: all features as one group (``None``), one per channel, a
        dict of name to boolean mask (of the sample shape), flat indices or feature names
        (tabular data), or an integer label map of the sample shape (negative: no group).
        Features in no group are pooled into an extra group ``"other"``, so nothing is lost.
    samples : None, array or str
        The group of each data point: ``None`` for one group of all samples, one label
        per sample (classes, clusters, any labelling), or a store array's name
        (``"label"``, which falls back to ``"prediction"`` in a store without labels).
    method : str, optional
        The store's method (the only one by default).
    feature_names : sequence of str, optional
        Names of tabular features, for groups given by name.

    Returns
    -------
    PooledRelevance

    Examples
    --------
    >>> import numpy as np
    >>> pooled = pool_relevance(np.ones((4, 3)), {"a": [0], "bc": [1, 2]}, np.array([0, 0, 1, 1]))
    >>> pooled.relevance
    array([[2., 4.],
           [2., 4.]])
    """
    rows = as_rows(relevance, method)
    codes, names = _feature_labels(features, rows.sample_shape, feature_names)
    if (codes < 0).any():
        codes = np.where(codes < 0, len(names), codes)
        names = [*names, "other"]
    groups = rows.groups(samples)
    if groups is None:
        sample_codes, sample_names = np.zeros(rows.samples, dtype=np.int64), np.array(["all samples"])
    else:
        sample_names, sample_codes = np.unique(groups.reshape(-1), return_inverse=True)
    import scipy.sparse as sp

    # features x groups, sparse: memory O(features), not O(features x groups)
    one_hot = sp.csr_matrix((np.ones(codes.size), (np.arange(codes.size), codes)), shape=(codes.size, len(names)))
    pooled = np.zeros((len(sample_names), len(names)))
    total = 0.0
    for indices, block in rows.blocks():
        flat = block.reshape(len(block), -1).astype(np.float64)
        np.add.at(pooled, sample_codes[indices], np.asarray(one_hot.T @ flat.T).T)
        total += float(flat.sum())
    outputs, deltas = rows.per_sample("output"), rows.per_sample("delta")
    return PooledRelevance(
        relevance=pooled,
        sample_groups=tuple(sample_names.tolist()),
        feature_groups=tuple(names),
        counts=np.bincount(sample_codes, minlength=len(sample_names)),
        relevance_total=total,
        output_total=None if outputs is None else float(outputs.astype(np.float64).sum()),
        delta_total=None if deltas is None else float(deltas.astype(np.float64).sum()),
    )
