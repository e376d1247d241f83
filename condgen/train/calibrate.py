"""Speed settings chosen by measurement: precision, memory layout and compilation for this CPU and this model.

With ``train.precision=auto`` the trainer runs a few steps of the actual model (a copy, on a real batch) under
each candidate setting — fp32 or bf16 autocast (bf16 only where the CPU has native bf16), NCHW or channels_last,
and ``torch.compile`` when the run is long enough to pay for compiling — and keeps the fastest whose first-step
losses match fp32's within a tolerance. The result is cached per CPU kind, torch version, model, sizes, batch and
threads in ``<cache>/calibration.json``, so the next run of the same shape starts at once. A key the user sets is
never changed: ``precision`` set explicitly skips calibration (``channels_last=auto`` then follows autocast,
``compile=auto`` is off).
"""

from __future__ import annotations

import copy
import json
import math
import os
import platform
import statistics
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from condgen.train.update import model_batch

CACHE_FILE = "calibration.json"
CACHE_VERSION = 1
#: relative difference allowed between a candidate's first-step losses and fp32's (bf16 rounds to ~3 digits)
LOSS_TOLERANCE = 0.05
#: a candidate must be this much faster than the best so far to win (timing noise on a shared machine)
MIN_GAIN = 0.03


@dataclass(frozen=True)
class Setting:
    """One way to run a training step."""

    precision: str  # "fp32" or "bf16"
    channels_last: bool
    compile: bool = False

    @property
    def name(self) -> str:
        """``fp32/nchw``, ``bf16/channels_last+compile``, ..."""
        layout = "channels_last" if self.channels_last else "nchw"
        return f"{self.precision}/{layout}{'+compile' if self.compile else ''}"

    @property
    def dtype(self) -> torch.dtype | None:
        """The autocast dtype (None: fp32, no autocast)."""
        return torch.bfloat16 if self.precision == "bf16" else None


@dataclass
class Measurement:
    """What one setting did: seconds per step (steady state), first-step losses, compile seconds, or an error."""

    setting: Setting
    seconds_per_step: float = math.inf
    losses: dict[str, float] | None = None
    compile_seconds: float = 0.0
    error: str = ""


def candidates(native_bf16: bool, compile_worth_trying: bool) -> list[Setting]:
    """The settings to try: fp32 and (native only) bf16, each NCHW and channels_last; compiled variants of each
    when compiling may pay off over the run."""
    precisions = ["fp32", "bf16"] if native_bf16 else ["fp32"]
    out = [Setting(p, cl) for p in precisions for cl in (False, True)]
    if compile_worth_trying:
        out += [Setting(s.precision, s.channels_last, True) for s in list(out)]
    return out


def losses_match(reference: dict[str, float], other: dict[str, float], tol: float = LOSS_TOLERANCE) -> bool:
    """Whether ``other``'s first-step losses agree with fp32's ``reference`` (same keys, finite, relative error
    at most ``tol`` of each loss's magnitude, with an absolute floor for losses near zero)."""
    if set(reference) != set(other):
        return False
    for k, ref in reference.items():
        v = other[k]
        if not (math.isfinite(v) and math.isfinite(ref)):
            return False
        if abs(v - ref) > tol * max(abs(ref), 1e-2):
            return False
    return True


def choose(measured: Iterable[Measurement], total_steps: int) -> Setting:
    """The fastest setting over the whole run (steady step time × steps + compile time) whose losses match the
    fp32 NCHW reference; ties within MIN_GAIN keep the simpler setting (listed first)."""
    measured = list(measured)
    ref = next((m for m in measured if m.setting == Setting("fp32", False) and not m.error), None)
    if ref is None or ref.losses is None:
        return Setting("fp32", False)
    best, best_cost = ref.setting, ref.seconds_per_step * total_steps
    for m in measured:
        if m.error or m.losses is None or not losses_match(ref.losses, m.losses):
            continue
        cost = m.seconds_per_step * total_steps + m.compile_seconds
        if cost < best_cost * (1 - MIN_GAIN):
            best, best_cost = m.setting, cost
    return best


# ----- the cache ------------------------------------------------------------------------------------------------
def cpu_kind() -> str:
    """This CPU as calibration keys it: model name, torch's SIMD capability and native bf16/AMX."""
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cap = torch.backends.cpu.get_cpu_capability() if hasattr(torch.backends, "cpu") else "?"
    flags = [f for f, fn in (("avx512_bf16", "_is_avx512_bf16_supported"), ("amx", "_is_amx_tile_supported"))
             if getattr(torch.cpu, fn, lambda: False)()]
    return f"{name} | {cap}{''.join('+' + f for f in flags)} | {os.cpu_count()} cpus"


def cache_key(model_name: str, model_cfg: dict[str, Any], batch_size: int, threads: int, device: str) -> str:
    """Everything a measured step time depends on: CPU kind, torch, model and its config, batch, threads."""
    cfg = json.dumps(model_cfg, sort_keys=True, default=str)
    return f"{cpu_kind()} | torch {torch.__version__} | {device} | {model_name} {cfg} | batch {batch_size} | " \
           f"threads {threads}"


