"""SEAN's networks (Zhu, Abdal, Qin & Wonka, CVPR 2020, "SEAN: Image Synthesis with Semantic Region-Adaptive
Normalization"), written from the paper (sec. 3, figs. 3-4) and the behaviour described in the repo's reference
notes (no code copied: the authors' code is CC BY-NC-SA).

- ``RegionStyleEncoder``: a small conv encoder-decoder turns a style image into a ``style_dim``-channel map
  (512 in the paper); region-wise average pooling over a label map turns the map into the style matrix
  ST = [B, label_nc, style_dim], one code per class ("region"). Pooling is ONE einsum over the one-hot, for any
  number of classes (the authors' code loops over batch x class and hard-codes 19 classes, issue #35).
- ``SEANNorm``: a parameter-free norm, then a per-pixel scale and shift blended from two paths: the region-style
  path (each class's code through its own per-layer linear projection + ReLU, broadcast onto that class's pixels,
  then one conv each to gamma_s, beta_s) and SPADE's path (gamma_o, beta_o from the label map, reusing
  ``SpatiallyAdaptiveNorm``); gamma = a_g gamma_s + (1 - a_g) gamma_o, beta likewise, a_g and a_b learned.
  Optional StyleGAN-like per-pixel noise with a learned per-channel scale (zero at init) is added first.
- ``SEANGenerator``: SPADE's generator layout (condgen.nn.spade) with ``SPADEResBlock(norm=SEANNorm)``.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import nn
from torch.nn import functional as F

from condgen.errors import ConfigError, ModelError
from condgen.nn.labels import IGNORE_ID, check_label_ids, semantic_input
from condgen.nn.norms import SpatiallyAdaptiveNorm
from condgen.nn.spade import UPSAMPLINGS, SPADEResBlock, init_xavier

# ----- style matrix ------------------------------------------------------------------------------------------
POOLINGS = ("nearest", "area")


def region_average(features: torch.Tensor, segmap: torch.Tensor, label_nc: int, ignore_id: int = IGNORE_ID,
                   pooling: str = "nearest") -> tuple[torch.Tensor, torch.Tensor]:
    """Region-wise average pooling (SEAN sec. 3.1): (codes [B, label_nc, S], present [B, label_nc] bool) from a
    feature map [B, S, h, w] and a label map [B, H, W] of ids (``ignore_id`` = don't care, excluded).

    ``pooling`` "nearest" (the authors' release): the label map is resized (nearest) to the feature map's size and
    codes[b, k] is the mean feature over the cells labelled k, so a class that covers no sampled label pixel gets
    no code. "area": the mean as if the feature map were upsampled (nearest) to the label map's size, i.e. each
    cell weighted by the fraction of it class k covers (when H, W are multiples of h, w; otherwise the features
    are upsampled): every class present in the label map gets a code. A class absent from an image gets a zero
    code and ``present`` False. One einsum, no loop over classes."""
    if pooling not in POOLINGS:
        raise ConfigError(f"unknown region pooling {pooling!r}: choose one of {', '.join(POOLINGS)}.")
    segmap = segmap.to(features.device)
    (H, W), (h, w) = segmap.shape[-2:], features.shape[-2:]
    if pooling == "nearest" and (H, W) != (h, w):
        check_label_ids(segmap, label_nc, ignore_id)  # before resizing drops the offending pixels
        segmap = F.interpolate(segmap[:, None].float(), size=(h, w), mode="nearest")[:, 0].round().long()
    # don't-care pixels are all zero in the one-hot: they count for no class
    onehot = semantic_input(segmap, label_nc, ignore_id=ignore_id).to(features.dtype)
    if pooling == "area" and (H, W) != (h, w):
        if H % h == 0 and W % w == 0:
            onehot = F.avg_pool2d(onehot, (H // h, W // w))  # fraction of each feature cell per class
        else:
            features = F.interpolate(features, size=(H, W), mode="nearest")
    area = onehot.sum((-2, -1))
    present = area > 0
    codes = torch.einsum("bkhw,bshw->bks", onehot, features) / area.clamp_min(1e-12)[..., None]
    return codes * present[..., None], present


class RegionStyleEncoder(nn.Module):
    """SEAN's style encoder (fig. 4A; layout as in the authors' release, per the reference notes): reflection-padded
    conv3x3 to ``nf``, two stride-2 conv3x3 (2 nf, 4 nf), a stride-2 transposed conv3x3 (8 nf), each with instance
    norm and LeakyReLU 0.2, then a reflection-padded conv3x3 to ``style_dim`` and tanh: a style map at half the
    image's resolution (nf 32, style_dim 512 in the paper). ``forward(image, segmap)`` pools it per region into the
    style matrix (``region_average`` with ``pooling``).

    It also keeps the running mean code of every class (buffers ``mean_codes``, ``code_seen``; updated by the
    model during training with ``update_means``): the default code of a region no style image provides (the
    authors' UI computes such per-class mean codes after training, ``calculate_mean_style_code.py``)."""

    def __init__(self, label_nc: int, style_dim: int = 512, nf: int = 32, in_channels: int = 3,
                 pooling: str = "nearest"):
        super().__init__()
        if pooling not in POOLINGS:
            raise ConfigError(f"unknown region pooling {pooling!r}: choose one of {', '.join(POOLINGS)}.")
        self.label_nc, self.style_dim, self.pooling = label_nc, style_dim, pooling

        def block(conv: nn.Module, ch: int) -> nn.Sequential:
            return nn.Sequential(conv, nn.InstanceNorm2d(ch, affine=False), nn.LeakyReLU(0.2))

        self.net = nn.Sequential(
            block(nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(in_channels, nf, 3)), nf),
            block(nn.Conv2d(nf, 2 * nf, 3, stride=2, padding=1), 2 * nf),
            block(nn.Conv2d(2 * nf, 4 * nf, 3, stride=2, padding=1), 4 * nf),
            block(nn.ConvTranspose2d(4 * nf, 8 * nf, 3, stride=2, padding=1, output_padding=1), 8 * nf),
            nn.ReflectionPad2d(1), nn.Conv2d(8 * nf, style_dim, 3), nn.Tanh())
        self.register_buffer("mean_codes", torch.zeros(label_nc, style_dim))
        self.register_buffer("code_seen", torch.zeros(label_nc, dtype=torch.bool))

    def style_map(self, image: torch.Tensor) -> torch.Tensor:
        """The style feature map [B, style_dim, ~H/2, ~W/2] of images in [-1, 1]."""
        return self.net(image)

    def forward(self, image: torch.Tensor, segmap: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(style matrix [B, label_nc, style_dim], present [B, label_nc]) of images and their label maps."""
        if image.shape[-2:] != segmap.shape[-2:]:
            raise ModelError(f"the style image is {tuple(image.shape[-2:])} (H, W) but its label map is "
                             f"{tuple(segmap.shape[-2:])}; they must be the same size.")
        return region_average(self.style_map(image), segmap, self.label_nc, pooling=self.pooling)

    @torch.no_grad()
    def update_means(self, codes: torch.Tensor, present: torch.Tensor, momentum: float) -> None:
        """Move each class's running mean code towards this batch's mean code of that class (classes present in
        the batch only); a class seen for the first time takes the batch mean."""
        n = present.sum(0)
        seen = n > 0
        if not bool(seen.any()):
            return
        batch_mean = (codes.float() * present[..., None]).sum(0) / n.clamp_min(1)[:, None]
        rate = torch.where(self.code_seen, torch.full_like(n, momentum, dtype=torch.float32),
                           torch.ones_like(n, dtype=torch.float32))[:, None]
        new = self.mean_codes + rate * (batch_mean - self.mean_codes)
        self.mean_codes.copy_(torch.where(seen[:, None], new, self.mean_codes))
        self.code_seen |= seen

    def default_codes(self, n: int) -> torch.Tensor:
        """[n, label_nc, style_dim]: every class's running mean code (zero for a class never seen in training)."""
        return self.mean_codes[None].expand(n, -1, -1).clone()


# ----- the SEAN normalisation --------------------------------------------------------------------------------
class RegionLinear(nn.Module):
    """One linear layer per class, applied to that class's code: [B, K, S] -> [B, K, out] (the paper's per-style
    projection of each code before it is broadcast; one batched einsum over a [K, out, S] weight, so any K)."""

    def __init__(self, num_classes: int, in_features: int, out_features: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_classes, out_features, in_features))
        self.bias = nn.Parameter(torch.empty(num_classes, out_features))
        bound = in_features ** -0.5  # nn.Linear's default range
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        """codes[b, k] @ weight[k].T + bias[k] for every class k."""
        return torch.einsum("bks,kos->bko", codes, self.weight) + self.bias

    def reset_xavier(self, gain: float) -> None:
        """Glorot-normal weights per class (each k is one Linear of the authors' code), zero biases."""
        for k in range(self.weight.shape[0]):
            nn.init.xavier_normal_(self.weight.data[k], gain=gain)
        nn.init.zeros_(self.bias)

    def extra_repr(self) -> str:
        k, o, s = self.weight.shape
        return f"classes={k}, in_features={s}, out_features={o}"


class SEANNorm(nn.Module):
    """SEAN normalisation (paper sec. 3.1, fig. 3): ``norm(x + noise) * (1 + gamma) + beta`` with

    - region-style path: each class's code of the style matrix through its own linear layer (``RegionLinear``,
      ``style_dim`` -> ``style_dim``) + ReLU, broadcast onto the pixels of that class (nearest-resized label map;
      don't-care pixels get zeros), then conv -> gamma_s and conv -> beta_s (kernel ``kernel_size``);
    - SPADE path: ``SpatiallyAdaptiveNorm.modulation`` of the semantic map -> gamma_o, beta_o (its param-free norm
      is the one used here);
    - blend: gamma = a_g gamma_s + (1 - a_g) gamma_o, beta = a_b beta_s + (1 - a_b) beta_o, where
      a = sigmoid(learned scalar), 0.5 at init (the paper: "learnable parameters"; the sigmoid, which keeps the
      blend convex, is the authors' release per the reference notes);
    - noise: with ``noise``, x + n * s where n is one N(0, 1) map per sample (shared by the channels) and s a
      learned per-channel scale, zero at init (fig. 4B's noise input, StyleGAN style). ``n`` comes from the
      ``torch.Generator`` passed in (none: no noise), never from a hidden global draw.

    Called as ``norm(x, semantic, style_matrix, noise_generator)``, which is how ``SPADEResBlock`` calls its norms.
    The ``1 +`` is SPADE's convention (SEAN issue #41). The first ``label_nc`` channels of ``semantic`` are the
    class one-hot; further channels (don't-care class, instance edges) feed the SPADE path only.

    ``region_styles=False`` drops the region-style path (gamma, beta from the labels alone, the noise kept): the
    norm of the authors' last block (``use_rgb=False``), SPADE's plus the noise input."""

    def __init__(self, channels: int, label_nc: int, semantic_nc: int, style_dim: int = 512,
                 param_free: str = "syncbatch", hidden: int = 128, kernel_size: int = 3, noise: bool = True,
                 region_styles: bool = True):
        super().__init__()
        if semantic_nc < label_nc:
            raise ConfigError(f"semantic_nc ({semantic_nc}) must include the {label_nc} class channels.")
        self.channels, self.label_nc, self.style_dim = channels, label_nc, style_dim
        self.region_styles = region_styles
        self.spade = SpatiallyAdaptiveNorm(channels, semantic_nc, param_free, hidden, kernel_size)
        if region_styles:
            self.style_proj = RegionLinear(label_nc, style_dim, style_dim)
            pad = kernel_size // 2
            self.conv_gamma = nn.Conv2d(style_dim, channels, kernel_size, padding=pad)
            self.conv_beta = nn.Conv2d(style_dim, channels, kernel_size, padding=pad)
            self.blend_gamma = nn.Parameter(torch.zeros(()))
            self.blend_beta = nn.Parameter(torch.zeros(()))
        self.noise_scale = nn.Parameter(torch.zeros(channels)) if noise else None

    def alphas(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(a_gamma, a_beta): the weights of the region-style path in the blend, in (0, 1)."""
        return torch.sigmoid(self.blend_gamma), torch.sigmoid(self.blend_beta)

    def style_map(self, semantic: torch.Tensor, style_matrix: torch.Tensor) -> torch.Tensor:
        """[B, style_dim, h, w]: each class's projected code on its pixels (``semantic`` already at x's size)."""
        if style_matrix.shape[1:] != (self.label_nc, self.style_dim):
            raise ModelError(f"the style matrix must be [B, {self.label_nc}, {self.style_dim}] (label_nc x style_dim),"
                             f" got {list(style_matrix.shape)}.")
        codes = F.relu(self.style_proj(style_matrix.to(semantic.dtype)))
        return torch.einsum("bks,bkhw->bshw", codes, semantic[:, :self.label_nc])

    @staticmethod
    def blend(a: torch.Tensor, from_style: torch.Tensor, from_labels: torch.Tensor) -> torch.Tensor:
        """a * from_style + (1 - a) * from_labels (paper sec. 3.1)."""
        return a * from_style + (1 - a) * from_labels

    def forward(self, x: torch.Tensor, semantic: torch.Tensor, style_matrix: torch.Tensor,
                noise: torch.Generator | None = None) -> torch.Tensor:
        """norm(x [+ noise]) * (1 + gamma) + beta with the blended gamma, beta."""
        if self.noise_scale is not None and noise is not None:
            n = torch.randn(x.shape[0], 1, *x.shape[-2:], generator=noise, device=x.device, dtype=x.dtype)
            x = x + n * self.noise_scale.to(x.dtype)[None, :, None, None]
        sem = self.spade.resize(semantic, x.shape[-2:])
        gamma_o, beta_o = self.spade.modulation(sem)
        if not self.region_styles:
            return self.spade.normalize(x) * (1 + gamma_o.float()) + beta_o.float()
        smap = self.style_map(sem, style_matrix)
        gamma_s, beta_s = self.conv_gamma(smap), self.conv_beta(smap)
        a_g, a_b = self.alphas()
        gamma = self.blend(a_g, gamma_s, gamma_o)
        beta = self.blend(a_b, beta_s, beta_o)
        return self.spade.normalize(x) * (1 + gamma.float()) + beta.float()

    def extra_repr(self) -> str:
        return (f"{self.channels}, label_nc={self.label_nc}, style_dim={self.style_dim}, "
                f"noise={self.noise_scale is not None}, region_styles={self.region_styles}")


# ----- generator ---------------------------------------------------------------------------------------------
class SEANGenerator(nn.Module):
    """SEAN generator (fig. 4A): SPADE's layout (condgen.nn.spade.SPADEGenerator: the semantic map downsampled to
    1/2^5 and a conv3x3 to 16 ngf, ResBlks 16, 16, 16, 8, 4, 2, 1 x ngf with nearest x2 upsampling, LeakyReLU ->
    conv3x3 -> tanh) whose ResBlks normalise with ``SEANNorm``. ``spade_last_block`` (the authors' release; SEAN
    issue #7 asks why; the paper's figure shows SEAN blocks throughout) gives the last block SPADE's modulation
    without region styles, keeping the noise inputs as the release's ``use_rgb=False`` block does.

    ``forward(semantic, style_matrix, noise=None)``: the semantic map [B, semantic_nc, H, W] (one-hot of label_nc
    classes first), the style matrix [B, label_nc, style_dim], and an optional ``torch.Generator`` for the noise
    inputs (none: no noise)."""

    def __init__(self, label_nc: int, semantic_nc: int, ngf: int = 64, style_dim: int = 512,
                 num_upsampling_layers: str = "normal", param_free: str = "syncbatch", spectral_norm: bool = True,
                 hidden: int = 128, kernel_size: int = 3, noise: bool = True, spade_last_block: bool = False):
        super().__init__()
        if num_upsampling_layers not in UPSAMPLINGS:
            raise ConfigError(f"num_upsampling_layers must be one of {', '.join(UPSAMPLINGS)}, "
                              f"got {num_upsampling_layers!r}.")
        self.mode, self.num_up = num_upsampling_layers, UPSAMPLINGS[num_upsampling_layers]
        self.multiple = 2 ** self.num_up
        self.label_nc, self.semantic_nc, self.style_dim, self.ngf = label_nc, semantic_nc, style_dim, ngf
        norm = partial(SEANNorm, label_nc=label_nc, semantic_nc=semantic_nc, style_dim=style_dim,
                       param_free=param_free, hidden=hidden, kernel_size=kernel_size, noise=noise)
        block = partial(SPADEResBlock, spectral_norm=spectral_norm, norm=norm)
        nf = 16 * ngf
        self.fc = nn.Conv2d(semantic_nc, nf, 3, padding=1)
        self.head = block(nf, nf)
        self.middle = nn.ModuleList([block(nf, nf), block(nf, nf)])
        chans = [16 * ngf, 8 * ngf, 4 * ngf, 2 * ngf, ngf] + ([ngf // 2] if self.mode == "most" else [])
        pairs = list(zip(chans[:-1], chans[1:]))
        ups = [block(a, b) for a, b in pairs[:-1]]
        last = partial(SPADEResBlock, spectral_norm=spectral_norm, norm=partial(norm, region_styles=False))
        ups.append((last if spade_last_block else block)(*pairs[-1]))
        self.ups = nn.ModuleList(ups)
        self.spade_last_block = spade_last_block
        self.to_rgb = nn.Conv2d(chans[-1], 3, 3, padding=1)

    def start_size(self, height: int, width: int) -> tuple[int, int]:
        """(h, w) of the first feature map for an ``height`` x ``width`` output (multiples of ``multiple``)."""
        if height % self.multiple or width % self.multiple:
            raise ModelError(f"the SEAN generator makes images whose sides are multiples of {self.multiple} "
                             f"(2^{self.num_up} upsamplings), got {width}x{height}; pad or resize the label map "
                             "(SEAN.translate does it for you).")
        return height // self.multiple, width // self.multiple

    @staticmethod
    def up(x: torch.Tensor) -> torch.Tensor:
        """Nearest-neighbour x2 upsampling."""
        return F.interpolate(x, scale_factor=2, mode="nearest")

    def forward(self, semantic: torch.Tensor, style_matrix: torch.Tensor,
                noise: torch.Generator | None = None) -> torch.Tensor:
        """Images in [-1, 1], [B, 3, H, W]."""
        if style_matrix.shape[0] != semantic.shape[0]:
            raise ModelError(f"{style_matrix.shape[0]} style matrices for {semantic.shape[0]} label maps.")
        cond = (semantic, style_matrix, noise)
        sh, sw = self.start_size(*semantic.shape[-2:])
        x = self.fc(F.interpolate(semantic, size=(sh, sw), mode="nearest"))
        x = self.head(x, *cond)
        x = self.up(x)
        x = self.middle[0](x, *cond)
        if self.mode in ("more", "most"):
            x = self.up(x)
        x = self.middle[1](x, *cond)
        for block in self.ups:
            x = block(self.up(x), *cond)
        return torch.tanh(self.to_rgb(F.leaky_relu(x, 0.2)))


def init_sean(module: nn.Module, gain: float = 0.02) -> None:
    """``init_xavier`` (the SPADE/SEAN authors' xavier init with gain 0.02) plus the per-class linear layers."""
    init_xavier(module, gain)
    for m in module.modules():
        if isinstance(m, RegionLinear):
            m.reset_xavier(gain)
        elif isinstance(m, nn.ConvTranspose2d):
            nn.init.xavier_normal_(m.weight, gain=gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


__all__ = ["RegionLinear", "RegionStyleEncoder", "SEANGenerator", "SEANNorm", "init_sean", "region_average"]
