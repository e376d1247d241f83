"""What ``condgen export`` writes for a model, as the model states it (``GenerativeModel.export_spec``): the
contract type, below the models so they can build it; condgen.export (above the models) writes and checks files."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from condgen.errors import ConfigError


class Exportable(nn.Module):
    """``fn(*inputs)`` as a module that owns ``nets`` (so tracing sees them as parameters, not constants)."""

    def __init__(self, fn: Callable[..., torch.Tensor], nets: dict[str, nn.Module]):
        super().__init__()
        self.nets = nn.ModuleDict(nets)
        self.fn = fn

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        """The generator's output for the exported inputs."""
        return self.fn(*inputs)


@dataclass
class ExportSpec:
    """What to export: the module, example inputs (batch 1), their names, and the dimensions that may vary
    (``{input name: {dim: label}}``; batch is always dynamic). ``check_inputs`` are other inputs used to compare
    the exported file with PyTorch (by default: batch 2, and spatial size + ``step`` when H/W are dynamic)."""

    module: nn.Module
    inputs: tuple[torch.Tensor, ...]
    input_names: list[str]
    dynamic: dict[str, dict[int, str]] = field(default_factory=dict)
    check_inputs: tuple[torch.Tensor, ...] | None = None
    note: str = ""


def image_spec(fn: Callable[..., torch.Tensor], nets: dict[str, nn.Module], channels: int, size: int,
               multiple: int, name: str = "image_in", extra: tuple[tuple[str, torch.Tensor], ...] = (),
               spatial: bool = True) -> ExportSpec:
    """An ExportSpec for an image-to-image generator: input 1 x ``channels`` x ``size`` x ``size`` in [-1, 1];
    H and W dynamic (multiples of ``multiple``) when ``spatial``. ``extra`` inputs (e.g. a style code) follow."""
    if size % multiple:
        raise ConfigError(f"--size {size} must be a multiple of {multiple} for this generator.")
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(1, channels, size, size, generator=gen) * 2 - 1
    check_size = size + multiple if spatial else size
    x2 = torch.rand(2, channels, check_size, check_size, generator=gen) * 2 - 1
    dyn = {name: {0: "batch", **({2: "height", 3: "width"} if spatial else {})}}
    names, inputs, checks = [name], [x], [x2]
    for extra_name, t in extra:
        names.append(extra_name)
        inputs.append(t)
        checks.append(torch.cat([t, torch.randn(t.shape, generator=gen).to(t.dtype)]))
        dyn[extra_name] = {0: "batch"}
    return ExportSpec(Exportable(fn, nets), tuple(inputs), names, dyn, tuple(checks))


__all__ = ["ExportSpec", "Exportable", "image_spec"]
