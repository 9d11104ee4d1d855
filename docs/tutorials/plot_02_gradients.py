"""
Gradients and path methods
==========================

Saliency (the gradient), gradient x input, integrated gradients and SmoothGrad on the
digits CNN. Integrated gradients satisfies *completeness*: its attributions sum to
``f(x) - f(baseline)``, which the explanation records and checks.
"""

import xaikit
from xaikit.models import digits_cnn, load_digits_split

model = digits_cnn()
_, _, x, y = load_digits_split()
x, y = x[:6], y[:6]

# %%
# Four methods, one call each
# ---------------------------
#
# ``noise_tunnel`` (alias ``smoothgrad``) averages any method over noisy copies of the
# input; ``base_method`` picks the method, ``variant`` SmoothGrad, SmoothGrad² or VarGrad.

explanations = {
    "saliency": xaikit.explain(model, x, y, method="saliency"),
    "gradient x input": xaikit.explain(model, x, y, method="gradient_x_input"),
    "integrated gradients": xaikit.explain(model, x, y, method="integrated_gradients", steps=64),
    "SmoothGrad": xaikit.explain(model, x, y, method="noise_tunnel", base_method="saliency",
                                 samples=16, stdev=0.15, seed=0),
}
fig = xaikit.plot.grid(explanations)

# %%
# Completeness of integrated gradients
# ------------------------------------
#
# ``ig.output`` is the change of the explained logit from the baseline (black image by
# default) to the input, ``ig.baseline`` the logit at the baseline, so
# ``ig.baseline + ig.output`` is ``f(x)``. ``ig.delta`` is the quadrature error: how far
# the attributions' sum is from ``ig.output``. It shrinks with more steps.

ig = explanations["integrated gradients"]
print("f(x)               ", model(x)[range(len(y)), y].detach())
print("baseline + output  ", ig.baseline + ig.output)
print("f(x) - f(baseline) ", ig.output)
print("sum of attributions", ig.relevance_sum)
for steps in (4, 16, 64):
    e = xaikit.explain(model, x, y, method="integrated_gradients", steps=steps)
    print(steps, "steps: largest relative gap", float(e.relative_delta.max()))

# %%
# A reference distribution instead of one baseline
# ------------------------------------------------
#
# Expected gradients (``gradient_shap``) integrates from baselines drawn from a data set.

x_train, _, _, _ = load_digits_split()
eg = xaikit.explain(model, x, y, method="expected_gradients", baselines=x_train[:64], samples=32)
fig_eg = xaikit.plot.grid({"integrated gradients": ig, "expected gradients": eg})
