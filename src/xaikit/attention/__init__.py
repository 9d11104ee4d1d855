"""Explanations read off a transformer's attention: attention rollout and gradient-weighted attention.

The baselines practitioners compare relevance propagation with (Abnar and Zuidema, 2020;
Chefer et al., 2021). The attention weights are recorded from the model's own softmax calls
(fused ``scaled_dot_product_attention`` and ``nn.MultiheadAttention`` are run as explicit
attention), so any model works without patches.
"""

from xaikit.attention.methods import AttentionRollout, GradientWeightedAttention
from xaikit.attention.recording import AttentionRecorder, record_attention

__all__ = ["AttentionRecorder", "AttentionRollout", "GradientWeightedAttention", "record_attention"]
