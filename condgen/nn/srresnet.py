"""SRResNet generator and SRGAN discriminator (Ledig et al., CVPR 2017, "Photo-Realistic Single Image
Super-Resolution Using a Generative Adversarial Network", sec. 2.1 and Figure 4).

Generator: k9n64s1 + PReLU; B residual blocks (k3n64s1, BN, PReLU, k3n64s1, BN, sum); k3n64s1 + BN + the skip
from after the first PReLU; per factor 2 one sub-pixel block (k3n256s1, PixelShuffle x2, PReLU); k9n3s1.
Discriminator: k3n64s1 + LeakyReLU(0.2); seven k3 conv + BN + LeakyReLU blocks (64 s2, 128 s1, 128 s2, 256 s1,
256 s2, 512 s1, 512 s2); dense 1024 + LeakyReLU(0.2); dense 1 (a logit: the sigmoid lives in the loss).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn
from torch.nn import functional as F

from condgen.errors import ConfigError

SCALES = (2, 4, 8)
G_NORMS = ("batch", "none")


def _norm(kind: str, channels: int) -> nn.Module:
    # BatchNorm with PyTorch's default eps = 1e-5; some ports pass BatchNorm2d(64, 0.8), which sets eps = 0.8
    return nn.BatchNorm2d(channels) if kind == "batch" else nn.Identity()


class SRResidualBlock(nn.Module):
    """x + [conv3, BN, PReLU, conv3, BN](x): the block of Gross & Wilber that Ledig et al. use (sec. 2.1)."""

    def __init__(self, channels: int = 64, norm: str = "batch"):
        super().__init__()
        self.body = nn.Sequential(OrderedDict(
            conv1=nn.Conv2d(channels, channels, 3, padding=1), norm1=_norm(norm, channels), act=nn.PReLU(),
            conv2=nn.Conv2d(channels, channels, 3, padding=1), norm2=_norm(norm, channels)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The block's output, same shape as ``x``."""
        return x + self.body(x)


class SubPixelUpsample(nn.Sequential):
    """x2 upsampling by sub-pixel convolution (Shi et al. 2016): conv3 C -> 4C, PixelShuffle(2), PReLU."""

    def __init__(self, channels: int = 64):
        super().__init__(OrderedDict(conv=nn.Conv2d(channels, 4 * channels, 3, padding=1),
                                     shuffle=nn.PixelShuffle(2), act=nn.PReLU()))


class SRResNetGenerator(nn.Module):
    """LR image in [-1, 1] -> HR image (``scale`` x larger) in [-1, 1]; any input size.

    The LR input is mapped to [0, 1] first, as the paper scales its LR images (sec. 3.2: "We scaled the range of
    the LR input images to [0, 1] and for the HR images to [-1, 1]"). The output conv is linear: Figure 4 ends
    with k9n3s1 and no activation, so no tanh (many ports add one). PReLUs have one slope each (PyTorch's
    default; the paper does not say). Weights keep PyTorch's default init (the paper names none).
    """

    def __init__(self, channels: int = 3, ngf: int = 64, n_blocks: int = 16, scale: int = 4, norm: str = "batch"):
        super().__init__()
        if scale not in SCALES:
            raise ConfigError(f"SRResNet upsamples by 2, 4 or 8 (one x2 sub-pixel block per factor 2); "
                              f"got scale {scale}. Valid choices: {', '.join(map(str, SCALES))}.")
        if norm not in G_NORMS:
            raise ConfigError(f"unknown SRResNet norm {norm!r}: choose one of {', '.join(G_NORMS)}.")
        self.scale = scale
        self.head = nn.Sequential(OrderedDict(conv=nn.Conv2d(channels, ngf, 9, padding=4), act=nn.PReLU()))
        self.blocks = nn.Sequential(*(SRResidualBlock(ngf, norm) for _ in range(n_blocks)))
        self.body_end = nn.Sequential(OrderedDict(conv=nn.Conv2d(ngf, ngf, 3, padding=1), norm=_norm(norm, ngf)))
        self.upsample = nn.Sequential(*(SubPixelUpsample(ngf) for _ in range(scale.bit_length() - 1)))
        self.tail = nn.Conv2d(ngf, channels, 9, padding=4)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        """N x C x h x w in [-1, 1] -> N x C x (scale h) x (scale w), trained towards [-1, 1] (not clamped)."""
        feat = self.head((lr + 1) * 0.5)
        feat = feat + self.body_end(self.blocks(feat))  # the global skip from after the first PReLU
        return self.tail(self.upsample(feat))


class SRDiscriminator(nn.Module):
    """HR image in [-1, 1] -> one real/fake logit per image (Figure 4, without the final sigmoid).

    The paper trains on 96 x 96 crops, where four stride-2 convs leave 512 x 6 x 6 = 18432 features for the first
    dense layer. To take other crop sizes the feature map is average-pooled to 6 x 6 when (and only when) it
    has another size; at 96 px nothing changes, so the paper's network is reproduced exactly.
    """

    #: (output width as a multiple of ndf, stride) of the seven conv + BN + LeakyReLU blocks
    BLOCKS = ((1, 2), (2, 1), (2, 2), (4, 1), (4, 2), (8, 1), (8, 2))
    GRID = 6

    def __init__(self, channels: int = 3, ndf: int = 64, hidden: int = 1024):
        super().__init__()
        layers: OrderedDict[str, nn.Module] = OrderedDict(
            conv0=nn.Conv2d(channels, ndf, 3, padding=1), act0=nn.LeakyReLU(0.2, inplace=True))
        cin = ndf
        for i, (mult, stride) in enumerate(self.BLOCKS, start=1):
            cout = ndf * mult
            layers[f"conv{i}"] = nn.Conv2d(cin, cout, 3, stride=stride, padding=1)
            layers[f"norm{i}"] = nn.BatchNorm2d(cout)
            layers[f"act{i}"] = nn.LeakyReLU(0.2, inplace=True)
            cin = cout
        self.features = nn.Sequential(layers)
        self.classifier = nn.Sequential(OrderedDict(
            fc1=nn.Linear(cin * self.GRID * self.GRID, hidden), act=nn.LeakyReLU(0.2, inplace=True),
            fc2=nn.Linear(hidden, 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """N x C x H x W -> N x 1 logits."""
        h = self.features(x)
        if h.shape[-2:] != (self.GRID, self.GRID):
            h = F.adaptive_avg_pool2d(h, self.GRID)
        return self.classifier(h.flatten(1))


__all__ = ["G_NORMS", "SCALES", "SRDiscriminator", "SRResNetGenerator", "SRResidualBlock", "SubPixelUpsample"]
