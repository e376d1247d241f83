"""Pix2Pix (Isola, Zhu, Zhou & Efros, CVPR 2017, "Image-to-Image Translation with Conditional Adversarial
Networks"): a U-Net generator trained with L1 + a conditional GAN loss against a PatchGAN that judges
N x N patches of (input, output) pairs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch.nn import functional as F

from condgen import losses
from condgen.config import option
from condgen.errors import ConfigError, ModelError
from condgen.exportspec import image_spec
from condgen.imaging import translate_tensor, triplets
from condgen.models.base import GenerativeModel, adam, eval_mode
from condgen.nn import generators
from condgen.nn.generators import GENERATORS, generator_downs, generator_min_size_reason
from condgen.nn.init import init_normal_02
from condgen.nn.norms import batch_statistics

DISCRIMINATORS = ("basic", "n_layers", "pixel")


@dataclass
class Pix2PixConfig:
    """Pix2Pix hyper-parameters; defaults are the paper's (sec. 3, 4 and the appendix)."""

    in_channels: int = option(3, choices=(1, 3), help="channels of the input image A")
    out_channels: int = option(3, choices=(1, 3), help="channels of the output image B")
    netG: str = option("unet_256", choices=GENERATORS,
                       help="U-Net with 8 (256), 7 (128) or 6 (64, small quick runs) downsamplings, or ResNet")
    netD: str = option("basic", choices=DISCRIMINATORS,
                       help="basic = the 70x70 PatchGAN (n_layers 3); n_layers uses n_layers_D; pixel = 1x1 PixelGAN")
    n_layers_D: int = option(3, min=1, max=5)
    ngf: int = option(64, min=1)
    ndf: int = option(64, min=1)
    norm: str = option("batch", choices=("batch", "instance", "none"), help="paper: batch norm")
    dropout: float = option(0.5, min=0.0, max=1.0, help="U-Net decoder dropout, the noise source (paper: 0.5)")
    resnet_dropout: bool = option(True, help="ResNet generators: dropout (model.dropout) in every residual block, "
                                             "as the reference's pix2pix does unless --no_dropout")
    gan_loss: str = option("vanilla", choices=losses.ADVERSARIAL, help="cGAN objective on logits (paper: vanilla)")
    lambda_l1: float = option(100.0, min=0.0, help="weight of the L1 term (paper: 100)")
    gan_weight: float = option(1.0, min=0.0, help="weight of the cGAN term in G's loss; 0 = L1 only (ablation)")
    lr: float = option(2e-4, min=0.0, help="Adam learning rate (paper: 0.0002)")
    beta1: float = option(0.5, min=0.0, max=1.0)
    beta2: float = option(0.999, min=0.0, max=1.0)
    eval_mode: bool = option(False, help="inference in eval mode (no dropout, running BN statistics); the paper "
                                         "keeps dropout and batch statistics at test time")
    tile_size: int = option(1024, min=0, help="translate larger images in overlapping tiles of this size (0: never)")

    #: runs saved before a key existed computed this (runs.config_from_dict fills it in)
    saved_before: ClassVar[dict[str, Any]] = {"resnet_dropout": False}

    def validate(self) -> None:
        """Cross-field checks."""
        if self.gan_weight == 0 and self.lambda_l1 == 0:
            raise ConfigError("model.gan_weight and model.lambda_l1 are both 0: G would have no loss.")


