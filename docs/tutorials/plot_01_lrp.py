"""
Layer-wise relevance propagation
================================

LRP redistributes the explained logit backwards, layer by layer, onto the input pixels.
*Which* redistribution rule each layer uses is set by a *composite*; this tutorial
compares the presets on the digits CNN, builds a composite by hand, and checks
conservation: the relevance sums to the explained output, up to what the biases and
stabilizers absorb (``Explanation.delta``).
"""

import copy

import torch

import xaikit
from xaikit.lrp import Composite, Epsilon, FirstLayer, Gamma, Kind, ZBox
from xaikit.models import digits_cnn, load_digits_split

model = digits_cnn()
_, _, x, y = load_digits_split()
x, y = x[:6], y[:6]

# %%
# Presets
# -------
#
# ``xaikit.lrp.composites()`` lists the named composites. ``epsilon_gamma_box`` uses the
# box rule ZB on the first layer, which needs the input range (here ``[0, 1]``).

print(xaikit.lrp.composites())
presets = {
    "LRP-0": xaikit.explain(model, x, y, method="lrp", composite="lrp0"),
    "epsilon-plus": xaikit.explain(model, x, y, method="lrp", composite="epsilon_plus"),
    "epsilon-gamma-box": xaikit.explain(model, x, y, method="lrp", composite="epsilon_gamma_box",
                                        composite_options={"low": 0.0, "high": 1.0}),
    "alpha2-beta1": xaikit.explain(model, x, y, method="lrp", composite="epsilon_alpha2_beta1"),
}
fig = xaikit.plot.grid(presets)

# %%
# A composite by hand
# -------------------
#
# A :class:`~xaikit.rules.Composite` is an ordered list of ``(matcher, rule)`` pairs; the
# first pair that matches a layer decides. Matchers select by kind (``Kind("conv")``),
# position (:class:`~xaikit.rules.FirstLayer`), module type or module name.

mine = Composite([
    (FirstLayer(), ZBox(low=0.0, high=1.0)),
    (Kind("conv"), Gamma(0.25)),
    (Kind("dense"), Epsilon(0.25, relative=False)),
])
custom = xaikit.explain(model, x, y, method="lrp", composite=mine)
fig_custom = xaikit.plot.grid({"hand-made": custom}, x)

# %%
# Conservation
# ------------
#
# Every explanation records the explained output and ``delta``, the part of it that the
# relevance of the inputs does not carry (absorbed by biases and stabilizers), so that
# ``relevance_sum + delta == output``:

e = presets["epsilon-plus"]
print(e.output)
print(e.relevance_sum + e.delta)

# %%
# Without biases, and with the stabilizers set to zero, LRP-0 conserves exactly: the
# relevance of the pixels sums to the logit (here in float64, to round-off).

bias_free = copy.deepcopy(model).double()
with torch.no_grad():
    for name, parameter in bias_free.named_parameters():
        if name.endswith("bias"):
            parameter.zero_()
exact = Composite([(Kind("conv", "dense"), Epsilon(0.0))])
conserved = xaikit.explain(bias_free, x.double(), y, method="lrp", composite=exact)
print(conserved.relative_delta.max())  # |f(x) - sum R| / |f(x)|, at the float64 round-off
