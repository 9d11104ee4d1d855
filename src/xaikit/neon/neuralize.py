"""``neuralize``: turn fitted scikit-learn estimators into explainable torch modules."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from xaikit.neon.base import Neuralized
from xaikit.neon.kde import KDEInlierness, KDEOutlierness, RandomFeatureInlierness
from xaikit.neon.kmeans import NeuralizedKMeans
from xaikit.neon.ocsvm import OneClassSVMOutlierness

__all__ = ["KDE_KINDS", "SUPPORTED", "kde_parameters", "neuralize"]

#: What :func:`neuralize` accepts.
SUPPORTED = (
    "sklearn.cluster.KMeans",
    "sklearn.cluster.MiniBatchKMeans",
    "sklearn.neighbors.KernelDensity (kernel='gaussian', metric='euclidean')",
    "sklearn.svm.OneClassSVM (kernel='rbf')",
    "sklearn.pipeline.Pipeline ending in one of these",
)

#: Scores a KernelDensity can be neuralized into.
KDE_KINDS = ("outlierness", "inlierness", "random_features")


def _check_is_fitted(estimator: Any, attribute: str) -> None:
    """Scikit-learn's ``check_is_fitted``, imported on first use (scikit-learn is slow to import)."""
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator, attribute)


def _unsupported(estimator: Any) -> TypeError:
    name = type(estimator).__name__
    hint = ""
    if name == "BisectingKMeans":
        hint = (
            " BisectingKMeans assigns points by its bisection tree, not by the nearest centre; "
            "use KMeans or MiniBatchKMeans, or NeuralizedKMeans(centroids) for nearest-centre evidence."
        )
    elif name in ("GaussianMixture", "BayesianGaussianMixture"):
        hint = " For a kernel density use sklearn.neighbors.KernelDensity."
    return TypeError(
        f"cannot neuralize {name}.{hint} Supported: {'; '.join(SUPPORTED)}. Raw parameters: "
        "xaikit.neon.NeuralizedKMeans, KDEOutlierness, KDEInlierness, RandomFeatureInlierness, "
        "NeuralizedKernelKMeans, OneClassSVMOutlierness."
    )


def kde_parameters(kde: Any) -> tuple[np.ndarray, float, np.ndarray | None, float]:
    """Support points, ``gamma``, sample weights and log normalizer of a fitted KernelDensity.

    ``KernelDensity.score_samples(x) = log_normalizer + log sum_k w_k exp(-gamma ||x - u_k||^2)``
    with normalized weights, ``gamma = 1 / (2 bandwidth^2)`` and
    ``log_normalizer = -(d/2) log(2 pi bandwidth^2)``, so the neuralized outlierness is
    ``o(x) = -(score_samples(x) - log_normalizer) / gamma``. The model computes the exact
    KDE; ``score_samples`` equals it when the estimator's ``atol`` and ``rtol`` are 0 (the
    defaults), and approximates it within those tolerances otherwise.

    Raises
    ------
    ValueError
        For a kernel other than Gaussian or a metric other than Euclidean.
    """
    _check_is_fitted(kde, "tree_")
    if kde.kernel != "gaussian":
        raise ValueError(
            f"KernelDensity with kernel={kde.kernel!r} cannot be neuralized into log-mean-exp "
            "pooling; refit it with kernel='gaussian'"
        )
    if kde.metric != "euclidean" or kde.metric_params:
        raise ValueError(
            f"KernelDensity with metric={kde.metric!r} is not supported; refit it with metric='euclidean'"
        )
    bandwidth = float(getattr(kde, "bandwidth_", kde.bandwidth))
    support = np.array(kde.tree_.data, dtype=np.float64, copy=True)
    raw_weights = kde.tree_.sample_weight
    weights = None if raw_weights is None else np.array(raw_weights, dtype=np.float64, copy=True)
    gamma = 1.0 / (2.0 * bandwidth**2)
    log_normalizer = -0.5 * support.shape[1] * math.log(2.0 * math.pi * bandwidth**2)
    return support, gamma, weights, log_normalizer


