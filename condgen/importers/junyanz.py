"""Load junyanz/pytorch-CycleGAN-and-pix2pix checkpoints (``latest_net_G.pth``, ``latest_net_D.pth``, ...).

Those files are plain state dicts named after the reference's module layout: nested ``model.model.1.model.3...``
keys for its recursive U-Net, flat ``model.<i>`` for the ResNet generator and the N-layer PatchGAN, ``net.<i>``
for the pixel discriminator. Here each architecture gets a table from those module paths to condgen's, built
from the facts of that layout (key names only; no code of the reference is used).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from condgen.errors import CheckpointError, ConfigError, WeightsNotFoundError
from condgen.nn.patchgan import PatchDiscriminator, PixelDiscriminator
from condgen.nn.resnet import ResnetGenerator
from condgen.nn.unet import UNetGenerator
from condgen.statedict import describe_mismatch

GENERATORS = ("unet_256", "unet_128", "resnet_9blocks", "resnet_6blocks")
DISCRIMINATORS = ("basic", "n_layers", "pixel")
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")  # DataParallel/DDP and torch.compile
_NORM_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


@dataclass
class ArchGuess:
    """What a reference checkpoint holds: its --netG/--netD name, G or D, its norm and the net's constructor args."""

    arch: str
    kind: str
    norm: str
    kwargs: dict = field(default_factory=dict)


def _parse(arch: str) -> tuple[str, str, int | None]:
    """(family, kind, size parameter) for a reference architecture name."""
    if m := re.fullmatch(r"unet_(\d+)", arch):
        size = int(m.group(1))
        if size >= 4 and size & (size - 1) == 0:
            return "unet", "G", size.bit_length() - 1
    if m := re.fullmatch(r"resnet_(\d+)blocks", arch):
        return "resnet", "G", int(m.group(1))
    if arch == "basic":
        return "n_layers", "D", 3
    if arch == "n_layers":
        return "n_layers", "D", None
    if arch == "pixel":
        return "pixel", "D", None
    raise ConfigError(f"unknown reference architecture {arch!r}: choose one of "
                      f"{', '.join(GENERATORS + DISCRIMINATORS)} (the reference's --netG / --netD values)")


def _check_kind(arch: str, kind: str | None) -> tuple[str, int | None]:
    family, arch_kind, size = _parse(arch)
    if kind is not None and kind != arch_kind:
        if kind not in ("G", "D"):
            raise ConfigError(f"kind must be 'G' or 'D', got {kind!r}")
        raise ConfigError(f"{arch!r} is a {'generator' if arch_kind == 'G' else 'discriminator'} architecture, "
                          f"but kind={kind!r} was given")
    return family, size


def _strip_wrappers(sd: dict) -> dict:
    out = {}
    for key, value in sd.items():
        changed = True
        while changed:
            changed = False
            for prefix in _WRAPPER_PREFIXES:
                if key.startswith(prefix):
                    key, changed = key[len(prefix):], True
        out[key] = value
    return out


def _unet_table(num_downs: int) -> dict[str, str]:
    table = {"model.model.0": "encoder.0.conv", "model.model.3": "decoder.0.conv"}
    inner = num_downs - 1
    for k in range(1, num_downs):
        p = "model.model.1" + ".model.3" * (k - 1) + ".model"
        if k < inner:  # [0 LReLU, 1 conv, 2 norm, 3 submodule, 4 ReLU, 5 convT, 6 norm, (7 dropout)]
            table.update({f"{p}.1": f"encoder.{k}.conv", f"{p}.2": f"encoder.{k}.norm",
                          f"{p}.5": f"decoder.{k}.conv", f"{p}.6": f"decoder.{k}.norm"})
        else:  # innermost: [0 LReLU, 1 conv, 2 ReLU, 3 convT, 4 norm]
            table.update({f"{p}.1": f"encoder.{k}.conv", f"{p}.3": f"decoder.{k}.conv",
                          f"{p}.4": f"decoder.{k}.norm"})
    return table


def _resnet_has_dropout(sd: dict) -> bool:
    # a Dropout in the block shifts its second conv from conv_block.5 to .6 (and the norm to .7)
    return any(re.fullmatch(r"model\.\d+\.conv_block\.6\.weight", k) and v.dim() == 4 or ".conv_block.7." in k
               for k, v in sd.items())


