"""
Perturbation and Shapley values
===============================

Methods that only *query* the model: occlusion slides a patch over the image and records
how much the explained logit drops; Shapley values credit each feature (or group of
features) with its average marginal contribution over all coalitions. KernelSHAP
estimates them by a weighted regression on sampled coalitions; with every coalition it
recovers the exact values.
"""

import numpy as np
import torch

import xaikit
from xaikit.datasets import WHOLESALE_SPENDING, load_wholesale
from xaikit.models import MLP, digits_cnn, fit_classifier, load_digits_split
from xaikit.perturbation import Background, Patches

# %%
# Occlusion and KernelSHAP on images
# ----------------------------------
#
# Occlusion with 2x2 patches replaced by the baseline (zero by default); KernelSHAP on the
# sixteen 2x2 patches of the 8x8 digits (``groups=Patches(2)``), each patch's value spread
# over its pixels.

model = digits_cnn()
_, _, x, y = load_digits_split()
x, y = x[:6], y[:6]
images = {
    "occlusion": xaikit.explain(model, x, y, method="occlusion", patch=2, progress=False),
    "KernelSHAP": xaikit.explain(model, x, y, method="kernel_shap", groups=Patches(2), samples=512,
                                 seed=0, progress=False),
}
fig = xaikit.plot.grid(images)

# %%
# Exact and estimated Shapley values on tabular data
# --------------------------------------------------
#
# A small network predicts a wholesale customer's channel (hotel/restaurant/café or
# retail) from the logarithm of its yearly spending in six categories. Features are
# "removed" by averaging over a background set of customers (:class:`~xaikit.perturbation.Background`),
# so the values explain the logit's deviation from its mean over that set.

table = load_wholesale()
features = np.log(table[list(WHOLESALE_SPENDING)].to_numpy(float))
features = torch.from_numpy((features - features.mean(0)) / features.std(0)).float()
channel = torch.from_numpy(table["Channel"].to_numpy() - 1)
net = fit_classifier(lambda: MLP(6, (16,), 2), features, channel, seed=0, epochs=30)
background = Background(features[::10])

customers = features[:4]
exact = xaikit.explain(net, customers, 1, method="shapley", baseline=background, progress=False)
kernel = xaikit.explain(net, customers, 1, method="kernel_shap", baseline=background,
                        samples=2**6 - 2, seed=0, progress=False)  # all 62 proper coalitions
sampled = xaikit.explain(net, customers, 1, method="kernel_shap", baseline=background,
                         samples=24, seed=0, progress=False)
print("exact Shapley  ", exact.attribution[0])
print("KernelSHAP, 62 ", kernel.attribution[0])
print("KernelSHAP, 24 ", sampled.attribution[0])
print("largest difference to exact, all coalitions:",
      float((kernel.attribution - exact.attribution).abs().max()))

# %%
# Shapley values are *efficient*: they sum to the output minus its mean over the
# background (``exact.baseline``).

print(exact.relevance_sum)
print(exact.output)
axes = xaikit.plot.bars(exact.attribution[0], list(WHOLESALE_SPENDING),
                        title="customer 0: evidence for 'retail'")
