"""Super-resolution x4 (Ledig et al. 2017): the paper's claim on the built-in photos (SRResNet has the highest PSNR,
SRGAN is sharper) at an equal budget, and the speed of the paper's SRResNet, in one script.

quality: on the held-out `photos` (the two test photographs, Chelsea the cat 451x300 and the flower 640x427, whole,
cropped to a multiple of 4; never seen in training), x4, srresnet_quick's generator (6 blocks, 32 maps):

    stage 1    SRResNet, `--preset quick` (pixel MSE, Adam 1e-3), --steps1 steps               -> "SRResNet@N1"
    stage 2    both from stage 1's weights (`train.init_from`), --steps2 steps, the same schedule (srgan_quick's:
               Adam 1e-4, x0.1 at half), batch 8 of 48 px HR crops:
      SRResNet   pixel MSE only                                                                 -> "SRResNet"
      SRGAN-MSE  pixel MSE + 1e-3 x adversarial vs the paper's discriminator (srgan_quick, ndf 32;
                 model.content_weight=0, model.pixel_weight=1: the paper's "SRGAN-MSE", sec. 3.4 / Table 1)
      --vgg-random adds SRGAN-VGG54 with a RANDOM-weight VGG19 (model.vgg_weights=random): NOT the paper's loss
                 (the ImageNet VGG19 file is not available offline); labelled so wherever it appears.

So SRResNet and SRGAN-MSE have made the same number of G updates (N1 + N2) from the same start with the same
learning rates; the only difference is the adversarial term (and the D updates it needs, which cost time:
train seconds are reported). Scored per image, averaged over the test photographs, for bicubic (Keys a = -0.5,
condgen.metrics.sr.bicubic_upscale) and each model's `upscale` (eval-mode BN, tiles of 128 LR px):

- PSNR, SSIM: on Y (BT.601 as MATLAB's rgb2ycbcr), 4 border pixels cropped (condgen.metrics.sr.sr_scores).
- sharpness = sum_i mean|grad Y(SR_i)| / sum_i mean|grad Y(HR_i)| (Sobel, as bench_pix2pix.grad_magnitude, on the
  same border-cropped images): 1 = as sharp as the HR photo, < 1 blurrier.
- HF energy = mean_i hf(SR_i) / mean_i hf(HR_i), hf = share of the (Hann-windowed, mean-removed) luminance power
  spectrum above --hf-cutoff cycles/px (bench_pix2pix.hf_fraction); default 0.125 = the LR image's Nyquist
  frequency at x4, so it counts only detail the LR image cannot hold (bicubic's is mostly its kernel's ringing).

The picture docs/images/sr_compare.png: 128 x 128 HR regions of the test photographs as rows of LR (nearest x4) |
bicubic | SRResNet | SRGAN-MSE | HR. Training runs go in a temporary folder.

speed: the paper's SRResNet (16 blocks, 64 maps, x4) trained through the real Trainer on `photos` at batch 16 of
96 x 96 HR crops: images/s of fp32 NCHW (train.precision=fp32, train.channels_last=false) vs condgen's default
(auto/auto: bf16 autocast + channels_last on CPUs with native bf16, else fp32 NCHW, i.e. the same thing), each
in its own process, ABBA order (--repeats 2 = A B B A), warm-up steps untimed (bench_dcgan.timed_fit, end-of-fit
I/O off); medians and the ratio. Also FLOPs of one fp32 training step (FlopCounterMode: convolutions/matmuls of
forward + backward) and the achieved GFLOP/s. Inference: `model.upscale` of a random --infer-size^2 LR image
(one tile) by an untrained paper SRResNet (weights do not change the cost), ms per output megapixel, median of
--infer-reps; fp32 eager only (`upscale` has no autocast/channels_last option). The 1/5/15-minute load average
is recorded before and after every process: the numbers are only comparable between settings of the same run.

    python benchmarks/bench_sr.py quality                     # ~18 min on 2 busy cores (load ~8, 1 thread)
    python benchmarks/bench_sr.py quality --steps1 3000 --steps2 600 --vgg-random
    python benchmarks/bench_sr.py speed                       # 2 settings x 2 (ABBA), 6 timed steps each
    python benchmarks/bench_sr.py all --quick-smoke           # < 1 min: tiny nets, 2-4 steps, tmp outputs
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench_pix2pix import grad_magnitude, hf_fraction
from common import load_avg, machine, run_child, timed_fit
from common import set_threads as _threads

SETTINGS = {"fp32-nchw": ("fp32", "false"), "default": ("auto", "auto")}
ROOT = Path(__file__).resolve().parents[1]
GRID_LABELS = ["LR (nearest)", "bicubic", "SRResNet", "SRGAN-MSE", "HR"]
BIG = 10**9
# 128 x 128 HR regions of the picture: (test image index, top, left); 0 = chelsea, 1 = flower
BOXES = [(0, 50, 110), (0, 168, 200), (1, 150, 250)]
# the paper's net and batch (speed); the smoke test's tiny one
SPEED_NET = {"paper": {"n_blocks": 16, "ngf": 64, "batch": 16, "crop": 96},
             "smoke": {"n_blocks": 2, "ngf": 16, "batch": 4, "crop": 48}}






# ----- speed --------------------------------------------------------------------------------------
def _speed_overrides(net: str, precision: str, channels_last: str, steps: int) -> list[str]:
    p = SPEED_NET[net]
    return [f"model.n_blocks={p['n_blocks']}", f"model.ngf={p['ngf']}", "model.scale=4",
            f"data.batch_size={p['batch']}", f"data.crop_size={p['crop']}", f"train.steps={steps}",
            f"train.precision={precision}", f"train.channels_last={channels_last}", "train.progress=false",
            "train.tensorboard=false", "train.val_every=0", f"train.log_every={BIG}", f"train.sample_every={BIG}",
            f"train.checkpoint_every={BIG}"]


def _speed_child(a: dict) -> None:
    """Subprocess: warm up, then time `steps` Trainer steps of SRResNet; print images/s and peak RSS as JSON."""
    threads = _threads(a["threads"])
    from condgen.cli import resolve_config
    from condgen.train import Trainer

    out = Path(tempfile.mkdtemp()) / "run"
    cfg = resolve_config("srresnet", "photos", None, None, _speed_overrides(
        a["net"], a["precision"], a["channels_last"], a["warmup"] + a["steps"]))
    before = load_avg()
    res = timed_fit(Trainer(cfg, out), a["warmup"], a["steps"])
    print(json.dumps({**res, "threads": threads, "load_before": before, "load_after": load_avg()}))


def _flops_child(a: dict) -> None:
    """Subprocess: FLOPs of one fp32 NCHW SRResNet `training_step` on a real batch (FlopCounterMode)."""
    _threads(a["threads"])
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from condgen.cli import resolve_config
    from condgen.models import get_model_class
    from condgen.runs import load_model_data
    from condgen.train.trainer import seed_everything
    from condgen.train.update import model_batch

    cfg = resolve_config("srresnet", "photos", None, None, _speed_overrides(a["net"], "fp32", "false", 1))
    seed_everything(0)
    cls = get_model_class("srresnet")
    ds = load_model_data(cls, cfg, split="train", train=True)
    batch = torch.utils.data.default_collate([ds[i] for i in range(cfg.data.batch_size)])
    model = cls(cfg.model)
    model.to("cpu")
    model.train_mode(True)
    batch = model_batch(model, batch)
    with FlopCounterMode(display=False) as fc:
        model.training_step(batch)
    params = sum(p.numel() for p in model.nets["G"].parameters())
    print(json.dumps({"flops_per_step": int(fc.get_total_flops()), "params_G": params,
                      "batch": cfg.data.batch_size}))


def _infer_child(a: dict) -> None:
    """Subprocess: ms per output megapixel of `model.upscale` (fp32 eager) on a random LR image."""
    threads = _threads(a["threads"])
    import torch

    from condgen.cli import resolve_config
    from condgen.models import get_model_class

    cfg = resolve_config("srresnet", "photos", None, None, _speed_overrides(a["net"], "fp32", "false", 1))
    cls = get_model_class("srresnet")
    torch.manual_seed(0)
    model = cls.for_inference(cfg.model)
    model.to("cpu")
    model.train_mode(False)
    s = a["size"]
    x = torch.rand(1, 3, s, s) * 2 - 1
    before = load_avg()
    model.upscale(x)  # untimed: oneDNN set-up
    times = []
    for _ in range(a["reps"]):
        t0 = time.perf_counter()
        y = model.upscale(x)
        times.append(time.perf_counter() - t0)
    mp = y.shape[-2] * y.shape[-1] / 1e6
    med = statistics.median(times)
    print(json.dumps({"lr_size": s, "out_size": list(y.shape[-2:]), "out_megapixels": mp, "times_s": times,
                      "median_s": med, "ms_per_megapixel": 1000 * med / mp, "threads": threads,
                      "tile_size": model.cfg.tile_size, "load_before": before, "load_after": load_avg()}))




def speed(net: str, repeats: int, steps: int, warmup: int, threads: int, infer_size: int, infer_reps: int) -> dict:
    """ABBA-interleaved training runs per setting, FLOPs per step, inference ms/MP; medians and the ratio."""
    start_load = load_avg()
    flops = run_child(__file__, "flops", {"net": net, "threads": threads})
    print(f"{flops['flops_per_step'] / 1e9:.1f} GFLOP/step, G params {flops['params_G']}", flush=True)
    runs: dict[str, list[dict]] = {k: [] for k in SETTINGS}
    for r in range(repeats):
        order = list(SETTINGS) if r % 2 == 0 else list(SETTINGS)[::-1]  # ABBA
        for name in order:
            prec, cl = SETTINGS[name]
            res = run_child(__file__, "speed", {"net": net, "precision": prec, "channels_last": cl, "steps": steps,
                                   "warmup": warmup, "threads": threads})
            runs[name].append(res)
            print(name, {k: res[k] for k in ("images_per_s", "dtype", "channels_last", "threads", "load_after")},
                  flush=True)
    infer = run_child(__file__, "infer", {"net": net, "size": infer_size, "reps": infer_reps, "threads": threads})
    print("inference fp32:", round(infer["ms_per_megapixel"]), "ms/MP", flush=True)
    p = SPEED_NET[net]
    out: dict = {"net": {**p, "scale": 4}, "settings": {k: {"precision": a, "channels_last": c}
                                                        for k, (a, c) in SETTINGS.items()},
                 "steps": steps, "warmup": warmup, "repeats": repeats, "flops": flops, "runs": runs,
                 "results": {}, "inference": {"fp32-eager": infer,
                                              "bf16-channels_last": "not measured: condgen's upscale has no "
                                                                    "autocast/channels_last option"}}
    fl = flops["flops_per_step"]
    for name, rs in runs.items():
        ips = statistics.median(x["images_per_s"] for x in rs)
        out["results"][name] = {"images_per_s": ips, "achieved_gflops": fl * ips / p["batch"] / 1e9,
                                "peak_rss_mb": max(x["peak_rss_mb"] for x in rs), "dtype": rs[0]["dtype"],
                                "channels_last": rs[0]["channels_last"], "threads": rs[0]["threads"]}
    out["speedup"] = out["results"]["default"]["images_per_s"] / out["results"]["fp32-nchw"]["images_per_s"]
    out["load_avg"] = {"start": start_load, "end": load_avg()}
    out["machine"] = machine()
    return out


def speed_table(res: dict) -> str:
    n, inf = res["net"], res["inference"]["fp32-eager"]
    lines = [f"machine: {res['machine']}",
             f"load average (1/5/15 min) at start {res['load_avg']['start']}, end {res['load_avg']['end']}",
             f"SRResNet x4, {n['n_blocks']} blocks, {n['ngf']} maps, batch {n['batch']} of {n['crop']} px HR crops; "
             f"medians of {res['repeats']} runs x {res['steps']} timed steps (after {res['warmup']} warm-up)", "",
             "| setting | dtype | channels_last | threads | images/s | GFLOP/step | achieved GFLOP/s | peak RSS MB |",
             "|---|---|---|---|---|---|---|---|"]
    fl = res["flops"]["flops_per_step"] / 1e9
    for name, s in res["results"].items():
        lines.append(f"| {name} | {s['dtype']} | {s['channels_last']} | {s['threads']} | {s['images_per_s']:.2f} "
                     f"| {fl:.1f} | {s['achieved_gflops']:.1f} | {s['peak_rss_mb']:.0f} |")
    lines.append(f"| **default / fp32-nchw** | | | | **{res['speedup']:.2f}x** | | | |")
    lines += ["", f"inference (`model.upscale`, fp32 eager, {inf['lr_size']}^2 LR -> {inf['out_size'][0]}^2): "
                  f"{inf['ms_per_megapixel']:.0f} ms per output megapixel (median {inf['median_s']:.2f} s, "
                  f"{inf['threads']} threads); bf16/channels_last inference not measured (no such option)"]
    return "\n".join(lines)


# ----- quality ------------------------------------------------------------------------------------
def _common(steps: int, seed: int) -> list[str]:
    return [f"seed={seed}", f"train.steps={steps}", "train.progress=false", "train.tensorboard=false",
            "train.val_every=0", f"train.sample_every={BIG}", f"train.checkpoint_every={steps}",
            "data.num_workers=0"]


def _stage2(steps: int) -> list[str]:
    # srgan_quick's schedule (the paper's 1e-4 then 1e-5, halves of the run) for both stage-2 variants
    return ["model.lr=0.0001", "train.lr_schedule=step", f"train.lr_step_size={max(1, steps // 2)}",
            "train.lr_gamma=0.1"]


def variants(steps2: int, vgg_random: bool) -> dict[str, tuple[str, list[str]]]:
    """Stage-2 variants: label -> (model, overrides)."""
    out = {"SRResNet": ("srresnet", _stage2(steps2)),
           "SRGAN-MSE": ("srgan", [*_stage2(steps2), "model.content_weight=0", "model.pixel_weight=1"])}
    if vgg_random:
        out["SRGAN-VGG54 (random-weight VGG19, not the paper's)"] = (
            "srgan", [*_stage2(steps2), "model.vgg_weights=random"])
    return out


def score(upscale, test_ds, scale: int, cutoff: float) -> tuple[dict, list]:
    """PSNR/SSIM on Y (border cropped) and the sharpness/HF ratios over the test images; the SR images."""
    import torch

    from condgen.metrics.sr import sr_scores

    rows, outs = [], []
    sums = {"grad_out": 0.0, "grad_target": 0.0, "hf_out": 0.0, "hf_target": 0.0}
    for i in range(len(test_ds)):
        item = test_ds[i]
        lr, hr = item["lr"][None].float(), item["hr"][None].float()
        with torch.no_grad():
            sr = upscale(lr).float().cpu().clamp(-1, 1)
        outs.append(sr[0])
        sc = sr_scores(sr, hr, scale)
        hh, ww = sr.shape[-2:]
        x, y = [((t[..., scale:hh - scale, scale:ww - scale] + 1) / 2) for t in (sr, hr)]
        row = {"path": Path(item["path"]).name, "psnr_y": float(sc["psnr_y"][0]), "ssim_y": float(sc["ssim_y"][0]),
               "grad_out": grad_magnitude(x).item(), "grad_target": grad_magnitude(y).item(),
               "hf_out": hf_fraction(x, cutoff).item(), "hf_target": hf_fraction(y, cutoff).item()}
        rows.append(row)
        for k in sums:
            sums[k] += row[k]
    n = len(rows)
    m = {"psnr_y": sum(r["psnr_y"] for r in rows) / n, "ssim_y": sum(r["ssim_y"] for r in rows) / n,
         "sharpness_ratio": sums["grad_out"] / sums["grad_target"],
         "hf_energy_ratio": sums["hf_out"] / sums["hf_target"], "n_test": n, "per_image": rows}
    return m, outs


def _grid(test_ds, outs: dict[str, list], boxes: list[tuple[int, int, int]], path: Path) -> None:
    """Rows of LR (nearest) | bicubic | SRResNet | SRGAN-MSE | HR for HR regions (image index, top, left)."""
    import torch
    from torch.nn import functional as F

    from condgen.train.images import save_grid

    cells = []
    for idx, top, left in boxes:
        item = test_ds[idx]
        hr = item["hr"].float()
        c = min(128, hr.shape[-2] // 4 * 4, hr.shape[-1] // 4 * 4)
        top = max(0, min(top, hr.shape[-2] - c)) // 4 * 4
        left = max(0, min(left, hr.shape[-1] - c)) // 4 * 4
        lr = item["lr"].float()[:, top // 4:(top + c) // 4, left // 4:(left + c) // 4]
        cut = [F.interpolate(lr[None], scale_factor=4, mode="nearest")[0]]
        cut += [outs[k][idx][:, top:top + c, left:left + c] for k in ("bicubic", "SRResNet", "SRGAN-MSE")]
        cut.append(hr[:, top:top + c, left:left + c])
        cells += cut
    labels = GRID_LABELS + [""] * (len(cells) - len(GRID_LABELS))
    path.parent.mkdir(parents=True, exist_ok=True)
    save_grid(torch.stack(cells), path, nrow=len(GRID_LABELS), labels=labels)


def quality(steps1: int, steps2: int, seed: int, threads: int, cutoff: float, vgg_random: bool, smoke: bool,
            grid_path: Path) -> dict:
    """Stage 1 SRResNet, then SRResNet vs SRGAN-MSE (and optionally random-VGG SRGAN) from it; score; picture."""
    import condgen
    from condgen.cli import resolve_config
    from condgen.metrics.sr import bicubic_upscale
    from condgen.runs import load_model_data
    from condgen.train import train

    threads = _threads(threads)
    root = Path(tempfile.mkdtemp(prefix="bench_sr_"))
    tiny = ["model.n_blocks=1", "model.ngf=8"] if smoke else []
    out: dict = {"steps1": steps1, "steps2": steps2, "seed": seed, "threads": threads, "hf_cutoff": cutoff,
                 "runs_dir": str(root), "load_avg": {"start": load_avg()}, "models": {}, "train_seconds": {}}
    t0 = time.perf_counter()
    stage1 = root / "srresnet_stage1"
    cfg = resolve_config("srresnet", "photos", None, "quick", [*_common(steps1, seed), *tiny])
    train(cfg, stage1)
    out["train_seconds"]["SRResNet@N1"] = time.perf_counter() - t0
    print(f"stage 1: {steps1} steps in {out['train_seconds']['SRResNet@N1']:.0f} s, load {load_avg()}", flush=True)
    runs = {"SRResNet@N1": stage1}
    for label, (name, over) in variants(steps2, vgg_random).items():
        run = root / name / label.split()[0].lower()
        tiny_d = ["model.ndf=8"] if smoke and name == "srgan" else []
        cfg = resolve_config(name, "photos", None, "quick", [*_common(steps2, seed), *over, *tiny, *tiny_d,
                                                               f"train.init_from={stage1}"])
        t0 = time.perf_counter()
        train(cfg, run)
        out["train_seconds"][label] = time.perf_counter() - t0
        runs[label] = run
        print(f"{label}: {steps2} steps in {out['train_seconds'][label]:.0f} s, load {load_avg()}", flush=True)
    first = condgen.load(stage1)
    test_ds = load_model_data(type(first), first.run_config, "test", evaluation=True)
    scale = first.cfg.scale
    outs: dict[str, list] = {}
    out["models"]["bicubic"], outs["bicubic"] = score(lambda x: bicubic_upscale(x, scale), test_ds, scale, cutoff)
    for label, run in runs.items():
        model = condgen.load(run)
        out["models"][label], outs[label] = score(model.upscale, test_ds, scale, cutoff)
    for label, m in out["models"].items():
        print(f"{label:12s} PSNR {m['psnr_y']:.2f}  SSIM {m['ssim_y']:.4f}  sharpness {m['sharpness_ratio']:.3f}  "
              f"HF {m['hf_energy_ratio']:.3f}", flush=True)
    # HR regions (image, top, left): the cat's eye and fur, its nose and whiskers, the flower's centre
    boxes = BOXES if not smoke else [(0, 0, 0)]
    _grid(test_ds, outs, boxes, grid_path)
    out["grid"] = str(grid_path)
    out["grid_boxes"] = boxes
    out["test_images"] = [Path(test_ds[i]["path"]).name + f" {tuple(test_ds[i]['hr'].shape[-2:])}"
                          for i in range(len(test_ds))]
    out["load_avg"]["end"] = load_avg()
    out["machine"] = machine()
    return out


def quality_table(res: dict) -> str:
    n_test = res["models"]["bicubic"]["n_test"]
    lines = [f"machine: {res['machine']}; {res['threads']} thread(s); load average start {res['load_avg']['start']}, "
             f"end {res['load_avg']['end']}",
             f"stage 1 SRResNet {res['steps1']} steps; stage 2 (from stage 1) {res['steps2']} steps; seed "
             f"{res['seed']}; {n_test} held-out photographs, x4, Y channel, 4 px border cropped; HF cutoff "
             f"{res['hf_cutoff']} cycles/px", "",
             "| method | G updates | PSNR (dB) ↑ | SSIM ↑ | sharpness (SR/HR) | HF energy (SR/HR) | train s |",
             "|---|---|---|---|---|---|---|"]
    for label, m in res["models"].items():
        upd = {"bicubic": "-", "SRResNet@N1": str(res["steps1"])}.get(label, str(res["steps1"] + res["steps2"]))
        secs = res["train_seconds"].get(label)
        secs = "-" if secs is None else f"{secs:.0f}"
        lines.append(f"| {label} | {upd} | {m['psnr_y']:.2f} | {m['ssim_y']:.4f} | {m['sharpness_ratio']:.3f} "
                     f"| {m['hf_energy_ratio']:.3f} | {secs} |")
    return "\n".join(lines)


# ----- CLI ----------------------------------------------------------------------------------------
def main() -> None:
    """CLI of the benchmark."""
    children = {"_speed": _speed_child, "_flops": _flops_child, "_infer": _infer_child}
    if len(sys.argv) > 2 and sys.argv[1] in children:
        children[sys.argv[1]](json.loads(sys.argv[2]))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["speed", "quality", "all"])
    ap.add_argument("--quick-smoke", action="store_true",
                    help="tiny settings to check the script end to end; outputs go to a temporary folder")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads (quality default 1: on a shared, oversubscribed CPU one thread per process "
                         "ran ~10x faster than two; speed default 0 = torch's default)")
    ap.add_argument("--tag", default="", help="suffix of the results file names")
    ap.add_argument("--out-dir", type=Path, default=None, help="results folder (default benchmarks/results)")
    sp = ap.add_argument_group("speed")
    sp.add_argument("--repeats", type=int, default=2, help="ABBA: 2 = A B B A")
    sp.add_argument("--steps", type=int, default=6, help="timed training steps per process")
    sp.add_argument("--warmup", type=int, default=2)
    sp.add_argument("--infer-size", type=int, default=128, help="LR side of the inference image")
    sp.add_argument("--infer-reps", type=int, default=5)
    qa = ap.add_argument_group("quality")
    qa.add_argument("--steps1", type=int, default=600, help="stage-1 SRResNet steps")
    qa.add_argument("--steps2", type=int, default=150, help="stage-2 steps (SRResNet and SRGAN-MSE each)")
    qa.add_argument("--seed", type=int, default=0)
    qa.add_argument("--hf-cutoff", type=float, default=0.125, help="cycles/pixel (0.125 = LR Nyquist at x4)")
    qa.add_argument("--vgg-random", action="store_true",
                    help="also SRGAN-VGG54 with a random-weight VGG19 (not the paper's loss)")
    qa.add_argument("--grid", type=Path, default=None, help="default docs/images/sr_compare.png")
    args = ap.parse_args()

    dest, grid, net = args.out_dir, args.grid, "paper"
    if args.quick_smoke:
        tmp = Path(tempfile.mkdtemp(prefix="bench_sr_smoke_"))
        dest, grid, net = dest or tmp, grid or tmp / "sr_compare.png", "smoke"
        args.repeats, args.steps, args.warmup, args.infer_size, args.infer_reps = 1, 2, 1, 32, 2
        args.steps1, args.steps2 = 4, 2
        args.threads = args.threads or 1
    dest = dest or Path(__file__).parent / "results"
    grid = grid or ROOT / "docs" / "images" / "sr_compare.png"
    dest.mkdir(parents=True, exist_ok=True)

    if args.what in ("speed", "all"):
        res = speed(net, args.repeats, args.steps, args.warmup, args.threads or 0, args.infer_size,
                    args.infer_reps)
        print("\n" + speed_table(res))
        path = dest / f"sr_speed{args.tag}.json"
        path.write_text(json.dumps(res, indent=1))
        print(f"\nwrote {path}\n")
    if args.what in ("quality", "all"):
        threads = 1 if args.threads is None else args.threads
        res = quality(args.steps1, args.steps2, args.seed, threads, args.hf_cutoff, args.vgg_random,
                      args.quick_smoke, grid)
        print("\n" + quality_table(res))
        path = dest / f"sr_quality{args.tag}.json"
        path.write_text(json.dumps(res, indent=1))
        print(f"\nwrote {path} and {res['grid']}")


if __name__ == "__main__":
    main()
