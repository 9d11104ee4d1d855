"""
Inside the network: layers, concepts and neurons
================================================

LRP's relevance exists at every layer, not only at the input. This tutorial reads it off
named layers in the same backward pass, conditions it on single channels (concept
relevance propagation, CRP), finds the digits where a channel is most *relevant* rather
than most *active*, and attributes to neurons with conductance.
"""

import xaikit
from xaikit.concepts import reference_samples
from xaikit.gradients import layer_conductance
from xaikit.models import digits_cnn, load_digits_split

model = digits_cnn()
_, _, x, y = load_digits_split()
print([name for name, _ in model.named_modules() if name])

# %%
# Relevance at named layers
# -------------------------
#
# ``layers=`` returns the relevance at each named module's output; each layer's sum is the
# explained logit minus what the layers above absorbed (their biases).

e = xaikit.explain(model, x[:4], y[:4], method="lrp", layers=["features.1", "features.3", "classifier.1"])
for name in e.layers:
    print(name, tuple(e.layer_relevance(name).shape), e.layer_relevance(name).flatten(1).sum(1))
print("explained logits", e.output)
fig = xaikit.plot.layer_relevance_profile(e)

# %%
# Concepts: one heatmap per channel
# ---------------------------------
#
# CRP masks the relevance at a layer to chosen channels and propagates on. The most
# relevant channels of the first digit, each with its own heatmap on three digits, all from
# one batched backward pass; over all channels the maps add up to the LRP heatmap.

crp = xaikit.explain(model, x[:3], y[:3], method="crp", layer="features.3", per_concept=True)
ranking = crp.extras["concept_relevance"][0].argsort(descending=True)[:4]
fig = xaikit.plot.concept_heatmaps(crp, concepts=ranking.tolist())
lrp = xaikit.explain(model, x[:3], y[:3], method="lrp")
print("completeness:", float((crp.extras["conditional_relevance"].sum(1) - lrp.attribution).abs().max()))

# %%
# Reference samples: relevance versus activation maximization
# ------------------------------------------------------------
#
# For every channel, the test digits where it is most relevant for the predicted class,
# and those where it fires most. Where the two differ, a channel fires on something the
# output does not use.

refs = reference_samples(model, x[:200], "features.3", top_k=6, progress=False)
print("top-6 overlap of the two rankings, first 8 channels:", refs.overlap()[:8])
top = ranking[:3].tolist()
fig = xaikit.plot.reference_gallery(refs, x, top, heatmaps={c: refs.heatmaps(model, x, c).attribution for c in top})
fig = xaikit.plot.reference_gallery(refs, x, top, by="activation")

# %%
# Conductance of a layer's neurons
# --------------------------------
#
# Layer conductance splits ``f(x) - f(baseline)`` among a layer's neurons along the path
# from the baseline; summed over the layer (the total conductance) it recovers that
# difference up to the discretization error.

cond = layer_conductance(model, x[:4], y[:4], layer="features.3", steps=32)
print("total conductance", cond.total)
print("f(x) - f(0)      ", cond.output - cond.baseline_output)
print("error            ", cond.delta)
