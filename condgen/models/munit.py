"""MUNIT (Huang, Liu, Belongie & Kautz, ECCV 2018, "Multimodal Unsupervised Image-to-Image Translation").

Each domain's images are split into a content code shared across domains and a low-dimensional style code of
their own domain. Translation A -> B decodes A's content with a B style: drawn from the prior N(0, I) (many
outputs per input) or encoded from an example image of B. Training (sec. 3.2) reconstructs images from their own
codes (lambda_x), reconstructs the content and the sampled style from each translation (lambda_c, lambda_s), and
makes translations indistinguishable from real images of the target domain (LSGAN, multi-scale discriminators).

Numbering (sections, appendix) follows the arXiv version, 1804.04732; the training defaults also agree with the
authors' released configs (NVlabs/MUNIT configs/*.yaml).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from condgen import losses
from condgen.config import option
from condgen.errors import ConfigError, ModelError
from condgen.imaging import as_batch
from condgen.models.base import unwrap
from condgen.models.unpaired import LATENT_TRAIN_DEFAULTS, UnpairedTranslator, check_direction
from condgen.nn.multiscale import TwoDomainDiscriminators
from condgen.nn.munit import ADAIN_ORDERS, MUNITGenerators
from condgen.nn.norms import LAYER_NORMS

GRID_STYLES = 3  # random styles per direction in the training sample grid


@dataclass
class MUNITConfig:
    """MUNIT hyper-parameters; defaults are the paper's (sec. 3.2 and 5, appendix B) and its released configs."""

    in_channels: int = option(3, choices=(1, 3), help="channels of domain A")
    out_channels: int = option(3, choices=(1, 3), help="channels of domain B")
    ngf: int = option(64, min=1, help="channels of the first generator layer (paper: 64)")
    ndf: int = option(64, min=1, help="channels of the first discriminator layer (paper: 64)")
    style_dim: int = option(8, min=1, help="length of the style code (appendix B: 8 for every dataset)")
    n_res: int = option(4, min=0, help="residual blocks in the content encoder and in the decoder (paper: 4)")
    n_downsample: int = option(2, min=1, max=5, help="stride-2 convs of the content encoder (paper: 2)")
    mlp_dim: int = option(256, min=1, help="hidden units of the MLP that maps a style to AdaIN parameters (256)")
    layer_norm: str = option("munit", choices=LAYER_NORMS, help="the decoder's layer norm: munit = the release's "
                                                               "(unbiased std, eps added to it, scale init U[0, 1]); "
                                                               "group = GroupNorm(1)")
    adain_order: str = option("beta_gamma", choices=ADAIN_ORDERS, help="layout of the MLP's output per AdaIN norm: "
                                                                       "beta_gamma = the release's; gamma_beta")
    num_scales: int = option(3, min=1, max=5, help="scales of each multi-scale discriminator (paper: 3)")
    n_layers_D: int = option(4, min=1, max=6, help="stride-2 conv layers per discriminator scale (paper: 4)")
    gan_loss: str = option("lsgan", choices=losses.ADVERSARIAL, help="adversarial objective (paper: LSGAN)")
    lambda_gan: float = option(1.0, min=0.0, help="weight of the adversarial terms (released configs: gan_w 1)")
    lambda_x: float = option(10.0, min=0.0, help="image reconstruction L1 (paper: 10)")
    lambda_c: float = option(1.0, min=0.0, help="content reconstruction L1 (paper: 1)")
    lambda_s: float = option(1.0, min=0.0, help="style reconstruction L1 (paper: 1)")
    lambda_cyc: float = option(0.0, min=0.0, help="explicit style-augmented cycle L1 (default 0 as in the paper's "
                                                  "main setting; the released configs use 10 for some datasets)")
    lr: float = option(1e-4, min=0.0, help="Adam learning rate (appendix B: 0.0001)")
    beta1: float = option(0.5, min=0.0, max=1.0, help="Adam beta1 (appendix B: 0.5)")
    beta2: float = option(0.999, min=0.0, max=1.0, help="Adam beta2 (appendix B: 0.999)")
    weight_decay: float = option(1e-4, min=0.0, help="Adam weight decay of G and D (released configs: 0.0001)")
    tile_size: int = option(1024, min=0, help="translate larger images in overlapping tiles of this size (0: never)")

    #: runs saved before a key existed computed this (runs.config_from_dict fills it in)
    saved_before: ClassVar[dict[str, Any]] = {"layer_norm": "group", "adain_order": "gamma_beta"}

    def validate(self) -> None:
        """Cross-field checks."""
        if not any((self.lambda_gan, self.lambda_x, self.lambda_c, self.lambda_s, self.lambda_cyc)):
            raise ConfigError("model.lambda_gan, lambda_x, lambda_c, lambda_s and lambda_cyc are all 0: "
                              "the generators would have no loss.")


