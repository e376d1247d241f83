"""Checkpoints: written atomically (temp file + fsync + rename) with a SHA-256 of their contents, read without
executing code (weights_only) and verified; a damaged newest checkpoint gives way to the newest intact one."""

from __future__ import annotations

import hashlib
import os
import pickle
import random
import re
import shutil
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from condgen.errors import CheckpointDamagedError, CheckpointError, TrainingError, os_error_reason, strip_unsafe_advice

FORMAT = "condgen-checkpoint/1"
STEP_RE = re.compile(r"step_(\d+)\.pt$")
CHECKSUM_KEY = "sha256"
# a write in progress: .step_0000010.pt.tmp-PID, .last.pt.tmp-PID
TMP_RE = re.compile(r"^\.(?:step_\d+|last)\.pt\.tmp-(\d+)$")


class CheckpointFallbackWarning(UserWarning):
    """The newest checkpoint was damaged; an older intact one was loaded instead."""


def _fsync(path: Path) -> None:
    """Flush a file's or a folder's entry to disk (best effort: some file systems refuse)."""
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


def _digest(h: Any, obj: Any) -> None:
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy())
    elif isinstance(obj, dict):
        h.update(b"D%d" % len(obj))
        for k, v in obj.items():
            _digest(h, k)
            _digest(h, v)
    elif isinstance(obj, (list, tuple)):
        h.update(b"L%d" % len(obj))
        for v in obj:
            _digest(h, v)
    else:
        h.update(f"{obj!r}\0".encode())


def checksum(state: dict[str, Any]) -> str:
    """SHA-256 over a checkpoint's contents (tensors by dtype, shape and bytes; plain values by repr), in order,
    leaving out the stored checksum itself."""
    h = hashlib.sha256()
    _digest(h, {k: v for k, v in state.items() if k != CHECKSUM_KEY})
    return h.hexdigest()


class _Sink:
    """The file torch.save writes through. torch reports a failed write as "enforce fail ... unexpected pos";
    the OSError behind it (a full disk, no permission) is kept here to be reported instead."""

    def __init__(self, f: Any):
        self.f, self.error = f, None

    def write(self, data: Any) -> int:
        try:
            return self.f.write(data)
        except OSError as e:
            self.error = e
            raise

    def flush(self) -> None:
        self.f.flush()


def _write_failed(path: Path, e: BaseException, note: str, then: str) -> TrainingError:
    if isinstance(e, OSError):
        reason = os_error_reason(e)
        advice = {"no space left on device": "Free disk space", "permission denied": "Make the folder writable"}
        fix = advice.get(reason.split(" (")[0], f"Fix the cause ({e})")
    else:
        reason, fix = "could not write", f"Fix the cause ({e})"
    return TrainingError(f"{reason} writing {path}; {note}. {fix}{then}.")


def _atomic_write(path: Path, write: Callable[[Path], None], note: str, then: str = "") -> None:
    """``write(tmp)`` to a hidden temp file next to ``path``, fsync, rename over ``path``; on failure nothing
    changes at ``path`` and the error says why (a full disk, no permission)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        _fsync(tmp)
        os.replace(tmp, path)
        _fsync(path.parent)
    except (OSError, RuntimeError) as e:
        tmp.unlink(missing_ok=True)
        raise _write_failed(path, e, note, then) from None


def atomic_torch_save(obj: Any, path: Path, note: str = "the previous file there is intact", then: str = "") -> None:
    """Save ``obj`` to ``path`` so that a crash or a full disk never leaves a half-written file there."""

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            sink = _Sink(f)
            try:
                torch.save(obj, sink)
            except RuntimeError:
                if sink.error is not None:
                    raise sink.error from None
                raise

    _atomic_write(Path(path), write, note, then)


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
    """Read a checkpoint with ``weights_only=True`` (tensors and plain data only, never code) and verify its
    SHA-256 (checkpoints written before checksums load unverified)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist.")
    try:
        if path.stat().st_size == 0:
            raise CheckpointDamagedError(f"checkpoint {path} is unreadable or truncated (the file is empty: 0 bytes).")
        state = torch.load(path, map_location="cpu", weights_only=True)
    except CheckpointDamagedError:
        raise
    except pickle.UnpicklingError as e:
        reason = _load_reason(e)
        if "GLOBAL" in str(e):  # a class or function to import: a pickle that can run code
            raise CheckpointError(
                f"refused to load {path}: it holds objects other than tensors and plain data, which could run "
                f"code when unpickled ({reason}). Only load checkpoints you trust as weights.") from None
        raise CheckpointDamagedError(f"checkpoint {path} is unreadable: not a PyTorch checkpoint, or corrupt "
                                     f"({reason}).") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as e:
        raise CheckpointDamagedError(f"checkpoint {path} is unreadable or truncated ({_load_reason(e)}).") from None
    except Exception as e:  # the unpickler reading bytes that are no pickle at all: KeyError, IndexError, ...
        raise CheckpointDamagedError(f"checkpoint {path} is unreadable: not a PyTorch checkpoint, or corrupt "
                                     f"({_load_reason(e)}).") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a condgen checkpoint (no '{FORMAT}' marker).")
    stored = state.get(CHECKSUM_KEY)
    if stored is not None and checksum(state) != stored:
        raise CheckpointDamagedError(
            f"checkpoint {path} is damaged: its contents no longer match the SHA-256 stored in it (a disk, copy "
            f"or transfer error changed some bytes). Use an older checkpoint of the run, or copy it again.")
    return state


