"""Renaming a reference state dict onto condgen's module names, one layer at a time, with every missing and every
unexpected key reported at once (shared by the SPADE / OASIS / SEAN / MUNIT / UNIT importers)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import torch

from condgen.errors import CheckpointError, WeightsNotFoundError

_WRAPPERS = ("module.", "_orig_mod.")


def read_checkpoint(path: str | Path) -> dict:
    """The dict stored in ``path`` (``weights_only=True``: no code runs), wrapper prefixes (``module.``) stripped
    from plain state dicts; nested dicts (MUNIT's ``{"a": ..., "b": ...}``) are kept as they are."""
    path = Path(path)
    if not path.is_file():
        raise WeightsNotFoundError(f"no checkpoint at {path}: download the file yourself (condgen fetches nothing) "
                                   "and pass its path")
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a corrupt file or one that needs code execution to unpickle
        raise CheckpointError(f"cannot read {path} as a PyTorch checkpoint ({type(e).__name__}: {e})") from e
    if not isinstance(sd, dict):
        raise CheckpointError(f"{path} holds a {type(sd).__name__}, not a state dict")
    return strip_wrappers(sd)


def strip_wrappers(sd: dict) -> dict:
    """Keys without DataParallel / torch.compile prefixes (tensor entries only; nested dicts untouched)."""
    out = {}
    for key, value in sd.items():
        if isinstance(value, torch.Tensor):
            for prefix in _WRAPPERS:
                while key.startswith(prefix):
                    key = key[len(prefix):]
        out[key] = value
    return out


def is_state_dict(sd) -> bool:
    """Whether ``sd`` is a non-empty dict of tensors."""
    return isinstance(sd, dict) and bool(sd) and all(isinstance(v, torch.Tensor) for v in sd.values())


class KeyMap:
    """Builds a condgen state dict from a reference one. Each ``take``-like call names a reference layer and its
    condgen counterpart; ``result()`` raises one CheckpointError naming every missing reference key and every key
    left over (other than those matching ``ignore``)."""

    #: applied to the weights of layers that read the conditioning map (OASIS: reorder its channels)
    cond_fn: Callable[[torch.Tensor], torch.Tensor] | None = None

    def __init__(self, sd: dict, what: str, source: str):
        self.sd, self.what, self.source = sd, what, source
        self.out: dict[str, torch.Tensor] = {}
        self.used: set[str] = set()
        self.missing: list[str] = []

    def has(self, key: str) -> bool:
        """Whether the reference holds ``key``."""
        return key in self.sd

    def take(self, ref: str, dst: str, fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
             optional: bool = False) -> None:
        """out[dst] = fn(sd[ref]); a missing ``ref`` is recorded (unless ``optional``)."""
        if ref not in self.sd:
            if not optional:
                self.missing.append(ref)
            return
        value = self.sd[ref]
        self.used.add(ref)
        self.out[dst] = (fn(value) if fn else value).float() if value.is_floating_point() else value

    def layer(self, ref: str, dst: str, bias: bool = True, fn=None) -> None:
        """A conv / linear layer: weight (through ``fn``) and bias."""
        self.take(f"{ref}.weight", f"{dst}.weight", fn)
        if bias:
            self.take(f"{ref}.bias", f"{dst}.bias")

    def spectral(self, ref: str, dst: str, bias: bool = True, fn=None) -> None:
        """A layer under torch's hook-style spectral norm (``weight_orig``, ``weight_u``, ``weight_v``) onto one
        under the parametrisation (``parametrizations.weight.original``, ``.0._u``, ``.0._v``); in eval both divide
        the weight by u·(W v) with the stored vectors."""
        p = f"{dst}.parametrizations.weight"
        self.take(f"{ref}.weight_orig", f"{p}.original", fn)
        self.take(f"{ref}.weight_u", f"{p}.0._u")
        self.take(f"{ref}.weight_v", f"{p}.0._v")
        self.used.add(f"{ref}.weight")  # very old files also stored the normalised weight itself
        if bias:
            self.take(f"{ref}.bias", f"{dst}.bias")

    def batch_stats(self, ref: str, dst: str) -> None:
        """A parameter-free batch norm's running statistics (counter optional: files from torch < 0.4.1)."""
        self.take(f"{ref}.running_mean", f"{dst}.running_mean")
        self.take(f"{ref}.running_var", f"{dst}.running_var")
        if self.has(f"{ref}.num_batches_tracked"):
            self.take(f"{ref}.num_batches_tracked", f"{dst}.num_batches_tracked")
        else:
            self.out[f"{dst}.num_batches_tracked"] = torch.tensor(0, dtype=torch.long)

    def result(self, ignore: str | None = None) -> dict[str, torch.Tensor]:
        """The condgen state dict; CheckpointError listing missing and unexpected reference keys."""
        pattern = re.compile(ignore) if ignore else None
        extra = [k for k in self.sd if k not in self.used and not (pattern and pattern.search(k))]
        if self.missing or extra:
            parts = []
            if self.missing:
                parts.append(f"missing keys: {few(self.missing)}")
            if extra:
                parts.append(f"unexpected keys: {few(extra)}")
            raise CheckpointError(f"{self.source} does not fit {self.what} ({'; '.join(parts)}). Is it the right "
                                  "file and --format?")
        return self.out


def few(names: list[str], n: int = 6) -> str:
    """The first ``n`` names, and how many more."""
    return ", ".join(names[:n]) + (f" (+{len(names) - n} more)" if len(names) > n else "")


def count(sd: dict, pattern: str) -> int:
    """How many distinct values the first group of ``pattern`` takes over the keys of ``sd``."""
    rx = re.compile(pattern)
    return len({m.group(1) for k in sd if (m := rx.match(k))})


def require(sd: dict, keys: list[str], what: str, source: str) -> None:
    """CheckpointError naming the keys of ``keys`` that ``sd`` lacks (before shapes are read from them)."""
    missing = [k for k in keys if k not in sd]
    if missing:
        raise CheckpointError(f"{source} is not {what}: missing keys {few(missing)} (first keys of the file: "
                              f"{few(list(sd))}). Is it the right file and --format?")


__all__ = ["KeyMap", "count", "few", "is_state_dict", "read_checkpoint", "require", "strip_wrappers"]