def _kde(
    kde: Any, kind: str, beta: Any, eps: float, n_features: int, seed: Any, leave_one_out: bool
) -> Neuralized:
    support, gamma, weights, log_normalizer = kde_parameters(kde)
    model: KDEOutlierness | KDEInlierness | RandomFeatureInlierness
    if leave_one_out and kind != "outlierness":
        raise ValueError(
            f"leave_one_out=True applies to kind='outlierness', not {kind!r}; for the inlierness of "
            "a training point build the model on the other points, e.g. "
            "KDEInlierness(np.delete(X, row, axis=0), gamma) or "
            "RandomFeatureInlierness(np.delete(X, row, axis=0), gamma)"
        )
    if kind == "outlierness":
        model = KDEOutlierness(support, gamma, weights, beta=beta, eps=eps, leave_one_out=leave_one_out)
    elif kind == "inlierness":
        model = KDEInlierness(support, gamma, weights)
    elif kind == "random_features":
        model = RandomFeatureInlierness(support, gamma, n_features, seed=seed, weights=weights)
    else:
        raise ValueError(f"kind for KernelDensity must be one of {', '.join(KDE_KINDS)}, got {kind!r}")
    model.log_normalizer = log_normalizer
    return model


def _ocsvm(svm: Any, beta: Any, eps: float, leave_one_out: bool) -> Neuralized:
    _check_is_fitted(svm, "support_vectors_")
    if svm.kernel != "rbf":
        raise ValueError(
            f"OneClassSVM with kernel={svm.kernel!r} cannot be neuralized into log-mean-exp pooling "
            "over distances; refit it with kernel='rbf'"
        )
    alpha = np.array(svm.dual_coef_, dtype=np.float64).reshape(-1)
    return OneClassSVMOutlierness(
        np.array(svm.support_vectors_, dtype=np.float64),
        alpha,
        float(svm._gamma),
        offset=float(np.asarray(svm.offset_).reshape(-1)[0]),
        beta=beta,
        eps=eps,
        leave_one_out=leave_one_out,
    )


def _step_names(pipeline: Any) -> list[str]:
    return [name for name, _ in pipeline.steps]


