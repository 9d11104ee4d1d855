"""Neuralization-propagation (NEON): explain unsupervised models with LRP.

A fitted unsupervised model is rewritten, without retraining, as a functionally
equivalent network of linear / distance layers and (soft) min/max pooling, whose
layers carry the NEON propagation rules; it is then explained in one LRP pass.

- :func:`neuralize` for scikit-learn estimators (``KMeans``, ``MiniBatchKMeans``,
  ``KernelDensity``, ``OneClassSVM``, a ``Pipeline`` ending in one);
- raw-parameter models: :class:`NeuralizedKMeans`, :class:`NeuralizedKernelKMeans`,
  :class:`KDEOutlierness`, :class:`KDEInlierness`, :class:`RandomFeatureInlierness`,
  :class:`OneClassSVMOutlierness`; points of the training set are explained
  leave-one-out with ``neuralize(estimator, leave_one_out=True)`` (KDE outlierness,
  one-class SVM);
- heads on a deep feature extractor: :func:`on_features` (appendix A of Montavon et
  al., 2022); demos in :mod:`xaikit.neon.images`;
- the wholesale-customer example: :func:`xaikit.neon.wholesale.reproduce`.

Importing this package registers the ``"neon"`` LRP composite.

Examples
--------
>>> import numpy as np, xaikit
>>> from sklearn.neighbors import KernelDensity
>>> X = np.random.default_rng(0).normal(size=(100, 4))
>>> # X[:3] are training points: explain them leave-one-out
>>> model = xaikit.neon.neuralize(KernelDensity(bandwidth=0.7).fit(X), leave_one_out=True)
>>> e = xaikit.explain(model, model.transform(X[:3]), method="lrp", composite="neon")
>>> e.attribution.shape
torch.Size([3, 4])

References
----------
Montavon, Kauffmann, Samek, Müller, "Explaining the predictions of unsupervised learning
models", xxAI (2022); Kauffmann, Esders, Ruff, Montavon, Samek, Müller, "From clustering
to cluster explanations via neural networks", IEEE TNNLS (2022); Kauffmann, Müller,
Montavon, "Towards explaining anomalies", Pattern Recognition (2020); Samek et al.,
"Explaining deep neural networks and beyond", Proc. IEEE (2021), section VI-A.
"""

from xaikit.neon.base import Neuralized
from xaikit.neon.composite import NeonComposite, neon_composite
from xaikit.neon.deep import DeepClusterHead, DeepOutlierHead, OnFeatures, on_features
from xaikit.neon.functional import (
    CoincidentSupportWarning,
    PoolSpec,
    cosine_features,
    dot_cluster_evidence,
    dot_outlierness,
    gaussian_kernels,
    leave_out_log_weights,
    pool_weights,
    soft_pool,
    squared_distances,
    weighted_sum,
)
from xaikit.neon.kde import KDEInlierness, KDEOutlierness, RandomFeatureInlierness
from xaikit.neon.kernel_kmeans import NeuralizedKernelKMeans
from xaikit.neon.kmeans import NeuralizedKMeans, default_kmeans_beta
from xaikit.neon.layers import (
    CosineFeatures,
    DifferenceLayer,
    GaussianKernelLayer,
    RandomFeatureMap,
    SoftPool,
    SquaredDistanceLayer,
    WeightedSum,
)
from xaikit.neon.neuralize import neuralize
from xaikit.neon.ocsvm import OneClassSVMOutlierness
from xaikit.neon.redraws import RedrawSummary, redraw_inlierness
from xaikit.neon.rules import Midpoint

__all__ = [
    "CoincidentSupportWarning",
    "CosineFeatures",
    "DeepClusterHead",
    "DeepOutlierHead",
    "DifferenceLayer",
    "GaussianKernelLayer",
    "KDEInlierness",
    "KDEOutlierness",
    "Midpoint",
    "NeonComposite",
    "Neuralized",
    "NeuralizedKMeans",
    "NeuralizedKernelKMeans",
    "OnFeatures",
    "OneClassSVMOutlierness",
    "PoolSpec",
    "RandomFeatureInlierness",
    "RandomFeatureMap",
    "RedrawSummary",
    "SoftPool",
    "SquaredDistanceLayer",
    "WeightedSum",
    "cosine_features",
    "default_kmeans_beta",
    "dot_cluster_evidence",
    "dot_outlierness",
    "gaussian_kernels",
    "leave_out_log_weights",
    "neon_composite",
    "neuralize",
    "on_features",
    "pool_weights",
    "redraw_inlierness",
    "soft_pool",
    "squared_distances",
    "weighted_sum",
]
