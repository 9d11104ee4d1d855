"""
Quickstart
==========

The two quickstarts of the README, executed (a test checks that their statements are the
README's): a small CNN explained with LRP and integrated gradients, and a k-means
clustering explained with NEON. The figures are shown here instead of saved to files.
"""

import numpy as np
import torch
from sklearn.cluster import KMeans

import xaikit
from xaikit.datasets import WHOLESALE_SPENDING, load_wholesale
from xaikit.models import digits_cnn, load_digits_split

# %%
# A CNN
# -----
#
# :func:`xaikit.models.digits_cnn` is a small CNN trained on scikit-learn's 8x8 digits (a
# few seconds on a CPU the first time, cached afterwards). :func:`xaikit.explain` is the
# one entry point; every method returns an :class:`xaikit.Explanation`.

model = digits_cnn()
_, _, x, y = load_digits_split()
e = xaikit.explain(model, x[:8], target=y[:8], method="lrp", composite="epsilon_gamma_box",
                   composite_options={"low": 0.0, "high": 1.0})
print(e.attribution.shape, e.output, e.delta)  # relevance per pixel, explained logits, absorbed part

# %%
# ``e.plot(i)`` draws an input beside its heatmap (red: evidence for the class, blue:
# against it).

digit0 = e.plot(0)

# %%
# :func:`xaikit.plot.grid` compares methods on the same inputs.

ig = xaikit.explain(model, x[:8], y[:8], method="integrated_gradients")
grid = xaikit.plot.grid({"LRP": e, "IG": ig})

# %%
# An :class:`~xaikit.Explanation` behaves like a sequence of samples: ``e[0]``,
# ``e[2:5]``, a boolean mask and iteration select every per-sample field.
# ``ig.baseline + ig.output`` is ``f(x)``; ``e.save(path)`` and
# ``xaikit.Explanation.load(path)`` keep it in a pickle-free file (see
# :doc:`../explanation-format`).

print(len(e[2:5]), e[-1].target)
print(ig.baseline + ig.output)

# %%
# k-means
# -------
#
# :func:`xaikit.neuralize` rewrites a fitted k-means model as an exact network of the
# cluster evidence (float64); LRP with the model's own NEON composite explains which
# spending puts a customer in its cluster.

X = np.log(load_wholesale()[list(WHOLESALE_SPENDING)].to_numpy(float))
X = (X - X.mean(0)) / X.std(0)
kmeans = KMeans(n_clusters=6, n_init=10, random_state=0).fit(X)
model = xaikit.neuralize(kmeans)               # exact network of the cluster evidence (float64)
e = xaikit.explain(model, torch.from_numpy(X[[337, 338]]),  # LRP with the model's own NEON composite
                   feature_names=WHOLESALE_SPENDING)  # evidence for each customer's own cluster
print(e.target, e.output, e.relevance_sum)     # assigned clusters; relevance sums to the evidence

# %%
# Which spending puts customer 338 in its cluster:

customer338 = e.plot(1)
