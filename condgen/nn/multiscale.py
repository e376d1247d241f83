"""Multi-scale discriminator (Wang et al. 2018, pix2pixHD sec. 3.2), as used by UNIT and MUNIT (Huang et al.
2018, appendix B): the same PatchGAN-style network applied to the image and to copies downsampled 2x and 4x
(average pooling), each with its own weights. The coarse scales see global structure, the fine scale detail.

Each scale: ``n_layers`` 4x4 stride-2 convolutions (64, 128, 256, 512, ...; LeakyReLU 0.2; no norm by default),
then a 1x1 convolution to one logit per patch. Returns a list of logit maps, finest first.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from condgen.errors import ConfigError
from condgen.nn.norms import norm_layer


class ScaleDiscriminator(nn.Module):
    """One scale: stride-2 4x4 convs (reflection padding) with LeakyReLU 0.2, then a 1x1 conv to logits."""

    def __init__(self, in_channels: int = 3, ndf: int = 64, n_layers: int = 4, norm: str = "none",
                 max_channels: int = 512):
        super().__init__()
        layers: list[nn.Module] = []
        cin, cout = in_channels, ndf
        for i in range(n_layers):
            block: OrderedDict[str, nn.Module] = OrderedDict(
                pad=nn.ReflectionPad2d(1), conv=nn.Conv2d(cin, cout, 4, 2, 0))
            if i > 0 and norm != "none":  # never on the first layer, as in the PatchGAN
                block["norm"] = norm_layer(norm, cout)
            block["act"] = nn.LeakyReLU(0.2, inplace=True)
            layers.append(nn.Sequential(block))
            cin, cout = cout, min(cout * 2, max_channels)
        self.blocks = nn.Sequential(*layers)
        self.head = nn.Conv2d(cin, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits, N x 1 x H/2^n x W/2^n."""
        return self.head(self.blocks(x))


class MultiscaleDiscriminator(nn.Module):
    """``num_scales`` ScaleDiscriminators on the image downsampled by 1, 2, 4, ... (3x3 average pooling)."""

    def __init__(self, in_channels: int = 3, ndf: int = 64, n_layers: int = 4, num_scales: int = 3,
                 norm: str = "none"):
        super().__init__()
        if num_scales < 1:
            raise ConfigError(f"num_scales={num_scales}: a multi-scale discriminator needs at least one scale.")
        self.scales = nn.ModuleList(ScaleDiscriminator(in_channels, ndf, n_layers, norm) for _ in range(num_scales))
        # count_include_pad=False: border pixels are averages of real pixels only, not darkened by zeros
        self.down = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)
        self.min_size = 2 ** (n_layers + num_scales - 1)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Logit maps, one per scale, finest first."""
        if min(x.shape[-2:]) < self.min_size:
            raise ConfigError(f"the multi-scale discriminator needs images of at least {self.min_size} px "
                              f"({len(self.scales)} scales x {len(self.scales[0].blocks)} stride-2 layers), got "
                              f"{x.shape[-1]}x{x.shape[-2]}; use fewer scales (model.num_scales) or larger crops.")
        outs = []
        for i, d in enumerate(self.scales):
            if i:
                x = self.down(x)
            outs.append(d(x))
        return outs


class TwoDomainDiscriminators(nn.Module):
    """D_A and D_B of a two-domain translator (UNIT, MUNIT), each a multi-scale discriminator;
    ``forward(x_a, x_b)`` -> (D_A logits, D_B logits)."""

    def __init__(self, channels_a: int = 3, channels_b: int = 3, ndf: int = 64, n_layers: int = 4,
                 num_scales: int = 3):
        super().__init__()
        channels = {"A": channels_a, "B": channels_b}
        self.disc = nn.ModuleDict({d: MultiscaleDiscriminator(channels[d], ndf, n_layers, num_scales, norm="none")
                                   for d in ("A", "B")})

    def forward(self, x_a: torch.Tensor, x_b: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Logit maps (one per scale, finest first) of D_A on ``x_a`` and of D_B on ``x_b``."""
        return self.disc["A"](x_a), self.disc["B"](x_b)
