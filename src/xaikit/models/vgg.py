"""VGG-16 (configuration D) adapted to small inputs."""

from __future__ import annotations

import torch
from torch import nn

from ._common import init_weights, scaled_channels

__all__ = ["VGG", "VGG16_CONFIG", "vgg16"]

#: VGG configuration "D": output channels of the 13 convolutions, ``"M"`` = max-pool.
VGG16_CONFIG: tuple[int | str, ...] = (
    64, 64, "M",
    128, 128, "M",
    256, 256, 256, "M",
    512, 512, 512, "M",
    512, 512, 512, "M",
)  # fmt: skip


class VGG(nn.Module):
    """VGG network without the adaptive average pool of torchvision.

    Parameters
    ----------
    features : torch.nn.Sequential
        Convolutional part.
    num_flat : int
        Number of flattened features produced by ``features``.
    num_classes : int
        Number of output logits.
    hidden : int, default 4096
        Width of the two hidden fully connected layers.
    dropout : float, default 0.5
        Dropout probability in the classifier.

    Attributes
    ----------
    features : torch.nn.Sequential
        Convolutions (each followed by ``ReLU(inplace=True)``) and max-pools.
    classifier : torch.nn.Sequential
        ``Linear -> ReLU -> Dropout -> Linear -> ReLU -> Dropout -> Linear``.
    """

    def __init__(
        self,
        features: nn.Sequential,
        num_flat: int,
        num_classes: int,
        hidden: int = 4096,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        self.features = features
        self.classifier = nn.Sequential(
            nn.Linear(num_flat, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )
        init_weights(self, linear_std=0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Compute logits.

        Parameters
        ----------
        x : torch.Tensor
            Images of shape ``(N, C, H, W)`` matching the construction size.

        Returns
        -------
        torch.Tensor
            Logits of shape ``(N, num_classes)``.
        """
        x = self.features(x)
        x = torch.flatten(x, 1)
        out: torch.Tensor = self.classifier(x)
        return out


def vgg16(
    num_classes: int = 1000,
    in_channels: int = 3,
    input_size: int = 64,
    width: float = 1.0,
    batch_norm: bool = False,
) -> VGG:
    """Build a VGG-16 (configuration D) for small square inputs.

    Thirteen 3x3 convolutions (padding 1) with ``ReLU(inplace=True)`` and
    five 2x2 max-pools, then three fully connected layers. With the default
    ``input_size=64`` and ``width=1`` the feature map is 512x2x2, i.e. the
    first linear layer has 2048 inputs.

    Parameters
    ----------
    num_classes : int, default 1000
        Number of output logits.
    in_channels : int, default 3
        Number of input channels.
    input_size : int, default 64
        Spatial size of the (square) inputs; must be a positive multiple of 32.
    width : float, default 1.0
        Multiplier for all channel counts and hidden widths (e.g. 0.125 for
        fast tests).
    batch_norm : bool, default False
        Insert ``BatchNorm2d`` between each convolution and its ReLU.

    Returns
    -------
    VGG
        The randomly initialised network (Kaiming init for convolutions).

    Raises
    ------
    ValueError
        If ``input_size`` is not a positive multiple of 32 or ``width <= 0``.
    """
    if input_size < 32 or input_size % 32 != 0:
        raise ValueError(f"input_size must be a positive multiple of 32, got {input_size}")
    if width <= 0:
        raise ValueError(f"width must be positive, got {width}")
    layers: list[nn.Module] = []
    prev = in_channels
    for v in VGG16_CONFIG:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        assert isinstance(v, int)
        ch = scaled_channels(v, width)
        layers.append(nn.Conv2d(prev, ch, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(ch))
        layers.append(nn.ReLU(inplace=True))
        prev = ch
    spatial = input_size // 32
    num_flat = prev * spatial * spatial
    return VGG(nn.Sequential(*layers), num_flat, num_classes, hidden=scaled_channels(4096, width))
