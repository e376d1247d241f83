"""The original GAN (Goodfellow et al. 2014, "Generative Adversarial Nets"): MLP G and maxout D.

Architecture and optimiser follow the paper's MNIST experiment (its released configuration): z of
100 dims drawn uniformly, G with two 1200-unit ReLU layers, D with two 240-unit maxout layers of 5
pieces, dropout and a max-norm constraint on each unit's weights, SGD with momentum, batch 100, k = 1
D step per G step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from condgen import losses
from condgen.config import option
from condgen.errors import ConfigError
from condgen.models.base import adam
from condgen.models.dcgan import DCGAN
from condgen.nn.mlp import MLPDiscriminator, MLPGenerator


@dataclass
class GANConfig:
    """Hyper-parameters of the MLP GAN; defaults are the paper's MNIST setting."""

    image_size: int = option(28, min=4, max=128, help="any size; MNIST's 28 in the paper")
    channels: int = option(1, choices=(1, 3))
    nz: int = option(100, min=1)
    z_dist: str = option("uniform", choices=("uniform", "normal"))
    g_hidden: list[int] = option([1200, 1200], help="G ReLU layer widths")
    d_hidden: list[int] = option([240, 240], help="D maxout layer widths")
    d_pieces: int = option(5, min=1, help="linear pieces per maxout unit")
    d_dropout: float = option(0.5, min=0.0, max=0.95)
    d_max_norm: float = option(1.9365, min=0.0,
                               help="max L2 norm of each D unit's incoming weights after every D step "
                                    "(the paper's maxout D; 0 disables); keeps SGD at lr 0.1 stable")
    optimizer: str = option("sgd", choices=("sgd", "adam"))
    lr: float = option(0.1, min=0.0, help="paper: SGD lr 0.1 with momentum 0.5")
    momentum: float = option(0.5, min=0.0, max=1.0, help="SGD momentum (paper: 0.5)")
    beta1: float = option(0.5, min=0.0, max=1.0, help="Adam beta1 when optimizer=adam")
    beta2: float = option(0.999, min=0.0, max=1.0)
    d_steps: int = option(1, min=1, help="k, D steps per G step (paper: k = 1)")
    gan_loss: str = option("vanilla", choices=losses.ADVERSARIAL,
                           help="vanilla: D maximises log D(x) + log(1 - D(G(z))), G the non-saturating loss")

    def validate(self) -> None:
        """Hidden layer lists must not be empty of sense."""
        if any(h < 1 for h in [*self.g_hidden, *self.d_hidden]):
            raise ConfigError("model.g_hidden and model.d_hidden must hold positive widths.")


class GAN(DCGAN):
    """MLP GAN; shares DCGAN's sampling and generation, differs in networks, optimiser and k."""

    Config = GANConfig
    data_kind = "images"
    train_defaults = {"data": {"batch_size": 100}, "train": {"epochs": 100}}

    def __init__(self, cfg: GANConfig):  # noqa: D107 - the base class documents it
        super(DCGAN, self).__init__(cfg)
        self.nets = {"G": MLPGenerator(cfg.nz, tuple(cfg.g_hidden), cfg.channels, cfg.image_size),
                     "D": MLPDiscriminator(tuple(cfg.d_hidden), cfg.d_pieces, cfg.d_dropout,
                                           cfg.channels, cfg.image_size)}
        for name, net in self.nets.items():
            if cfg.optimizer == "sgd":
                opt = torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=cfg.momentum)
            else:
                opt = adam(net.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
            self.optimizers[name] = opt

    @torch.no_grad()
    def constrain_norms(self) -> None:
        """Project each D unit's incoming weight vector back into the ball of radius ``d_max_norm``."""
        for m in self.nets["D"].modules():
            if isinstance(m, torch.nn.Linear):
                m.weight.copy_(torch.renorm(m.weight, p=2, dim=0, maxnorm=self.cfg.d_max_norm))

    def training_step(self, batch):
        """k D steps on fresh noise (generator output detached), then one non-saturating G step."""
        real = batch["image"]
        G, D, kind = self.nets["G"], self.nets["D"], self.cfg.gan_loss
        n = real.shape[0]
        for _ in range(self.cfg.d_steps):
            with torch.no_grad():
                fake = G(self.sample_z(n))
            loss_d = losses.d_loss(kind, D(real), D(fake))
            self.optimize("D", loss_d)
            if self.cfg.d_max_norm > 0:
                self.constrain_norms()
        with self.frozen("D"):
            loss_g = losses.g_loss(kind, D(G(self.sample_z(n))))
            self.optimize("G", loss_g)
        return {"loss/D": loss_d.detach(), "loss/G": loss_g.detach()}
