"""
Neuralization (NEON): k-means and outliers
==========================================

NEON rewrites a fitted unsupervised model, without retraining, as an equivalent network
(distance layers and soft min-pooling for k-means), and explains it with LRP and the
network's own NEON rules. Here: which spending puts wholesale customers in their cluster,
and why the most unusual customer is an outlier (kernel density outlierness).
"""

import numpy as np
import torch
from matplotlib.figure import Figure
from sklearn.cluster import KMeans
from sklearn.neighbors import KernelDensity

import xaikit
from xaikit.datasets import WHOLESALE_SPENDING, load_wholesale

X = np.log(load_wholesale()[list(WHOLESALE_SPENDING)].to_numpy(float))
X = (X - X.mean(0)) / X.std(0)
kmeans = KMeans(n_clusters=6, n_init=10, random_state=0).fit(X)
model = xaikit.neuralize(kmeans)  # float64, exact

# %%
# The network is the clustering
# -----------------------------
#
# Its outputs are the cluster *evidence* ``f_c(x)``: positive exactly for the assigned
# cluster, so its argmax reproduces ``kmeans.predict``.

data = torch.from_numpy(X)
print("same assignment:", bool((model(data).argmax(1).numpy() == kmeans.predict(X)).all()))

# %%
# Explaining every customer's own cluster
# ---------------------------------------
#
# Without a target, each customer's evidence for its own cluster is explained. The
# relevance of the six spending categories sums to that evidence.

e = xaikit.explain(model, data, feature_names=WHOLESALE_SPENDING)
print("conserved:", bool(torch.allclose(e.relevance_sum, e.output)))

# %%
# Mean relevance per cluster: which categories characterize each group of customers.

relevance = e.attribution.numpy()
clusters = e.target.numpy()
fig = Figure(figsize=(8, 3.2), layout="constrained")
axes = fig.subplots(1, 3, sharey=True)
for ax, c in zip(axes, np.unique(clusters)[:3]):
    xaikit.plot.bars(relevance[clusters == c].mean(0), list(WHOLESALE_SPENDING), ax=ax,
                     horizontal=True, title=f"cluster {c}: {(clusters == c).sum()} customers")

# %%
# One customer
# ------------

single = e[338]
print(single.target, single.output)
customer = single.plot(0)

# %%
# Outliers: kernel density outlierness
# ------------------------------------
#
# ``neuralize(KernelDensity)`` gives the outlierness ``o(x) = -log p(x)`` up to a constant,
# as a soft min-pooling over distances to the data (leaving each training point out of its
# own score). Explained, it says which features make
# a customer unusual.

kde = KernelDensity(bandwidth=1.0).fit(X)
outlierness = xaikit.neuralize(kde, leave_one_out=True)  # the customers are training points
scores = outlierness(data).detach()
worst = int(scores.argmax())
o = xaikit.explain(outlierness, data[[worst]], feature_names=WHOLESALE_SPENDING)
print("most outlying customer:", worst, "spending (standardized):", np.round(X[worst], 1))
outlier = xaikit.plot.bars(o.attribution[0], list(WHOLESALE_SPENDING),
                           title=f"why customer {worst} is an outlier")
