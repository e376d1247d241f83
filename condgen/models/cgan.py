"""Class-conditional GAN (Mirza & Osindero 2014, "Conditional Generative Adversarial Nets") as a DCGAN.

The class y is an input to both networks: G gets z joined with one-hot y (the paper joins y to z);
D gets y either as one-hot label planes joined to the image ("concat", the paper's idea applied to a
conv D) or through a projection term (Miyato & Koyama 2018). See docs/models/gan.md for the measured
comparison that picked the default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from condgen.config import option
from condgen.errors import ConfigError
from condgen.models.dcgan import DCGAN, DCGANConfig
from condgen.nn.dcgan import DCGANDiscriminator, DCGANGenerator


@dataclass
class CGANConfig(DCGANConfig):
    """DCGAN hyper-parameters plus how the class is fed in."""

    num_classes: int = option(0, min=0, help="0: taken from the dataset's class folders")
    class_input: str = option("onehot", choices=("onehot", "embedding"),
                              help="how G receives y (paper: one-hot joined to z)")
    d_conditioning: str = option("concat", choices=("concat", "projection"),
                                 help="how D receives y: label planes joined to the image, or projection")


class CGAN(DCGAN):
    """DCGAN whose G and D both see the class label."""

    Config = CGANConfig
    data_kind = "classes"

    @classmethod
    def fill_from_data(cls, cfg: CGANConfig, info: dict[str, Any]) -> None:
        """Take the number of classes from the data, or check it matches the config."""
        n = int(info.get("num_classes", 0))
        if n < 2:
            raise ConfigError("cgan needs class-labelled data with at least 2 classes (one subfolder per class).")
        if cfg.num_classes and cfg.num_classes != n:
            raise ConfigError(f"model.num_classes is {cfg.num_classes} but the data has {n} classes.")
        cfg.num_classes = n

    def build_nets(self, cfg: CGANConfig) -> dict[str, torch.nn.Module]:
        """Class-conditional generator and discriminator."""
        if cfg.num_classes < 2:
            raise ConfigError("model.num_classes must be >= 2 for cgan (it is filled from the data when 0).")
        return {"G": DCGANGenerator(cfg.nz, cfg.ngf, cfg.channels, cfg.image_size,
                                    cfg.num_classes, cfg.class_input),
                "D": DCGANDiscriminator(cfg.ndf, cfg.channels, cfg.image_size,
                                        cfg.num_classes, cfg.d_conditioning)}

    def check_labels(self, labels: torch.Tensor) -> torch.Tensor:
        """Labels as int64, or a ConfigError naming the valid range."""
        labels = torch.as_tensor(labels, dtype=torch.long)
        if labels.numel() and (labels.min() < 0 or labels.max() >= self.cfg.num_classes):
            raise ConfigError(f"class ids must be in 0..{self.cfg.num_classes - 1}, got {labels.tolist()[:8]}.")
        return labels

    @torch.no_grad()
    def generate(self, z: torch.Tensor | None = None, labels: torch.Tensor | None = None, n: int = 16,
                 seed: int | None = None) -> torch.Tensor:
        """Images of the given classes (default: classes 0..K-1 repeated)."""
        if labels is None:
            count = n if z is None else z.shape[0]
            labels = torch.arange(count) % self.cfg.num_classes
        labels = self.check_labels(labels)
        if z is None:
            n = labels.shape[0]
        return super().generate(z=z, labels=labels, n=n, seed=seed)

    def sample_grid_nrow(self, n: int) -> int:
        """One row per class: ``n // num_classes`` noise vectors across."""
        return max(1, n // self.cfg.num_classes)

    def fixed_inputs(self, n: int, seed: int, batch: dict[str, Any] | None = None) -> dict[str, Any]:
        """Fixed noise; the grid's row r holds class r (one column per noise vector)."""
        k = self.cfg.num_classes
        cols = max(1, n // k)
        z = self.sample_z(cols, torch.Generator().manual_seed(seed)).repeat(k, 1)
        labels = torch.arange(k).repeat_interleave(cols).to(self.device)
        return {"z": z, "labels": labels}
