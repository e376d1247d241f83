"""UNIT's networks (Liu, Breuel & Kautz, NeurIPS 2017, "Unsupervised Image-to-Image Translation Networks").

Each domain has a VAE: an encoder E_i (image -> mean mu of the latent code) and a generator G_i (code -> image).
The shared-latent-space assumption (sec. 2) is enforced by weight sharing (sec. 3): the last layers of E_1 and
E_2 are ONE module, and so are the first layers of G_1 and G_2. Layer types follow the paper's architecture table
(appendix) as the authors' 2017 code built it for the paper's experiments (its ``COCOResGen``):

    encoder   c7s1-ngf, LeakyReLU (no norm) | conv3 s2 -> 2ngf, IN, ReLU | conv3 s2 -> 4ngf, IN, ReLU |
              n_res_private residual blocks (IN) | n_res_shared residual blocks  <- shared: mu
    generator n_res_shared residual blocks  <- shared | n_res_private residual blocks |
              deconv3 s2 -> 2ngf, IN, ReLU | deconv3 s2 -> ngf, IN, ReLU | 1x1 (paper) or 7x7 conv -> C, tanh

The default is 3 private + 1 shared residual block on each side (the table; the 2017 experiment configs:
n_enc_res_blk 3, n_enc_shared_blk 1, n_gen_shared_blk 1, n_gen_res_blk 3). ``padding`` "zero" pads every conv
with zeros as the 2017 code does; "reflect" is the 2018 code's reflection padding.

``UNITGenerator`` holds both domains' encoders and generators with the shared blocks inside it once, so one DDP
wrapper covers every parameter exactly once; the two multi-scale discriminators are
``condgen.nn.multiscale.TwoDomainDiscriminators``.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from condgen.errors import ConfigError
from condgen.nn.norms import norm_layer
from condgen.nn.resnet import ResnetBlock

DOMAINS = ("A", "B")


PADDINGS = ("zero", "reflect")


def _pad(kind: str, size: int) -> nn.Module:
    return nn.ReflectionPad2d(size) if kind == "reflect" else nn.ZeroPad2d(size)


def residual_stack(channels: int, n: int, padding: str = "zero") -> nn.Sequential:
    """``n`` residual blocks with instance norm and ``padding`` (Johnson et al. 2016 blocks)."""
    return nn.Sequential(*(ResnetBlock(channels, norm="instance", padding=padding) for _ in range(n)))


def _in_relu(conv: nn.Module) -> nn.Sequential:
    return nn.Sequential(conv, norm_layer("instance", conv.out_channels), nn.ReLU(inplace=True))


def private_encoder(in_channels: int, ngf: int, n_res: int, padding: str = "zero") -> nn.Sequential:
    """The domain-specific front of E_i: c7s1-ngf, two stride-2 downsamplings to 4*ngf, ``n_res`` blocks."""
    return nn.Sequential(OrderedDict(
        # the 2017 code: the first layer alone has LeakyReLU (PyTorch's default slope) and no normalisation
        stem=nn.Sequential(_pad(padding, 3), nn.Conv2d(in_channels, ngf, 7), nn.LeakyReLU(0.01, inplace=True)),
        # stride 2 with one pixel each side: zeros in both codes (a 3x3 stride-2 conv)
        down=nn.Sequential(*(_in_relu(nn.Conv2d(ngf * 2 ** i, ngf * 2 ** (i + 1), 3, 2, 1)) for i in range(2))),
        blocks=residual_stack(ngf * 4, n_res, padding)))


def private_generator(out_channels: int, ngf: int, n_res: int, head_kernel: int = 1,
                      padding: str = "zero") -> nn.Sequential:
    """The domain-specific back of G_i: ``n_res`` blocks, two stride-2 transposed convs, a conv to the image."""
    pad = head_kernel // 2
    return nn.Sequential(OrderedDict(
        blocks=residual_stack(ngf * 4, n_res, padding),
        up=nn.Sequential(*(_in_relu(nn.ConvTranspose2d(ngf * 2 ** (2 - i), ngf * 2 ** (1 - i), 3, 2, 1,
                                                        output_padding=1)) for i in range(2))),
        head=nn.Sequential(_pad(padding, pad) if pad else nn.Identity(),
                           nn.Conv2d(ngf, out_channels, head_kernel), nn.Tanh())))


def add_latent_noise(mu: torch.Tensor) -> torch.Tensor:
    """z = mu + eps, eps ~ N(0, I): a sample of the paper's q(z|x) = N(mu, I) (sec. 3, "VAE")."""
    return mu + torch.randn_like(mu)


