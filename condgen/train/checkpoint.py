"""Checkpoints: written atomically (temp file + fsync + rename), read without executing code (weights_only)."""

from __future__ import annotations

import os
import pickle
import random
import re
import shutil
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from condgen.errors import CheckpointError, TrainingError

FORMAT = "condgen-checkpoint/1"
STEP_RE = re.compile(r"step_(\d+)\.pt$")


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_torch_save(obj: Any, path: Path) -> None:
    """Save ``obj`` to ``path`` so that a crash or a full disk never leaves a half-written file there."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except (OSError, RuntimeError) as e:
        tmp.unlink(missing_ok=True)
        raise TrainingError(
            f"could not write checkpoint {path} ({e}). The previous checkpoint is intact; free disk space "
            f"and continue with --resume.") from None


def rng_state() -> dict[str, Any]:
    """Every RNG the training loop draws from (torch CPU/CUDA, numpy, Python), as weights_only-safe values."""
    np_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *map(float, np_state[2:])],
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what ``rng_state`` captured."""
    torch.set_rng_state(state["torch"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), int(pos), int(has_gauss), float(cached)))
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``: tensors and plain data only, never code."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f"refused to load {path}: it holds objects other than tensors and plain data, which could run "
            f"code when unpickled ({str(e).splitlines()[0]}). Only load checkpoints you trust as weights.") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as e:
        raise CheckpointError(f"checkpoint {path} is unreadable or truncated ({e}).") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a condgen checkpoint (no '{FORMAT}' marker).")
    return state


def describe_mismatch(own: dict[str, Any], given: dict[str, Any], limit: int = 5) -> str:
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


class CheckpointManager:
    """``checkpoints/step_N.pt`` files, the newest also as ``last.pt``, keeping the newest ``keep``."""

    def __init__(self, run_dir: Path, keep: int = 3):
        self.dir = Path(run_dir) / "checkpoints"
        self.keep = keep

    def steps(self) -> list[int]:
        """Steps with a numbered checkpoint, ascending."""
        if not self.dir.is_dir():
            return []
        return sorted(int(m.group(1)) for p in self.dir.iterdir() if (m := STEP_RE.search(p.name)))

    def path(self, step: int) -> Path:
        """File name of the checkpoint at ``step``."""
        return self.dir / f"step_{step:07d}.pt"

    def latest(self) -> Path | None:
        """``last.pt`` if present, else the newest numbered checkpoint."""
        last = self.dir / "last.pt"
        if last.is_file():
            return last
        steps = self.steps()
        return self.path(steps[-1]) if steps else None

    def save(self, state: dict[str, Any], step: int) -> Path:
        """Write the step checkpoint atomically, point ``last.pt`` at it, then prune old ones."""
        self.dir.mkdir(parents=True, exist_ok=True)
        target = self.path(step)
        atomic_torch_save({"format": FORMAT, **state}, target)
        tmp_link = self.dir / f".last.pt.tmp-{os.getpid()}"
        tmp_link.unlink(missing_ok=True)
        try:
            os.link(target, tmp_link)  # a hard link: no second copy on disk
        except OSError:
            try:
                shutil.copyfile(target, tmp_link)
            except OSError as e:
                tmp_link.unlink(missing_ok=True)
                raise TrainingError(f"could not update {self.dir / 'last.pt'} ({e}); {target} was written.") from None
        os.replace(tmp_link, self.dir / "last.pt")
        for old in self.steps()[:-self.keep]:
            self.path(old).unlink(missing_ok=True)
        return target
