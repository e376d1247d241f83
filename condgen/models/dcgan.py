"""DCGAN (Radford, Metz & Chintala 2015, "Unsupervised Representation Learning with Deep Convolutional GANs")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from condgen import losses
from condgen.config import option
from condgen.exportspec import Exportable, ExportSpec
from condgen.models.base import GenerativeModel, adam, eval_mode
from condgen.nn.dcgan import DCGANDiscriminator, DCGANGenerator, check_image_size
from condgen.nn.init import init_normal_02


def sample_noise(n: int, nz: int, dist: str, generator: torch.Generator | None = None,
                 device: torch.device | str = "cpu") -> torch.Tensor:
    """n latent codes from the prior: uniform on [-1, 1] (DCGAN paper, fig. 1) or standard normal."""
    if dist == "uniform":
        return torch.rand(n, nz, generator=generator).mul_(2).sub_(1).to(device)
    return torch.randn(n, nz, generator=generator).to(device)


@dataclass
class DCGANConfig:
    """DCGAN hyper-parameters; defaults are the paper's (sec. 4) unless noted."""

    image_size: int = option(64, help="power of two, 16..256; 64 in the paper")
    channels: int = option(3, choices=(1, 3))
    nz: int = option(100, min=1, help="z dimension (paper: 100)")
    z_dist: str = option("uniform", choices=("uniform", "normal"),
                         help="prior of z: the paper draws z uniformly (fig. 1)")
    ngf: int = option(64, min=1)
    ndf: int = option(64, min=1)
    lr: float = option(2e-4, min=0.0, help="Adam learning rate (paper: 0.0002)")
    beta1: float = option(0.5, min=0.0, max=1.0, help="Adam beta1 (paper: 0.5, 0.9 oscillated)")
    beta2: float = option(0.999, min=0.0, max=1.0)
    gan_loss: str = option("vanilla", choices=losses.ADVERSARIAL,
                           help="vanilla = BCE on logits, non-saturating G loss")

    def validate(self) -> None:
        """Reject image sizes the architecture cannot make."""
        check_image_size(self.image_size)


class DCGAN(GenerativeModel):
    """Unconditional DCGAN: alternating D and G Adam steps on the non-saturating GAN loss."""

    Config = DCGANConfig
    data_kind = "images"
    # Radford et al. sec. 4: mini-batch SGD with batch size 128.
    train_defaults = {"data": {"batch_size": 128}, "train": {"epochs": 25}}

    def __init__(self, cfg: DCGANConfig):
        super().__init__(cfg)
        self.nets = self.build_nets(cfg)
        for net in self.nets.values():
            init_normal_02(net)
        betas = (cfg.beta1, cfg.beta2)
        self.optimizers = {name: adam(net.parameters(), lr=cfg.lr, betas=betas) for name, net in self.nets.items()}

    def build_nets(self, cfg: DCGANConfig) -> dict[str, torch.nn.Module]:
        """Generator and discriminator."""
        return {"G": DCGANGenerator(cfg.nz, cfg.ngf, cfg.channels, cfg.image_size),
                "D": DCGANDiscriminator(cfg.ndf, cfg.channels, cfg.image_size)}

    def export_spec(self, size: int | None = None, direction: str = "AtoB"):
        """G(z) (and class labels for cgan), batch dynamic; the prior is sampled outside the file."""
        G = self.net("G")
        gen = torch.Generator().manual_seed(0)
        z, z2 = self.sample_z(1, gen).cpu(), self.sample_z(3, gen).cpu()
        k = getattr(self.cfg, "num_classes", 0)
        if not k:
            return ExportSpec(Exportable(lambda z: G(z, None), {"G": G}), (z,), ["z"], {"z": {0: "batch"}}, (z2,),
                              note=f"z: N x {self.cfg.nz}, {self.cfg.z_dist} prior")
        labels, labels2 = torch.zeros(1, dtype=torch.long), torch.arange(3) % k
        return ExportSpec(Exportable(lambda z, y: G(z, y), {"G": G}), (z, labels), ["z", "labels"],
                          {"z": {0: "batch"}, "labels": {0: "batch"}}, (z2, labels2),
                          note=f"z: N x {self.cfg.nz}, {self.cfg.z_dist} prior; labels: N int64 in 0..{k - 1}")

    def sample_z(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Latent codes from the configured prior, on the model's device."""
        return sample_noise(n, self.cfg.nz, self.cfg.z_dist, generator, self.device)

    def training_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """One D step on real + detached fake, then one G step through D (Goodfellow's algorithm 1, k = 1)."""
        real, labels = batch["image"], batch.get("label")
        G, D, kind = self.nets["G"], self.nets["D"], self.cfg.gan_loss
        fake = G(self.sample_z(real.shape[0]), labels)
        # Real and fake go through D as separate batches so BatchNorm sees pure batches (DCGAN practice).
        loss_d = losses.d_loss(kind, D(real, labels), D(fake.detach(), labels))
        self.optimize("D", loss_d)
        with self.frozen("D"):
            loss_g = losses.g_loss(kind, D(fake, labels))
            self.optimize("G", loss_g)
        return {"loss/D": loss_d.detach(), "loss/G": loss_g.detach()}

    @torch.no_grad()
    def generate(self, z: torch.Tensor | None = None, labels: torch.Tensor | None = None, n: int = 16,
                 seed: int | None = None) -> torch.Tensor:
        """Images from latent codes ``z`` (or ``n`` fresh codes drawn with ``seed``), G in eval mode."""
        if z is None:
            gen = torch.Generator().manual_seed(seed) if seed is not None else None
            z = self.sample_z(n, gen)
        G = self.net("G")
        with eval_mode(G):
            out = G(z.to(self.device), None if labels is None else labels.to(self.device))
        return out.float()

    def fixed_inputs(self, n: int, seed: int, batch: dict[str, Any] | None = None) -> dict[str, Any]:
        """A fixed noise batch, drawn from its own generator so it does not move the training RNG."""
        return {"z": self.sample_z(n, torch.Generator().manual_seed(seed))}
