"""Load pytorch/examples ``fast_neural_style`` checkpoints (its TransformerNet state dicts, e.g. ``mosaic.pth``)
into condgen's transformation network with ``arch=fast_neural_style`` (condgen.nn.transformer, ``linear255``).

The file is a plain state dict keyed by that project's module names: ``conv1.conv2d``, ``in1`` (c9s1-32),
``conv2``/``in2`` and ``conv3``/``in3`` (the two stride-2 convs), ``res1`` ... ``res5`` each with ``conv1.conv2d``,
``in1``, ``conv2.conv2d``, ``in2``, then ``deconv1``/``in4``, ``deconv2``/``in5`` (nearest upsampling + conv) and
``deconv3`` (the output conv), each with ``weight`` and ``bias``. Files saved by PyTorch before 0.4 also hold the
instance norms' ``running_mean``/``running_var`` (unused by instance norm at inference); they are dropped, as the
project's own stylize script does. The table below is built from those key names only.
"""

from __future__ import annotations

import re
from pathlib import Path

from condgen.config import RunConfig
from condgen.errors import CheckpointError

_STALE = re.compile(r"(^|\.)in\d+\.(running_mean|running_var|num_batches_tracked)$")
_WRAPPERS = ("module.", "_orig_mod.")
_FIXED = {"conv1.conv2d": "head.conv", "in1": "head.norm", "conv2.conv2d": "down.0.conv", "in2": "down.0.norm",
          "conv3.conv2d": "down.1.conv", "in3": "down.1.norm", "deconv1.conv2d": "up.0.conv", "in4": "up.0.norm",
          "deconv2.conv2d": "up.1.conv", "in5": "up.1.norm", "deconv3.conv2d": "tail.conv"}
_RES = {"conv1.conv2d": "conv1.conv", "in1": "conv1.norm", "conv2.conv2d": "conv2.conv", "in2": "conv2.norm"}


def _target(module: str) -> str | None:
    """condgen's module path for one of the reference's, or None if it is not a TransformerNet module."""
    if module in _FIXED:
        return _FIXED[module]
    m = re.fullmatch(r"res(\d+)\.(.+)", module)
    if m and int(m.group(1)) >= 1 and m.group(2) in _RES:
        return f"blocks.{int(m.group(1)) - 1}.{_RES[m.group(2)]}"
    return None


def convert_state_dict(sd: dict, source: str = "the state dict") -> tuple[dict, dict]:
    """(condgen state dict of the network, model-config fields ngf and n_blocks) from a TransformerNet state dict.
    CheckpointError naming the keys that are not a TransformerNet's."""
    out, unknown = {}, []
    for key, value in sd.items():
        for prefix in _WRAPPERS:
            if key.startswith(prefix):
                key = key[len(prefix):]
        if _STALE.search(key):
            continue
        module, _, leaf = key.rpartition(".")
        target = _target(module) if leaf in ("weight", "bias") else None
        if target is None:
            unknown.append(key)
        else:
            out[f"{target}.{leaf}"] = value
    if unknown or "head.conv.weight" not in out:
        shown = ", ".join(unknown[:6]) + (" ..." if len(unknown) > 6 else "")
        raise CheckpointError(f"{source} is not a pytorch/examples fast_neural_style TransformerNet state dict "
                              f"({'unexpected keys: ' + shown if unknown else 'no conv1.conv2d.weight'}); it "
                              "should hold conv1.conv2d.weight, in1.weight, res1.conv1.conv2d.weight, ..., "
                              "deconv3.conv2d.weight.")
    head = out["head.conv.weight"]
    if head.dim() != 4 or head.shape[1] != 3:
        raise CheckpointError(f"{source}: conv1.conv2d.weight has shape {tuple(head.shape)}; a TransformerNet "
                              "takes RGB images (32 x 3 x 9 x 9).")
    n_blocks = len({k.split(".")[1] for k in out if k.startswith("blocks.")})
    return out, {"ngf": int(head.shape[0]), "n_blocks": n_blocks}


def read_state_dict(path: str | Path) -> dict:
    """The tensors of a ``.pth``/``.model`` state-dict file, read with ``weights_only=True``."""
    from condgen.importers.junyanz import _read

    return _read(path)


def import_fast_neural_style(path: str | Path, out: str | Path) -> RunConfig:
    """Write ``out`` as a ``style`` run (``arch=fast_neural_style``) holding the reference network: ready for
    ``condgen stylize`` and ``condgen.load``. The run has no style image (the style is in the weights)."""
    from condgen.importers.to_run import _fresh, _write_run

    out = _fresh(out)
    sd, fields = convert_state_dict(read_state_dict(path), source=str(path))
    model = {"arch": "fast_neural_style", **fields}
    return _write_run("style", model, {"G": {k: v.float() for k, v in sd.items()}}, out, str(path))


__all__ = ["convert_state_dict", "import_fast_neural_style", "read_state_dict"]
