"""Weight initialisations named after the papers that prescribe them."""

from __future__ import annotations

from torch import nn


def init_normal_02(module: nn.Module) -> None:
    """DCGAN init (Radford et al. 2015, sec. 4): conv weights N(0, 0.02); BatchNorm weight N(1, 0.02), bias 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def init_kaiming(module: nn.Module) -> None:
    """He et al. 2015 init, as the authors' UNIT/MUNIT code ("kaiming"): conv, transposed-conv and linear weights
    ~ kaiming_normal_(a=0, fan_in), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
