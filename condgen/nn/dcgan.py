"""DCGAN generator and discriminator (Radford et al. 2015), optionally class-conditional (Mirza & Osindero 2014).

Any power-of-two image size from 16 to 256: the number of stride-2 layers follows the size
(64 px: 4 up-sampling layers in G and 4 down-sampling layers in D, as in the paper). Channel widths
double per layer away from the image, capped at 8x ngf/ndf (512 with the paper's 64) so that 128 and
256 px stay the paper's width at 4x4 instead of growing to 1024/2048. All convolutions are bias-free
(BatchNorm follows them; the canonical pytorch/examples DCGAN does the same).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from condgen.errors import ModelError

MIN_SIZE, MAX_SIZE = 16, 256


def check_image_size(size: int) -> int:
    """The number of stride-2 layers for ``size``, or a ModelError if the size is not supported."""
    if size < MIN_SIZE or size > MAX_SIZE or size & (size - 1):
        raise ModelError(
            f"image size {size} is not supported by the DCGAN architecture: it needs a power of two from "
            f"{MIN_SIZE} to {MAX_SIZE} (16, 32, 64, 128, 256; 64 is the paper's). Set model.image_size.")
    return int(math.log2(size)) - 2


def _widths(base: int, n: int) -> list[int]:
    """Channel widths from the image side inward: base, 2*base, ... capped at 8*base."""
    return [base * min(2 ** i, 8) for i in range(n)]


class DCGANGenerator(nn.Module):
    """z (+ optional one-hot/embedded class) -> image via fractionally-strided convolutions, BN + ReLU, Tanh out."""

    def __init__(self, nz: int = 100, ngf: int = 64, channels: int = 3, image_size: int = 64,
                 num_classes: int = 0, class_input: str = "onehot"):
        super().__init__()
        n_up = check_image_size(image_size)
        widths = _widths(ngf, n_up)[::-1]  # e.g. 64px: [512, 256, 128, 64]
        self.nz, self.num_classes, self.class_input = nz, num_classes, class_input
        cond_dim = 0
        if num_classes:
            if class_input == "embedding":
                self.embed = nn.Embedding(num_classes, nz)
                cond_dim = nz
            else:
                cond_dim = num_classes
        layers: list[nn.Module] = [
            # "project and reshape": 1x1 -> 4x4
            nn.ConvTranspose2d(nz + cond_dim, widths[0], 4, 1, 0, bias=False),
            nn.BatchNorm2d(widths[0]), nn.ReLU(True)]
        for cin, cout in zip(widths[:-1], widths[1:]):
            layers += [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]
        # no BatchNorm on the output layer (paper, sec. 3)
        layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def condition(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """z joined with the class code (one-hot or embedding), shaped N x C x 1 x 1."""
        if self.num_classes:
            if labels is None:
                raise ValueError("this generator is class-conditional: pass labels")
            if self.class_input == "embedding":
                code = self.embed(labels)
            else:
                code = F.one_hot(labels, self.num_classes).to(z.dtype)
            z = torch.cat([z, code], dim=1)
        return z.view(z.shape[0], -1, 1, 1)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Images in [-1, 1]."""
        return self.main(self.condition(z, labels))


class DCGANDiscriminator(nn.Module):
    """Image (+ optional class) -> one real/fake logit per image. Strided convs, LeakyReLU 0.2, no BN on input.

    Class conditioning (cGAN): ``"concat"`` joins one-hot label planes to the image (Mirza & Osindero:
    the condition is an extra input to D); ``"projection"`` adds <embed(y), phi(x)> to the logit
    (Miyato & Koyama 2018).
    """

    def __init__(self, ndf: int = 64, channels: int = 3, image_size: int = 64, num_classes: int = 0,
                 conditioning: str = "concat"):
        super().__init__()
        n_down = check_image_size(image_size)
        widths = _widths(ndf, n_down)  # 64px: [64, 128, 256, 512]
        self.num_classes, self.conditioning = num_classes, conditioning
        extra = num_classes if (num_classes and conditioning == "concat") else 0
        layers: list[nn.Module] = [nn.Conv2d(channels + extra, widths[0], 4, 2, 1, bias=False),
                                   nn.LeakyReLU(0.2, inplace=True)]
        for cin, cout in zip(widths[:-1], widths[1:]):
            layers += [nn.Conv2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout),
                       nn.LeakyReLU(0.2, inplace=True)]
        self.features = nn.Sequential(*layers)  # -> N x widths[-1] x 4 x 4
        self.head = nn.Conv2d(widths[-1], 1, 4, 1, 0, bias=False)
        if num_classes and conditioning == "projection":
            self.embed = nn.Embedding(num_classes, widths[-1] * 16)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Logits, shape N."""
        if self.num_classes and labels is None:
            raise ValueError("this discriminator is class-conditional: pass labels")
        if self.num_classes and self.conditioning == "concat":
            planes = F.one_hot(labels, self.num_classes).to(x.dtype)[:, :, None, None]
            planes = planes.expand(-1, -1, x.shape[2], x.shape[3])
            if x.is_contiguous(memory_format=torch.channels_last):
                planes = planes.contiguous(memory_format=torch.channels_last)
            x = torch.cat([x, planes], dim=1)
        h = self.features(x)
        out = self.head(h).flatten()
        if self.num_classes and self.conditioning == "projection":
            out = out + (self.embed(labels) * h.flatten(1)).sum(dim=1)
        return out
