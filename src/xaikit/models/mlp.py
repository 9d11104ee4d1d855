"""Multi-layer perceptron reference architecture."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

__all__ = ["ACTIVATIONS", "MLP", "make_activation"]

#: Activation names accepted by :class:`MLP`, mapped to module factories.
ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "softplus": nn.Softplus,
    "silu": nn.SiLU,
    "identity": nn.Identity,
}


def make_activation(name: str) -> nn.Module:
    """Create a fresh activation module from its name.

    Parameters
    ----------
    name : str
        One of the keys of :data:`ACTIVATIONS` (case-insensitive).

    Returns
    -------
    torch.nn.Module
        A new activation module.

    Raises
    ------
    ValueError
        If the name is unknown.
    """
    key = name.lower().replace("-", "_")
    try:
        factory = ACTIVATIONS[key]
    except KeyError:
        known = ", ".join(sorted(ACTIVATIONS))
        raise ValueError(f"unknown activation {name!r}; expected one of: {known}") from None
    return factory()


class MLP(nn.Module):
    """Fully connected network: ``Linear -> activation -> ... -> Linear``.

    Parameters
    ----------
    in_features : int
        Number of input features.
    hidden : Sequence[int], default (64, 64)
        Width of each hidden layer; an empty sequence gives a linear model.
    out_features : int, default 3
        Number of outputs (e.g. classes).
    activation : str, default "relu"
        Name of the activation placed after every hidden layer, see
        :data:`ACTIVATIONS`.
    bias : bool, default True
        Whether the linear layers have a bias.

    Attributes
    ----------
    net : torch.nn.Sequential
        The layers, alternating :class:`torch.nn.Linear` and activation
        modules, ending with a linear layer (no final activation).

    Examples
    --------
    >>> model = MLP(4, hidden=(8,), out_features=2)
    >>> model(torch.zeros(5, 4)).shape
    torch.Size([5, 2])
    """

    def __init__(
        self,
        in_features: int,
        hidden: Sequence[int] = (64, 64),
        out_features: int = 3,
        activation: str = "relu",
        bias: bool = True,
    ) -> None:
        super().__init__()
        if in_features < 1 or out_features < 1 or any(h < 1 for h in hidden):
            raise ValueError("all layer sizes must be positive integers")
        make_activation(activation)  # validate the name early
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.hidden = tuple(int(h) for h in hidden)
        self.activation = activation
        layers: list[nn.Module] = []
        width = self.in_features
        for h in self.hidden:
            layers.append(nn.Linear(width, h, bias=bias))
            layers.append(make_activation(activation))
            width = h
        layers.append(nn.Linear(width, self.out_features, bias=bias))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the network.

        Parameters
        ----------
        x : torch.Tensor
            Input of shape ``(N, in_features)``; extra trailing dimensions
            are flattened.

        Returns
        -------
        torch.Tensor
            Output of shape ``(N, out_features)``.
        """
        if x.dim() > 2:
            x = torch.flatten(x, 1)
        out: torch.Tensor = self.net(x)
        return out
