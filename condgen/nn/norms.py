"""Normalisation layers by name, with the reference's conv-bias rule (Isola et al. 2017 / Zhu et al. 2017 code),
plus the adaptive instance norm and layer norm of MUNIT's decoder (Huang et al. 2018)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from condgen.errors import ConfigError

NORMS = ("batch", "instance", "none")


def _check(kind: str) -> str:
    if kind not in NORMS:
        raise ConfigError(f"unknown norm {kind!r}: choose one of {', '.join(NORMS)}")
    return kind


def norm_layer(kind: str, channels: int) -> nn.Module:
    """A 2-d norm layer: "batch" (affine, running stats), "instance" (no affine, no running stats) or "none"."""
    kind = _check(kind)
    if kind == "batch":
        return nn.BatchNorm2d(channels, affine=True, track_running_stats=True)
    if kind == "instance":
        # affine=False matches the pix2pix/CycleGAN code and its released checkpoints (no IN weights in them)
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    return nn.Identity()


def uses_bias(kind: str) -> bool:
    """Whether a conv followed by this norm has a bias.

    Only instance norm: BatchNorm's shift makes a bias redundant, and the reference code also leaves it off
    for "none" (a quirk kept so parameter counts and checkpoint keys match).
    """
    return _check(kind) == "instance"


class AdaIN(nn.Module):
    """Adaptive instance norm (Huang & Belongie 2017): each channel of each sample is normalised over H x W, then
    scaled by ``gamma`` and shifted by ``beta`` (N x C each, e.g. from MUNIT's style MLP). No parameters of its own.
    Statistics are taken in float32, also under bf16 autocast."""

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.channels, self.eps = channels, eps

    def forward(self, x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        """gamma * (x - mean_hw(x)) / std_hw(x) + beta, in float32."""
        y = F.instance_norm(x.float(), eps=self.eps)
        return y * gamma.float()[:, :, None, None] + beta.float()[:, :, None, None]

    def extra_repr(self) -> str:
        return f"{self.channels}, eps={self.eps}"


class LayerNorm2d(nn.GroupNorm):
    """Layer norm (Ba et al. 2016) of a feature map: each sample normalised over C x H x W together, then a
    per-channel scale and shift (as MUNIT's upsampling layers use). Statistics in float32, also under autocast."""

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__(1, channels, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The normalised map, float32."""
        return F.group_norm(x.float(), 1, self.weight, self.bias, self.eps)
