"""UNIT (Liu, Breuel & Kautz, NeurIPS 2017, "Unsupervised Image-to-Image Translation Networks").

Two VAE-GANs whose encoders share their last layers and whose generators share their first, so both domains map
to one latent space; an image is translated by encoding it with its domain's encoder and decoding with the other
domain's generator. Trained on unpaired trainA/trainB with VAE, GAN and cycle-reconstruction terms (sec. 3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from condgen import losses
from condgen.config import option
from condgen.errors import ConfigError
from condgen.models.unpaired import LATENT_TRAIN_DEFAULTS, UnpairedTranslator, check_direction
from condgen.nn.multiscale import TwoDomainDiscriminators
from condgen.nn.unit import DOMAINS, PADDINGS, UNITGenerator


@dataclass
class UNITConfig:
    """UNIT hyper-parameters; defaults are the paper's (sec. 3, sec. 4 and the appendix), with the authors' later
    code (2018 UNIT/MUNIT configs) where the paper is silent or the project asks for it (LSGAN, multi-scale D)."""

    in_channels: int = option(3, choices=(1, 3), help="channels of domain A")
    out_channels: int = option(3, choices=(1, 3), help="channels of domain B")
    ngf: int = option(64, min=1, help="channels of the first encoder layer; the latent code has 4*ngf")
    ndf: int = option(64, min=1, help="channels of each discriminator's first layer")
    n_res_private: int = option(3, min=0, help="domain-specific residual blocks in each encoder and generator "
                                               "(appendix table: 3)")
    n_res_shared: int = option(1, min=1, help="residual blocks shared by E_A/E_B (last) and by G_A/G_B (first) "
                                              "(appendix table: 1)")
    head_kernel: int = option(1, choices=(1, 3, 5, 7), help="kernel of the generators' output layer: 1 = the "
                                                            "paper's 1x1 (DCONV-(N3,K1,S1)), 7 = the 2018 code's")
    padding: str = option("zero", choices=PADDINGS, help="padding of the generators' convs: zero (the 2017 code "
                                                         "the paper's results come from) or reflect (the 2018 code)")
    num_scales: int = option(3, min=1, help="scales of each multi-scale discriminator (2018 code: 3)")
    n_layers_D: int = option(4, min=1, help="stride-2 layers per scale (2018 code: 4)")
    gan_loss: str = option("lsgan", choices=losses.ADVERSARIAL, help="adversarial objective (2018 code: lsgan; "
                                                                     "the paper's eq. uses the vanilla GAN)")
    # Loss weights, the paper's sec. 4: lambda_0 = 10, lambda_1 = lambda_3 = 0.1, lambda_2 = lambda_4 = 100 (also
    # the authors' 2017 configs). The 2018 code uses 1 / 0.01 / 10 / 0.01 / 10: the same ratios, i.e. the same
    # objective times 0.1. Adam is invariant to a common factor on the loss, except that its (L2) weight decay
    # then pulls 10x harder relative to the gradients; we keep the paper's numbers, with which the 2017 code also
    # used weight decay 1e-4.
    lambda_gan: float = option(10.0, min=0.0, help="lambda_0, GAN terms (G and D objectives)")
    lambda_kl: float = option(0.1, min=0.0, help="lambda_1, KL of the codes of real images (VAE term)")
    lambda_recon: float = option(100.0, min=0.0, help="lambda_2, L1 within-domain reconstruction")
    lambda_kl_cycle: float = option(0.1, min=0.0, help="lambda_3, KL terms of the cycle-consistency objective")
    lambda_cycle: float = option(100.0, min=0.0, help="lambda_4, L1 cycle reconstruction x -> other domain -> x")
    lr: float = option(1e-4, min=0.0, help="Adam learning rate (sec. 4: 0.0001)")
    beta1: float = option(0.5, min=0.0, max=1.0, help="Adam beta1 (sec. 4: 0.5)")
    beta2: float = option(0.999, min=0.0, max=1.0, help="Adam beta2 (sec. 4: 0.999)")
    weight_decay: float = option(1e-4, min=0.0, help="Adam (L2) weight decay (authors' 2017 and 2018 code: 1e-4)")
    tile_size: int = option(1024, min=0, help="translate larger images in overlapping tiles of this size (0: never)")

    #: runs saved before a key existed computed this (runs.config_from_dict fills it in)
    saved_before: ClassVar[dict[str, Any]] = {"padding": "reflect"}


class UNIT(UnpairedTranslator):
    """Unpaired translation A <-> B through a shared latent space: D step on real images vs detached cross-domain
    translations, then the encoders' and generators' step on the VAE, GAN and cycle-consistency terms."""

    Config = UNITConfig
    downsamplings = 2
    train_defaults = LATENT_TRAIN_DEFAULTS

    def __init__(self, cfg: UNITConfig):
        super().__init__(cfg)
        G = UNITGenerator(cfg.in_channels, cfg.out_channels, ngf=cfg.ngf, n_res_private=cfg.n_res_private,
                          n_res_shared=cfg.n_res_shared, head_kernel=cfg.head_kernel, padding=cfg.padding)
        D = TwoDomainDiscriminators(cfg.in_channels, cfg.out_channels, ndf=cfg.ndf,
                                    n_layers=cfg.n_layers_D, num_scales=cfg.num_scales)
        self.set_networks(G, D)  # the authors' code: "kaiming" for the generators, N(0, 0.02) for D

    # ----- training -----------------------------------------------------------------------------
    def training_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """One G forward (all streams), then D: real vs detached translations, lambda_0 * LSGAN; then E/G:
        lambda_0 GAN + lambda_2 recon + (lambda_1 + lambda_3) KL(codes of x) + lambda_3 KL(codes of translations)
        + lambda_4 cycle. KL(q(z|x)) appears in both the VAE term (lambda_1) and the cycle term (lambda_3) of
        sec. 3, hence lambda_1 + lambda_3 on it. Logged values are the unweighted terms, each summed over A and B."""
        real_a, real_b = batch["A"], batch["B"]
        G, D, cfg = self.nets["G"], self.nets["D"], self.cfg
        out = G(real_a, real_b)
        fake_a, fake_b = out["x_ba"], out["x_ab"]  # D_A judges B -> A translations, D_B judges A -> B

        # D step: real and fake in one batch per discriminator (no batch statistics in D, so this is exact)
        n = real_a.shape[0]
        pred_a, pred_b = D(torch.cat([real_a, fake_a.detach()]), torch.cat([real_b, fake_b.detach()]))
        loss_d = sum(losses.d_loss(cfg.gan_loss, [p[:n] for p in pred], [p[n:] for p in pred])
                     for pred in (pred_a, pred_b))
        self.optimize("D", cfg.lambda_gan * loss_d)

        with self.frozen("D"):
            gan_a, gan_b = D(fake_a, fake_b)
            loss_gan = losses.g_loss(cfg.gan_loss, gan_a) + losses.g_loss(cfg.gan_loss, gan_b)
            loss_recon = losses.l1(out["x_aa"], real_a) + losses.l1(out["x_bb"], real_b)
            loss_cycle = losses.cycle_loss(out["x_aba"], real_a) + losses.cycle_loss(out["x_bab"], real_b)
            # the encoders' KL with the variance fixed at 1 (UNIT's variant: 1/2 mu^2, a mean)
            loss_kl, loss_kl_cycle = (losses.kl_divergence(out[p], reduction="mean")
                                      + losses.kl_divergence(out[q], reduction="mean")
                                      for p, q in (("mu_a", "mu_b"), ("mu_ab", "mu_ba")))
            loss_g = (cfg.lambda_gan * loss_gan + cfg.lambda_recon * loss_recon
                      + (cfg.lambda_kl + cfg.lambda_kl_cycle) * loss_kl + cfg.lambda_kl_cycle * loss_kl_cycle
                      + cfg.lambda_cycle * loss_cycle)
            self.optimize("G", loss_g)
        return {"loss/D": loss_d.detach(), "loss/G_gan": loss_gan.detach(), "loss/recon": loss_recon.detach(),
                "loss/kl": loss_kl.detach(), "loss/cycle": loss_cycle.detach(),
                "loss/kl_cycle": loss_kl_cycle.detach()}

    # ----- inference ----------------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, x: torch.Tensor, domain: str) -> torch.Tensor:
        """The latent code of images of ``domain`` ("A" or "B") at test time: z = mu (no sampling)."""
        # no noise and no train-mode layers here: the sampling z = mu + eps lives in UNITGenerator.forward only
        return self.net("G").encode(x.to(self.device), _check_domain(domain))

    @torch.no_grad()
    def decode(self, z: torch.Tensor, domain: str) -> torch.Tensor:
        """Images of ``domain`` from latent codes."""
        return self.net("G").decode(z.to(self.device), _check_domain(domain))

    def translate_batch(self, x: torch.Tensor, direction: str, **options: Any) -> torch.Tensor:
        """E_source(x) = mu (deterministic), then the other domain's generator."""
        src, dst = ("A", "B") if check_direction(direction) == "AtoB" else ("B", "A")
        return self.decode(self.encode(x, src), dst)


def _check_domain(domain: str) -> str:
    if domain not in DOMAINS:
        raise ConfigError(f"domain must be 'A' or 'B', got {domain!r}.")
    return domain


__all__ = ["UNIT", "UNITConfig"]
