"""Run logging: metrics.jsonl (the source of truth) plus optional TensorBoard events."""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from torch import Tensor

from condgen.errors import os_error_reason
from condgen.train.images import make_grid_image

if TYPE_CHECKING:
    from typing import Self

__all__ = ["METRICS_FILE", "RunLogger", "RunWriteWarning", "WriteFailures", "read_metrics"]

METRICS_FILE = "metrics.jsonl"
_RESERVED = ("step", "time", "kind")
_NOT_PLOTTED = ("session_start",)  # bookkeeping (a training session's start time), not a curve
_tb_warned = False


def _number(key: str, value: Any) -> int | float | None:
    """Turn a Python/NumPy/0-d tensor scalar into a JSON number; NaN/Inf become null (strict JSON)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise TypeError(
            f"metric {key!r} must be a number, got {type(value).__name__}"
        ) from None
    return f if math.isfinite(f) else None


def _terminate_partial_line(path: Path) -> None:
    """Add a newline if a crash left the file mid-line, so the next record is not glued onto it."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            if f.tell() == 0:
                return
            f.seek(-1, os.SEEK_END)
            last = f.read(1)
    except FileNotFoundError:
        return
    if last != b"\n":
        with path.open("ab") as f:
            f.write(b"\n")


class RunWriteWarning(UserWarning):
    """A run output other than a checkpoint (samples, report, loss plot, metrics, TensorBoard) was not written;
    training goes on."""


class WriteFailures:
    """Turns a failed write of a run output (a full disk, a read-only folder) into one warning per kind of
    output, not one per step; the writes keep being tried, so they resume once there is room again."""

    def __init__(self) -> None:
        self.warned: set[str] = set()

    @contextlib.contextmanager
    def guard(self, what: str, path: str | os.PathLike,
              category: type[Warning] = RunWriteWarning) -> Iterator[None]:
        """Run the block; an OSError in it becomes (at most once per ``what``) a warning naming the file."""
        try:
            yield
        except OSError as e:
            if what not in self.warned:
                self.warned.add(what)
                warnings.warn(
                    f"could not write {what} {path} ({os_error_reason(e)}: {e}); training continues without it "
                    f"(checkpoints are written separately and stop the run with their own message if they "
                    f"cannot be written). Further failures writing {what} are not reported.",
                    category, stacklevel=3)