def _resnet_table(n_blocks: int, dropout: bool) -> dict[str, str]:
    table = {"model.1": "stem.conv", "model.2": "stem.norm", "model.4": "down.0.conv", "model.5": "down.0.norm",
             "model.7": "down.1.conv", "model.8": "down.1.norm"}
    conv2, norm2 = (6, 7) if dropout else (5, 6)
    for i in range(n_blocks):
        p = f"model.{10 + i}.conv_block"
        table.update({f"{p}.1": f"blocks.{i}.body.conv1", f"{p}.2": f"blocks.{i}.body.norm1",
                      f"{p}.{conv2}": f"blocks.{i}.body.conv2", f"{p}.{norm2}": f"blocks.{i}.body.norm2"})
    b = 10 + n_blocks
    table.update({f"model.{b}": "up.0.conv", f"model.{b + 1}": "up.0.norm", f"model.{b + 3}": "up.1.conv",
                  f"model.{b + 4}": "up.1.norm", f"model.{b + 7}": "head.conv"})
    return table


def _n_layers_in(sd: dict) -> int | None:
    idx = [int(m.group(1)) for k in sd if (m := re.fullmatch(r"model\.(\d+)\.weight", k))]
    if not idx or (max(idx) - 2) % 3:
        return None
    return (max(idx) - 2) // 3  # the final conv sits at index 3 * n_layers + 2


def _n_layers_table(n_layers: int) -> dict[str, str]:
    # [conv, LReLU] then per layer j [conv, norm, LReLU] at 3j-1, 3j, 3j+1, then the 1-channel conv
    table = {"model.0": "blocks.0.conv", f"model.{3 * n_layers + 2}": "head"}
    for j in range(1, n_layers + 1):
        table.update({f"model.{3 * j - 1}": f"blocks.{j}.conv", f"model.{3 * j}": f"blocks.{j}.norm"})
    return table


_PIXEL_TABLE = {"net.0": "layers.conv1", "net.2": "layers.conv2", "net.3": "layers.norm", "net.5": "layers.conv3"}


def _table(sd: dict, arch: str, kind: str | None) -> dict[str, str]:
    family, size = _check_kind(arch, kind)
    if family == "unet":
        return _unet_table(size)
    if family == "resnet":
        return _resnet_table(size, _resnet_has_dropout(sd))
    if family == "n_layers":
        return _n_layers_table(size or _n_layers_in(sd) or 3)
    return _PIXEL_TABLE


def _fix_norm_buffers(sd: dict) -> dict:
    """Drop stale InstanceNorm running stats (no affine weight beside them); add missing BN num_batches_tracked."""
    out = dict(sd)
    prefixes = {k.rsplit(".", 1)[0] for k in sd if k.endswith(".running_mean")}
    for p in prefixes:
        if f"{p}.weight" not in sd:  # the reference's InstanceNorm has no affine params: old files kept its stats
            for name in _NORM_BUFFERS:
                out.pop(f"{p}.{name}", None)
        elif f"{p}.num_batches_tracked" not in sd:  # saved before torch 0.4.1 added it
            out[f"{p}.num_batches_tracked"] = torch.tensor(0, dtype=torch.long)
    return out


def convert_state_dict(sd: dict, arch: str, kind: str | None = None) -> dict:
    """A reference state dict renamed onto condgen's module names (keys that do not fit ``arch`` stay as they are)."""
    sd = _fix_norm_buffers(_strip_wrappers(sd))
    table = _table(sd, arch, kind)
    out = {}
    for key, value in sd.items():
        module, _, param = key.rpartition(".")
        out[f"{table[module]}.{param}" if module in table else key] = value
    return out


def _norm_of(sd: dict, bias_probe: str) -> str:
    if any(k.endswith(".weight") and v.dim() == 1 for k, v in sd.items()):
        return "batch"  # only BatchNorm has 1-d weights; the reference's InstanceNorm has none
    # the reference gives a conv a bias only when an InstanceNorm follows it; with norm "none" there is none
    return "instance" if bias_probe in sd else "none"


