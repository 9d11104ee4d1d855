"""
Evaluating explanations
=======================

There is no ground truth for an explanation; :mod:`xaikit.evaluate` measures how far to
trust one. Two of its checks on the digits CNN:

- **pixel-flipping** (faithfulness): remove the pixels an explanation calls most
  relevant first; the faster the explained logit drops, the more faithful the ranking
  (area over the perturbation curve, AOPC, larger is better);
- **model randomization** (a sanity check): randomize the network's layers from the
  top; an explanation that still looks the same does not depend on what the model learned.
"""

import xaikit
from xaikit.evaluate import evaluate, model_randomization, pixel_flipping
from xaikit.models import digits_cnn, load_digits_split

model = digits_cnn()
_, _, x, y = load_digits_split()
x, y = x[:16], y[:16]

# %%
# Pixel-flipping
# --------------
#
# One curve per method: the explained logit as 0, 2, 4, ... of the 64 pixels are replaced
# by zero, most relevant first. A random ordering is the reference.

methods = {
    "LRP": xaikit.explain(model, x, y, method="lrp", composite="epsilon_gamma_box",
                          composite_options={"low": 0.0, "high": 1.0}),
    "integrated gradients": xaikit.explain(model, x, y, method="integrated_gradients", steps=32),
    "saliency": xaikit.explain(model, x, y, method="saliency"),
}
curves = {}
for name, e in methods.items():
    result = pixel_flipping(model, x, e.attribution, y, step=2, progress=False)
    curves[name] = result.curves
    print(f"{name:22s} AOPC {result.mean_aopc:.2f}")
random = pixel_flipping(model, x, None, y, order="random", step=2, progress=False)
curves["random"] = random.curves
fractions = random.fractions
flipping = xaikit.plot.pixel_flipping_curves(curves, fractions)

# %%
# Model randomization
# -------------------
#
# The layers are re-initialized one after the other, from the output layer down; each
# time, the explanation of the randomized model is compared with the original one by the
# Spearman rank correlation, of the signed maps and of their absolute values. All three
# methods pass on the signed maps: their similarity falls to about zero. On the absolute
# maps, the methods that multiply by the input (LRP's default composite, gradient x
# input) stay similar: the digits' blank background pixels get exactly zero relevance
# whatever the weights, so they rank alike. What a check compares matters as much as the
# check.

signed, absolute = {}, {}
for name in ("lrp", "gradient_x_input", "saliency"):
    r = model_randomization(model, x[:8], name, y[:8], similarities=["spearman", "spearman_abs"],
                            progress=False)
    signed[name] = r.mean("spearman")
    absolute[name] = r.mean("spearman_abs")
    print(f"{name:17s} signed {signed[name].round(2)}  absolute {absolute[name].round(2)}")
print("randomized, from the top:", r.layers)
randomization = xaikit.plot.randomization_curves(signed, r.layers, title="signed maps")
randomization_abs = xaikit.plot.randomization_curves(absolute, r.layers, title="absolute maps")

# %%
# Several metrics for several methods in one call
# -----------------------------------------------
#
# :func:`xaikit.evaluate.evaluate` runs a chosen set of metrics and returns a tidy table.

table = evaluate(model, x, y, methods=["lrp", "gradient_x_input"],
                 metrics=["pixel_flipping", "complexity"], progress=False)
table.pivot()
