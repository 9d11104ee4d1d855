"""Models as the methods need them: one output tensor, real-valued inputs.

- :class:`SelectedOutput` explains one entry of a model that returns a dict, a tuple or a
  Hugging Face ``ModelOutput`` (``output="logits"``, an index, or a callable).
- :class:`NextToken` is the selector of a language model's prediction of the token after
  a chosen position (``output=xaikit.NextToken(-1)``; the target is then a token id, the
  predicted one by default).
- :class:`EmbeddedInputs` explains a model taking integer token ids at its embedding:
  the methods see the embedding's output (real-valued), and the relevance of each token
  is the sum over its embedding dimensions.

Both are modules that wrap the user's model without copying or changing it; the engine
names the layers by the wrapped model's own module names (:attr:`xaikit_wrapped`).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from xaikit.core.probe import probe_key
from xaikit.utils.errors import InputError, ModelOutputError

__all__ = ["EmbeddedInputs", "NextToken", "OutputSelector", "SelectedOutput", "find_token_embedding", "unwrapped"]

OutputSelector = str | int | Callable[[Any], Tensor]


@dataclass(frozen=True)
class NextToken:
    """Output selector: a language model's logits for the token after ``position``.

    For a causal language model (``GPT2LMHeadModel``, ``LlamaForCausalLM``, or any model
    returning logits ``(N, T, vocabulary)``, as a tensor, a dict or a ``ModelOutput``) the
    prediction at ``position`` is the next-token distribution given the tokens up to it;
    with ``output=NextToken(p)`` the target is a token id (or one per sequence), the
    predicted token by default.

    Parameters
    ----------
    position : int
        The position whose prediction is explained; negative counts from the end
        (``-1``: the token after the last one).

    Examples
    --------
    >>> import xaikit
    >>> selector = xaikit.NextToken(-1)
    >>> selector
    NextToken(position=-1)
    """

    position: int = -1

    def __call__(self, out: Any) -> Tensor:
        logits = out
        if isinstance(out, dict) and "logits" in out:
            logits = out["logits"]
        elif not isinstance(out, Tensor) and hasattr(out, "logits"):
            logits = out.logits
        if not isinstance(logits, Tensor) or logits.ndim != 3:
            shape = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
            raise ModelOutputError(
                f"NextToken needs logits of shape (N, T, vocabulary), the model returned {shape}; "
                "for a classifier use output='logits' (or no output selector)"
            )
        length = logits.shape[1]
        if not -length <= self.position < length:
            raise InputError(
                f"NextToken(position={self.position}) is outside the sequences of length {length}; "
                f"pass a position in [-{length}, {length - 1}]"
            )
        return logits[:, self.position]


def unwrapped(model: Any) -> Any:
    """The user's model inside any xaikit wrappers."""
    while isinstance(model, SelectedOutput | EmbeddedInputs):
        model = model.xaikit_wrapped
    return model


class SelectedOutput(nn.Module):
    """``model`` with its output narrowed to ``output`` (a key, attribute, index or callable).

    Parameters
    ----------
    model : callable
        The model.
    output : str, int or callable
        ``"logits"`` reads ``out["logits"]`` or ``out.logits`` (``ModelOutput`` and dicts);
        an int indexes a tuple; a callable maps the output to one tensor.
    """

    def __init__(self, model: Callable[..., Any], output: OutputSelector) -> None:
        super().__init__()
        self.xaikit_wrapped = model
        self.output = output

    def forward(self, x: Tensor) -> Tensor:
        out = self.xaikit_wrapped(x)
        selector = self.output
        if callable(selector):
            return selector(out)
        if isinstance(selector, int):
            return out[selector]
        if isinstance(out, dict) and selector in out:
            value: Tensor = out[selector]
            return value
        if hasattr(out, selector):
            value = getattr(out, selector)
            return value
        keys = list(out.keys()) if isinstance(out, dict) else [k for k in dir(out) if not k.startswith("_")][:10]
        raise ModelOutputError(f"output={selector!r}: the model's output has no such entry; it has {keys}")


