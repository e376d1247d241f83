"""CycleGAN (Zhu, Park, Isola & Efros, ICCV 2017, "Unpaired Image-to-Image Translation using Cycle-Consistent
Adversarial Networks"): two generators G_A: A -> B and G_B: B -> A trained with LSGAN losses against two
PatchGANs plus cycle consistency (G_B(G_A(a)) ~ a, G_A(G_B(b)) ~ b) and an identity loss, without paired data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from condgen import losses
from condgen.config import option
from condgen.errors import ConfigError
from condgen.models.base import adam
from condgen.models.unpaired import UnpairedTranslator
from condgen.nn.generators import GENERATORS, build_generator, generator_downs, generator_min_size_reason
from condgen.nn.init import init_normal_02
from condgen.nn.norms import running_stats_kept
from condgen.nn.patchgan import PatchDiscriminator


@dataclass
class CycleGANConfig:
    """CycleGAN hyper-parameters; defaults are the paper's (sec. 4 and appendix 7)."""

    in_channels: int = option(3, choices=(1, 3), help="channels of domain A")
    out_channels: int = option(3, choices=(1, 3), help="channels of domain B")
    netG: str = option("resnet_9blocks", choices=GENERATORS,
                       help="paper: 9 residual blocks for 256 px training images, 6 for 128 px (appendix 7.2)")
    n_layers_D: int = option(3, min=1, max=5, help="3 = the 70x70 PatchGAN (appendix 7.2)")
    ngf: int = option(64, min=1)
    ndf: int = option(64, min=1)
    norm: str = option("instance", choices=("instance", "batch", "none"), help="paper: instance norm")
    norm_D: str = option("same", choices=("same", "instance", "batch", "none"),
                         help="the discriminators' norm; same = model.norm, as the paper's code (cyclegan_quick: "
                              "none, chosen by measurement)")
    gan_loss: str = option("lsgan", choices=losses.ADVERSARIAL,
                           help="paper: least-squares GAN (sec. 4, 'Training details')")
    lambda_A: float = option(10.0, min=0.0, help="cycle loss weight A -> B -> A (paper: lambda = 10)")
    lambda_B: float = option(10.0, min=0.0, help="cycle loss weight B -> A -> B (paper: lambda = 10)")
    lambda_identity: float = option(0.5, min=0.0,
                                    help="identity loss weight as a fraction of lambda (paper sec. 5.2: 0.5 lambda)")
    pool_size: int = option(50, min=0, help="past fakes shown to D (Shrivastava et al. 2017; paper: 50); 0 = none")
    lr: float = option(2e-4, min=0.0, help="Adam learning rate (paper: 0.0002)")
    beta1: float = option(0.5, min=0.0, max=1.0)
    beta2: float = option(0.999, min=0.0, max=1.0)
    tile_size: int = option(1024, min=0, help="translate larger images in overlapping tiles of this size (0: never)")

    def validate(self) -> None:
        """Cross-field checks."""
        if self.lambda_identity > 0 and self.in_channels != self.out_channels:
            raise ConfigError(f"the identity loss compares G_A(b) with b, so it needs the same channels in both "
                              f"domains (model.in_channels={self.in_channels}, model.out_channels="
                              f"{self.out_channels}); set model.lambda_identity=0 or make the channels equal.")


class ImagePool:
    """A buffer of past generated images (Shrivastava et al. 2017): D is shown a mix of current and older
    fakes, which damps oscillation. Until full, fakes go in and come out unchanged; then each one, with
    probability 1/2, is swapped for a random stored image (which it replaces) or passed through."""

    def __init__(self, size: int):
        self.size = int(size)
        self.images: list[torch.Tensor] = []

    def query(self, fakes: torch.Tensor) -> torch.Tensor:
        """The images to show D in place of ``fakes`` (detached). Draws from torch's global RNG (saved)."""
        fakes = fakes.detach()
        if self.size == 0:
            return fakes
        out = []
        for img in fakes:
            if len(self.images) < self.size:
                self.images.append(img.clone())
                out.append(img)
            elif torch.rand(()).item() > 0.5:
                i = int(torch.randint(0, self.size, ()).item())
                out.append(self.images[i].clone())
                self.images[i] = img.clone()
            else:
                out.append(img)
        return torch.stack(out)

    def state(self) -> torch.Tensor | None:
        """The stored images as one tensor (None when empty), for checkpoints."""
        return torch.stack(self.images).cpu() if self.images else None

    def load(self, images: torch.Tensor | None, device: torch.device, like: torch.memory_format) -> None:
        """Restore ``state()``."""
        self.images = [] if images is None else [t.to(device).contiguous(memory_format=like) for t in images]


