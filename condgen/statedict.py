"""State dicts, below the networks: which keys differ between two of them, and loading a checkpoint's networks
by name into a model's after checking that they fit (used by ``condgen.load``, ``train.init_from`` and resume).
A leaf: it imports nothing of condgen but its errors."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

from condgen.errors import CheckpointError


def describe_mismatch(own: Mapping[str, Any], given: Mapping[str, Any], limit: int = 5) -> str:
    """Which keys are missing, unexpected, or of another shape between two state dicts (the first few of each)."""
    missing = [k for k in own if k not in given]
    unexpected = [k for k in given if k not in own]
    shapes = [f"{k}: {tuple(given[k].shape)} in the file vs {tuple(v.shape)} expected" for k, v in own.items()
              if k in given and hasattr(given[k], "shape") and tuple(given[k].shape) != tuple(v.shape)]
    parts = []
    for label, items in (("missing keys", missing), ("unexpected keys", unexpected), ("shapes differ", shapes)):
        if items:
            more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
            parts.append(f"{label}: {', '.join(items[:limit])}{more}")
    return "; ".join(parts)


def load_nets(nets: Mapping[str, nn.Module], state: Mapping[str, Mapping[str, Any]], source: str, owner: str,
              mismatch: Callable[[str], str] | None = None) -> None:
    """Load each state dict of ``state`` (network name -> state dict) into the network of that name in ``nets``
    (plain modules, not DDP/compile wrappers), each checked first: a name ``nets`` lacks, or keys or shapes that
    differ, is a CheckpointError naming ``source`` and the keys. ``owner`` names the model (``"model pix2pix"``);
    ``mismatch(name)``, if given, words the start of the error for a network that does not fit."""
    for name, sd in state.items():
        if name not in nets:
            raise CheckpointError(f"{source} holds network '{name}', which {owner} does not have.")
        diff = describe_mismatch(nets[name].state_dict(), sd)
        if diff:
            head = mismatch(name) if mismatch else f"{source} does not fit network {name} of {owner}"
            raise CheckpointError(f"{head}: {diff}.")
        nets[name].load_state_dict(sd)