class Pix2Pix(GenerativeModel):
    """Paired translation A -> B: D step on (A, B) vs (A, G(A)) with the loss halved, then G step on cGAN + L1."""

    Config = Pix2PixConfig
    data_kind = "paired"
    task = "translate"
    translate_options = frozenset({"eval_mode"})
    ema_nets = ("G",)
    val_splits = ("val", "test")
    grid_nrow = val_grid_nrow = 3  # rows of input | output | target
    grid_columns = ("input", "output", "target")
    # Isola et al.: batch 1; 100 epochs at the initial LR + 100 epochs decaying linearly to zero.
    train_defaults = {"data": {"batch_size": 1}, "train": {"epochs": 200, "lr_schedule": "linear",
                                                           "lr_decay_start": 0.5}}

    def __init__(self, cfg: Pix2PixConfig):
        super().__init__(cfg)
        self.nets = {"G": build_generator(cfg), "D": build_discriminator(cfg)}
        for net in self.nets.values():
            init_normal_02(net)  # Isola et al. appendix 6.2: weights N(0, 0.02)
        betas = (cfg.beta1, cfg.beta2)
        self.optimizers = {k: adam(n.parameters(), lr=cfg.lr, betas=betas) for k, n in self.nets.items()}

    # ----- data ---------------------------------------------------------------------------------
    @classmethod
    def data_options(cls, run_cfg: Any, split: str = "train", train: bool = True) -> dict[str, Any]:
        """Paired A/B data: A|B side-by-side images or A/ and B/ folders (see condgen.data.paired)."""
        d, m = run_cfg.data, run_cfg.model
        return {"image_size": d.crop_size, "channels_A": m.in_channels, "channels_B": m.out_channels,
                "direction": d.direction, "preprocess": d.preprocess, "load_size": d.load_size, "flip": d.flip,
                "train": train, "seed": run_cfg.seed, "bad_images": d.bad_images}

    # ----- training -----------------------------------------------------------------------------
    def training_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """D: real pair (A, B) vs fake pair (A, G(A)) with the loss halved (paper sec. 3.3 / appendix), then G:
        gan_weight * cGAN + lambda_l1 * L1(G(A), B)."""
        real_a, real_b = batch["A"], batch["B"]
        G, D, cfg = self.nets["G"], self.nets["D"], self.cfg
        fake_b = G(real_a)
        out: dict[str, torch.Tensor] = {}
        if cfg.gan_weight > 0:
            pred_real = D(torch.cat([real_a, real_b], 1))
            pred_fake = D(torch.cat([real_a, fake_b.detach()], 1))
            # "we divide the objective by 2 while optimizing D, which slows down the rate at which D learns"
            loss_d = 0.5 * losses.d_loss(cfg.gan_loss, pred_real, pred_fake)
            self.optimize("D", loss_d)
            out["loss/D"] = loss_d.detach()
        with self.frozen("D"):
            loss_l1 = losses.l1(fake_b, real_b)
            loss_g = cfg.lambda_l1 * loss_l1
            if cfg.gan_weight > 0:
                loss_gan = losses.g_loss(cfg.gan_loss, D(torch.cat([real_a, fake_b], 1)))
                loss_g = loss_g + cfg.gan_weight * loss_gan
                out["loss/G_gan"] = loss_gan.detach()
            self.optimize("G", loss_g)
        out["loss/G_L1"] = loss_l1.detach()
        return out

    # ----- inference ----------------------------------------------------------------------------
    def multiple(self) -> int:
        """H and W of the generator's input must be multiples of this."""
        return 2 ** generator_downs(self.cfg.netG) if self.cfg.netG.startswith("unet") else 4

    def _run_g(self, x: torch.Tensor) -> torch.Tensor:
        G = self.net("G")
        if self.cfg.eval_mode:
            with eval_mode(G):
                return G(x)
        # the paper's test time: dropout on and batch statistics, the loaded running statistics left as they are
        with batch_statistics(G):
            return G(x)

    @torch.no_grad()
    def generate(self, A: torch.Tensor | None = None, **_: Any) -> torch.Tensor:
        """G(A) for a batch in [-1, 1] whose size is a multiple of ``multiple()`` (use ``translate`` otherwise)."""
        if A is None:
            raise ConfigError("pix2pix translates an input image: pass A (N x C x H x W in [-1, 1]).")
        return self._run_g(A.to(self.device)).float()

    def export_spec(self, size: int | None = None, direction: str = "AtoB"):
        """G in eval mode (no dropout, running BN statistics: the documented --eval behaviour, since an exported
        file should be deterministic); H and W dynamic multiples of ``multiple()`` (default size 256)."""
        G = self.net("G").eval()
        spec = image_spec(G, {"G": G}, self.cfg.in_channels, size or 256, self.multiple())
        spec.note = f"eval mode (no dropout, running BN statistics); H, W multiples of {self.multiple()}"
        return spec

    @torch.no_grad()
    def translate(self, image, eval_mode: bool | None = None):
        """Translate one image of any size: a PIL image (returns PIL) or a C x H x W / N x C x H x W tensor in
        [-1, 1] (returns the same shape). Pads by reflection to the network's multiple and crops back; images
        larger than ``tile_size`` go through overlapping tiles blended with a smooth window."""
        old = self.cfg.eval_mode
        if eval_mode is not None:
            self.cfg.eval_mode = eval_mode
        try:
            return translate_tensor(self, image, in_channels=self.cfg.in_channels, multiple=self.multiple(),
                                    min_size=self.min_size(), tile=self.cfg.tile_size)
        finally:
            self.cfg.eval_mode = old

    def min_size(self) -> int:
        """Smallest input side the generator accepts without degenerate (1x1 with batch 1) layers."""
        return self.multiple() if self.cfg.netG.startswith("unet") else 8

    def min_size_reason(self) -> str:
        """Why: the generator's architecture in words (for the too-small-input message)."""
        return generator_min_size_reason(self.cfg.netG, self.min_size())

    def fixed_inputs(self, n: int, seed: int, batch: dict[str, Any] | None = None) -> dict[str, Any]:
        """The first few training pairs (at most 8)."""
        if batch is None:
            return {}
        k = min(8, n, batch["A"].shape[0])
        return {"A": batch["A"][:k], "B": batch["B"][:k]}

    @torch.no_grad()
    def sample_grid(self, fixed: dict[str, Any]) -> torch.Tensor:
        """Rows of input | output | target."""
        fake = self.generate(A=fixed["A"])
        return triplets(fixed["A"], fake, fixed["B"])

    @torch.no_grad()
    def validate(self, batches) -> tuple[dict[str, float], torch.Tensor | None]:
        """L1 (in [-1, 1]), PSNR and SSIM (on [0, 1]) over held-out pairs, and an input | output | target grid."""
        from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

        n, sums, grid = 0, {"L1": 0.0, "PSNR": 0.0, "SSIM": 0.0}, None
        for batch in batches:
            a, b = batch["A"], batch["B"].float()
            fake = self.translate(a)
            k = a.shape[0]
            x, y = (fake + 1) / 2, (b + 1) / 2
            sums["L1"] += F.l1_loss(fake, b, reduction="none").flatten(1).mean(1).sum().item()
            sums["PSNR"] += sum(peak_signal_noise_ratio(x[i:i + 1], y[i:i + 1], data_range=1.0).item()
                                for i in range(k))
            sums["SSIM"] += structural_similarity_index_measure(x, y, data_range=1.0, reduction="sum").item()
            if grid is None:
                grid = triplets(a[:4], fake[:4], b[:4])
            n += k
        return {k: v / max(n, 1) for k, v in sums.items()}, grid


