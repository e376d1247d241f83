"""The Python API: load a trained run and use its model."""

from __future__ import annotations

import copy
from pathlib import Path

import torch

from condgen.errors import CheckpointError
from condgen.models import get_model_class
from condgen.models.base import GenerativeModel
from condgen.runs import load_run_config, select_device
from condgen.statedict import load_nets
from condgen.train.checkpoint import CheckpointManager, load_checkpoint


def load(run: str | Path, checkpoint: str | Path | None = None, device: str = "cpu",
         ema: bool = True, precision: str = "fp32") -> GenerativeModel:
    """The model of a run, weights from ``checkpoint`` (default: the run's last), ready for inference.
    ``run`` may also be a weights file written by ``condgen export --format safetensors``.

    ``ema=True`` uses the generator's moving average when the run kept one. ``precision``: ``fp32`` (exact; what
    metrics use), ``bf16`` (autocast, CPUs with native bf16 or GPUs), or ``auto``: the speed settings the run's
    training measured on this kind of CPU (``RUN/calibration.json``: bf16 and channels_last when they were faster
    and the CPU has native bf16), else fp32.
    """
    run = Path(run)
    if run.is_file() and run.suffix == ".safetensors":  # weights only (`condgen export --format safetensors`)
        from condgen.export import load_weights

        cfg, nets, step = load_weights(run)
        state, path, described_by = {"nets": nets, "step": step}, run, run
    else:
        cfg = load_run_config(run)
        # a named file must be intact; the run's own newest checkpoint gives way to an older intact one
        latest = (Path(checkpoint), load_checkpoint(checkpoint)) if checkpoint else CheckpointManager(run).load_latest()
        if latest is None:
            raise CheckpointError(f"{run} has no checkpoint yet (checkpoints/ is empty).")
        (path, state), described_by = latest, run / "config.yaml"
    cls = get_model_class(cfg.model_name)
    model = cls.for_inference(cfg.model)
    load_nets(model.nets, state["nets"], str(path), f"model {cfg.model_name}",
              mismatch=lambda name: f"{path} does not fit the {cfg.model_name} network {name} described by "
                                    f"{described_by} (a checkpoint of another architecture?)")
    if ema:
        for name, sd in state.get("ema", {}).items():
            net = copy.deepcopy(model.nets[name])
            net.load_state_dict(sd)
            model.ema[name] = net.eval()
    model.use_ema_for_inference = ema
    dtype, channels_last = inference_speed(run, precision, select_device(device))
    model.to(select_device(device), channels_last=channels_last)
    model.inference_dtype = dtype
    model.train_mode(False)
    model.run_config = cfg
    model.step = state["step"]
    return model


def inference_speed(run: Path, precision: str, device: torch.device) -> tuple[torch.dtype | None, bool]:
    """(autocast dtype or None, channels_last) for inference with ``precision`` (see ``load``)."""
    from condgen.errors import ConfigError
    from condgen.train.trainer import cpu_has_fast_bf16

    if precision == "fp32":
        return None, False
    if precision == "bf16":
        return torch.bfloat16, device.type != "mps"
    if precision != "auto":
        raise ConfigError(f"precision must be auto, fp32 or bf16, got {precision!r}.")
    if device.type != "cpu":
        return None, False
    from condgen.train.calibrate import CACHE_FILE, read_json, setting_from

    try:
        choice = setting_from((read_json(Path(run) / CACHE_FILE) or {})["choice"])
    except (KeyError, TypeError, ValueError):
        return None, False  # no measurement for this run: the exact default
    dtype = choice.dtype if cpu_has_fast_bf16() else None  # a run measured elsewhere: no emulated bf16 here
    return dtype, choice.channels_last


@torch.no_grad()
def generate(run: str | Path, n: int = 16, seed: int = 0, **kwargs) -> torch.Tensor:
    """Shortcut: ``n`` images from a run's generator."""
    return load(run).generate(n=n, seed=seed, **kwargs)
