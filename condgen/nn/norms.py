"""Normalisation layers by name, with the reference's conv-bias rule (Isola et al. 2017 / Zhu et al. 2017 code)."""

from __future__ import annotations

from torch import nn

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
