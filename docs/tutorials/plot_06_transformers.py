"""
Transformers
============

Relevance propagation through attention: AttnLRP (``composite="attnlrp"``) and CP-LRP
(``composite="cp_lrp"``) on Hugging Face models, beside the attention-rollout baseline.
The models are built from small configurations with random weights (nothing is
downloaded), so the heatmaps show the mechanics, not linguistics; with a trained model the
calls are the same.
"""

import torch
import transformers

import xaikit

transformers.logging.set_verbosity_error()
generator = torch.Generator().manual_seed(0)
token_ids = torch.randint(1, 50, (3, 8), generator=generator)

# %%
# A BERT classifier
# -----------------
#
# Integer token ids are explained at the embedding that reads them: one relevance per
# token (the per-dimension relevance is in ``extras["embedding_relevance"]``).
# ``output="logits"`` picks the logits out of the model's ``ModelOutput``.

torch.manual_seed(0)
config = transformers.BertConfig(
    vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
    intermediate_size=32, max_position_embeddings=16, num_labels=3,
)
bert = transformers.BertForSequenceClassification(config).eval()

attnlrp = xaikit.explain(bert, token_ids, target=1, method="lrp", composite="attnlrp", output="logits")
cp_lrp = xaikit.explain(bert, token_ids, target=1, method="lrp", composite="cp_lrp", output="logits")
rollout = xaikit.explain(bert, token_ids, target=1, method="attention_rollout", output="logits")
print(attnlrp.attribution.shape)  # (3, 8): relevance per token
print("explained logit  ", attnlrp.output)
print("sum of relevance ", attnlrp.relevance_sum)

# %%
# One row per method for the first sequence (tokens shown by their ids). BERT classifies
# from the first position's hidden state, and in this untrained model, whose attention is
# nearly uniform, the residual path carries most of the relevance back to that token; the
# rollout of the attention weights spreads it more evenly.

tokens = [[str(int(t)) for t in token_ids[0]]] * 3
rows = torch.stack([attnlrp.attribution[0], cp_lrp.attribution[0], rollout.attribution[0]])
axes = xaikit.plot.token_relevance(tokens, rows.detach(), row_labels=["AttnLRP", "CP-LRP", "rollout"])

# %%
# The next token of a language model
# ----------------------------------
#
# ``output=xaikit.NextToken(position)`` explains the prediction of the token after a
# position (the predicted token by default). In a causal model the tokens after the
# position get exactly zero relevance.

torch.manual_seed(0)
gpt2 = transformers.GPT2LMHeadModel(transformers.GPT2Config(
    vocab_size=50, n_embd=16, n_layer=2, n_head=2, n_positions=16, bos_token_id=0, eos_token_id=0,
)).eval()
nxt = xaikit.explain(gpt2, token_ids, None, method="lrp", composite="attnlrp", output=xaikit.NextToken(4))
print("predicted next tokens:", nxt.target)
print("largest relevance after position 4:", float(nxt.attribution[:, 5:].abs().max()))
lm = xaikit.plot.token_relevance([[str(int(t)) for t in ids] for ids in token_ids],
                                 nxt.attribution.detach(), title="relevance for the token after position 4")
