"""cGAN on the built-in digits: how D receives the class (label planes vs projection), measured.

For each conditioning and seed: the quick preset (`condgen train cgan --preset quick`), then
`condgen evaluate`: class accuracy (shipped digit classifier) and classifier-space FID beside the floor.

    python benchmarks/bench_cgan.py            # ~10 min on 2 cores
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from common import machine


def main() -> None:
    """Train and evaluate each variant; print and save the table."""
    from condgen.cli import resolve_config
    from condgen.evaluate import evaluate_run
    from condgen.train import train

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--variants", nargs="+", default=["concat", "projection"])
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp())
    rows = []
    for variant in args.variants:
        for seed in args.seeds:
            run = root / f"{variant}-{seed}"
            cfg = resolve_config("cgan", None, None, "quick", [
                f"seed={seed}", f"model.d_conditioning={variant}", "train.progress=false", "train.tensorboard=false"])
            t0 = time.perf_counter()
            train(cfg, run)
            secs = time.perf_counter() - t0
            r = evaluate_run(run, n=2000)
            rows.append({"d_conditioning": variant, "seed": seed, "class_accuracy": r["class_accuracy"],
                         "fid": r["fid"], "fid_floor": r["fid_floor"], "train_seconds": secs})
            print(json.dumps(rows[-1]), flush=True)
    out = {"machine": machine(), "steps": cfg.train.steps, "rows": rows}
    dest = Path(__file__).parent / "results"
    dest.mkdir(exist_ok=True)
    (dest / "cgan_conditioning.json").write_text(json.dumps(out, indent=1))
    print("\n| D conditioning | seed | class accuracy | FID (digits) | floor | train s |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['d_conditioning']} | {r['seed']} | {r['class_accuracy']:.3f} | {r['fid']:.2f} | "
              f"{r['fid_floor']:.2f} | {r['train_seconds']:.0f} |")


if __name__ == "__main__":
    main()
