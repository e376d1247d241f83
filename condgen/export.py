"""Export a run's generator for deployment: ONNX or TorchScript (checked against PyTorch on fresh inputs), or
weights only as safetensors (no optimizer state, nothing executable; ``condgen.load`` reads it back).

Each model says what to export through ``export_spec`` (condgen/models/base.py): the inference module (EMA
weights when the run kept them, eval mode, fp32, CPU), example inputs, their names and which of their
dimensions may vary. ONNX goes through PyTorch's TorchScript-based exporter (opset 17) with dynamic batch and,
for fully convolutional generators, dynamic height and width; after writing, onnxruntime (CPU) runs the file on
inputs of another batch size (and another spatial size where dynamic) and the largest absolute difference to
PyTorch must stay within ``tolerance`` (1e-4 on [-1, 1] images by default).
"""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from condgen.errors import CheckpointError, ConfigError, MissingDependencyError, ModelError
from condgen.exportspec import Exportable, ExportSpec, image_spec  # noqa: F401  (re-exported: their old home)

FORMATS = ("onnx", "torchscript", "pt2", "safetensors")
SAFETENSORS_MARK = "condgen-weights-1"


# ----- export --------------------------------------------------------------------------------------
def export_run(run: str | Path, fmt: str, out: str | Path, size: int | None = None, direction: str = "AtoB",
               tolerance: float = 1e-4, ema: bool = True) -> dict[str, Any]:
    """Export the generator of ``run`` to ``out`` in ``fmt`` (onnx, torchscript or safetensors) and check it.

    Returns a report: the file, its size, and for onnx/torchscript the largest absolute difference to PyTorch.
    """
    import condgen

    if fmt not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}.")
    from condgen.outputs import check_output_file

    out = check_output_file(out, [run])
    out.parent.mkdir(parents=True, exist_ok=True)
    model = condgen.load(run, ema=ema)
    name = model.run_config.model_name
    if fmt == "safetensors":
        save_weights(model, out)
        return {"file": str(out), "format": fmt, "bytes": out.stat().st_size, "model": name}
    spec = model.export_spec(size=size, direction=direction)
    spec.module.eval()
    spec.module.requires_grad_(False)
    with torch.no_grad():
        expected = spec.module(*spec.check_inputs).float()
        if fmt == "onnx":
            _to_onnx(spec, out, name)
            got = _run_onnx(out, spec)
        elif fmt == "pt2":
            _to_pt2(spec, out, name)
            got = torch.export.load(str(out)).module()(*spec.check_inputs).float()
        else:
            _to_torchscript(spec, out, name)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript is deprecated upstream; pt2 is next
                got = torch.jit.load(str(out))(*spec.check_inputs).float()
    if got.shape != expected.shape:
        raise ModelError(f"the exported {name} gives outputs of shape {tuple(got.shape)}, PyTorch "
                         f"{tuple(expected.shape)}; the export is not usable.")
    diff = (got - expected).abs().max().item()
    if not diff <= tolerance:
        raise ModelError(f"the exported {name} differs from PyTorch by up to {diff:.2e} (> {tolerance:g}) on check "
                         f"inputs; the file {out} was written but should not be trusted.")
    return {"file": str(out), "format": fmt, "bytes": out.stat().st_size, "model": name, "max_abs_diff": diff,
            "inputs": {n: list(t.shape) for n, t in zip(spec.input_names, spec.inputs)},
            "dynamic": spec.dynamic, "note": spec.note}


def bake_parametrizations(module: nn.Module) -> None:
    """Replace parametrized weights (spectral norm) by their current values, in place: in eval mode they are fixed
    tensors, and the exporters cannot express the power-iteration ops (``aten::vdot``)."""
    from torch.nn.utils import parametrize

    for m in list(module.modules()):
        if parametrize.is_parametrized(m):
            for name in list(m.parametrizations.keys()):
                parametrize.remove_parametrizations(m, name, leave_parametrized=True)


def _to_onnx(spec: ExportSpec, out: Path, name: str) -> None:
    try:
        import onnx  # noqa: F401  (the exporter needs it)
    except ImportError:
        raise MissingDependencyError.extra("ONNX export", "export", "onnx onnxruntime") from None
    bake_parametrizations(spec.module)
    dynamic = {**spec.dynamic, "image": {0: "batch", 2: "height", 3: "width"}}
    buf = io.BytesIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(spec.module, spec.inputs, buf, dynamo=False, opset_version=17,
                              input_names=spec.input_names, output_names=["image"], dynamic_axes=dynamic)
    except Exception as e:  # the exporter raises many types; name the op it could not handle
        raise ModelError(f"{name} could not be exported to ONNX: {str(e).splitlines()[0][:300]}") from None
    _write_atomic(out, buf.getvalue())


