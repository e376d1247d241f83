"""Networks of the passcode-conditioned face anonymizer (after Gu et al., ECCV 2020): a generator that takes a face
and a +-1 code, a PatchGAN-style realism critic, and a fixed random-weight feature net for identity margins.

The code enters twice: at the input (StarGAN-style, as if tiled into constant planes: a convolution of constant
planes with reflect padding is a per-channel constant, so it is added as a linear map of the code — the same function
without convolving 16 constant planes) and as a per-channel scale and shift of every residual block at the
bottleneck, so a single flipped bit can change the output.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def make_norm(kind: str, dim: int) -> nn.Module:
    """"layer": GroupNorm with one group (keeps the per-channel differences that carry global brightness, which a
    restoration needs); "instance": per-channel instance norm."""
    return nn.GroupNorm(1, dim) if kind == "layer" else nn.InstanceNorm2d(dim, affine=True)


class CodeResBlock(nn.Module):
    """Residual block whose instance-normalised activations are scaled and shifted by an affine map of the code."""

    def __init__(self, dim: int, bits: int, norm: str = "layer"):
        super().__init__()
        self.conv1 = nn.Conv2d(dim, dim, 3, padding=1, padding_mode="reflect")
        self.conv2 = nn.Conv2d(dim, dim, 3, padding=1, padding_mode="reflect")
        self.norm1 = make_norm(norm, dim)
        self.norm2 = make_norm(norm, dim)
        self.film = nn.Linear(bits, 4 * dim)

    def forward(self, x: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        g1, b1, g2, b2 = self.film(code)[:, :, None, None].chunk(4, dim=1)
        h = F.relu(self.norm1(self.conv1(x)) * (1 + g1) + b1)
        h = self.norm2(self.conv2(h)) * (1 + g2) + b2
        return x + h


class PasscodeGenerator(nn.Module):
    """Encoder (two stride-2 convolutions) -> code-modulated residual blocks -> nearest-upsampling decoder -> an edit
    d of the input in tanh space, tanh(atanh(x) + d) (``residual``), or tanh(d).

    ``forward(x, code)``: x N x C x H x W in [-1, 1] (H, W multiples of 4), code N x bits in {-1, +1}.
    """

    def __init__(self, channels: int = 1, bits: int = 16, ngf: int = 32, n_blocks: int = 4, norm: str = "layer",
                 residual: bool = True):
        super().__init__()
        self.bits = bits
        self.residual = residual

        def conv(i: int, o: int, k: int, s: int = 1) -> list[nn.Module]:
            return [nn.Conv2d(i, o, k, s, padding=k // 2 if s == 1 else 1, padding_mode="reflect"),
                    make_norm(norm, o), nn.ReLU(inplace=True)]

        self.stem = nn.Conv2d(channels, ngf, 7, padding=3, padding_mode="reflect")
        self.code_in = nn.Linear(bits, ngf, bias=False)  # = the stem's weights on constant code planes
        self.encoder = nn.Sequential(make_norm(norm, ngf), nn.ReLU(inplace=True),
                                     *conv(ngf, 2 * ngf, 4, 2), *conv(2 * ngf, 4 * ngf, 4, 2))
        self.blocks = nn.ModuleList(CodeResBlock(4 * ngf, bits, norm) for _ in range(n_blocks))
        self.decoder = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), *conv(4 * ngf, 2 * ngf, 3),
                                     nn.Upsample(scale_factor=2, mode="nearest"), *conv(2 * ngf, ngf, 3),
                                     nn.Conv2d(ngf, channels, 7, padding=3, padding_mode="reflect"))

    def forward(self, x: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        code = code.to(x.dtype)
        h = self.encoder(self.stem(x) + self.code_in(code)[:, :, None, None])
        for block in self.blocks:
            h = block(h, code)
        d = self.decoder(h)
        if self.residual:  # an edit of x in tanh space: starts near the identity, so restoration starts near exact
            x = x.clamp(-0.999, 0.999)
            return torch.tanh(0.5 * torch.log((1 + x) / (1 - x)) + d)  # atanh, spelled out for ONNX export
        return torch.tanh(d)


class PatchCritic(nn.Module):
    """Three stride-2/1 convolutions judging overlapping patches (logits, N x 1 x H/4 x W/4)."""

    def __init__(self, channels: int = 1, ndf: int = 64):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf, 2 * ndf, 4, 2, 1), nn.InstanceNorm2d(2 * ndf, affine=True), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(2 * ndf, 4 * ndf, 3, 1, 1), nn.InstanceNorm2d(4 * ndf, affine=True),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(4 * ndf, 1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class RandomFeatures(nn.Module):
    """A frozen convolutional net with seeded random weights (kaiming normal), whose instance-normalised activations
    at three depths give the feature space of the training's identity margins.

    No face-recognition network ships offline; random conv features are a documented stand-in (they measure
    local structure at several scales). Evaluation uses a different, classic face descriptor (LBP histograms).
    """

    def __init__(self, channels: int = 1, seed: int = 0):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        dims = [channels, 32, 64, 128]
        self.convs = nn.ModuleList(nn.Conv2d(dims[i], dims[i + 1], 3, stride=1 if i == 0 else 2, padding=1)
                                   for i in range(3))
        with torch.no_grad():
            for c in self.convs:
                fan_in = c.in_channels * 9
                c.weight.copy_(torch.randn(c.weight.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
                c.bias.zero_()
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> RandomFeatures:  # always eval: it has no state to train
        return super().train(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats, h = [], x
        for c in self.convs:
            h = F.relu(c(h))
            feats.append(F.instance_norm(h))
        return feats

    def distance(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Per-sample mean absolute feature difference, averaged over the three depths (N values)."""
        fa, fb = self(a), self(b)
        return sum((x - y).abs().mean(dim=(1, 2, 3)) for x, y in zip(fa, fb)) / len(fa)


