"""The Python API: load a trained run and use its model."""

from __future__ import annotations

import copy
from pathlib import Path

import torch

from condgen.errors import CheckpointError
from condgen.models import get_model_class
from condgen.models.base import GenerativeModel
from condgen.train.checkpoint import CheckpointManager, describe_mismatch, load_checkpoint
from condgen.train.trainer import load_run_config, select_device


def load(run: str | Path, checkpoint: str | Path | None = None, device: str = "cpu",
         ema: bool = True) -> GenerativeModel:
    """The model of a run, weights from ``checkpoint`` (default: the run's last), ready for inference.
    ``run`` may also be a weights file written by ``condgen export --format safetensors``.

    ``ema=True`` uses the generator's moving average when the run kept one.
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
    for name, sd in state["nets"].items():
        if name not in model.nets:
            raise CheckpointError(f"{path} holds network '{name}', which model {cfg.model_name} does not have.")
        diff = describe_mismatch(model.nets[name].state_dict(), sd)
        if diff:
            raise CheckpointError(f"{path} does not fit the {cfg.model_name} network {name} described by "
                                  f"{described_by} (a checkpoint of another architecture?): {diff}.")
        model.nets[name].load_state_dict(sd)
    if ema:
        for name, sd in state.get("ema", {}).items():
            net = copy.deepcopy(model.nets[name])
            net.load_state_dict(sd)
            model.ema[name] = net.eval()
    model.use_ema_for_inference = ema
    model.to(select_device(device))
    model.train_mode(False)
    model.run_config = cfg
    model.step = state["step"]
    return model


@torch.no_grad()
def generate(run: str | Path, n: int = 16, seed: int = 0, **kwargs) -> torch.Tensor:
    """Shortcut: ``n`` images from a run's generator."""
    return load(run).generate(n=n, seed=seed, **kwargs)
