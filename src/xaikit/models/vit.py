"""A small vision transformer (ViT, Dosovitskiy et al., 2021) written with PyTorch's own layers."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["VisionTransformer"]


class VisionTransformer(nn.Module):
    """Patches embedded by a strided convolution, a class token, pre-norm encoder layers, a linear head.

    Parameters
    ----------
    image_size : int
        Side of the square input images.
    patch_size : int
        Side of the square patches (``image_size`` must be a multiple).
    in_channels : int
        Channels of the images.
    dim : int
        Width of the tokens.
    depth : int
        Encoder layers (``nn.TransformerEncoderLayer``, ``norm_first=True``, GELU).
    heads : int
        Attention heads per layer.
    num_classes : int
        Outputs of the head (read at the class token).
    """

    def __init__(
        self, image_size: int = 8, patch_size: int = 2, in_channels: int = 1, dim: int = 32, depth: int = 2,
        heads: int = 4, num_classes: int = 10,
    ) -> None:
        super().__init__()
        if image_size % patch_size:
            raise ValueError(f"image_size={image_size} is not a multiple of patch_size={patch_size}")
        self.patches = nn.Conv2d(in_channels, dim, kernel_size=patch_size, stride=patch_size)
        count = (image_size // patch_size) ** 2
        self.class_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.positions = nn.Parameter(0.02 * torch.randn(1, count + 1, dim))
        layer = nn.TransformerEncoderLayer(dim, heads, 2 * dim, dropout=0.0, activation="gelu", batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, num_classes)`` of images ``(N, C, H, W)``."""
        tokens = self.patches(x).flatten(2).transpose(1, 2)
        tokens = torch.cat([self.class_token.expand(len(x), -1, -1), tokens], dim=1) + self.positions
        return self.head(self.norm(self.encoder(tokens))[:, 0])
