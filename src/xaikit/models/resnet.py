"""ResNet-50-style network with bottleneck blocks, for small inputs.

The blocks deliberately use *functional* ReLUs and a plain ``+`` for the
residual connection, so explainers must cope with operations that are not
modules.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ._common import append_doc_sections, init_weights, scaled_channels

__all__ = ["Bottleneck", "ResNet", "resnet50", "resnet_small"]

# Shared by the factories; the defaults are filled in from each one's signature.
_FACTORY_SECTIONS = """\
Parameters
----------
num_classes : int, default {num_classes}
    Number of output logits.
in_channels : int, default {in_channels}
    Number of input channels.
width : float, default {width}
    Multiplier of all channel counts.
layers : Sequence[int], default {layers}
    Blocks per stage.
stem_pool : bool, default {stem_pool}
    Add a max-pool after the stem (for larger inputs).

Returns
-------
ResNet
    The randomly initialised network.
"""


class Bottleneck(nn.Module):
    """Bottleneck residual block ``1x1 -> 3x3 -> 1x1`` with expansion 4.

    Parameters
    ----------
    inplanes : int
        Input channels.
    planes : int
        Bottleneck channels; the block outputs ``planes * expansion``.
    stride : int, default 1
        Stride of the 3x3 convolution.
    downsample : torch.nn.Module or None, default None
        Projection applied to the input for the residual branch when the
        shape changes; ``None`` means identity.

    Notes
    -----
    ``forward`` computes ``relu(bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x)))))))) + identity)``
    with :func:`torch.nn.functional.relu` and a plain tensor ``+``.
    """

    expansion: int = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
    ) -> None:
        super().__init__()
        out_planes = planes * self.expansion
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_planes, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block.

        Parameters
        ----------
        x : torch.Tensor
            Input of shape ``(N, inplanes, H, W)``.

        Returns
        -------
        torch.Tensor
            Output of shape ``(N, planes * 4, H / stride, W / stride)``.
        """
        identity = x
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out = out + identity
        return F.relu(out)


class ResNet(nn.Module):
    """ResNet with bottleneck blocks and a small-input stem.

    Parameters
    ----------
    layers : Sequence[int]
        Number of blocks in each of the four stages.
    num_classes : int, default 1000
        Number of output logits.
    in_channels : int, default 3
        Number of input channels.
    width : float, default 1.0
        Multiplier of all channel counts (64, 128, 256, 512 bottleneck planes).
    stem_pool : bool, default False
        Add a 3x3 stride-2 max-pool after the stem.
    zero_init_residual : bool, default False
        Initialise the last BN of each block with zero scale.

    Attributes
    ----------
    conv1, bn1 : torch.nn.Module
        Stem: 3x3 stride-1 convolution and batch norm (followed by
        functional ReLU).
    maxpool : torch.nn.Module
        ``MaxPool2d`` or ``Identity`` depending on ``stem_pool``.
    layer1, layer2, layer3, layer4 : torch.nn.Sequential
        Stages of :class:`Bottleneck` blocks (strides 1, 2, 2, 2).
    avgpool : torch.nn.AdaptiveAvgPool2d
        Global average pool.
    fc : torch.nn.Linear
        Final classifier.
    """

    def __init__(
        self,
        layers: Sequence[int],
        num_classes: int = 1000,
        in_channels: int = 3,
        width: float = 1.0,
        stem_pool: bool = False,
        zero_init_residual: bool = False,
    ) -> None:
        super().__init__()
        if len(layers) != 4 or any(n < 1 for n in layers):
            raise ValueError(f"layers must be four positive integers, got {tuple(layers)}")
        if width <= 0:
            raise ValueError(f"width must be positive, got {width}")
        self.inplanes = scaled_channels(64, width)
        self.conv1 = nn.Conv2d(
            in_channels, self.inplanes, kernel_size=3, stride=1, padding=1, bias=False
        )
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.maxpool: nn.Module = (
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1) if stem_pool else nn.Identity()
        )
        planes = [scaled_channels(p, width) for p in (64, 128, 256, 512)]
        self.layer1 = self._make_layer(planes[0], layers[0], stride=1)
        self.layer2 = self._make_layer(planes[1], layers[1], stride=2)
        self.layer3 = self._make_layer(planes[2], layers[2], stride=2)
        self.layer4 = self._make_layer(planes[3], layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(planes[3] * Bottleneck.expansion, num_classes)

        init_weights(self)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    nn.init.zeros_(m.bn3.weight)

    def _make_layer(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample: nn.Module | None = None
        out_planes = planes * Bottleneck.expansion
        if stride != 1 or self.inplanes != out_planes:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, out_planes, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(out_planes),
            )
        blocks_list: list[nn.Module] = [Bottleneck(self.inplanes, planes, stride, downsample)]
        self.inplanes = out_planes
        for _ in range(1, blocks):
            blocks_list.append(Bottleneck(self.inplanes, planes))
        return nn.Sequential(*blocks_list)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Compute logits.

        Parameters
        ----------
        x : torch.Tensor
            Images of shape ``(N, in_channels, H, W)``.

        Returns
        -------
        torch.Tensor
            Logits of shape ``(N, num_classes)``.
        """
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.maxpool(x)
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        out: torch.Tensor = self.fc(x)
        return out


@append_doc_sections(_FACTORY_SECTIONS)
def resnet50(
    num_classes: int = 1000,
    in_channels: int = 3,
    width: float = 1.0,
    layers: Sequence[int] = (3, 4, 6, 3),
    stem_pool: bool = False,
) -> ResNet:
    """Build a ResNet-50-style network for small inputs.

    The default ``layers`` are the ResNet-50 layout.
    """
    return ResNet(
        layers, num_classes=num_classes, in_channels=in_channels, width=width, stem_pool=stem_pool
    )


@append_doc_sections(_FACTORY_SECTIONS)
def resnet_small(
    num_classes: int = 1000,
    in_channels: int = 3,
    width: float = 0.25,
    layers: Sequence[int] = (1, 1, 1, 1),
    stem_pool: bool = False,
) -> ResNet:
    """Build a tiny bottleneck ResNet for tests: one block per stage, width 0.25."""
    return resnet50(
        num_classes=num_classes,
        in_channels=in_channels,
        width=width,
        layers=layers,
        stem_pool=stem_pool,
    )