def _run_onnx(path: Path, spec: ExportSpec) -> torch.Tensor:
    try:
        import onnxruntime as ort
    except ImportError:
        raise MissingDependencyError.extra("checking an ONNX export", "export", "onnxruntime") from None
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {n: t.numpy() for n, t in zip(spec.input_names, spec.check_inputs)}
    return torch.from_numpy(sess.run(None, feeds)[0])


def _to_torchscript(spec: ExportSpec, out: Path, name: str) -> None:
    bake_parametrizations(spec.module)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(spec.module, spec.inputs, check_trace=False)
    except Exception as e:
        raise ModelError(f"{name} could not be traced to TorchScript: {str(e).splitlines()[0][:300]}") from None
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the format stays readable by torch.jit.load
        torch.jit.save(traced, buf)
    _write_atomic(out, buf.getvalue())


def _to_pt2(spec: ExportSpec, out: Path, name: str) -> None:
    """``torch.export`` program (.pt2), TorchScript's successor: the spec's dynamic dimensions stay dynamic."""
    bake_parametrizations(spec.module)
    auto = torch.export.Dim.AUTO
    shapes = tuple({d: auto for d in spec.dynamic.get(n, {0: "batch"})} for n in spec.input_names)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # traced on the check inputs (batch 2): an example of size 1 would pin that dimension to 1
            program = torch.export.export(spec.module, spec.check_inputs, dynamic_shapes=(shapes,))  # forward(*inputs)
    except Exception as e:
        raise ModelError(f"{name} could not be exported with torch.export: {str(e).splitlines()[0][:300]}") from None
    buf = io.BytesIO()
    torch.export.save(program, buf)
    _write_atomic(out, buf.getvalue())


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


# ----- weights only (safetensors) ----------------------------------------------------------------------
def save_weights(model, path: str | Path) -> None:
    """The generator networks of ``model`` (``ema_nets``; their EMA copies when used) and its config, as one
    safetensors file."""
    from safetensors.torch import save

    tensors = {}
    for name in model.ema_nets:  # the generators: what inference uses (no discriminators, no optimizer state)
        for key, t in model.net(name).state_dict().items():
            tensors[f"{name}.{key}"] = t.detach().cpu().contiguous()
    cfg = model.run_config
    meta = {"format": SAFETENSORS_MARK, "config": json.dumps(cfg.to_dict()), "step": str(model.step or 0)}
    _write_atomic(Path(path), save(tensors, metadata=meta))


def load_weights(path: str | Path):
    """(run config, {net name: state dict}, step) from a file written by ``save_weights``."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    from condgen.runs import config_from_dict

    path = Path(path)
    try:
        data = path.read_bytes()
        with open(path, "rb") as f:
            header_len = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(header_len)) if 0 < header_len < 100_000_000 else {}
        tensors = load(data)
    except (OSError, SafetensorError, ValueError) as e:
        raise CheckpointError(f"{path} is not a readable safetensors file ({e}).") from None
    meta = header.get("__metadata__", {}) if isinstance(header, dict) else {}
    if not isinstance(meta, dict) or meta.get("format") != SAFETENSORS_MARK or "config" not in meta:
        raise CheckpointError(f"{path} is a safetensors file but not condgen weights (written by `condgen export "
                              f"--format safetensors`): it has no condgen config inside.")
    try:
        config = json.loads(meta["config"])
        step = int(meta.get("step", 0))
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: the condgen config or step stored in it is damaged ({type(e).__name__}: "
                              f"{e}); export the weights again.") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{path}: the condgen config stored in it is not a mapping; export the weights again.")
    try:
        cfg = config_from_dict(config)
    except ConfigError as e:
        raise CheckpointError(f"{path}: the condgen config stored in it is not valid: {e}") from None
    nets: dict[str, dict[str, torch.Tensor]] = {}
    for key, t in tensors.items():
        net, _, rest = key.partition(".")
        nets.setdefault(net, {})[rest] = t
    return cfg, nets, step
