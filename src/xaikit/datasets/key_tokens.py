"""A synthetic text classification task whose label is decided by known key tokens.

Vocabulary: ``PAD`` (0), ``CLS`` (1), four positive key tokens, four negative key tokens
and filler tokens. Every sequence starts with ``CLS``; key tokens sit at random positions
among filler tokens, and the class is decided by counting them: 1 when the positive keys
outnumber the negative ones, 0 when the negative keys do, even odds on a tie (no key at
all included). ``PAD`` occurs among the filler in training, so replacing a token by
``PAD`` deletes it. The decisive tokens of each sequence are known, which makes the
faithfulness of a token attribution checkable: the test suite and the demo use it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

__all__ = [
    "CLS", "LENGTH", "NEGATIVE", "PAD", "POSITIVE", "VOCAB", "TextClassifier", "deletion_curve", "make_task",
    "token_names", "train_classifier", "training_batch",
]

PAD, CLS = 0, 1
POSITIVE = (2, 3, 4, 5)
NEGATIVE = (6, 7, 8, 9)
FIRST_FILLER = 10
VOCAB = 30
LENGTH = 12


def make_task(
    n: int, generator: torch.Generator, positive: Tensor | int = 1, negative: Tensor | int = 0
) -> tuple[Tensor, Tensor, Tensor]:
    """``n`` sequences ``(n, LENGTH)`` with ``positive`` and ``negative`` key tokens each.

    Counts are numbers or ``(n,)`` tensors; each sequence's class is 1 when it holds
    more positive keys, 0 when more negative ones (a tie gives 0.5: no evidence either
    way). Returns the ids, the probability of class 1 and the key mask ``(n, LENGTH)``
    (+1 at positive keys, -1 at negative keys, 0 elsewhere).
    """
    positive = torch.as_tensor(positive).expand(n)
    negative = torch.as_tensor(negative).expand(n)
    ids = torch.randint(FIRST_FILLER, VOCAB, (n, LENGTH), generator=generator)
    ids[:, 0] = CLS
    slots = torch.rand(n, LENGTH - 1, generator=generator).argsort(dim=1) + 1
    rank = torch.arange(LENGTH - 1).expand(n, -1)
    sign = torch.zeros(n, LENGTH, dtype=torch.long)
    sign.scatter_(
        1,
        slots,
        (rank < positive[:, None]).long()
        - ((rank >= positive[:, None]) & (rank < (positive + negative)[:, None])).long(),
    )
    pos_key = torch.tensor(POSITIVE)[
        torch.randint(0, len(POSITIVE), (n, LENGTH), generator=generator)
    ]
    neg_key = torch.tensor(NEGATIVE)[
        torch.randint(0, len(NEGATIVE), (n, LENGTH), generator=generator)
    ]
    ids = torch.where(sign > 0, pos_key, torch.where(sign < 0, neg_key, ids))
    label = 0.5 * (1 + torch.sign(positive - negative).to(torch.get_default_dtype()))
    return ids, label, sign


def training_batch(n: int, generator: torch.Generator, max_keys: int = 4) -> tuple[Tensor, Tensor]:
    """Sequences with 0 to ``max_keys`` keys of random signs, some filler replaced by ``PAD``."""
    keys = torch.randint(0, max_keys + 1, (n,), generator=generator)
    positive = (torch.rand(n, generator=generator) * (keys + 1)).long().clamp(max=keys)
    ids, label, sign = make_task(n, generator, positive, keys - positive)
    pad = (torch.rand(ids.shape, generator=generator) < 0.1) & (sign == 0)
    pad[:, 0] = False
    return ids.masked_fill(pad, PAD), torch.stack([1 - label, label], dim=1)


class TextClassifier(nn.Module):
    """A small transformer encoder read at the ``CLS`` position; one ``nn.Embedding``."""

    def __init__(self, d: int = 32, heads: int = 2, layers: int = 1) -> None:
        super().__init__()
        self.embedding = nn.Embedding(VOCAB, d)
        self.position = nn.Parameter(0.02 * torch.randn(LENGTH, d))
        layer = nn.TransformerEncoderLayer(
            d, heads, dim_feedforward=2 * d, dropout=0.0, batch_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d, 2)

    def forward(self, ids: Tensor) -> Tensor:
        x = self.encoder(self.embedding(ids) + self.position[: ids.shape[1]])
        return self.head(x[:, 0])


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def train_classifier(
    seed: int = 0, steps: int = 300, batch: int = 64, **kwargs: int
) -> TextClassifier:
    """Train a :class:`TextClassifier` on fresh batches, leaving the global RNG untouched."""
    with _seeded(seed):
        model = TextClassifier(**kwargs)
        gen = torch.Generator().manual_seed(seed + 1)
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        loss_fn = nn.CrossEntropyLoss()
        model.train()
        for _ in range(steps):
            ids, target = training_batch(batch, gen)
            opt.zero_grad()
            loss_fn(model(ids), target).backward()
            opt.step()
    return model.eval()


def deletion_curve(
    model: nn.Module, ids: Tensor, scores: Tensor, target: Tensor, fill: int = PAD
) -> Tensor:
    """Probability of ``target`` as tokens are replaced by ``fill``, most relevant first.

    ``CLS`` (position 0) is never deleted; returns ``(N, LENGTH)``: column ``k`` after
    ``k`` deletions.
    """
    order = scores[:, 1:].argsort(dim=1, descending=True) + 1
    current = ids.clone()
    rows = torch.arange(ids.shape[0])
    probs = []
    with torch.no_grad():
        for k in range(ids.shape[1]):
            if k:
                current[rows, order[:, k - 1]] = fill
            probs.append(torch.softmax(model(current), dim=-1)[rows, target])
    return torch.stack(probs, dim=1)


def token_names(ids: Tensor) -> list[list[str]]:
    """Readable names of token ids: ``[CLS]``, ``[PAD]``, ``+k`` / ``-k`` for the keys, ``wN`` for fillers."""

    def name(i: int) -> str:
        if i == CLS:
            return "[CLS]"
        if i == PAD:
            return "[PAD]"
        if i in POSITIVE:
            return f"+{POSITIVE.index(i) + 1}"
        if i in NEGATIVE:
            return f"-{NEGATIVE.index(i) + 1}"
        return f"w{i}"

    return [[name(int(i)) for i in row] for row in ids]