def build_generator(cfg: Pix2PixConfig) -> torch.nn.Module:
    """The named generator (U-Net or ResNet): dropout in the U-Net's decoder, in ResNet blocks only with
    ``resnet_dropout``."""
    drop = cfg.netG.startswith("unet") or getattr(cfg, "resnet_dropout", False)
    return generators.build_generator(cfg.netG, cfg.in_channels, cfg.out_channels, cfg.ngf, cfg.norm,
                                      cfg.dropout if drop else 0.0)


def build_discriminator(cfg: Pix2PixConfig) -> torch.nn.Module:
    """The conditional PatchGAN (or PixelGAN) on input and output joined along channels."""
    from condgen.nn.patchgan import PatchDiscriminator, PixelDiscriminator

    channels = cfg.in_channels + cfg.out_channels
    if cfg.netD == "pixel":
        return PixelDiscriminator(channels, ndf=cfg.ndf, norm=cfg.norm)
    n_layers = 3 if cfg.netD == "basic" else cfg.n_layers_D
    return PatchDiscriminator(channels, ndf=cfg.ndf, n_layers=n_layers, norm=cfg.norm)


__all__ = ["GENERATORS", "ModelError", "Pix2Pix", "Pix2PixConfig", "build_generator", "generator_downs",
           "generator_min_size_reason", "triplets"]