def neuralize(
    estimator: Any,
    *,
    kind: str | None = None,
    beta: float | str | None = "auto",
    rule: str | None = None,
    eps: float = 1e-9,
    n_features: int = 2500,
    seed: int | None = 0,
    leave_one_out: bool = False,
) -> Neuralized:
    """Rewrite a fitted unsupervised estimator as an explainable network (NEON).

    The returned module computes, in float64, an explainable score of the estimator,
    an exact function of the estimator's own scores but not (except for direct KDE
    inlierness) equal to them; its layers carry the NEON rules, so that
    ``xaikit.explain(model, x, method="lrp", composite=model.composite())`` (or
    ``model.explain(X)``) explains it in one pass. The output is, with ``d`` the input
    dimension:

    - ``KMeans``/``MiniBatchKMeans``: the cluster evidence
      ``f_c(x) = min_{k != c} ||x - mu_k||^2 - ||x - mu_c||^2`` of every cluster ``c``
      (positive for the cluster ``predict`` assigns);
    - ``KernelDensity``, ``kind="outlierness"``: ``o(x) = -(score_samples(x) -
      log_normalizer) / gamma`` with ``gamma = 1 / (2 bandwidth^2)`` and
      ``log_normalizer = -(d/2) log(2 pi bandwidth^2)`` (``model.score_samples`` and
      ``model.outlierness_from_score_samples`` map back and forth);
    - ``KernelDensity``, ``kind="inlierness"``: ``i(x) = exp(score_samples(x) -
      log_normalizer)``; ``kind="random_features"``: a random-feature approximation of
      it;
    - ``OneClassSVM``: ``o(x) = -log(score_samples(x) / A) / gamma`` with
      ``A = sum(dual_coef_)`` and ``gamma`` the fitted ``_gamma`` (equivalently
      ``-log((decision_function(x) + offset_) / A) / gamma``).

    The identities hold for any input except, with ``leave_one_out=True``, for points
    that coincide with a support point (see below). For a ``KernelDensity`` with non-zero
    ``atol``/``rtol``, ``score_samples`` only approximates the exact KDE the model computes.

    Parameters
    ----------
    estimator : estimator
        A fitted ``KMeans`` or ``MiniBatchKMeans`` (cluster evidence of every cluster,
        :class:`NeuralizedKMeans`); ``KernelDensity`` with a Gaussian kernel
        (outlierness, inlierness or random-feature inlierness); ``OneClassSVM`` with an
        RBF kernel (outlierness); or a ``Pipeline`` ending in one of them, explained in
        the space of the last step's input (see ``model.input_space``; ``model.explain``
        and ``model.transform`` apply the earlier steps to raw data).
    kind : str, optional
        For ``KernelDensity``: ``"outlierness"`` (default), ``"inlierness"`` (direct,
        uniform redistribution) or ``"random_features"``.
    beta : float, "auto" or None, default "auto"
        Soft-argmin sharpness of the pooling: ``"auto"`` is
        ``1 / mean_{c != k} ||mu_c - mu_k||^2`` for k-means and ``gamma`` for KDE and
        one-class SVM; ``None`` sends all relevance to the arg-min.
    rule : {"wsquare", "midpoint"}, optional
        Default rule of k-means' linear layer (w-square unless given).
    eps : float, default 1e-9
        Stabilizer of the distance rule (KDE, one-class SVM).
    n_features : int, default 2500
        Random features (``kind="random_features"``).
    seed : int, optional
        Seed of the random features.
    leave_one_out : bool, default False
        For KDE outlierness and one-class SVMs: explain points of the training set
        leave-one-out. Support points coinciding with the explained point (within the
        model's ``coincidence_tol``) are left out of the pooling and the other weights
        renormalized, so that a training point's outlierness is that of the KDE fitted
        on the other points with the same bandwidth (for an SVM: its expansion without
        the point's own term), and its relevance is conserved. Without it the point's
        own term takes the pooling weight and its relevance is dissipated; explaining
        such a point warns (:class:`~xaikit.neon.functional.CoincidentSupportWarning`).
        Also settable later as ``model.leave_one_out``.

    Returns
    -------
    Neuralized
        A ``torch.nn.Module`` in float64.

    Raises
    ------
    TypeError
        For unsupported estimators.
    ValueError
        For unsupported kernels or metrics (the message names the fix), or
        ``leave_one_out=True`` for a model without support points.
    sklearn.exceptions.NotFittedError
        If the estimator is not fitted.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.cluster import KMeans
    >>> X = np.random.default_rng(0).normal(size=(60, 3))
    >>> model = neuralize(KMeans(3, n_init=2, random_state=0).fit(X))
    >>> e = model.explain(X[:5])          # evidence for the assigned clusters
    >>> e.attribution.shape
    torch.Size([5, 3])
    """
    from sklearn.cluster import KMeans, MiniBatchKMeans
    from sklearn.neighbors import KernelDensity
    from sklearn.pipeline import Pipeline
    from sklearn.svm import OneClassSVM

    options = {
        "kind": kind,
        "beta": beta,
        "rule": rule,
        "eps": eps,
        "n_features": n_features,
        "seed": seed,
        "leave_one_out": leave_one_out,
    }
    if isinstance(estimator, Pipeline):
        if len(estimator.steps) == 0:
            raise ValueError("the pipeline has no steps")
        model = neuralize(estimator.steps[-1][1], **options)  # type: ignore[arg-type]
        if len(estimator.steps) > 1:
            head = estimator[:-1]
            try:
                names: Any = head.get_feature_names_out()
            except Exception:  # many transformers cannot name their outputs
                names = None
            steps = " -> ".join(repr(n) for n in _step_names(head))
            model.set_input_space(
                head,
                f"the output of the pipeline steps {steps} (the input of the last step "
                f"{estimator.steps[-1][0]!r}); model.transform(X) maps raw data there",
                names,
            )
        return model

    model_out: Neuralized
    if isinstance(estimator, KMeans | MiniBatchKMeans):
        if kind not in (None, "clusters"):
            raise ValueError(f"kind for {type(estimator).__name__} must be 'clusters', got {kind!r}")
        if leave_one_out:
            raise ValueError(
                "leave_one_out=True applies to KernelDensity outlierness and OneClassSVM; k-means "
                "cluster evidence has no support points to leave out"
            )
        _check_is_fitted(estimator, "cluster_centers_")
        model_out = NeuralizedKMeans(
            np.array(estimator.cluster_centers_, dtype=np.float64), beta=beta, rule=rule or "wsquare"
        )
    elif isinstance(estimator, KernelDensity):
        model_out = _kde(estimator, kind or "outlierness", beta, eps, n_features, seed, leave_one_out)
    elif isinstance(estimator, OneClassSVM):
        if kind not in (None, "outlierness"):
            raise ValueError(f"kind for OneClassSVM must be 'outlierness', got {kind!r}")
        model_out = _ocsvm(estimator, beta, eps, leave_one_out)
    else:
        raise _unsupported(estimator)
    names = getattr(estimator, "feature_names_in_", None)
    model_out.set_input_space(None, f"the input features of the {type(estimator).__name__}", names)
    return model_out