def _cache_path(folder: Path | None) -> Path:
    from condgen.data.builtin import cache_dir

    return (folder or cache_dir()) / CACHE_FILE


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object from ``path`` (None if absent, unreadable or not an object)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` atomically; a file that cannot be written is skipped (a cache or a record, not needed to
    train)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        tmp.replace(path)
    except OSError:
        tmp.unlink(missing_ok=True)


def load_cached(key: str, folder: Path | None = None) -> dict[str, Any] | None:
    """The cached calibration for ``key`` (None if absent or the cache is unreadable)."""
    data = read_json(_cache_path(folder))
    entry = data.get("entries", {}).get(key) if data and data.get("version") == CACHE_VERSION else None
    return entry if isinstance(entry, dict) and isinstance(entry.get("choice"), dict) else None


def store_cached(key: str, entry: dict[str, Any], folder: Path | None = None) -> None:
    """Add ``entry`` under ``key`` (atomically; a cache that cannot be written is skipped: it only saves time)."""
    path = _cache_path(folder)
    data = read_json(path)
    if not data or data.get("version") != CACHE_VERSION or not isinstance(data.get("entries"), dict):
        data = {"version": CACHE_VERSION, "entries": {}}
    data["entries"][key] = entry
    write_json(path, data)


def setting_from(d: dict[str, Any]) -> Setting:
    """A Setting from its dict form (the cache)."""
    return Setting(str(d["precision"]), bool(d["channels_last"]), bool(d.get("compile", False)))


def entry_of(choice: Setting, measured: list[Measurement]) -> dict[str, Any]:
    """The cache/log form of a calibration: the choice and every candidate's numbers."""
    return {"choice": asdict(choice), "measured": [
        {"setting": m.setting.name, "seconds_per_step": None if math.isinf(m.seconds_per_step) else m.seconds_per_step,
         "compile_seconds": m.compile_seconds, "losses_match": m.error == "" and m.losses is not None,
         "error": m.error} for m in measured]}


# ----- measuring ------------------------------------------------------------------------------------------------
def measure(model, batch: dict[str, Any], setting: Setting, device: torch.device, steps: int = 3,
            min_seconds: float = 1.5, seed: int = 0) -> Measurement:
    """Time ``setting`` on a deep copy of ``model`` (the original is untouched): one step for the losses (and
    compiling), one more untimed (oneDNN builds its kernels for a layout on first use), then timed steps until
    ``steps`` and ``min_seconds`` are both reached (at most 4 × steps); the step time is their median."""
    out = Measurement(setting)
    try:
        m = copy.deepcopy(model)
        m.to(device, channels_last=setting.channels_last)
        t0 = time.perf_counter()
        if setting.compile:
            for net in m.nets.values():
                net.compile()  # in place, as the trainer does
        b = model_batch(m, batch)
        autocast = torch.autocast(device.type, dtype=setting.dtype or torch.float32, enabled=setting.dtype is not None)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)  # every candidate's first step sees the same noise
            with autocast:
                first = m.training_step(b)
            out.losses = {k: float(v) for k, v in first.items()}
            if setting.compile:
                out.compile_seconds = time.perf_counter() - t0
            with autocast:
                m.training_step(b)
            times, t0 = [], time.perf_counter()
            while len(times) < steps or (time.perf_counter() - t0 < min_seconds and len(times) < 4 * steps):
                t = time.perf_counter()
                with autocast:
                    m.training_step(b)
                times.append(time.perf_counter() - t)
            out.seconds_per_step = statistics.median(times)
    except Exception as e:  # a setting this machine or model cannot run is simply not chosen
        out.error = f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
    return out


def measure_all(model, batch: dict[str, Any], settings: list[Setting], device: torch.device, rounds: int = 2,
                **kw: Any) -> list[Measurement]:
    """Each setting measured ``rounds`` times, interleaved (alternating order, so a slow spell of the machine does
    not fall on one setting); each keeps its fastest round (interference only ever slows a step down)."""
    best: dict[Setting, Measurement] = {}
    for r in range(rounds):
        for s in (settings if r % 2 == 0 else settings[::-1]):
            m = measure(model, batch, s, device, **kw)
            if s not in best or (not m.error and m.seconds_per_step < best[s].seconds_per_step):
                best[s] = m
    return [best[s] for s in settings]


def compile_worth_trying(mode: str, fp32_seconds_per_step: float, total_steps: int,
                         expected_compile_seconds: float = 120.0) -> bool:
    """``compile=true`` (YAML's ``on``) always; ``auto`` only when the run is long enough that a 10 % faster step
    would repay a typical CPU compile (about two minutes for a GAN's networks, measured) five times over."""
    if mode in ("true", "on"):
        return True
    if mode != "auto":
        return False
    return 0.1 * fp32_seconds_per_step * total_steps > 5 * expected_compile_seconds


__all__ = ["LOSS_TOLERANCE", "Measurement", "Setting", "cache_key", "candidates", "choose",
           "compile_worth_trying", "cpu_kind", "entry_of", "load_cached", "losses_match", "measure",
           "setting_from", "store_cached"]