class CycleGAN(UnpairedTranslator):
    """Unpaired A <-> B: G step (both generators; GAN + cycle + identity), then D step (both PatchGANs)."""

    Config = CycleGANConfig
    ema_nets = ("G_A", "G_B")
    # With norm: batch an EMA generator's running statistics must fit its averaged weights, not the live ones:
    # training_step gathers them from its own pass over the real batch (copied live statistics made the EMA's
    # B -> A 1.10x no translation's on photo2tone's validation photo, its own 0.40x).
    ema_copies_norm_stats = False
    # Zhu et al. sec. 4: batch 1; 100 epochs at 2e-4, then 100 epochs decaying linearly to zero; 286 -> crop 256.
    train_defaults = {"data": {"batch_size": 1, "load_size": 286, "crop_size": 256},
                      "train": {"epochs": 200, "lr_schedule": "linear", "lr_decay_start": 0.5}}

    def __init__(self, cfg: CycleGANConfig):
        super().__init__(cfg)
        # Names follow the reference: G_A maps A -> B and D_A judges its outputs against real B. No dropout in the
        # generators: the paper uses none.
        norm_D = cfg.norm if cfg.norm_D == "same" else cfg.norm_D
        self.nets = {
            "G_A": build_generator(cfg.netG, cfg.in_channels, cfg.out_channels, cfg.ngf, cfg.norm),
            "G_B": build_generator(cfg.netG, cfg.out_channels, cfg.in_channels, cfg.ngf, cfg.norm),
            "D_A": PatchDiscriminator(cfg.out_channels, ndf=cfg.ndf, n_layers=cfg.n_layers_D, norm=norm_D),
            "D_B": PatchDiscriminator(cfg.in_channels, ndf=cfg.ndf, n_layers=cfg.n_layers_D, norm=norm_D),
        }
        for net in self.nets.values():
            init_normal_02(net)  # the paper's code: weights N(0, 0.02)
        betas = (cfg.beta1, cfg.beta2)
        g_params = [*self.nets["G_A"].parameters(), *self.nets["G_B"].parameters()]
        d_params = [*self.nets["D_A"].parameters(), *self.nets["D_B"].parameters()]
        self.optimizers = {"G": adam(g_params, lr=cfg.lr, betas=betas), "D": adam(d_params, lr=cfg.lr, betas=betas)}
        self.pools = {"A": ImagePool(cfg.pool_size), "B": ImagePool(cfg.pool_size)}

    @classmethod
    def generator_downsamplings(cls, cfg: CycleGANConfig) -> int:
        """2 for the ResNet generators, 6-8 for the U-Nets."""
        return generator_downs(cfg.netG)

    # ----- training -----------------------------------------------------------------------------
    def training_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """The reference's order: G_A and G_B together with D_A, D_B frozen, then D_A and D_B on pooled fakes."""
        real_a, real_b = batch["A"], batch["B"]
        G_A, G_B, D_A, D_B, cfg = self.nets["G_A"], self.nets["G_B"], self.nets["D_A"], self.nets["D_B"], self.cfg
        out: dict[str, torch.Tensor] = {}
        with self.frozen("D_A", "D_B"):
            fake_b = G_A(real_a)
            fake_a = G_B(real_b)
            # Batch norm (norm: batch): only the translation of real images above sets the running statistics
            # used at test time; the cycle's and identity loss's passes see fakes and the other domain, whose
            # statistics would shift every test-time translation (on photo2tone B -> A came out too red/bright).
            with running_stats_kept(G_A, G_B):
                rec_a, rec_b = G_B(fake_b), G_A(fake_a)
            loss_gan_a = losses.g_loss(cfg.gan_loss, D_A(fake_b))
            loss_gan_b = losses.g_loss(cfg.gan_loss, D_B(fake_a))
            # cycle consistency, L1 (paper eq. 2), weighted per direction
            loss_cyc_a = losses.cycle_loss(rec_a, real_a) * cfg.lambda_A
            loss_cyc_b = losses.cycle_loss(rec_b, real_b) * cfg.lambda_B
            loss_g = loss_gan_a + loss_gan_b + loss_cyc_a + loss_cyc_b
            if cfg.lambda_identity > 0:
                # identity (paper sec. 5.2, after Taigman et al.): G_A should leave a real B unchanged
                with running_stats_kept(G_A, G_B):
                    idt_a, idt_b = G_A(real_b), G_B(real_a)
                loss_idt_a = losses.identity_loss(idt_a, real_b) * cfg.lambda_B * cfg.lambda_identity
                loss_idt_b = losses.identity_loss(idt_b, real_a) * cfg.lambda_A * cfg.lambda_identity
                loss_g = loss_g + loss_idt_a + loss_idt_b
                out["loss/idt_A"], out["loss/idt_B"] = loss_idt_a.detach(), loss_idt_b.detach()
            self.optimize("G", loss_g)
        # D: real vs a fake from the pool; halved "to slow down the rate at which D learns relative to G" (sec. 4)
        pooled_b, pooled_a = self.pools["B"].query(fake_b), self.pools["A"].query(fake_a)
        loss_d_a = 0.5 * losses.d_loss(cfg.gan_loss, D_A(real_b), D_A(pooled_b))
        loss_d_b = 0.5 * losses.d_loss(cfg.gan_loss, D_B(real_a), D_B(pooled_a))
        self.optimize("D", loss_d_a + loss_d_b)
        self._ema_norm_statistics(real_a, real_b)
        out.update({"loss/G_A": loss_gan_a.detach(), "loss/G_B": loss_gan_b.detach(),
                    "loss/cycle_A": loss_cyc_a.detach(), "loss/cycle_B": loss_cyc_b.detach(),
                    "loss/D_A": loss_d_a.detach(), "loss/D_B": loss_d_b.detach()})
        return out

    @torch.no_grad()
    def _ema_norm_statistics(self, real_a: torch.Tensor, real_b: torch.Tensor) -> None:
        """Batch norm only: the EMA generators' running statistics from their own translation of the real batch
        (the live generators' statistics belong to other weights). A no-grad pass each, only when an EMA is kept."""
        if self.cfg.norm != "batch":  # the generators' only running statistics are batch norm's
            return
        for name, x in (("G_A", real_a), ("G_B", real_b)):
            ema = self.ema.get(name)
            if ema is None:
                continue
            ema.train()
            try:
                ema(x)
            finally:
                ema.eval()

    def extra_state(self) -> dict[str, Any]:
        """The two image pools (past fakes), so a resumed run shows D the same images."""
        return {f"pool_{k}": p.state() for k, p in self.pools.items()}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore the pools."""
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        for k, p in self.pools.items():
            p.load(state.get(f"pool_{k}"), self.device, fmt)

    # ----- inference ----------------------------------------------------------------------------
    def translate_batch(self, x: torch.Tensor, direction: str, **_: Any) -> torch.Tensor:
        """G_A(x) for AtoB, G_B(x) for BtoA."""
        return self.net("G_A" if direction == "AtoB" else "G_B")(x)

    def min_size(self) -> int:
        """Smallest input side: a U-Net needs its full multiple, the ResNet 8 px."""
        return self.multiple() if self.cfg.netG.startswith("unet") else 8

    def min_size_reason(self) -> str:
        """Why: the generators' architecture in words (for the too-small-input message)."""
        return generator_min_size_reason(self.cfg.netG, self.min_size())

