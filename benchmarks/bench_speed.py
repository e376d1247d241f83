"""Training speed of each model family at its paper size: fp32 NCHW eager vs what `precision=auto` chooses.

    python benchmarks/bench_speed.py [FAMILY ...] [--repeats 3] [--compile]

For each family (dcgan and pix2pix by default; cyclegan, srresnet, spade on request), on a real batch of the
built-in data at the paper's image size and batch:
- FLOPs per training step: `torch.utils.flop_counter.FlopCounterMode` around one fp32 `training_step`
  (convolutions and matmuls, forward and backward);
- the matmul peak of this machine, measured in the same run (best of n x n `torch.mm`, fp32 and, where native,
  bf16), before and after the families;
- the setting `precision=auto` picks, by the trainer's own calibration (`calibrate.measure_all` + `choose`);
- then every setting it could pick (fp32/bf16 x NCHW/channels_last; + torch.compile with --compile), timed with
  `condgen.train.calibrate.measure` (a copy of the model, median steady-state step), interleaved over `--repeats`
  more rounds: the chosen setting's median against every fixed setting's median;
- the CPU kind, torch version and the 1-minute load average at start and end.

Results: benchmarks/results/speed.json and a table printed for RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from condgen.cli import resolve_config  # noqa: E402
from condgen.models import get_model_class  # noqa: E402
from condgen.runs import load_model_data  # noqa: E402
from condgen.train import calibrate as cal  # noqa: E402
from condgen.train.trainer import cpu_has_fast_bf16, seed_everything  # noqa: E402

# family: (model, built-in data, overrides giving the paper's size and batch on that data)
FAMILIES = {
    "dcgan": ("dcgan", "digits", ["model.image_size=64", "model.channels=3", "data.batch_size=64"]),
    "pix2pix": ("pix2pix", "edges2photos", ["data.load_size=286", "data.crop_size=256", "data.batch_size=1"]),
    "cyclegan": ("cyclegan", "photo2tone", ["data.load_size=286", "data.crop_size=256", "data.batch_size=1"]),
    "srresnet": ("srresnet", "photos", ["data.batch_size=16"]),
    "spade": ("spade", "scenes", ["data.batch_size=1", "model.vgg_weights=random"]),  # random VGG: same FLOPs
}


def load_average() -> float:
    """The 1-minute load average (what else was running)."""
    return os.getloadavg()[0]


def matmul_peak(sizes=(1024, 2048), reps: int = 5) -> dict[str, float]:
    """Best GFLOP/s of an n x n x n matrix product in fp32 and (native only) bf16, through torch.mm (the BLAS) and
    through a 1x1 convolution (oneDNN, the library the networks' convolutions run on; on AMD CPUs the BLAS may take
    an AVX2 path that oneDNN does not), whichever is faster."""
    out = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        if name == "bf16" and not cpu_has_fast_bf16():
            continue
        best = 0.0
        for n in sizes:
            x, y = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
            img, w = x.reshape(1, n, n, 1), y.reshape(n, n, 1, 1)  # 1x1 conv: (n out) x (n in) x (n pixels)
            for fn, args in ((torch.mm, (x, y)), (torch.nn.functional.conv2d, (img, w))):
                fn(*args)
                for _ in range(reps):
                    t0 = time.perf_counter()
                    fn(*args)
                    best = max(best, 2 * n**3 / (time.perf_counter() - t0) / 1e9)
        out[name] = best
    return out


def family_setup(family: str):
    """The model at its paper preset and size, and one real batch."""
    model_name, data, sets = FAMILIES[family]
    cfg = resolve_config(model_name, data, None, "paper", [*sets, "train.precision=fp32"])
    cls = get_model_class(model_name)
    seed_everything(0)
    ds = load_model_data(cls, cfg, split="train", train=True)
    from condgen.data import dataset_info

    cls.fill_from_data(cfg.model, dataset_info(ds))
    batch = torch.utils.data.default_collate([ds[i] for i in range(cfg.data.batch_size)])
    model = cls(cfg.model)
    model.to("cpu")
    model.train_mode(True)
    return cfg, model, batch


def step_flops(model, batch) -> int:
    """FLOPs of one fp32 NCHW training step."""
    import copy

    from torch.utils.flop_counter import FlopCounterMode

    from condgen.train.update import model_batch

    m = copy.deepcopy(model)
    b = model_batch(m, batch)
    with FlopCounterMode(display=False) as fc:
        m.training_step(b)
    return int(fc.get_total_flops())


def bench_family(family: str, repeats: int, compile_: bool, peak: dict[str, float]) -> dict:
    cfg, model, batch = family_setup(family)
    flops = step_flops(model, batch)
    settings = cal.candidates(cpu_has_fast_bf16(), compile_)
    # what a run gets: the trainer's own calibration (two interleaved rounds, fastest round kept), then choose()
    chosen = cal.choose(cal.measure_all(model, batch, settings, torch.device("cpu")), cfg.train.steps or 10_000)
    rounds: dict[str, list[cal.Measurement]] = {s.name: [] for s in settings}
    for r in range(repeats):
        order = settings if r % 2 == 0 else settings[::-1]  # interleaved, alternating order
        for s in order:
            rounds[s.name].append(cal.measure(model, batch, s, torch.device("cpu"), steps=3, min_seconds=3.0))
    bs = cfg.data.batch_size
    rows = {}
    for s in settings:
        ms = rounds[s.name]
        ok = [m for m in ms if not m.error]
        med = statistics.median(m.seconds_per_step for m in ok) if ok else float("inf")
        gfs = flops / med / 1e9 if ok else 0.0
        p = peak.get(s.precision, peak["fp32"])
        rows[s.name] = {"images_per_s": bs / med if ok else 0.0, "seconds_per_step": med,
                        "all_seconds_per_step": [m.seconds_per_step for m in ms], "gflops": gfs,
                        "share_of_peak": gfs / p if ok else 0.0, "losses_match": all(
                            cal.losses_match(rounds["fp32/nchw"][0].losses or {}, m.losses or {}) for m in ok),
                        "error": next((m.error for m in ms if m.error), "")}
    best_fixed = max(rows, key=lambda k: rows[k]["images_per_s"] if rows[k]["losses_match"] else 0)
    return {"family": family, "model": FAMILIES[family][0], "batch": bs,
            "image_size": getattr(cfg.model, "image_size", None) or cfg.data.crop_size,
            "flops_per_step": flops, "settings": rows, "auto_choice": chosen.name, "best_fixed": best_fixed,
            "auto_vs_fp32": rows[chosen.name]["images_per_s"] / rows["fp32/nchw"]["images_per_s"],
            "auto_vs_best": rows[chosen.name]["images_per_s"] / rows[best_fixed]["images_per_s"]}


def table(res: dict) -> str:
    lines = [f"Machine: {res['machine']}; load average {res['load_start']:.2f} at start, {res['load_end']:.2f} at "
             f"end; matmul peak " + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in res["peak"].items()), "",
             "| family (size, batch) | setting | images/s | GFLOP/s | share of peak | losses = fp32 |",
             "|---|---|---|---|---|---|"]
    for f in res["families"]:
        for name, r in f["settings"].items():
            mark = " **(auto)**" if name == f["auto_choice"] else ""
            lines.append(f"| {f['family']} ({f['image_size']} px, {f['batch']}) | {name}{mark} | "
                         f"{r['images_per_s']:.2f} | {r['gflops']:.0f} | {100 * r['share_of_peak']:.0f} % | "
                         f"{'yes' if r['losses_match'] else 'no'} |")
        lines.append(f"| | auto vs fp32 NCHW: **{f['auto_vs_fp32']:.2f}x**; vs the best fixed setting "
                     f"({f['best_fixed']}): {f['auto_vs_best']:.2f}x | | | | |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("families", nargs="*", default=["dcgan", "pix2pix"], choices=list(FAMILIES),
                    help="default: dcgan and pix2pix (cyclegan and spade at 256 px take ~1.5 TFLOP a step)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--compile", action="store_true", help="also time torch.compile (minutes per setting)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "speed.json")
    a = ap.parse_args()
    os.environ.setdefault("CONDGEN_CACHE", str(Path.home() / ".cache" / "condgen"))
    res = {"machine": cal.cpu_kind(), "torch": torch.__version__, "threads": torch.get_num_threads(),
           "load_start": load_average(), "date": time.strftime("%Y-%m-%d %H:%M"), "repeats": a.repeats}
    peaks = [matmul_peak()]
    res["families"] = []
    for f in a.families:
        print(f"== {f}", flush=True)
        res["families"].append(bench_family(f, a.repeats, a.compile, peaks[0]))
        print(json.dumps({k: v for k, v in res["families"][-1].items() if k != "settings"}), flush=True)
    peaks.append(matmul_peak())
    res["peak"] = {k: max(p[k] for p in peaks) for k in peaks[0]}
    for f in res["families"]:  # shares against the higher of the two peak readings
        for name, r in f["settings"].items():
            r["share_of_peak"] = r["gflops"] / res["peak"].get(name.split("/")[0], res["peak"]["fp32"])
    res["load_end"] = load_average()
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(res, indent=1))
    print(table(res))


if __name__ == "__main__":
    main()
