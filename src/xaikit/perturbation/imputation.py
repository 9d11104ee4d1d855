"""Linear imputation (Rong et al., ICML 2022): the solver behind ROAD's removal,
:class:`~xaikit.perturbation.removal.NoisyLinear`.

Every removed element is set to the weighted mean of its neighbours (direct neighbours
weigh 1/6, diagonal ones 1/12 in images; the two neighbours 1/2 in series), where the
neighbours may themselves be removed: all removed elements of a batch are the unknowns of
one sparse linear system, solved at once (``scipy.sparse.linalg.spsolve``, block diagonal
over the copies and channels). Gaussian noise of standard deviation ``noise`` is then added
to the imputed values, so that the removal pattern is not given away by perfectly smooth
patches. Unlike a fixed replacement value, the imputed image carries (almost) no
information about *where* pixels were removed, which is what lets ROAD avoid retraining.
"""

from __future__ import annotations

import numpy as np

__all__ = ["linear_imputation"]

#: Neighbour offsets and weights: images (row, column), series (time).
STENCIL_2D = (((-1, 0), 1 / 6), ((1, 0), 1 / 6), ((0, -1), 1 / 6), ((0, 1), 1 / 6),
              ((-1, -1), 1 / 12), ((-1, 1), 1 / 12), ((1, -1), 1 / 12), ((1, 1), 1 / 12))
STENCIL_1D = (((-1,), 1 / 2), ((1,), 1 / 2))


def linear_imputation(values: np.ndarray, removed: np.ndarray) -> np.ndarray:
    """Impute the ``removed`` elements of ``values`` (``(P, *spatial)`` planes, 1 or 2 spatial axes).

    Each removed element equals the weighted mean of its in-bounds neighbours. A plane
    with every element removed has nothing to impute from and is set to zero.

    Parameters
    ----------
    values : numpy.ndarray
        ``(P, T)`` or ``(P, H, W)`` float planes.
    removed : numpy.ndarray
        Bool of the same shape.

    Returns
    -------
    numpy.ndarray
        A copy of ``values`` with the removed elements imputed.
    """
    from scipy.sparse import csr_matrix
    from scipy.sparse.linalg import spsolve

    out = np.array(values, dtype=np.float64, copy=True)
    empty = removed.reshape(len(removed), -1).all(1)
    out[empty] = 0.0
    solve = removed & ~empty.reshape(-1, *([1] * (removed.ndim - 1)))
    positions = np.argwhere(solve)  # (U, 1 + spatial)
    count = len(positions)
    if count == 0:
        return out
    index = np.full(removed.shape, -1, dtype=np.int64)
    index[tuple(positions.T)] = np.arange(count)
    spatial = np.array(removed.shape[1:])
    diagonal = np.zeros(count)
    rhs = np.zeros(count)
    rows, columns, entries = [], [], []
    for offset, weight in (STENCIL_2D if len(spatial) == 2 else STENCIL_1D):
        neighbour = positions.copy()
        neighbour[:, 1:] += np.array(offset)
        inside = np.all((neighbour[:, 1:] >= 0) & (neighbour[:, 1:] < spatial), axis=1)
        at = tuple(neighbour[inside].T)
        diagonal[inside] += weight
        unknown = index[at]
        own = np.flatnonzero(inside)
        rows.append(own[unknown >= 0])
        columns.append(unknown[unknown >= 0])
        entries.append(np.full(int((unknown >= 0).sum()), -weight))
        known = unknown < 0
        np.add.at(rhs, own[known], weight * values[at][known])
    matrix = csr_matrix((np.concatenate([np.concatenate(entries), diagonal]),
                         (np.concatenate([*rows, np.arange(count)]), np.concatenate([*columns, np.arange(count)]))),
                        shape=(count, count))
    out[tuple(positions.T)] = spsolve(matrix, rhs)
    return out
