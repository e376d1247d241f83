"""Losses shared by the models: adversarial objectives (logits in, autocast-safe) and reconstruction terms."""

from __future__ import annotations

import torch
from torch.nn import functional as F

ADVERSARIAL = ("vanilla", "lsgan", "hinge")


def _target(logits: torch.Tensor, value: float) -> torch.Tensor:
    return torch.full_like(logits, value)


def d_loss(kind: str, real, fake) -> torch.Tensor:
    """Discriminator loss on real and fake logits (tensors, or lists of them from a multi-scale D: summed).

    vanilla: Goodfellow et al. 2014, D maximises log D(x) + log(1 - D(G(z))) (BCE with logits);
    lsgan: Mao et al. 2017, (D(x) - 1)^2 + D(G(z))^2; hinge: Lim & Ye 2017.
    """
    if isinstance(real, (list, tuple)):
        return sum(d_loss(kind, r, f) for r, f in zip(real, fake, strict=True))
    real, fake = real.float(), fake.float()
    if kind == "vanilla":
        return (F.binary_cross_entropy_with_logits(real, _target(real, 1.0))
                + F.binary_cross_entropy_with_logits(fake, _target(fake, 0.0)))
    if kind == "lsgan":
        return F.mse_loss(real, _target(real, 1.0)) + F.mse_loss(fake, _target(fake, 0.0))
    if kind == "hinge":
        return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()
    raise ValueError(f"unknown adversarial loss {kind!r}; choose from {ADVERSARIAL}")


def g_loss(kind: str, fake) -> torch.Tensor:
    """Generator loss on fake logits (or a list of them, summed). vanilla = the non-saturating loss, maximise
    log D(G(z)) (Goodfellow, sec. 3)."""
    if isinstance(fake, (list, tuple)):
        return sum(g_loss(kind, f) for f in fake)
    fake = fake.float()
    if kind == "vanilla":
        return F.binary_cross_entropy_with_logits(fake, _target(fake, 1.0))
    if kind == "lsgan":
        return F.mse_loss(fake, _target(fake, 1.0))
    if kind == "hinge":
        return -fake.mean()
    raise ValueError(f"unknown adversarial loss {kind!r}; choose from {ADVERSARIAL}")
