"""MUNIT's networks (Huang, Liu, Belongie & Kautz, ECCV 2018, sec. 5 "Implementation details" and appendix B).

Per domain: a content encoder (c7s1-64, d128, d256, 4 x R256; instance norm), a style encoder (c7s1-64, d128,
d256, d256, d256, global average pooling, 1x1 conv to an 8-d code; no normalisation, since IN would remove the
very statistics that carry style), and a decoder (4 x R256 with AdaIN whose scale/shift come from an MLP on the
style code, then 2 x [2x nearest upsampling, 5x5 conv, layer norm, ReLU], c7s1-out + tanh). Convolutions use
reflection padding. The layer norm and the layout of the MLP's output (beta, then gamma, per norm) are the
released code's; ``layer_norm="group"`` / ``adain_order="gamma_beta"`` give condgen's earlier ones.
``MUNITGenerators`` holds both domains (the trainer's "G"); its ``forward`` does everything a training step needs,
so it works wrapped in DistributedDataParallel. The discriminators (one multi-scale discriminator per domain,
appendix B) and the kaiming init are UNIT's, the same as MUNIT's released code uses:
``condgen.nn.multiscale.TwoDomainDiscriminators`` and ``condgen.nn.init.init_kaiming``.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from condgen.errors import ConfigError
from condgen.nn.norms import AdaIN, LayerNorm2d, norm_layer
from condgen.nn.resnet import ResnetBlock

ADAIN_ORDERS = ("beta_gamma", "gamma_beta")


def conv_block(cin: int, cout: int, kernel: int, stride: int = 1, norm: str = "none",
               act: str = "relu", layer_norm: str = "munit") -> nn.Sequential:
    """Reflection pad, conv (with bias), optional norm ("instance", "layer", "none"), activation ("relu", "tanh",
    "none"). Kernel 4 / stride 2 halves H and W; odd kernels with stride 1 keep them. ``layer_norm``: the kind of
    ``LayerNorm2d`` ("munit", the release's; "group")."""
    layers: OrderedDict[str, nn.Module] = OrderedDict(
        pad=nn.ReflectionPad2d((kernel - 1) // 2 if kernel % 2 else kernel // 2 - 1),
        conv=nn.Conv2d(cin, cout, kernel, stride))
    if norm == "layer":
        layers["norm"] = LayerNorm2d(cout, kind=layer_norm)
    elif norm != "none":
        layers["norm"] = norm_layer(norm, cout)
    if act == "relu":
        layers["act"] = nn.ReLU(inplace=True)
    elif act == "tanh":
        layers["act"] = nn.Tanh()
    return nn.Sequential(layers)


class ContentEncoder(nn.Module):
    """Image -> content code (ngf * 2^n_downsample channels at 1 / 2^n_downsample of the size): c7s1-ngf,
    ``n_downsample`` 4x4 stride-2 convs doubling the channels, ``n_res`` residual blocks; IN + ReLU throughout."""

    def __init__(self, in_channels: int = 3, ngf: int = 64, n_downsample: int = 2, n_res: int = 4):
        super().__init__()
        self.stem = conv_block(in_channels, ngf, 7, norm="instance")
        ch = ngf
        downs = []
        for _ in range(n_downsample):
            downs.append(conv_block(ch, ch * 2, 4, 2, norm="instance"))
            ch *= 2
        self.down = nn.Sequential(*downs)
        self.blocks = nn.Sequential(*(ResnetBlock(ch, "instance", 0.0, "reflect") for _ in range(n_res)))
        self.out_channels = ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Content code N x out_channels x H/2^n x W/2^n."""
        return self.blocks(self.down(self.stem(x)))


class StyleEncoder(nn.Module):
    """Image -> style code (N x style_dim): c7s1-ngf, 4x4 stride-2 convs doubling the channels twice and then
    keeping them (``n_downsample`` in all), ReLU, no normalisation, global average pooling, 1x1 conv."""

    def __init__(self, in_channels: int = 3, ngf: int = 64, style_dim: int = 8, n_downsample: int = 4):
        super().__init__()
        self.stem = conv_block(in_channels, ngf, 7)
        ch = ngf
        downs = []
        for i in range(n_downsample):
            out = ch * 2 if i < 2 else ch
            downs.append(conv_block(ch, out, 4, 2))
            ch = out
        self.down = nn.Sequential(*downs)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Conv2d(ch, style_dim, 1)
        self.min_size = 2 ** n_downsample  # a 2-px map is the smallest the last reflection padding accepts

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Style codes N x style_dim."""
        return self.head(self.pool(self.down(self.stem(x)))).flatten(1)


class StyleMLP(nn.Module):
    """Style code -> AdaIN parameters: ``n_layers`` fully connected layers, ReLU between them (none after the last)."""

    def __init__(self, style_dim: int, out_dim: int, hidden: int = 256, n_layers: int = 3):
        super().__init__()
        dims = [style_dim] + [hidden] * (n_layers - 1) + [out_dim]
        layers: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(a, b), nn.ReLU(inplace=True)]
        self.main = nn.Sequential(*layers[:-1])

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        """N x style_dim -> N x out_dim."""
        return self.main(s.flatten(1))


class AdaINResBlock(nn.Module):
    """x + [conv3, AdaIN, ReLU, conv3, AdaIN](x): the decoder's residual block, its norms steered by the style.
    ``order``: how each norm's slice of the MLP output is laid out, "beta_gamma" (the release: shift, then scale)
    or "gamma_beta"."""

    def __init__(self, channels: int, order: str = "beta_gamma"):
        super().__init__()
        if order not in ADAIN_ORDERS:
            raise ConfigError(f"unknown AdaIN parameter order {order!r}: choose one of {', '.join(ADAIN_ORDERS)}.")
        self.pad1, self.conv1, self.norm1 = nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), AdaIN(channels)
        self.pad2, self.conv2, self.norm2 = nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), AdaIN(channels)
        self.act = nn.ReLU(inplace=True)
        self.order = order
        #: AdaIN parameters this block consumes: (gamma, beta) for each of its two norms
        self.num_params = 4 * channels

    def forward(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """``params``: N x num_params, per norm beta | gamma (or gamma | beta, see ``order``)."""
        p1, q1, p2, q2 = params.chunk(4, dim=1)
        (b1, g1, b2, g2) = (p1, q1, p2, q2) if self.order == "beta_gamma" else (q1, p1, q2, p2)
        h = self.act(self.norm1(self.conv1(self.pad1(x)), g1, b1))
        h = self.norm2(self.conv2(self.pad2(h)), g2, b2)
        return x + h


class Decoder(nn.Module):
    """Content code + AdaIN parameters -> image: ``n_res`` AdaIN residual blocks, ``n_upsample`` x [nearest 2x
    upsampling, 5x5 conv halving the channels, layer norm, ReLU], then c7s1-out_channels and tanh."""

    def __init__(self, out_channels: int = 3, channels: int = 256, n_upsample: int = 2, n_res: int = 4,
                 layer_norm: str = "munit", adain_order: str = "beta_gamma"):
        super().__init__()
        self.blocks = nn.ModuleList(AdaINResBlock(channels, adain_order) for _ in range(n_res))
        ups: list[nn.Module] = []
        ch = channels
        for _ in range(n_upsample):
            ups += [nn.Upsample(scale_factor=2, mode="nearest"),
                    conv_block(ch, ch // 2, 5, norm="layer", layer_norm=layer_norm)]
            ch //= 2
        self.up = nn.Sequential(*ups)
        self.head = conv_block(ch, out_channels, 7, act="tanh")
        self.num_params = sum(b.num_params for b in self.blocks)

    def forward(self, content: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """Images N x out_channels x H x W in [-1, 1]; ``params`` N (or 1) x num_params."""
        if params.shape[0] != content.shape[0]:
            params = params.expand(content.shape[0], -1)
        h = content
        for block, p in zip(self.blocks, params.split([b.num_params for b in self.blocks], dim=1)):
            h = block(h, p)
        return self.head(self.up(h))


class MUNITGenerator(nn.Module):
    """One domain's auto-encoder: content encoder, style encoder, and the decoder with its style MLP."""

    def __init__(self, in_channels: int = 3, ngf: int = 64, style_dim: int = 8, n_downsample: int = 2,
                 n_res: int = 4, mlp_dim: int = 256, mlp_layers: int = 3, style_downsample: int = 4,
                 layer_norm: str = "munit", adain_order: str = "beta_gamma"):
        super().__init__()
        self.content = ContentEncoder(in_channels, ngf, n_downsample, n_res)
        self.style = StyleEncoder(in_channels, ngf, style_dim, style_downsample)
        self.decoder = Decoder(in_channels, self.content.out_channels, n_downsample, n_res, layer_norm, adain_order)
        self.mlp = StyleMLP(style_dim, self.decoder.num_params, mlp_dim, mlp_layers)
        self.style_dim = style_dim

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(content code, style code) of images of this domain."""
        return self.content(x), self.style(x)

    def decode(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """Images of this domain from a content code and style codes (N or 1 x style_dim)."""
        return self.decoder(content, self.mlp(style))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Within-domain reconstruction: decode(encode(x))."""
        return self.decode(*self.encode(x))


class MUNITGenerators(nn.Module):
    """Both domains' generators; ``forward`` runs everything the G step of one iteration needs."""

    def __init__(self, channels_A: int = 3, channels_B: int = 3, **kw):
        super().__init__()
        self.domains = nn.ModuleDict({"A": MUNITGenerator(channels_A, **kw), "B": MUNITGenerator(channels_B, **kw)})

    def __getitem__(self, domain: str) -> MUNITGenerator:
        return self.domains[domain]

    def forward(self, x_a: torch.Tensor, x_b: torch.Tensor, s_a: torch.Tensor, s_b: torch.Tensor,
                cycle: bool = False) -> dict[str, torch.Tensor]:
        """Encode both domains, reconstruct them, translate across with the prior styles ``s_a``/``s_b`` (codes
        drawn from N(0, I)), re-encode the translations, and (``cycle``) decode the re-encoded contents with
        the original styles. Keys: c_a, s_a_enc, rec_a, ab, c_ab, s_ab (and aba), likewise for b."""
        gen_a, gen_b = self.domains["A"], self.domains["B"]
        c_a, s_a_enc = gen_a.encode(x_a)
        c_b, s_b_enc = gen_b.encode(x_b)
        out = {"c_a": c_a, "s_a_enc": s_a_enc, "rec_a": gen_a.decode(c_a, s_a_enc),
               "c_b": c_b, "s_b_enc": s_b_enc, "rec_b": gen_b.decode(c_b, s_b_enc),
               "ab": gen_b.decode(c_a, s_b), "ba": gen_a.decode(c_b, s_a)}
        out["c_ab"], out["s_ab"] = gen_b.encode(out["ab"])  # content of A, style s_b
        out["c_ba"], out["s_ba"] = gen_a.encode(out["ba"])
        if cycle:  # style-augmented cycle: back with the image's own style
            out["aba"] = gen_a.decode(out["c_ab"], s_a_enc)
            out["bab"] = gen_b.decode(out["c_ba"], s_b_enc)
        return out