class UNITGenerator(nn.Module):
    """E_A, E_B, G_A, G_B with weight sharing; ``forward(x_a, x_b)`` runs every stream of one training step."""

    def __init__(self, channels_a: int = 3, channels_b: int = 3, ngf: int = 64, n_res_private: int = 3,
                 n_res_shared: int = 1, head_kernel: int = 1, padding: str = "zero"):
        super().__init__()
        if head_kernel % 2 == 0:
            raise ConfigError(f"model.head_kernel must be odd (1 = the paper's 1x1 layer, 7), got {head_kernel}.")
        if padding not in PADDINGS:
            raise ConfigError(f"unknown padding {padding!r}: choose one of {', '.join(PADDINGS)}.")
        channels = {"A": channels_a, "B": channels_b}
        self.enc = nn.ModuleDict({d: private_encoder(channels[d], ngf, n_res_private, padding) for d in DOMAINS})
        # The weight-sharing constraint: the highest encoder layers and the lowest generator layers are one module
        # each, whichever domain the image comes from or goes to.
        self.enc_shared = residual_stack(ngf * 4, n_res_shared, padding)
        self.gen_shared = residual_stack(ngf * 4, n_res_shared, padding)
        self.gen = nn.ModuleDict({d: private_generator(channels[d], ngf, n_res_private, head_kernel, padding)
                                  for d in DOMAINS})

    def encoder(self, domain: str) -> nn.Sequential:
        """E_domain as one sequence (private front, then the shared blocks): a view, not a new module."""
        return nn.Sequential(self.enc[domain], self.enc_shared)

    def generator(self, domain: str) -> nn.Sequential:
        """G_domain as one sequence (the shared blocks, then the private back): a view, not a new module."""
        return nn.Sequential(self.gen_shared, self.gen[domain])

    def encode(self, x: torch.Tensor, domain: str) -> torch.Tensor:
        """mu = E_domain(x), the mean of the latent code (N x 4ngf x H/4 x W/4)."""
        return self.enc_shared(self.enc[domain](x))

    def decode(self, z: torch.Tensor, domain: str) -> torch.Tensor:
        """G_domain(z): an image of ``domain`` in [-1, 1]."""
        return self.gen[domain](self.gen_shared(z))

    def forward(self, x_a: torch.Tensor, x_b: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every stream of sec. 3 for one step: reconstructions x_aa, x_bb and translations x_ab, x_ba from the
        sampled codes, then the cycle x_aba, x_bab through re-encoded (and re-sampled) translations. Returns those
        images and the means mu_a, mu_b, mu_ab (= E_B(x_ab)), mu_ba (= E_A(x_ba)) the KL terms need.
        Noise is drawn in the order eps_a, eps_b, eps_ab, eps_ba."""
        mu_a, mu_b = self.encode(x_a, "A"), self.encode(x_b, "B")
        # one pass through the shared generator layers per code serves both domains' generators
        h_a, h_b = self.gen_shared(add_latent_noise(mu_a)), self.gen_shared(add_latent_noise(mu_b))
        x_aa, x_ab = self.gen["A"](h_a), self.gen["B"](h_a)
        x_bb, x_ba = self.gen["B"](h_b), self.gen["A"](h_b)
        mu_ab, mu_ba = self.encode(x_ab, "B"), self.encode(x_ba, "A")
        x_aba = self.decode(add_latent_noise(mu_ab), "A")
        x_bab = self.decode(add_latent_noise(mu_ba), "B")
        return {"mu_a": mu_a, "mu_b": mu_b, "x_aa": x_aa, "x_bb": x_bb, "x_ab": x_ab, "x_ba": x_ba,
                "mu_ab": mu_ab, "mu_ba": mu_ba, "x_aba": x_aba, "x_bab": x_bab}