def _load_reason(e: BaseException) -> str:
    """Why torch.load failed, in one line, never with PyTorch's advice to retry with weights_only=False."""
    text = " ".join(strip_unsafe_advice(str(e)).split()).removeprefix("Weights only load failed.").strip()
    return f"{type(e).__name__}: {text}" if text else f"{type(e).__name__}, no details"


class CheckpointManager:
    """``checkpoints/step_N.pt`` files, the newest also copied to ``last.pt``, keeping the newest ``keep``."""

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

    def candidates(self) -> list[Path]:
        """The numbered checkpoints newest first, with ``last.pt`` ahead of every one it is at least as new as (by
        modification time): a process killed after writing ``step_N.pt`` but before copying it to ``last.pt``
        leaves an older ``last.pt``, and resuming must not lose step N."""
        numbered = [self.path(s) for s in reversed(self.steps())]
        last = self.dir / "last.pt"
        if not last.is_file():
            return numbered

        def mtime(p: Path) -> int:
            try:
                return p.stat().st_mtime_ns
            except OSError:  # pruned meanwhile
                return -1

        t_last = mtime(last)
        newer = [p for p in numbered if mtime(p) > t_last]
        return [*newer, last, *(p for p in numbered if p not in newer)]

    def latest(self) -> Path | None:
        """``last.pt`` if present, else the newest numbered checkpoint."""
        found = self.candidates()
        return found[0] if found else None

    def load_latest(self) -> tuple[Path, dict[str, Any]] | None:
        """The newest intact checkpoint and its state (None if there is none). A damaged newer one is skipped
        with a warning naming it; if every one is damaged, a CheckpointDamagedError lists them."""
        damaged: list[str] = []
        for path in self.candidates():
            try:
                state = load_checkpoint(path)
            except CheckpointDamagedError as e:
                damaged.append(str(e))
                continue
            if damaged:
                warnings.warn(f"{' '.join(damaged)} Using the newest intact checkpoint instead: {path} "
                              f"(step {state.get('step', '?')}).", CheckpointFallbackWarning, stacklevel=2)
            return path, state
        if damaged:
            raise CheckpointDamagedError(f"no intact checkpoint in {self.dir}: {' '.join(damaged)}")
        return None

    def remove_orphans(self) -> list[Path]:
        """Delete temp files of checkpoint writes another (dead) process left; call only while holding the run's
        lock, so no other live process is writing here."""
        removed = []
        for p in self.dir.iterdir() if self.dir.is_dir() else ():
            m = TMP_RE.match(p.name)
            if m and int(m.group(1)) != os.getpid():
                p.unlink(missing_ok=True)
                removed.append(p)
        return removed

    def save(self, state: dict[str, Any], step: int, then: str = "") -> Path:
        """Write the step checkpoint atomically with its checksum, copy it to ``last.pt`` (a file of its own,
        also written atomically: damage to one never reaches the other), then prune old ones."""
        self.dir.mkdir(parents=True, exist_ok=True)
        target = self.path(step)
        before, done = self.latest(), self.steps()
        note = (f"the last good checkpoint is {before}{f' (step {done[-1]})' if done else ''}" if before is not None
                else "no checkpoint of this run had been written yet")
        payload = {"format": FORMAT, **state}
        payload[CHECKSUM_KEY] = checksum(payload)
        atomic_torch_save(payload, target, note, then)
        _atomic_write(self.dir / "last.pt", lambda tmp: shutil.copyfile(target, tmp),
                      f"the last good checkpoint is {target}", then)
        for old in self.steps()[:-self.keep]:
            self.path(old).unlink(missing_ok=True)
        return target
