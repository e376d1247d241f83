"""The image transformation network of perceptual-loss style transfer (Johnson, Alahi & Fei-Fei, ECCV 2016,
sec. 3.1 and the supplementary material): c9s1-32, d64, d128, five residual blocks of 128, u64, u32, c9s1-3.

``c9s1-k``: a 9 x 9 convolution, stride 1, k filters; ``dk``: a 3 x 3 convolution with stride 2; ``uk``: a x2
upsampling to k filters. Every convolution but the last is followed by a norm and a ReLU; each residual block is
``x + [conv3, norm, ReLU, conv3, norm](x)``. All convolutions are reflection padded to keep the size, so any image
whose sides are multiples of 4 comes out at its own size (the paper's residual blocks use unpadded convolutions
on an input padded by 40 pixels; same-size padding lets the network run on any size and tile without cropping).

Choices, each an option:

- ``norm``: ``instance`` (Ulyanov et al. 2016; what Johnson's released code and pytorch/examples use, and what
  the issue asks for) or ``batch`` (the ECCV paper's spatial batch norm). Affine in both cases.
- ``upsample``: ``nearest`` = nearest-neighbour x2 then a 3 x 3 convolution, which avoids the checkerboard
  artefacts of strided transposed convolutions (Odena et al., Distill 2016); ``transposed`` = the paper's
  "fractionally-strided convolution with stride 1/2".
- ``output``: ``tanh`` = the paper's scaled tanh; condgen images are in [-1, 1], and the tanh is scaled by
  150 / 127.5 so the network can reach the range edges without saturating (Johnson's code: 150 tanh on the
  0-255 scale). ``linear255`` = pytorch/examples ``fast_neural_style``'s TransformerNet convention: the network
  sees [0, 255] pixels and its final convolution is the output on that scale (no tanh); [-1, 1] images are
  mapped in and out around it, so checkpoints of that project load unchanged (condgen.importers).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from condgen.errors import ConfigError

NORMS = ("instance", "batch")
UPSAMPLES = ("nearest", "transposed")
OUTPUTS = ("tanh", "linear255")
TANH_SCALE = 150 / 127.5  # Johnson's code: 150 * tanh on the 0-255 scale, here on the [-1, 1] scale


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True, track_running_stats=False)
    if kind == "batch":
        return nn.BatchNorm2d(channels, affine=True)
    raise ConfigError(f"unknown norm {kind!r} for the transformation network: choose one of {', '.join(NORMS)}.")


class ConvBlock(nn.Module):
    """[x2 upsampling] + reflection pad + conv + [norm] + [ReLU]. ``upsample="transposed"`` is a stride-2
    transposed conv instead (zero padded, as transposed convolutions are)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, norm: str | None = "instance",
                 relu: bool = True, upsample: str | None = None):
        super().__init__()
        self.upsample = upsample
        if upsample == "transposed":
            self.pad: nn.Module = nn.Identity()
            self.conv: nn.Module = nn.ConvTranspose2d(cin, cout, kernel, stride=2, padding=kernel // 2,
                                                      output_padding=1)
        else:
            if upsample not in (None, "nearest"):
                raise ConfigError(f"unknown upsampling {upsample!r}: choose one of {', '.join(UPSAMPLES)}.")
            self.pad = nn.ReflectionPad2d(kernel // 2)
            self.conv = nn.Conv2d(cin, cout, kernel, stride=stride)
        self.norm = _norm(norm, cout) if norm else None
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The block's output (twice the size with upsampling, half with stride 2)."""
        if self.upsample == "nearest":
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = self.conv(self.pad(x))
        if self.norm is not None:
            x = self.norm(x)
        return F.relu(x) if self.relu else x


class ResidualBlock(nn.Module):
    """x + [conv3, norm, ReLU, conv3, norm](x), no activation after the sum (Gross & Wilber's block, as in the
    paper's supplementary)."""

    def __init__(self, channels: int, norm: str = "instance"):
        super().__init__()
        self.conv1 = ConvBlock(channels, channels, 3, norm=norm, relu=True)
        self.conv2 = ConvBlock(channels, channels, 3, norm=norm, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Same shape as ``x``."""
        return x + self.conv2(self.conv1(x))


class TransformationNet(nn.Module):
    """Image -> stylised image of the same size (sides multiples of 4); images in [-1, 1], N x C x H x W."""

    def __init__(self, channels: int = 3, ngf: int = 32, n_blocks: int = 5, norm: str = "instance",
                 upsample: str = "nearest", output: str = "tanh"):
        super().__init__()
        if output not in OUTPUTS:
            raise ConfigError(f"unknown output {output!r}: choose one of {', '.join(OUTPUTS)}.")
        if upsample not in UPSAMPLES:
            raise ConfigError(f"unknown upsampling {upsample!r}: choose one of {', '.join(UPSAMPLES)}.")
        self.output = output
        self.head = ConvBlock(channels, ngf, 9, norm=norm)  # c9s1-32
        self.down = nn.Sequential(ConvBlock(ngf, 2 * ngf, 3, stride=2, norm=norm),  # d64
                                  ConvBlock(2 * ngf, 4 * ngf, 3, stride=2, norm=norm))  # d128
        self.blocks = nn.Sequential(*[ResidualBlock(4 * ngf, norm) for _ in range(n_blocks)])
        self.up = nn.Sequential(ConvBlock(4 * ngf, 2 * ngf, 3, norm=norm, upsample=upsample),  # u64
                                ConvBlock(2 * ngf, ngf, 3, norm=norm, upsample=upsample))  # u32
        self.tail = ConvBlock(ngf, channels, 9, norm=None, relu=False)  # c9s1-3, no norm before the output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The stylised image, in [-1, 1] up to the tanh's margin (``tanh``) or unbounded (``linear255``)."""
        if self.output == "linear255":
            x = (x + 1) * 127.5
        y = self.tail(self.up(self.blocks(self.down(self.head(x)))))
        if self.output == "linear255":
            return y / 127.5 - 1
        return TANH_SCALE * torch.tanh(y)


__all__ = ["NORMS", "OUTPUTS", "TANH_SCALE", "UPSAMPLES", "ConvBlock", "ResidualBlock", "TransformationNet"]
