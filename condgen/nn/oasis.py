"""OASIS's networks (Schönfeld, Sushko, Zhang, Gall, Schiele & Khoreva, ICLR 2021, "You Only Need Adversarial
Supervision for Semantic Image Synthesis"), written from the paper (sec. 3, appendix): the SPADE-style generator
conditioned on the label map concatenated with 3-D noise, and the U-Net discriminator that segments an image into
the N semantic classes plus one "fake" class.

Noise is an explicit input. ``noise_map`` builds the 3-D noise from per-sample vectors: one vector replicated over
the map (global sampling), with the pixels of chosen classes taking other vectors (local re-sampling, paper
sec. 3.3 / fig. 6). The generator's ``forward`` never draws anything.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial

import torch
from torch import nn
from torch.nn import functional as F

from condgen.errors import ConfigError, ModelError
from condgen.nn.spade import SPADEResBlock, spectral

#: generator channels per block boundary, x ngf (paper appendix: 16, 16, 16, 8, 4, 2, 1 over 6 ResBlocks)
G_CHANNELS = (16, 16, 16, 8, 4, 2, 1)


def noise_map(ids: torch.Tensor, z: torch.Tensor, regions: Iterable[tuple[int, torch.Tensor]] = ()) -> torch.Tensor:
    """3-D noise N x z_dim x H x W for label maps ``ids`` (N x H x W): the vector ``z[k]`` (z is N x z_dim)
    everywhere in map k, except that the pixels of class ``c`` take ``v[k]`` for each ``(c, v)`` in ``regions``
    (v: N x z_dim or z_dim). Later regions win where classes repeat."""
    if z.dim() != 2 or z.shape[0] != ids.shape[0]:
        raise ModelError(f"noise vectors must be N x z_dim with N = {ids.shape[0]} label maps, got {tuple(z.shape)}.")
    n, d = z.shape
    out = z[:, :, None, None].expand(n, d, *ids.shape[-2:])
    for c, v in regions:
        v = torch.as_tensor(v, dtype=z.dtype, device=z.device).reshape(-1, d).expand(n, d)
        out = torch.where((ids == int(c))[:, None], v[:, :, None, None], out)
    return out.contiguous()


class OASISGenerator(nn.Module):
    """The OASIS generator (paper sec. 3.3 and appendix): SPADE's, with the label map ``semantic`` concatenated
    with 3-D noise (``z_dim`` = 64 channels) as the conditioning map of every SPADE norm and of the first layer.
    From a 16·ngf-channel map at 1/32 of the output size (the conditioning map downsampled, nearest, and a conv3x3),
    six SPADE ResBlks with channels 16, 16, 16, 8, 4, 2, 1 x ngf and nearest x2 upsampling between them (5), then
    LeakyReLU 0.2 -> conv3x3 -> tanh. ``z_dim`` = 0 is the paper's no-noise ablation (one image per label map)."""

    def __init__(self, semantic_nc: int, ngf: int = 64, z_dim: int = 64, param_free: str = "syncbatch",
                 spectral_norm: bool = True, hidden: int = 128, kernel_size: int = 3):
        super().__init__()
        self.semantic_nc, self.ngf, self.z_dim = semantic_nc, ngf, z_dim
        self.multiple = 2 ** (len(G_CHANNELS) - 2)  # 32
        cond = semantic_nc + z_dim
        chans = [c * ngf for c in G_CHANNELS]
        self.fc = nn.Conv2d(cond, chans[0], 3, padding=1)
        block = partial(SPADEResBlock, cond_channels=cond, param_free=param_free, spectral_norm=spectral_norm,
                        hidden=hidden, kernel_size=kernel_size)
        self.blocks = nn.ModuleList(block(a, b) for a, b in zip(chans[:-1], chans[1:]))
        self.to_rgb = nn.Conv2d(chans[-1], 3, 3, padding=1)

    def condition(self, semantic: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        """label ⊕ noise: ``noise`` is N x z_dim (replicated over the map) or N x z_dim x H x W."""
        if self.z_dim == 0:
            return semantic
        if noise is None:
            raise ModelError(f"this OASIS generator takes {self.z_dim}-d noise: pass it (N x {self.z_dim}, or an "
                             f"N x {self.z_dim} x H x W noise map); it is never drawn inside forward.")
        if noise.dim() == 2:
            noise = noise[:, :, None, None].expand(-1, -1, *semantic.shape[-2:])
        if noise.shape[0] != semantic.shape[0] or noise.shape[1] != self.z_dim or \
                noise.shape[-2:] != semantic.shape[-2:]:
            raise ModelError(f"noise of shape {tuple(noise.shape)} does not fit {semantic.shape[0]} label maps of "
                             f"{tuple(semantic.shape[-2:])} and z_dim {self.z_dim}.")
        return torch.cat([semantic, noise.to(semantic.dtype)], 1)

    def forward(self, semantic: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """Images N x 3 x H x W in [-1, 1] for the semantic map (N x semantic_nc x H x W, sides multiples of 32)
        and the noise (see ``condition``)."""
        h, w = semantic.shape[-2:]
        m = self.multiple
        if h % m or w % m:
            raise ModelError(f"the OASIS generator makes sides that are multiples of {m}; got {w}x{h} (translate "
                             "pads any size for you).")
        cond = self.condition(semantic, noise)
        x = self.fc(F.interpolate(cond, size=(h // m, w // m), mode="nearest"))
        for i, block in enumerate(self.blocks):
            if i:
                x = F.interpolate(x, scale_factor=2.0, mode="nearest")
            x = block(x, cond)
        return torch.tanh(self.to_rgb(F.leaky_relu(x, 0.2)))


class _DownBlock(nn.Module):
    """Residual block of the D encoder: [LeakyReLU] conv3x3, LeakyReLU, conv3x3, then 2x2 average pooling; the
    shortcut is average pooling and a learned 1x1 conv when the channels change. The first block takes the image
    and has no activation in front (nothing to activate)."""

    def __init__(self, fin: int, fout: int, first: bool, sn: bool):
        super().__init__()
        self.first = first
        self.conv1 = spectral(nn.Conv2d(fin, fout, 3, padding=1), sn)
        self.conv2 = spectral(nn.Conv2d(fout, fout, 3, padding=1), sn)
        self.skip = spectral(nn.Conv2d(fin, fout, 1), sn) if fin != fout else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """shortcut(x) + pool(conv2(act(conv1(act(x)))))."""
        s = F.avg_pool2d(x, 2)  # pooling and a 1x1 conv commute; pooling first is cheaper
        if self.skip is not None:
            s = self.skip(s)
        h = self.conv1(x if self.first else F.leaky_relu(x, 0.2))
        h = self.conv2(F.leaky_relu(h, 0.2))
        return s + F.avg_pool2d(h, 2)


class _UpBlock(nn.Module):
    """Residual block of the D decoder: LeakyReLU, nearest x2 upsampling, conv3x3, LeakyReLU, conv3x3; the
    shortcut is the upsampled input through a learned 1x1 conv when the channels change."""

    def __init__(self, fin: int, fout: int, sn: bool):
        super().__init__()
        self.conv1 = spectral(nn.Conv2d(fin, fout, 3, padding=1), sn)
        self.conv2 = spectral(nn.Conv2d(fout, fout, 3, padding=1), sn)
        self.skip = spectral(nn.Conv2d(fin, fout, 1), sn) if fin != fout else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """shortcut(x) + conv2(act(conv1(up(act(x)))))."""
        s = x if self.skip is None else self.skip(x)  # a 1x1 conv commutes with nearest upsampling
        s = F.interpolate(s, scale_factor=2.0, mode="nearest")
        h = self.conv1(F.interpolate(F.leaky_relu(x, 0.2), scale_factor=2.0, mode="nearest"))
        h = self.conv2(F.leaky_relu(h, 0.2))
        return s + h


class UNetSegDiscriminator(nn.Module):
    """OASIS's discriminator (paper sec. 3.1 and appendix): a U-Net semantic segmenter of the image alone (no label
    input). Encoder: 6 residual down blocks, channels 3 -> 2, 2, 4, 4, 8, 8 x ndf (128, 128, 256, 256, 512, 512 at
    ndf 64), each halving the size. Decoder: 6 residual up blocks, each doubling it; from the second on, each reads
    the previous output concatenated with the encoder output of the same size (U-Net skips); the last one outputs
    ndf channels at full resolution, and a 1x1 conv gives ``num_outputs`` per-pixel logits (N + 1: class 0 =
    fake, 1..N = the semantic classes). Spectral norm on every conv but the 1x1 classifier (the authors' code),
    no activation norm; ``head_spectral_norm`` puts it on the classifier too. (Measured: with an unnormalised
    classifier under the 0.02 Xavier init, the logits start ~1e-3 and D's cross-entropy barely moves for tens of
    steps; with it normalised, D separates real from fake within ~20: worth it for short runs.)
    Input sides must be multiples of 64."""

    def __init__(self, num_outputs: int, ndf: int = 64, in_channels: int = 3, spectral_norm: bool = True,
                 head_spectral_norm: bool = False):
        super().__init__()
        if num_outputs < 2:
            raise ConfigError(f"the segmentation discriminator needs at least 2 outputs (fake + 1 class), got "
                              f"{num_outputs}.")
        enc = [in_channels] + [m * ndf for m in (2, 2, 4, 4, 8, 8)]
        self.down = nn.ModuleList(_DownBlock(a, b, i == 0, spectral_norm)
                                  for i, (a, b) in enumerate(zip(enc[:-1], enc[1:])))
        # decoder outputs mirror the encoder (512, 256, 256, 128, 128) and end at ndf
        dec_out = enc[-2:0:-1] + [ndf]
        dec_in = [enc[-1]] + [enc[-1 - i] + dec_out[i - 1] for i in range(1, len(dec_out))]
        self.up = nn.ModuleList(_UpBlock(a, b, spectral_norm) for a, b in zip(dec_in, dec_out))
        self.head = spectral(nn.Conv2d(ndf, num_outputs, 1), spectral_norm and head_spectral_norm)
        self.multiple = 2 ** len(self.down)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Per-pixel logits N x num_outputs x H x W of images N x 3 x H x W (sides multiples of 64)."""
        h, w = x.shape[-2:]
        if h % self.multiple or w % self.multiple:
            raise ModelError(f"the OASIS discriminator takes sides that are multiples of {self.multiple} (6 "
                             f"poolings, U-Net skips); got {w}x{h}. Train on crops of such a size.")
        feats = []
        for block in self.down:
            x = block(x)
            feats.append(x)
        x = self.up[0](x)
        for i, block in enumerate(self.up[1:], start=2):
            x = block(torch.cat([feats[-i], x], 1))
        return self.head(x)


__all__ = ["G_CHANNELS", "OASISGenerator", "UNetSegDiscriminator", "noise_map"]
