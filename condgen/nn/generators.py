"""The image-to-image generators by name, as pix2pix and CycleGAN choose them (their ``netG``): the U-Nets of
Isola et al. (8, 7 or 6 downsamplings) and the ResNets of Johnson et al. used by both papers (9 or 6 blocks)."""

from __future__ import annotations

from torch import nn

GENERATORS = ("unet_256", "unet_128", "unet_64", "resnet_9blocks", "resnet_6blocks")


def generator_downs(name: str) -> int:
    """Number of stride-2 downsamplings of a named generator."""
    return {"unet_256": 8, "unet_128": 7, "unet_64": 6}.get(name, 2)


def build_generator(netG: str, in_channels: int, out_channels: int, ngf: int, norm: str,
                    dropout: float = 0.0) -> nn.Module:
    """The named generator (U-Net or ResNet), with ``dropout`` in the U-Net's decoder or in every residual block."""
    if netG.startswith("unet"):
        from condgen.nn.unet import UNetGenerator

        return UNetGenerator(in_channels, out_channels, num_downs=generator_downs(netG), ngf=ngf, norm=norm,
                             dropout=dropout)
    from condgen.nn.resnet import ResnetGenerator

    blocks = 9 if netG == "resnet_9blocks" else 6
    return ResnetGenerator(in_channels, out_channels, ngf=ngf, n_blocks=blocks, norm=norm, dropout=dropout)


def generator_min_size_reason(netG: str, size: int) -> str:
    """Why a generator ``netG`` (unet_* or resnet_*) needs inputs of at least ``size`` px, in words."""
    if netG.startswith("unet"):
        return (f"the U-Net generator {netG} halves the image down to a 1x1 bottleneck, so it needs {size} px; use "
                "a model with a smaller generator (e.g. netG=unet_128 or a resnet)")
    return (f"the ResNet generator {netG} halves the image twice and pads by reflection at its bottleneck, which "
            f"needs 2 px there, so it needs {size} px")


__all__ = ["GENERATORS", "build_generator", "generator_downs", "generator_min_size_reason"]
