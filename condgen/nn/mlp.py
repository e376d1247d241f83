"""Fully connected generator and discriminator of the original GAN (Goodfellow et al. 2014)."""

from __future__ import annotations

import torch
from torch import nn


class Maxout(nn.Module):
    """Maxout unit (Goodfellow et al. 2013): the max over ``pieces`` linear pieces per output unit."""

    def __init__(self, d_in: int, d_out: int, pieces: int):
        super().__init__()
        self.d_out, self.pieces = d_out, pieces
        self.linear = nn.Linear(d_in, d_out * pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """N x d_in -> N x d_out."""
        return self.linear(x).view(x.shape[0], self.d_out, self.pieces).amax(dim=2)


class MLPGenerator(nn.Module):
    """z -> ReLU hidden layers -> image (Tanh, since condgen images live in [-1, 1])."""

    def __init__(self, nz: int, hidden: tuple[int, ...], channels: int, image_size: int):
        super().__init__()
        self.shape = (channels, image_size, image_size)
        layers: list[nn.Module] = []
        d = nz
        for h in hidden:
            layers += [nn.Linear(d, h), nn.ReLU(inplace=True)]
            d = h
        layers += [nn.Linear(d, channels * image_size * image_size), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Images N x C x H x W."""
        return self.main(z).view(z.shape[0], *self.shape)


class MLPDiscriminator(nn.Module):
    """Image -> maxout hidden layers with dropout -> one logit."""

    def __init__(self, hidden: tuple[int, ...], pieces: int, dropout: float, channels: int, image_size: int):
        super().__init__()
        layers: list[nn.Module] = []
        d = channels * image_size * image_size
        for h in hidden:
            layers += [nn.Dropout(dropout), Maxout(d, h, pieces)]
            d = h
        layers += [nn.Dropout(dropout), nn.Linear(d, 1)]
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Logits, shape N."""
        return self.main(x.flatten(1)).flatten()
