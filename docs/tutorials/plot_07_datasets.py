"""
Whole data sets: explanation stores and SpRAy
=============================================

:func:`xaikit.explain_dataset` explains every sample of a data set into a chunked,
compressed Zarr store (layout: :doc:`../explanation-store`), a chunk at a time; a rerun
after a crash computes only the missing chunks. :mod:`xaikit.analysis` then works on the
store: here spectral relevance analysis (SpRAy) finds a "Clever Hans" strategy. Half of
the training threes carry a white corner square; the model learns the shortcut, and the
explanations of the test threes fall into two groups: those decided by the digit, and
those decided by the mark.

Needs the ``datasets`` extra (zarr, dask, h5py).
"""

import shutil
import tempfile
from pathlib import Path

import xaikit
from xaikit.analysis import artefact_relevance, spray
from xaikit.datasets import digits_with_artefact
from xaikit.models import DigitsCNN, fit_classifier

folder = Path(tempfile.mkdtemp())
data = digits_with_artefact(artefact_class=3, fraction=0.5, seed=0)
model = fit_classifier(DigitsCNN, data.x_train, data.y_train, seed=0, epochs=15)

# %%
# Explain the test set into a store
# ---------------------------------

store = xaikit.explain_dataset(model, data.x_test, "lrp", store=folder / "digits.zarr",
                               labels=data.y_test, target="label", chunk_size=128, progress=False)
print(store.samples, "samples in", store.chunk_count, "chunks; arrays:", store.array_names())

# %%
# Running the same call again finds every chunk done and computes nothing.

again = xaikit.explain_dataset(model, data.x_test, "lrp", store=folder / "digits.zarr",
                               labels=data.y_test, target="label", chunk_size=128, progress=False)
print("complete:", again.complete)

# %%
# SpRAy on the threes
# -------------------
#
# SpRAy builds a nearest-neighbour graph of the (normalized) explanations, reads the number
# of clusters off the eigengap of its Laplacian, and clusters them. The cluster that best
# matches the threes carrying the mark is found with perfect purity and recall.

result = spray(store, samples=store.read("label") == 3)
cluster, purity, recall = result.best_match(data.artefact_test.numpy()[result.indices])
print("clusters by the eigengap:", result.eigengap_clusters)
print(f"artefact cluster {cluster}: purity {purity:.2f}, recall {recall:.2f}")
spectrum = xaikit.plot.eigenvalue_spectrum(result)

# %%
# Each cluster's prototypes (the explanations nearest its mean): the digit, and the mark.

gallery = xaikit.plot.cluster_gallery(result, store.array("inputs"))

# %%
# Which classes put their relevance on the suspect region
# -------------------------------------------------------
#
# :func:`~xaikit.analysis.artefact_relevance`: per class, the share of relevance on the
# region of the mark; class 3 comes first.

shares = artefact_relevance(store, data.region)
print(shares.groups[:3])

# %%
# The store is an ordinary folder; this tutorial wrote it to a temporary one.

shutil.rmtree(folder)
