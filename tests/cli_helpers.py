"""Run the condgen CLI in-process and capture its exit code and output."""

from __future__ import annotations

import sys

import pytest

from condgen.cli import main


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``condgen ARGS``."""
    old = sys.argv
    sys.argv = ["condgen", *map(str, args)]
    code = 0
    try:
        main()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        sys.argv = old
    out = capsys.readouterr()
    return code, out.out, out.err


__all__ = ["make_run", "pytest", "run_cli", "save_image"]


def make_run(run, name: str, model: dict):
    """A run folder of ``name`` with freshly initialised networks (no training): config.yaml and a checksummed
    checkpoint, enough for every inference command."""
    from pathlib import Path

    from condgen.models import get_model_class
    from condgen.runs import build_config
    from condgen.train.checkpoint import CheckpointManager

    cfg = build_config(name, {"model": model})
    nets = get_model_class(name).for_inference(cfg.model).nets
    run = Path(run)
    run.mkdir(parents=True)
    cfg.save(run / "config.yaml")
    CheckpointManager(run).save({"step": 0, "nets": {k: v.state_dict() for k, v in nets.items()}}, 0)
    return run


def save_image(path, width: int, height: int, seed: int = 0):
    """A random RGB PNG/JPEG (by the suffix) of ``width`` x ``height``."""
    import numpy as np
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)).save(path)
    return path