class MUNIT(UnpairedTranslator):
    """Multimodal unpaired translation: per iteration a D step on real images vs detached translations, then a G
    step on the adversarial, image, content and style reconstruction (and optional cycle) losses."""

    Config = MUNITConfig
    ema_nets = ("G",)
    supports_styles = True
    downsamplings = 2
    grid_nrow = 2 + 2 * GRID_STYLES  # A | 3 x A->B | B | 3 x B->A
    translate_options = frozenset({"direction", "num_styles", "seed", "style", "style_image", "as_list"})
    grid_columns = ("A", *[f"A->B s{i}" for i in range(GRID_STYLES)], "B", *[f"B->A s{i}" for i in range(GRID_STYLES)])
    train_defaults = LATENT_TRAIN_DEFAULTS  # appendix B: batch 1, LR halved every 100k; 1M = released max_iter

    def __init__(self, cfg: MUNITConfig):
        super().__init__(cfg)
        G = MUNITGenerators(cfg.in_channels, cfg.out_channels, ngf=cfg.ngf, style_dim=cfg.style_dim,
                            n_downsample=cfg.n_downsample, n_res=cfg.n_res, mlp_dim=cfg.mlp_dim,
                            layer_norm=cfg.layer_norm, adain_order=cfg.adain_order)
        # appendix B: LSGAN multi-scale discriminators, as UNIT's
        D = TwoDomainDiscriminators(cfg.in_channels, cfg.out_channels, ndf=cfg.ndf,
                                    n_layers=cfg.n_layers_D, num_scales=cfg.num_scales)
        self.set_networks(G, D)  # the released code: kaiming for G, N(0, 0.02) ("gaussian") for D

    # ----- training -----------------------------------------------------------------------------
    def sample_prior(self, n: int, like: torch.Tensor) -> torch.Tensor:
        """``n`` style codes from the prior N(0, I), drawn from the global (training) RNG."""
        return torch.randn(n, self.cfg.style_dim, device=like.device)

    def training_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """One iteration in the released code's order: D on real vs translated images, then G (D frozen).

        As the released trainer's ``dis_update`` and ``gen_update``, each step draws its own prior styles: D's step
        judges translations from a no-grad generator pass, G's step a fresh pass judged by the updated D. (condgen
        used to reuse G's translations for D's step; that saves the no-grad pass, about 10 % of a quick-preset
        step, but scores G on the very samples D was just fitted to. The judge-feature FID on grass2gravel's
        training crops, one style per input, did not move measurably: 19.6 shared vs 20.8 separate, seed 0.)"""
        x_a, x_b = batch["A"], batch["B"]
        G, D, cfg = self.nets["G"], self.nets["D"], self.cfg
        with torch.no_grad():
            d_a, d_b = self.sample_prior(x_b.shape[0], x_b), self.sample_prior(x_a.shape[0], x_a)
            ga, gb = unwrap(G)["A"], unwrap(G)["B"]  # the training weights (not EMA); no DDP sync needed
            fake_ba, fake_ab = ga.decode(gb.content(x_b), d_a), gb.decode(ga.content(x_a), d_b)
        real_a, real_b = D(x_a, x_b)
        fake_a, fake_b = D(fake_ba, fake_ab)
        loss_d = cfg.lambda_gan * (losses.d_loss(cfg.gan_loss, real_a, fake_a)
                                   + losses.d_loss(cfg.gan_loss, real_b, fake_b))
        self.optimize("D", loss_d)

        s_a, s_b = self.sample_prior(x_b.shape[0], x_b), self.sample_prior(x_a.shape[0], x_a)
        out = G(x_a, x_b, s_a, s_b, cycle=cfg.lambda_cyc > 0)
        with self.frozen("D"):
            terms = self.generator_terms(x_a, x_b, s_a, s_b, out, D(out["ba"], out["ab"]))
            loss_g = self.generator_loss(terms)
            self.optimize("G", loss_g)
        return {"loss/D": loss_d.detach(), "loss/G": loss_g.detach(),
                **{f"loss/{k}": v.detach() for k, v in terms.items()}}

    def generator_terms(self, x_a: torch.Tensor, x_b: torch.Tensor, s_a: torch.Tensor, s_b: torch.Tensor,
                        out: dict[str, torch.Tensor], fake_logits) -> dict[str, torch.Tensor]:
        """The unweighted terms of G's objective (sec. 3.2, eq. 5), each summed over the two domains: G_gan,
        recon_x (image), recon_c (content), recon_s (style), and cycle when lambda_cyc > 0. All L1 means."""
        fake_a, fake_b = fake_logits
        terms = {
            "G_gan": losses.g_loss(self.cfg.gan_loss, fake_a) + losses.g_loss(self.cfg.gan_loss, fake_b),
            "recon_x": losses.l1(out["rec_a"], x_a) + losses.l1(out["rec_b"], x_b),
            # content of the translation vs the content it was made from (both sides receive gradients)
            "recon_c": losses.l1(out["c_ab"], out["c_a"]) + losses.l1(out["c_ba"], out["c_b"]),
            # style encoded from the translation vs the prior code it was made with
            "recon_s": losses.l1(out["s_ba"], s_a) + losses.l1(out["s_ab"], s_b),
        }
        if "aba" in out:
            terms["cycle"] = losses.cycle_loss(out["aba"], x_a) + losses.cycle_loss(out["bab"], x_b)
        return terms

    def generator_loss(self, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        """lambda_gan * G_gan + lambda_x * recon_x + lambda_c * recon_c + lambda_s * recon_s (+ lambda_cyc * cycle)."""
        cfg = self.cfg
        weights = {"G_gan": cfg.lambda_gan, "recon_x": cfg.lambda_x, "recon_c": cfg.lambda_c,
                   "recon_s": cfg.lambda_s, "cycle": cfg.lambda_cyc}
        return sum(weights[k] * v for k, v in terms.items())

    # ----- inference ----------------------------------------------------------------------------
    def multiple(self) -> int:
        """H and W of a content-encoder input must be multiples of this."""
        return 2 ** self.cfg.n_downsample

    def domain_channels(self, domain: str) -> int:
        """Channels of the images of domain "A" or "B"."""
        if domain not in ("A", "B"):
            raise ConfigError(f"domain must be 'A' or 'B', got {domain!r}.")
        return self.cfg.in_channels if domain == "A" else self.cfg.out_channels

    def sample_styles(self, n: int, seed: int = 0) -> torch.Tensor:
        """``n`` style codes (n x style_dim) from the prior N(0, I), a pure function of ``seed``; code k is the same
        whatever ``n`` (drawn one at a time: torch's vectorised sampler orders a batched draw differently)."""
        g = torch.Generator().manual_seed(int(seed))
        return torch.stack([torch.randn(self.cfg.style_dim, generator=g) for _ in range(n)]).to(self.device)

    @torch.no_grad()
    def encode_style(self, image, domain: str) -> torch.Tensor:
        """Style codes (N x style_dim) of images of ``domain``: a PIL image, or a C x H x W / N x C x H x W tensor
        in [-1, 1], any size of at least 2^4 px (the style encoder ends in global average pooling)."""
        x = as_batch(image, self.domain_channels(domain)).to(self.device)
        enc = self.net("G")[domain].style
        if min(x.shape[-2:]) < enc.min_size:
            raise ModelError(f"the style image is {x.shape[-1]}x{x.shape[-2]} pixels; the style encoder needs at "
                             f"least {enc.min_size}x{enc.min_size}. Use a larger example image.")
        return enc(x).float()

    @torch.no_grad()
    def translate_batch(self, x: torch.Tensor, direction: str, style: torch.Tensor | None = None,
                        **options: Any) -> torch.Tensor:
        """Decode the content of ``x`` (source domain) with ``style`` (N or 1 x style_dim, target domain's style
        space); without ``style``, one code per image from the prior, drawn from the global RNG."""
        if options:
            raise ConfigError(f"munit translates with style, seed, num_styles or style_image; got "
                              f"{', '.join(sorted(options))}.")
        src, dst = ("A", "B") if check_direction(direction) == "AtoB" else ("B", "A")
        G = self.net("G")
        if style is None:
            style = torch.randn(x.shape[0], self.cfg.style_dim)
        style = torch.as_tensor(style).to(self.device, torch.float32).reshape(-1, self.cfg.style_dim)
        if style.shape[0] not in (1, x.shape[0]):
            raise ConfigError(f"{style.shape[0]} style codes for {x.shape[0]} images: give one code, or one per "
                              "image.")
        return G[dst].decode(G[src].content(x), style)

    @torch.no_grad()
    def translate(self, image, direction: str = "AtoB", num_styles: int = 1, seed: int = 0,
                  style: torch.Tensor | None = None, style_image=None, as_list: bool = False):
        """Translate an image of any size (PIL -> PIL, tensor -> tensor of the same shape) into the other domain.

        Styles: ``num_styles`` random codes from N(0, I) drawn with ``seed`` (the same seed gives the same outputs,
        and every tile of a large image uses the same code); or the code of ``style_image``, an example image of
        the target domain (example-guided translation, sec. 3 / fig. 2); or explicit ``style`` codes. Returns one
        output, or a list of ``num_styles`` outputs when ``num_styles`` > 1 or ``as_list``."""
        check_direction(direction)
        if num_styles < 1:
            raise ConfigError(f"num_styles must be at least 1, got {num_styles}.")
        given = [name for name, v in (("style", style), ("style_image", style_image)) if v is not None]
        if len(given) > 1 or (given and num_styles != 1):
            raise ConfigError("give only one of num_styles > 1 (random styles), style (codes) or style_image (an "
                              "example image of the target domain).")
        if style_image is not None:
            styles = [self.encode_style(style_image, "B" if direction == "AtoB" else "A")]
        elif style is not None:
            styles = [torch.as_tensor(style)]
        else:
            codes = self.sample_styles(num_styles, seed)
            styles = [codes[k:k + 1] for k in range(num_styles)]
        one = super().translate
        outs = [one(image, direction, style=s) for s in styles]
        return outs if (as_list or num_styles > 1) else outs[0]

    def fixed_inputs(self, n: int, seed: int, batch: dict[str, Any] | None = None) -> dict[str, Any]:
        """The first training images of each domain and fixed prior styles for each direction."""
        fixed = super().fixed_inputs(n, seed, batch)
        if fixed:
            codes = self.sample_styles(2 * GRID_STYLES, seed)
            fixed.update(styles_AtoB=codes[:GRID_STYLES], styles_BtoA=codes[GRID_STYLES:])
        return fixed

    @torch.no_grad()
    def sample_grid(self, fixed: dict[str, Any]) -> torch.Tensor:
        """Rows of A | A->B with 3 fixed styles | B | B->A with 3 fixed styles (grey expanded to RGB if mixed)."""
        cols = []
        for src, direction in (("A", "AtoB"), ("B", "BtoA")):
            x = fixed[src]
            styles = fixed.get(f"styles_{direction}")
            if styles is None:
                styles = self.sample_styles(GRID_STYLES, 0)
            cols += [x] + [self.generate(A=x, direction=direction, style=styles[k:k + 1])
                           for k in range(styles.shape[0])]
        cols = [t.float().cpu() for t in cols]
        c = max(t.shape[1] for t in cols)
        cols = [t.expand(-1, c, -1, -1) if t.shape[1] != c else t for t in cols]
        return torch.stack(cols, dim=1).flatten(0, 1)


__all__ = ["MUNIT", "MUNITConfig", "as_batch"]