def detect_arch(sd: dict) -> ArchGuess:
    """Guess the reference architecture, norm and constructor args of a state dict from its keys and shapes."""
    sd = _strip_wrappers(sd)
    keys = list(sd)
    try:
        if "model.model.0.weight" in sd:
            depth = 1
            while any(k.startswith("model.model.1" + ".model.3" * depth + ".model.") for k in keys):
                depth += 1
            num_downs = depth + 1
            first, last = sd["model.model.0.weight"], sd["model.model.3.weight"]
            return ArchGuess(f"unet_{2 ** num_downs}", "G", _norm_of(sd, "model.model.1.model.1.bias"),
                             dict(in_channels=first.shape[1], out_channels=last.shape[1], ngf=first.shape[0]))
        if any(".conv_block." in k for k in keys):
            n_blocks = len({k.split(".")[1] for k in keys if ".conv_block." in k})
            first, last = sd["model.1.weight"], sd[f"model.{10 + n_blocks + 7}.weight"]
            return ArchGuess(f"resnet_{n_blocks}blocks", "G", _norm_of(sd, "model.1.bias"),
                             dict(in_channels=first.shape[1], out_channels=last.shape[0], ngf=first.shape[0],
                                  dropout=0.5 if _resnet_has_dropout(sd) else 0.0))
        if "net.0.weight" in sd:
            first = sd["net.0.weight"]
            return ArchGuess("pixel", "D", _norm_of(sd, "net.2.bias"),
                             dict(in_channels=first.shape[1], ndf=first.shape[0]))
        if "model.0.weight" in sd and (n_layers := _n_layers_in(sd)):
            first = sd["model.0.weight"]
            return ArchGuess("basic" if n_layers == 3 else "n_layers", "D", _norm_of(sd, "model.2.bias"),
                             dict(in_channels=first.shape[1], ndf=first.shape[0], n_layers=n_layers))
    except (KeyError, AttributeError, IndexError):
        pass
    raise CheckpointError(f"not a recognisable pix2pix/CycleGAN network (first keys: {', '.join(keys[:5])}): "
                          f"pass arch= one of {', '.join(GENERATORS + DISCRIMINATORS)}")


def build_net(arch: str, **net_kwargs) -> nn.Module:
    """A fresh condgen network for a reference architecture name, e.g. ``build_net("unet_256", norm="batch")``."""
    family, _, size = _parse(arch)
    if family == "unet":
        return UNetGenerator(num_downs=size, **net_kwargs)
    if family == "resnet":
        return ResnetGenerator(n_blocks=size, **net_kwargs)
    if family == "n_layers":
        if size is not None:
            net_kwargs = {**net_kwargs, "n_layers": size}
        return PatchDiscriminator(**net_kwargs)
    return PixelDiscriminator(**net_kwargs)


def _few(names: list[str], n: int = 5) -> str:
    more = f" (+{len(names) - n} more)" if len(names) > n else ""
    return ", ".join(names[:n]) + more


def _read(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise WeightsNotFoundError(f"no checkpoint at {path}: download the .pth file yourself "
                                   f"(condgen fetches nothing) and pass its path")
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a corrupt file or one that needs code execution to unpickle
        raise CheckpointError(f"cannot read {path} as a PyTorch state dict ({type(e).__name__}: {e})") from e
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise CheckpointError(f"{path} is not a plain state dict of tensors (as latest_net_G.pth files are)")
    return sd


def load_reference_weights(path: str | Path, arch: str | None = None, kind: str | None = None,
                           **net_kwargs) -> nn.Module:
    """Build the condgen network for a reference checkpoint and load its weights (strict).

    ``arch`` is the reference's --netG/--netD name (guessed from the file when omitted). The norm, channels and
    widths come from the file unless given in ``net_kwargs``. The network is returned in training mode, as built.
    """
    sd = _strip_wrappers(_read(path))
    try:
        guess: ArchGuess | None = detect_arch(sd)
    except CheckpointError:
        if arch is None:
            raise
        guess = None
    arch = arch or guess.arch
    _check_kind(arch, kind)
    kwargs = {}
    if guess is not None and _parse(guess.arch)[0] == _parse(arch)[0]:
        # same family: take norm and widths from the file; depth/blocks still come from ``arch``, so a
        # unet_128 file asked for as unet_256 fails below with the keys that differ
        kwargs = {**guess.kwargs, "norm": guess.norm}
        if arch != "n_layers":
            kwargs.pop("n_layers", None)
    kwargs.update(net_kwargs)
    net = build_net(arch, **kwargs)
    state = convert_state_dict(sd, arch, kind)
    problems = describe_mismatch(net.state_dict(), state)
    if problems:
        hint = (f" The file looks like {guess.arch} with {guess.norm} norm {guess.kwargs}."
                if guess is not None else "")
        raise CheckpointError(
            f"{path} is a checkpoint for a different architecture than {arch} "
            f"({', '.join(f'{k}={v}' for k, v in kwargs.items())}): {problems}.{hint}")
    net.load_state_dict(state, strict=True)
    return net
