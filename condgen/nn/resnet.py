"""The residual image-to-image generator of CycleGAN (Zhu et al. 2017, appendix 7.2), after Johnson et al. 2016.

c7s1-ngf, two stride-2 downsamplings, ``n_blocks`` residual blocks at 4*ngf, two fractionally-strided
upsamplings, c7s1-out + Tanh. Named submodules (``stem``, ``down``, ``blocks``, ``up``, ``head``) keep the
state-dict keys the same with or without dropout, unlike the reference's flat index layout.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from condgen.errors import ConfigError, ModelError
from condgen.nn.norms import norm_layer, uses_bias

PADDINGS = ("reflect", "replicate", "zero")


def _pad(kind: str, size: int) -> nn.Module:
    if kind == "reflect":
        return nn.ReflectionPad2d(size)
    if kind == "replicate":
        return nn.ReplicationPad2d(size)
    return nn.ZeroPad2d(size)


class ResnetBlock(nn.Module):
    """x + [pad, conv3, norm, ReLU, (dropout), pad, conv3, norm](x)."""

    def __init__(self, channels: int, norm: str = "instance", dropout: float = 0.0, padding: str = "reflect"):
        super().__init__()
        bias = uses_bias(norm)
        layers: OrderedDict[str, nn.Module] = OrderedDict(
            pad1=_pad(padding, 1), conv1=nn.Conv2d(channels, channels, 3, bias=bias),
            norm1=norm_layer(norm, channels), act=nn.ReLU(inplace=True))
        if dropout > 0:
            layers["dropout"] = nn.Dropout(dropout)
        layers.update(pad2=_pad(padding, 1), conv2=nn.Conv2d(channels, channels, 3, bias=bias),
                      norm2=norm_layer(norm, channels))
        self.body = nn.Sequential(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The block's output, same shape as ``x``."""
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """Image -> image ResNet generator (resnet_9blocks / resnet_6blocks); any size divisible by 4."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3, ngf: int = 64, n_blocks: int = 9,
                 norm: str = "instance", dropout: float = 0.0, padding: str = "reflect"):
        super().__init__()
        if padding not in PADDINGS:
            raise ConfigError(f"unknown padding {padding!r}: choose one of {', '.join(PADDINGS)}")
        self.padding = padding
        bias = uses_bias(norm)
        # padding picks the residual blocks' padding only; the 7x7 ends always reflect, as in the reference
        self.stem = nn.Sequential(OrderedDict(
            pad=nn.ReflectionPad2d(3), conv=nn.Conv2d(in_channels, ngf, 7, bias=bias),
            norm=norm_layer(norm, ngf), act=nn.ReLU(inplace=True)))
        self.down = nn.Sequential(*(nn.Sequential(OrderedDict(
            conv=nn.Conv2d(ngf * 2 ** i, ngf * 2 ** (i + 1), 3, 2, 1, bias=bias),
            norm=norm_layer(norm, ngf * 2 ** (i + 1)), act=nn.ReLU(inplace=True))) for i in range(2)))
        self.blocks = nn.Sequential(*(ResnetBlock(ngf * 4, norm, dropout, padding) for _ in range(n_blocks)))
        self.up = nn.Sequential(*(nn.Sequential(OrderedDict(
            conv=nn.ConvTranspose2d(ngf * 2 ** (2 - i), ngf * 2 ** (1 - i), 3, 2, 1, output_padding=1, bias=bias),
            norm=norm_layer(norm, ngf * 2 ** (1 - i)), act=nn.ReLU(inplace=True))) for i in range(2)))
        self.head = nn.Sequential(OrderedDict(
            pad=nn.ReflectionPad2d(3), conv=nn.Conv2d(ngf, out_channels, 7), out=nn.Tanh()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Translated images in [-1, 1], same height and width as ``x``."""
        h, w = x.shape[-2:]
        # reflect padding of 1 needs at least 2 pixels after the two down-samplings
        smallest = 4 if self.padding == "zero" else 8
        if h % 4 or w % 4 or min(h, w) < smallest:
            raise ModelError(
                f"the ResNet generator needs height and width that are multiples of 4 (at least {smallest}), "
                f"got {h}x{w}: pad to a multiple of 4 or use condgen translate, which pads and crops back")
        return self.head(self.up(self.blocks(self.down(self.stem(x)))))