class IdentityEncoder(nn.Module):
    """A small CNN mapping a face to a unit-length embedding, trained alongside the anonymizer by instance
    discrimination (two augmented views of a face must match each other and no other face of the batch). The
    augmentations (shifts, flips, brightness, contrast, blur, noise) are what it learns to ignore, so texture noise
    cannot fake a change of identity in its space."""

    def __init__(self, channels: int = 1, width: int = 32, dim: int = 64):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 3, 1, 1), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(width, 2 * width, 4, 2, 1), nn.GroupNorm(1, 2 * width), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(2 * width, 4 * width, 4, 2, 1), nn.GroupNorm(1, 4 * width), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(4 * width, 4 * width, 3, 1, 1), nn.LeakyReLU(0.2, inplace=True),
            nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(16 * width, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.net(x).float(), dim=1)

    def distance(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Per-sample cosine distance 1 - cos(E(a), E(b)) (N values in [0, 2])."""
        return 1 - (self(a) * self(b)).sum(1)


def augment_views(x: torch.Tensor) -> torch.Tensor:
    """A random view of each face: shift by up to 2 px, flip, brightness and contrast, blur or noise."""
    n = x.shape[0]
    dev = x.device
    pad = F.pad(x, (2, 2, 2, 2), mode="replicate")
    dy, dx = torch.randint(0, 5, (2,)).tolist()
    v = pad[..., dy:dy + x.shape[-2], dx:dx + x.shape[-1]]
    flip = torch.rand(n, device=dev) < 0.5
    v = torch.where(flip[:, None, None, None], v.flip(-1), v)
    mean = v.mean((1, 2, 3), keepdim=True)
    contrast = torch.empty(n, 1, 1, 1, device=dev).uniform_(0.7, 1.3)
    bright = torch.empty(n, 1, 1, 1, device=dev).uniform_(-0.2, 0.2)
    v = (v - mean) * contrast + mean + bright
    blur = F.avg_pool2d(F.pad(v, (1, 1, 1, 1), mode="replicate"), 3, 1)
    pick = torch.rand(n, 1, 1, 1, device=dev)
    v = torch.where(pick < 0.3, blur, v)
    v = torch.where(pick > 0.7, v + 0.08 * torch.randn_like(v), v)
    return v.clamp(-1, 1)