class RunLogger:
    """Append scalars to RUN/metrics.jsonl and mirror scalars, images and text to TensorBoard (RUN/tb).
    A failed write (a full disk) warns once and logging goes on; it never stops training."""

    def __init__(
        self, run_dir: str | os.PathLike, tensorboard: bool = True, enabled: bool = True
    ):
        self.run_dir = Path(run_dir)
        self.enabled = enabled
        self.failures = WriteFailures()
        self._file = None
        self._tb = None
        self._closed = not enabled
        if not enabled:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._open_metrics()
        if tensorboard:
            self._tb = _open_tensorboard(self.run_dir / "tb")

    def _open_metrics(self) -> None:
        path = self.run_dir / METRICS_FILE
        with self.failures.guard(METRICS_FILE, path):
            _terminate_partial_line(path)
            # Line buffering plus an explicit flush per record: a crash loses at most the line being written.
            self._file = path.open("a", buffering=1, encoding="utf-8")

    def _write_record(self, line: str) -> None:
        if self._file is None:  # an earlier write failed: try again (the disk may have room now)
            self._open_metrics()
            if self._file is None:
                return
        with self.failures.guard(METRICS_FILE, self.run_dir / METRICS_FILE):
            try:
                self._file.write(line)
                self._file.flush()
            except OSError:
                # drop the file object with its unwritten buffer; reopening ends a partial line first
                f, self._file = self._file, None
                with contextlib.suppress(OSError):
                    f.close()
                raise

    def _tb_call(self, method: str, *args, **kw) -> None:
        if self._tb is None:
            return
        try:
            getattr(self._tb, method)(*args, **kw)
        except OSError:
            tb, self._tb = self._tb, None  # its writer thread is broken; TensorBoard is off for this run
            with contextlib.suppress(Exception):
                tb.close()
            with self.failures.guard("TensorBoard events", self.run_dir / "tb"):
                raise

    def scalars(
        self, step: int, values: Mapping[str, Any], kind: str = "train"
    ) -> None:
        """Append one {"step", "time", "kind", **values} line to metrics.jsonl and write TB scalars."""
        if self._closed:
            return
        clash = [k for k in values if k in _RESERVED]
        if clash:
            raise ValueError(f"metric names {clash} are reserved in metrics.jsonl")
        step = int(step)
        record: dict[str, Any] = {"step": step, "time": time.time(), "kind": kind}
        record.update({k: _number(k, v) for k, v in values.items()})
        self._write_record(json.dumps(record, allow_nan=False) + "\n")
        for key, value in record.items():
            if key in _RESERVED or key in _NOT_PLOTTED or value is None:
                continue
            self._tb_call("add_scalar", _tb_tag(key, kind), value, step)

    def image(self, step: int, tag: str, images: Tensor, **grid_kw) -> None:
        """Write an NCHW batch in [-1, 1] (or a CHW grid in [-1, 1]) to TensorBoard as one image grid."""
        if not self.enabled or self._tb is None:
            return
        grid = np.asarray(make_grid_image(images, **grid_kw))
        self._tb_call("add_image", tag, grid, int(step), dataformats="HW" if grid.ndim == 2 else "HWC")

    def text(self, tag: str, text: str, step: int = 0) -> None:
        """Write a text entry (markdown is rendered by TensorBoard) under `tag`."""
        if self.enabled:
            self._tb_call("add_text", tag, text, int(step))

    def flush(self) -> None:
        """Push buffered TensorBoard events to disk (metrics.jsonl is flushed on every write)."""
        self._tb_call("flush")

    def close(self) -> None:
        """Close metrics.jsonl and the TensorBoard writer; safe to call more than once."""
        self._closed = True
        if self._file is not None:
            f, self._file = self._file, None
            with self.failures.guard(METRICS_FILE, self.run_dir / METRICS_FILE):
                f.close()
        self._tb_call("close")
        self._tb = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _tb_tag(key: str, kind: str) -> str:
    """Tag a scalar for TensorBoard: other kinds under KIND/ (once: ``val/L1`` stays ``val/L1``), bare train
    scalars under train/."""
    if kind == "train":
        return key if "/" in key else f"train/{key}"
    return key if key.startswith(f"{kind}/") else f"{kind}/{key}"


def _open_tensorboard(log_dir: Path):
    """Return a SummaryWriter, or None with one warning per process if TensorBoard cannot be used."""
    global _tb_warned
    try:
        # Imported lazily: tensorboard costs about a second at import and non-zero ranks never need it.
        from torch.utils.tensorboard import SummaryWriter

        return SummaryWriter(log_dir=str(log_dir))
    # Not just ImportError: a protobuf/tensorboard version clash fails with TypeError or AttributeError,
    # and logging must never be the reason a training run dies.
    except Exception as e:  # noqa: BLE001
        if not _tb_warned:
            _tb_warned = True
            warnings.warn(
                f"TensorBoard logging is off ({type(e).__name__}: {e}); metrics.jsonl is still written. "
                "Install it with `pip install tensorboard` or set tensorboard off in the config.",
                RuntimeWarning,
                stacklevel=3,
            )
        return None


def read_metrics(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Read RUN/metrics.jsonl into a list of dicts, skipping lines a crash left unreadable."""
    path = Path(run_dir) / METRICS_FILE
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    records = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            # Normally only the last line (killed mid-write); after a resume it can sit in the middle.
            continue
        if isinstance(obj, dict) and "step" in obj:
            records.append(obj)
    return records
