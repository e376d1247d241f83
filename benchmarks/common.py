"""What every benchmark script shares: the machine line, the load average, torch threads, a timed Trainer fit and
running one measurement in its own process (its own peak RSS and clean threads)."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time


def machine() -> str:
    """CPU model, SIMD kind, native bf16/AMX, core count and the torch build, for RESULTS.md."""
    import torch

    from condgen.train.calibrate import cpu_kind

    return f"{cpu_kind()}, torch {torch.__version__}"


def load_avg() -> list[float]:
    """The 1, 5 and 15-minute load averages (how busy the machine was)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover - not on every OS
        return []


def set_threads(n: int) -> int:
    """Use ``n`` torch intra-op threads (0: leave torch's default); the number in use."""
    import torch

    if n > 0:
        torch.set_num_threads(n)
    return torch.get_num_threads()


def timed_fit(tr, warmup: int, steps: int, quiet_io: bool = True) -> dict:
    """Run ``warmup`` untimed Trainer steps, then time ``steps`` more; images/s and peak RSS of this process.
    ``quiet_io`` switches off the end-of-fit checkpoint, sample grid and report (I/O, not training throughput)."""
    if quiet_io:
        tr.save_checkpoint = lambda: None
        tr._save_samples = lambda: None
        tr._write_report = lambda: None
    tr.total_steps = warmup
    tr.fit()
    tr.total_steps = warmup + steps
    t0 = time.perf_counter()
    tr.fit()
    dt = time.perf_counter() - t0
    bs = tr.cfg.data.batch_size
    return {"images_per_s": steps * bs / dt, "steps_per_s": steps / dt, "batch": bs,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "dtype": str(tr.amp_dtype), "channels_last": tr.channels_last}


def run_child(script: str, kind: str, args: dict, record_load: bool = False) -> dict:
    """Run ``python script _<kind> '<args as JSON>'`` and return the JSON on its last stdout line; a failure shows
    the child's stderr and stops the benchmark. ``record_load``: add the load average before and after."""
    before = load_avg()
    res = subprocess.run([sys.executable, script, f"_{kind}", json.dumps(args)], capture_output=True, text=True)
    if res.returncode != 0:
        sys.stderr.write(res.stderr[-3000:])
        raise SystemExit(f"{kind} subprocess failed ({args})")
    out = json.loads(res.stdout.strip().splitlines()[-1])
    return {**out, "load_avg_before": before, "load_avg_after": load_avg()} if record_load else out
