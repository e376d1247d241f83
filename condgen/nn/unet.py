"""The U-Net generator of Pix2Pix (Isola et al. 2017, sec. 3.2.1 and appendix 6.1.1).

Built as an explicit encoder list and decoder list rather than the reference code's recursive blocks;
``condgen.importers.junyanz`` maps its checkpoints onto these names. Level ``k`` (0 = next to the image)
owns ``encoder[k]`` and ``decoder[k]``; decoder ``k`` consumes the concatenation ``[skip_k, decoded]``.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from condgen.errors import ConfigError, ModelError
from condgen.nn.norms import norm_layer, uses_bias


def min_size(num_downs: int) -> int:
    """The smallest input side (and the multiple every side must be) for a U-Net with ``num_downs`` levels."""
    return 2 ** num_downs


def level_widths(num_downs: int, ngf: int) -> list[int]:
    """Encoder output channels per level, image side first: ngf, 2ngf, 4ngf, then 8ngf down to the bottleneck."""
    return [ngf * min(2 ** k, 8) for k in range(num_downs)]


def _down(cin: int, cout: int, norm: str, outermost: bool, innermost: bool) -> nn.Sequential:
    layers: OrderedDict[str, nn.Module] = OrderedDict(conv=nn.Conv2d(cin, cout, 4, 2, 1, bias=uses_bias(norm)))
    if not (outermost or innermost):  # the paper: no BatchNorm on the first layer; none on the 1x1 bottleneck
        layers["norm"] = norm_layer(norm, cout)
    if not innermost:
        # after the conv, so the skip carries LeakyReLU(features) as the reference's in-place LeakyReLU does
        # (the same result as raw features: only the decoder's ReLU ever reads the skip)
        layers["act"] = nn.LeakyReLU(0.2, inplace=True)
    return nn.Sequential(layers)


def _up(cin: int, cout: int, norm: str, outermost: bool, dropout: float) -> nn.Sequential:
    layers: OrderedDict[str, nn.Module] = OrderedDict(act=nn.ReLU(inplace=True))
    if outermost:
        layers["conv"] = nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=True)
        layers["out"] = nn.Tanh()
        return nn.Sequential(layers)
    layers["conv"] = nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=uses_bias(norm))
    layers["norm"] = norm_layer(norm, cout)
    if dropout > 0:
        layers["dropout"] = nn.Dropout(dropout)
    return nn.Sequential(layers)


class UNetGenerator(nn.Module):
    """Image -> image U-Net: 4x4 stride-2 convs down to 1x1, transposed convs up, skip concatenations, Tanh."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3, num_downs: int = 8, ngf: int = 64,
                 norm: str = "batch", dropout: float = 0.5):
        super().__init__()
        if num_downs < 2:
            raise ConfigError(f"num_downs={num_downs}: a U-Net needs at least 2 levels (8 is unet_256, 7 unet_128)")
        self.num_downs = num_downs
        widths = level_widths(num_downs, ngf)
        inner = num_downs - 1
        self.encoder = nn.ModuleList(
            _down(in_channels if k == 0 else widths[k - 1], widths[k], norm, k == 0, k == inner)
            for k in range(num_downs))
        decoder = []
        for k in range(num_downs):
            cin = widths[k] if k == inner else 2 * widths[k]
            cout = out_channels if k == 0 else widths[k - 1]
            # the paper's dropout (the only noise source): the ngf*8 decoder blocks between the 4th level and
            # the bottleneck, num_downs - 5 of them (3 in unet_256)
            p = dropout if 4 <= k < inner else 0.0
            decoder.append(_up(cin, cout, norm, k == 0, p))
        self.decoder = nn.ModuleList(decoder)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Translated images in [-1, 1], same height and width as ``x``."""
        m = min_size(self.num_downs)
        h, w = x.shape[-2:]
        if h % m or w % m:
            raise ModelError(
                f"this U-Net ({self.num_downs} down-samplings) needs height and width that are multiples of {m}, "
                f"got {h}x{w}: pad to a multiple of {m} or use condgen translate, which pads and crops back")
        skips = []
        for down in self.encoder:
            x = down(x)
            skips.append(x)
        x = skips.pop()  # the bottleneck is decoded, not skipped
        for k in reversed(range(self.num_downs)):
            x = self.decoder[k](x)
            if k:
                x = torch.cat([skips[k - 1], x], dim=1)  # skip first: the channel order trained weights expect
        return x
