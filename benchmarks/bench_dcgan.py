"""DCGAN speed and quality: fp32 NCHW vs condgen's default precision/memory format, in one run.

Speed: the paper's DCGAN (64x64 RGB, ngf = ndf = 64) at batch 64 on the built-in digits, through the real
Trainer (data, both updates, logging), each setting in its own process (for its own peak RSS), the settings
interleaved and repeated so a busy machine affects them alike; the ratio of medians is reported.

Quality: the quick digits preset trained to the same step count in fp32 and in the default, over two seeds,
scored by classifier-space FID (condgen evaluate).

    python benchmarks/bench_dcgan.py speed            # ~3 min on 2 cores
    python benchmarks/bench_dcgan.py quality          # ~15 min on 2 cores (3 seeds)
    python benchmarks/bench_dcgan.py quality --settings default --steps 2500 --tag _equal_time
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import machine, timed_fit  # noqa: F401 - re-exported for older scripts

SETTINGS = {"fp32-nchw": ("fp32", "false"), "default": ("auto", "auto")}






def _speed_child(precision: str, channels_last: str, steps: int, warmup: int) -> None:
    """Run in a subprocess: train `steps` steps, print images/s after warm-up and peak RSS."""
    from condgen.cli import resolve_config
    from condgen.train import Trainer

    out = Path(tempfile.mkdtemp()) / "run"
    cfg = resolve_config("dcgan", "digits", None, None, [
        "model.image_size=64", "model.channels=3", "data.batch_size=64", f"train.steps={warmup + steps}",
        f"train.precision={precision}", f"train.channels_last={channels_last}", "train.progress=false",
        "train.tensorboard=false", f"train.log_every={warmup + steps}", "train.sample_every=100000",
        "train.checkpoint_every=100000"])
    res = timed_fit(Trainer(cfg, out), warmup, steps, quiet_io=False)
    print(json.dumps({k: res[k] for k in ("images_per_s", "peak_rss_mb", "dtype", "channels_last")}))


def speed(repeats: int, steps: int, warmup: int) -> dict:
    """Interleaved runs of each setting; medians and the ratio default / fp32."""
    runs: dict[str, list[dict]] = {k: [] for k in SETTINGS}
    for _ in range(repeats):
        for name, (prec, cl) in SETTINGS.items():
            res = subprocess.run([sys.executable, __file__, "_speed", prec, cl, str(steps), str(warmup)],
                                 capture_output=True, text=True, check=True)
            runs[name].append(json.loads(res.stdout.strip().splitlines()[-1]))
            print(name, runs[name][-1], flush=True)
    med = {k: statistics.median(r["images_per_s"] for r in v) for k, v in runs.items()}
    mem = {k: max(r["peak_rss_mb"] for r in v) for k, v in runs.items()}
    return {"runs": runs, "images_per_s": med, "peak_rss_mb": mem,
            "speedup": med["default"] / med["fp32-nchw"], "machine": machine()}


def quality(steps: int, seeds: list[int], settings: list[str]) -> dict:
    """Classifier-space FID after `steps` steps of the quick preset, fp32 vs default, per seed."""
    from condgen.cli import resolve_config
    from condgen.evaluate import evaluate_run
    from condgen.train import train

    out: dict = {"steps": steps, "fid": {}}
    root = Path(tempfile.mkdtemp())
    for seed in seeds:
        for name in settings:
            prec, cl = SETTINGS[name]
            run = root / f"{name}-{seed}"
            cfg = resolve_config("dcgan", None, None, "quick", [
                f"seed={seed}", f"train.steps={steps}", f"train.precision={prec}", f"train.channels_last={cl}",
                "train.progress=false", "train.tensorboard=false"])
            t0 = time.perf_counter()
            train(cfg, run)
            secs = time.perf_counter() - t0
            # the last two checkpoints: a GAN's FID moves from checkpoint to checkpoint, so both count
            for ck in sorted((run / "checkpoints").glob("step_*.pt"))[-2:]:
                r = evaluate_run(run, n=2000, checkpoint=ck)
                out["fid"].setdefault(name, {}).setdefault(str(r["step"]), []).append(r["fid"])
                out.setdefault("floor", r["fid_floor"])
                print(name, seed, r["step"], f"FID {r['fid']:.3f}", f"train {secs:.0f}s", flush=True)
    out["machine"] = machine()
    return out


def main() -> None:
    """CLI of the benchmark."""
    if len(sys.argv) > 1 and sys.argv[1] == "_speed":
        _speed_child(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["speed", "quality"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    ap.add_argument("--tag", default="", help="suffix of the results file name")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args()
    if args.what == "speed":
        res = speed(args.repeats, args.steps or 40, args.warmup)
        print(f"\nmachine: {res['machine']}")
        for k in SETTINGS:
            print(f"{k:10s} {res['images_per_s'][k]:8.1f} img/s   peak RSS {res['peak_rss_mb'][k]:7.0f} MB")
        print(f"default / fp32-nchw: {res['speedup']:.2f}x")
    else:
        res = quality(args.steps or 1500, args.seeds, args.settings)
        print(json.dumps(res, indent=1))
    dest = Path(__file__).parent / "results"
    dest.mkdir(exist_ok=True)
    (dest / f"dcgan_{args.what}{args.tag}.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
