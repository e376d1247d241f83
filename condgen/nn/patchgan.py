"""PatchGAN discriminators of Pix2Pix (Isola et al. 2017, sec. 3.2.2): one real/fake logit per image patch.

For Pix2Pix, D sees the condition and the image concatenated (3 + 3 = 6 channels); CycleGAN's D sees 3.
Both output logits (no sigmoid): the loss applies it.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from condgen.errors import ConfigError
from condgen.nn.norms import norm_layer, uses_bias


def receptive_field(n_layers: int) -> int:
    """Receptive field in pixels of one PatchDiscriminator logit: 16, 34, 70, 142, 286 for n_layers 1..5."""
    rf = 1
    # walk back from the logit: two stride-1 4x4 convs, then n_layers stride-2 4x4 convs
    for stride in [1, 1] + [2] * n_layers:
        rf = (rf - 1) * stride + 4
    return rf


def _block(cin: int, cout: int, stride: int, norm: str | None) -> nn.Sequential:
    layers: OrderedDict[str, nn.Module] = OrderedDict(
        conv=nn.Conv2d(cin, cout, 4, stride, 1, bias=True if norm is None else uses_bias(norm)))
    if norm is not None:
        layers["norm"] = norm_layer(norm, cout)
    layers["act"] = nn.LeakyReLU(0.2, inplace=True)
    return nn.Sequential(layers)


class PatchDiscriminator(nn.Module):
    """N-layer PatchGAN: n_layers=3 is the 70x70 PatchGAN (30x30 logits for a 256x256 input)."""

    def __init__(self, in_channels: int = 6, ndf: int = 64, n_layers: int = 3, norm: str = "batch"):
        super().__init__()
        if not 1 <= n_layers <= 5:
            raise ConfigError(f"n_layers={n_layers}: choose 1 to 5 (receptive fields 16, 34, 70, 142, 286 px)")
        widths = [ndf * min(2 ** i, 8) for i in range(n_layers + 1)]
        # no norm on the first layer (paper, appendix 6.1.2); the last feature layer keeps stride 1
        blocks = [_block(in_channels, widths[0], 2, None)]
        blocks += [_block(widths[i - 1], widths[i], 2, norm) for i in range(1, n_layers)]
        blocks.append(_block(widths[-2], widths[-1], 1, norm))
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Conv2d(widths[-1], 1, 4, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits, shape N x 1 x H' x W'."""
        return self.head(self.blocks(x))


class PixelDiscriminator(nn.Module):
    """1x1 PatchGAN ("PixelGAN"): judges each pixel's colour on its own."""

    def __init__(self, in_channels: int = 6, ndf: int = 64, norm: str = "batch"):
        super().__init__()
        bias = uses_bias(norm)
        self.layers = nn.Sequential(OrderedDict(
            conv1=nn.Conv2d(in_channels, ndf, 1), act1=nn.LeakyReLU(0.2, inplace=True),
            conv2=nn.Conv2d(ndf, ndf * 2, 1, bias=bias), norm=norm_layer(norm, ndf * 2),
            act2=nn.LeakyReLU(0.2, inplace=True),
            # the reference leaves this bias off under batch norm too; kept so its checkpoints load
            conv3=nn.Conv2d(ndf * 2, 1, 1, bias=bias)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits, shape N x 1 x H x W."""
        return self.layers(x)
