"""The kinds of operation a propagation rule can be assigned to."""

from __future__ import annotations

from enum import Enum


class OpKind(str, Enum):
    """How relevance crosses an operation, as seen by the engine and by composites.

    A ``str`` enum: ``OpKind("conv")`` parses a name (a misspelt one raises) and
    ``OpKind.CONV == "conv"`` holds.
    """

    #: ``F.linear`` and matrix products with a constant operand.
    DENSE = "dense"
    #: ``F.conv1d/2d/3d``.
    CONV = "conv"
    #: ``F.conv_transpose1d/2d/3d``.
    CONV_TRANSPOSE = "conv_transpose"
    #: Elementwise non-linearities (ReLU, GELU, tanh, clamp, ...).
    ACTIVATION = "activation"
    #: Multiplication or division by a constant, negation.
    SCALE = "scale"
    #: Parameter-free linear maps mixing several inputs: ``+``, sums, means, average pools,
    #: linear interpolation, normalization layers not merged into a linear layer.
    SUM = "sum"
    #: Max-pooling (routed by its natural gradient unless a rule is assigned).
    MAX_POOL = "max_pool"
    #: Products of two or more tensors that carry relevance: elementwise (a gate times a
    #: state, ``x * sigmoid(x)``) or matrix products (``Q @ K.T``, ``A @ V``, ``einsum``).
    PRODUCT = "product"
    #: Softmax (attention weights): refused unless a rule is assigned.
    SOFTMAX = "softmax"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, kind: str | OpKind) -> OpKind:
        """``kind`` as an :class:`OpKind`; a name that is not a kind raises ``ValueError`` listing them."""
        try:
            return cls(kind)
        except ValueError:
            names = ", ".join(repr(k.value) for k in cls)
            raise ValueError(f"unknown operation kind {kind!r}; the kinds are {names}") from None


#: Parametric linear layers: their rules implement ``propagate(op, a)``.
LAYER_KINDS: frozenset[OpKind] = frozenset({OpKind.DENSE, OpKind.CONV, OpKind.CONV_TRANSPOSE})
#: Parameter-free operations: their rules implement ``propagate_elementwise(call, graphs, value)``.
ELEMENTWISE_KINDS: frozenset[OpKind] = frozenset(
    {OpKind.ACTIVATION, OpKind.SCALE, OpKind.SUM, OpKind.MAX_POOL, OpKind.PRODUCT, OpKind.SOFTMAX}
)
#: Every kind.
ALL_KINDS: frozenset[OpKind] = LAYER_KINDS | ELEMENTWISE_KINDS


def kind_names(kinds: frozenset[OpKind] | set[OpKind]) -> str:
    """``"'conv', 'dense'"``: the kinds sorted by name, for messages."""
    return ", ".join(repr(k.value) for k in sorted(kinds, key=lambda k: k.value))
