"""SPADE's networks (Park, Liu, Wang & Zhu, CVPR 2019, "Semantic Image Synthesis with Spatially-Adaptive
Normalization"), written from the paper (sec. 3 and appendix A): the SPADE residual block, the generator, the VAE
image encoder, and the multi-scale PatchGAN discriminator that returns its features for feature matching.

The blocks are meant to be reused: ``SPADEResBlock`` takes any conditioning tensor (OASIS passes label ⊕ 3-D
noise) and, through ``norm``, any normalisation layer with the signature ``norm(x, *cond)`` (SEAN's region-
adaptive norm); the label contract (one-hot, don't care, instance edges) is in ``condgen.nn.labels``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

from condgen.errors import ConfigError, ModelError
from condgen.nn.norms import SpatiallyAdaptiveNorm

#: ``num_upsampling_layers`` -> number of x2 upsamplings (the authors' option; "more" is their Cityscapes setting)
UPSAMPLINGS = {"normal": 5, "more": 6, "most": 7}


def spectral(module: nn.Module, on: bool = True) -> nn.Module:
    """``module`` with spectral normalisation of its weight (Miyato et al. 2018) when ``on``."""
    return spectral_norm(module) if on else module


def init_xavier(module: nn.Module, gain: float = 0.02) -> None:
    """Glorot-normal weights with ``gain`` (the SPADE authors' ``init_type xavier``, ``init_variance 0.02``) for
    every conv and linear layer, zero biases; under spectral norm the raw weight is initialised."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            w = m.parametrizations.weight.original if parametrize.is_parametrized(m, "weight") else m.weight
            nn.init.xavier_normal_(w, gain=gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class SPADEResBlock(nn.Module):
    """SPADE ResBlk (paper sec. 3, appendix A): pre-activation ``norm -> LeakyReLU 0.2 -> conv3x3`` twice through
    ``min(fin, fout)`` middle channels; when ``fin != fout`` the shortcut is learned, ``norm -> conv1x1`` (no bias),
    with its own norm; otherwise it is the identity. Spectral norm on the three convs.

    ``norm(channels)`` builds each normalisation layer (default: ``SpatiallyAdaptiveNorm(channels, cond_channels,
    param_free, hidden, kernel_size)``); it is called as ``norm(x, *cond)``, so SEAN can plug in a norm that also
    takes style codes and OASIS a conditioning map with noise channels."""

    def __init__(self, fin: int, fout: int, cond_channels: int = 0, param_free: str = "syncbatch",
                 spectral_norm: bool = True, hidden: int = 128, kernel_size: int = 3,
                 norm: Callable[[int], nn.Module] | None = None):
        super().__init__()
        if norm is None:
            if cond_channels < 1:
                raise ConfigError("SPADEResBlock needs cond_channels (the conditioning map's channels) or a norm.")
            norm = partial(SpatiallyAdaptiveNorm, cond_channels=cond_channels, param_free=param_free, hidden=hidden,
                           kernel_size=kernel_size)
        self.fin, self.fout = fin, fout
        self.learned_shortcut = fin != fout
        fmid = min(fin, fout)
        self.norm_0, self.conv_0 = norm(fin), spectral(nn.Conv2d(fin, fmid, 3, padding=1), spectral_norm)
        self.norm_1, self.conv_1 = norm(fmid), spectral(nn.Conv2d(fmid, fout, 3, padding=1), spectral_norm)
        if self.learned_shortcut:
            self.norm_s = norm(fin)
            self.conv_s = spectral(nn.Conv2d(fin, fout, 1, bias=False), spectral_norm)

    @staticmethod
    def act(x: torch.Tensor) -> torch.Tensor:
        """LeakyReLU with slope 0.2."""
        return F.leaky_relu(x, 0.2)

    def shortcut(self, x: torch.Tensor, *cond: torch.Tensor) -> torch.Tensor:
        """Identity, or norm -> 1x1 conv when the channels change."""
        return self.conv_s(self.norm_s(x, *cond)) if self.learned_shortcut else x

    def forward(self, x: torch.Tensor, *cond: torch.Tensor) -> torch.Tensor:
        """shortcut(x) + conv_1(act(norm_1(conv_0(act(norm_0(x))))))."""
        dx = self.conv_0(self.act(self.norm_0(x, *cond)))
        dx = self.conv_1(self.act(self.norm_1(dx, *cond)))
        return self.shortcut(x, *cond) + dx


class SPADEGenerator(nn.Module):
    """The SPADE generator (appendix A): from a 16·ngf-channel map at 1/2^5 of the output size, SPADE
    ResBlks with nearest x2 upsampling between them, channels 16, 16, 16, 8, 4, 2, 1 x ngf, then LeakyReLU ->
    conv3x3 -> tanh. Every norm reads the semantic map (``semantic_nc`` channels, see ``condgen.nn.labels``).

    The first map is the semantic map downsampled (nearest) and a conv3x3, so any size that is a multiple of
    ``multiple`` works; or, with ``use_vae``, a linear layer of the style code ``z`` (``z_dim``) reshaped to the
    training size's first map (``crop_size`` / 2^5 wide, ``aspect_ratio`` = width / height).
    ``num_upsampling_layers`` "more" adds an upsampling between the two middle blocks (the authors' Cityscapes
    setting) and "most" one more block at ngf / 2 channels. ``z`` is always an explicit argument."""

    def __init__(self, semantic_nc: int, ngf: int = 64, num_upsampling_layers: str = "normal", use_vae: bool = False,
                 z_dim: int = 256, crop_size: int = 256, aspect_ratio: float = 1.0, param_free: str = "syncbatch",
                 spectral_norm: bool = True, hidden: int = 128, kernel_size: int = 3):
        super().__init__()
        if num_upsampling_layers not in UPSAMPLINGS:
            raise ConfigError(f"num_upsampling_layers must be one of {', '.join(UPSAMPLINGS)}, "
                              f"got {num_upsampling_layers!r}.")
        self.num_up = UPSAMPLINGS[num_upsampling_layers]
        self.mode = num_upsampling_layers
        self.semantic_nc, self.ngf, self.use_vae, self.z_dim = semantic_nc, ngf, use_vae, z_dim
        self.multiple = 2 ** self.num_up
        self.sw = crop_size // self.multiple
        self.sh = max(1, round(self.sw / aspect_ratio))
        if use_vae and self.sw < 1:
            raise ConfigError(f"crop size {crop_size} is smaller than the generator's 2^{self.num_up} = "
                              f"{self.multiple}: the VAE generator starts from a crop/{self.multiple} map.")
        nf = 16 * ngf
        if use_vae:
            self.fc = nn.Linear(z_dim, nf * self.sh * self.sw)
        else:
            self.fc = nn.Conv2d(semantic_nc, nf, 3, padding=1)
        block = partial(SPADEResBlock, cond_channels=semantic_nc, param_free=param_free, spectral_norm=spectral_norm,
                        hidden=hidden, kernel_size=kernel_size)
        self.head = block(nf, nf)
        self.middle = nn.ModuleList([block(nf, nf), block(nf, nf)])
        chans = [16 * ngf, 8 * ngf, 4 * ngf, 2 * ngf, ngf] + ([ngf // 2] if self.mode == "most" else [])
        self.ups = nn.ModuleList(block(a, b) for a, b in zip(chans[:-1], chans[1:]))
        self.to_rgb = nn.Conv2d(chans[-1], 3, 3, padding=1)

    def start_size(self, height: int, width: int) -> tuple[int, int]:
        """(h, w) of the first feature map for an output of ``height`` x ``width`` (multiples of ``multiple``)."""
        if height % self.multiple or width % self.multiple:
            raise ModelError(f"the SPADE generator makes images whose sides are multiples of {self.multiple} "
                             f"(2^{self.num_up} upsamplings), got {width}x{height}; pad or resize the label map "
                             "(SPADE.translate does it for you).")
        return height // self.multiple, width // self.multiple

    @staticmethod
    def up(x: torch.Tensor) -> torch.Tensor:
        """Nearest-neighbour x2 upsampling."""
        return F.interpolate(x, scale_factor=2, mode="nearest")

    def forward(self, semantic: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        """Images in [-1, 1], N x 3 x H x W, for the semantic map (N x semantic_nc x H x W) and, with ``use_vae``,
        the style codes ``z`` (N x z_dim)."""
        sh, sw = self.start_size(*semantic.shape[-2:])
        if self.use_vae:
            if z is None:
                raise ModelError("this SPADE generator was trained with a VAE: pass the style code z explicitly "
                                 "(N x z_dim, from the encoder or N(0, I)).")
            if (sh, sw) != (self.sh, self.sw):
                raise ModelError(f"a VAE SPADE generator makes images of its training size "
                                 f"{self.sw * self.multiple}x{self.sh * self.multiple} only (its first layer is a "
                                 f"linear map of z), got a {semantic.shape[-1]}x{semantic.shape[-2]} label map; "
                                 "resize the label map (SPADE.translate does it for you).")
            x = self.fc(z.reshape(z.shape[0], -1)).view(-1, 16 * self.ngf, sh, sw)
        else:
            x = self.fc(F.interpolate(semantic, size=(sh, sw), mode="nearest"))
        x = self.head(x, semantic)
        x = self.up(x)
        x = self.middle[0](x, semantic)
        if self.mode in ("more", "most"):
            x = self.up(x)
        x = self.middle[1](x, semantic)
        for block in self.ups:
            x = block(self.up(x), semantic)
        return torch.tanh(self.to_rgb(F.leaky_relu(x, 0.2)))


class ConvEncoder(nn.Module):
    """SPADE's VAE image encoder (appendix A): the image resized to ``input_size`` (256 in the paper),
    six stride-2 conv3x3 layers (64, 128, 256, 512, 512, 512 for ndf 64) with spectral + instance norm and
    LeakyReLU 0.2, then two linear layers to the mean and the log-variance of a ``z_dim`` (256) Gaussian. The convs
    have no bias (``conv_bias`` adds them), as in the authors' code: instance norm would cancel it."""

    def __init__(self, in_channels: int = 3, ndf: int = 64, z_dim: int = 256, input_size: int = 256,
                 spectral_norm: bool = True, conv_bias: bool = False):
        super().__init__()
        if input_size % 64 or input_size < 128:
            raise ConfigError(f"the encoder input size must be a multiple of 64 and at least 128 (six stride-2 "
                              f"layers, and instance norm needs more than 1 x 1 at the end), got {input_size}.")
        self.input_size = input_size
        chans = [in_channels, ndf, 2 * ndf, 4 * ndf, 8 * ndf, 8 * ndf, 8 * ndf]
        self.layers = nn.Sequential(*(nn.Sequential(spectral(nn.Conv2d(a, b, 3, stride=2, padding=1, bias=conv_bias),
                                                             spectral_norm),
                                                    nn.InstanceNorm2d(b, affine=False), nn.LeakyReLU(0.2))
                                      for a, b in zip(chans[:-1], chans[1:])))
        s = input_size // 64
        self.fc_mu = nn.Linear(chans[-1] * s * s, z_dim)
        self.fc_logvar = nn.Linear(chans[-1] * s * s, z_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar), each N x z_dim, of images in [-1, 1]."""
        if tuple(x.shape[-2:]) != (self.input_size, self.input_size):
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False)
        h = self.layers(x).flatten(1)
        return self.fc_mu(h), self.fc_logvar(h)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """z = mu + eps * exp(logvar / 2) (Kingma & Welling 2014), with the noise ``eps`` passed in."""
    return mu + eps * torch.exp(0.5 * logvar)


class PatchFeatureDiscriminator(nn.Module):
    """One scale of SPADE's discriminator (appendix A; the pix2pixHD PatchGAN): 4x4 convs with padding 2,
    ndf channels doubled per layer up to 512; stride 2 except the last hidden layer; spectral + instance norm and
    LeakyReLU 0.2 on the hidden layers after the first (which has no norm); a final 4x4 conv to one logit per
    patch. The convs that instance norm follows have no bias (``conv_bias`` adds them), as in the authors' code.
    Returns every layer's output, the logits last."""

    def __init__(self, in_channels: int, ndf: int = 64, n_layers: int = 4, spectral_norm: bool = True,
                 max_channels: int = 512, conv_bias: bool = False):
        super().__init__()
        if n_layers < 1:
            raise ConfigError(f"n_layers_D must be at least 1, got {n_layers}.")
        layers = [nn.Sequential(nn.Conv2d(in_channels, ndf, 4, stride=2, padding=2), nn.LeakyReLU(0.2))]
        nf = ndf
        for n in range(1, n_layers):
            prev, nf = nf, min(nf * 2, max_channels)
            stride = 1 if n == n_layers - 1 else 2
            conv = nn.Conv2d(prev, nf, 4, stride=stride, padding=2, bias=conv_bias)
            layers.append(nn.Sequential(spectral(conv, spectral_norm),
                                        nn.InstanceNorm2d(nf, affine=False), nn.LeakyReLU(0.2)))
        layers.append(nn.Conv2d(nf, 1, 4, stride=1, padding=2))
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every layer's output in order; the last is the patch logits."""
        feats = []
        for layer in self.layers:
            x = layer(x)
            feats.append(x)
        return feats


class SPADEDiscriminator(nn.Module):
    """SPADE's multi-scale discriminator (sec. 4, appendix A): ``num_D`` (2) PatchFeatureDiscriminators with their
    own weights on the input and on copies downsampled by 2, 4, ... (3x3 average pooling). The input is the
    semantic map concatenated with the image. ``forward`` returns, per scale (finest first), the list of every
    layer's features with the logits last: the last entries feed the GAN loss, the others feature matching."""

    def __init__(self, in_channels: int, ndf: int = 64, n_layers: int = 4, num_D: int = 2,
                 spectral_norm: bool = True, conv_bias: bool = False):
        super().__init__()
        if num_D < 1:
            raise ConfigError(f"num_D must be at least 1, got {num_D}.")
        self.scales = nn.ModuleList(PatchFeatureDiscriminator(in_channels, ndf, n_layers, spectral_norm,
                                                              conv_bias=conv_bias) for _ in range(num_D))
        self.down = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        """[[features..., logits] per scale], finest scale first."""
        outs = []
        for i, d in enumerate(self.scales):
            if i:
                x = self.down(x)
            outs.append(d(x))
        return outs


__all__ = ["UPSAMPLINGS", "ConvEncoder", "PatchFeatureDiscriminator", "SPADEDiscriminator", "SPADEGenerator",
           "SPADEResBlock", "init_xavier", "reparameterize", "spectral"]