def find_token_embedding(model: Callable[..., Any], ids: Tensor) -> nn.Embedding | nn.EmbeddingBag:
    """The embedding module that reads the token ids ``ids`` (one forward pass on the first sample).

    The answer is remembered per module and input signature, as the model probe's
    (:func:`~xaikit.core.probe.probe_key`): a changed module is looked at again.

    Raises
    ------
    InputError
        If the model has no embedding reading the ids, or several do (the ids would then
        reach the model otherwise than through one embedding, and cannot be replaced).
    """
    key = probe_key(model, ids)
    known = None if key is None else _EMBEDDINGS.get(key[0], {}).get(key[1])
    if known is not None:
        return known
    embedding = _find_token_embedding(model, ids)
    if key is not None:
        remembered = _EMBEDDINGS.setdefault(key[0], {})
        if len(remembered) >= 64:
            remembered.clear()
        remembered[key[1]] = embedding
    return embedding


#: The embedding found per module and input signature (:func:`~xaikit.core.probe.probe_key`).
_EMBEDDINGS: weakref.WeakKeyDictionary[nn.Module, dict[Hashable, nn.Embedding | nn.EmbeddingBag]] = (
    weakref.WeakKeyDictionary()
)


def _find_token_embedding(model: Callable[..., Any], ids: Tensor) -> nn.Embedding | nn.EmbeddingBag:
    root = unwrapped(model)
    modules = [m for m in root.modules() if isinstance(m, nn.Embedding | nn.EmbeddingBag)] if isinstance(root, nn.Module) else []
    if not modules:
        raise InputError(
            f"inputs are {ids.dtype} values but the model has no nn.Embedding to read token ids; convert "
            "real-valued data with .float(), or pass a model that embeds its ids with nn.Embedding"
        )
    probe = ids[:1]
    readers: list[nn.Module] = []
    handles = [
        m.register_forward_pre_hook(lambda module, args: readers.append(module) if args and _views(args[0], probe) else None)
        for m in modules
    ]
    try:
        with torch.no_grad():
            model(probe)
    finally:
        for handle in handles:
            handle.remove()
    if len(readers) != 1:
        names = {id(m): n for n, m in root.named_modules()}
        found = ", ".join(repr(names.get(id(m), type(m).__name__)) for m in readers) or "none"
        raise InputError(
            f"the token ids reach {len(readers)} embedding(s) directly ({found}); xaikit explains ids "
            "through exactly one embedding: explain the embedded inputs yourself, passing "
            "embedding(ids) to the part of the model after the embeddings"
        )
    embedding: nn.Embedding | nn.EmbeddingBag = readers[0]  # type: ignore[assignment]
    return embedding


def _views(t: Any, ids: Tensor) -> bool:
    """Whether ``t`` is ``ids`` or a view of all of it (GPT-2 embeds ``input_ids.view(-1, T)``)."""
    return t is ids or (
        isinstance(t, Tensor) and t.data_ptr() == ids.data_ptr() and t.numel() == ids.numel() and t.dtype == ids.dtype
    )


class EmbeddedInputs(nn.Module):
    """``model`` taking the output of its token ``embedding`` instead of the ids.

    Calling it with embeddings ``(N, T, D)`` runs the model on placeholder ids with the
    embedding's output replaced by them; the ids must reach the model only through that
    embedding (:func:`find_token_embedding` checks that one embedding reads them).
    """

    def __init__(self, model: Callable[..., Any], embedding: nn.Embedding | nn.EmbeddingBag) -> None:
        super().__init__()
        self.xaikit_wrapped = model
        self.embedding = embedding

    def forward(self, embeds: Tensor) -> Tensor:
        ids = torch.zeros(embeds.shape[:-1], dtype=torch.long, device=embeds.device)
        handle = self.embedding.register_forward_hook(lambda module, args, out: embeds)
        try:
            out: Tensor = self.xaikit_wrapped(ids)
        finally:
            handle.remove()
        return out

    def embed(self, ids: Tensor) -> Tensor:
        """The embedding of ``ids`` (no graph)."""
        with torch.no_grad():
            out: Tensor = self.embedding(ids)
        return out.detach()
