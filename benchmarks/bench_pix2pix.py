"""Pix2Pix speed (fp32 NCHW vs condgen's default, with FLOP accounting) and the paper's loss ablation, in one script.

speed: training images/s through the real Trainer on the built-in edges2photos (its 128 px pairs resized and
randomly cropped as below), the paper's nets (U-Net with batch norm + dropout, 70x70 PatchGAN, ngf = ndf = 64):

    size 256: netG unet_256, batch 1, load 286 -> crop 256   (the paper's setting)
    size 128: netG unet_128, batch 4, load 143 -> crop 128

Each (size, setting) runs in its own process (own peak RSS, clean threads); the settings alternate in ABBA order
and repeat (--repeats) so a busy machine affects them alike; medians and the ratio default / fp32-nchw are
reported. Warm-up steps run in a first `fit()`; the timed second `fit()` has the end-of-run checkpoint, sample
grid and report switched off (writing ~0.7 GB of unet_256 weights + Adam state is not training throughput).
Also measured, each in its own process:

- FLOPs/step: `torch.utils.flop_counter.FlopCounterMode` around one `model.training_step(batch)` (fp32, NCHW,
  CPU, train mode): the forward and backward matmuls/convolutions of G and D as executed (D update, then G
  update through a frozen D). Element-wise work (norms, activations, losses, Adam) is not counted.
- achieved FLOP/s = FLOPs/step x steps/s, steps/s = (images/s) / batch.
- matmul peak: best GFLOP/s (2 n^3 / time) over several `torch.mm` of n x n matrices in bf16 and in fp32
  (--peak-sizes, --peak-reps; one untimed call first), measured before and after the training runs; the higher
  of the two is kept. The table gives each setting's achieved FLOP/s as a fraction of the bf16 (and fp32) peak.

ablation: Isola et al. 2017, sec. 4.2 / table 1 / fig. 4 (labels -> photo), on the quick preset's data, the built-in
labels2scenes at 64 px (--preset quick: unet_64, ngf = ndf = 32, batch 4), the same steps and seeds for three variants:
`l1` (gan_weight 0, lambda_l1 100), `cgan` (lambda_l1 0, gan_weight 1), `l1+cgan` (the defaults). Each is
trained, then scored on the test split (100 scenes never seen in training, at 64 px) with the paper's
test-time behaviour: dropout on and batch statistics, one image at a time (`model.translate(A)`), with
`torch.manual_seed(seed)` before the test loop (the same dropout draws for every variant). Per image, averaged:

- L1: mean |G(A) - B| on [-1, 1] images.
- PSNR, SSIM: torchmetrics functional, data_range 1, on [0, 1] images.
- sharpness ratio = sum_i mean|grad Y(G(A_i))| / sum_i mean|grad Y(B_i)|, i.e. the test-set mean gradient
  magnitude of the output over that of the target. Y = 0.299 R + 0.587 G + 0.114 B on [0, 1]; the gradient is
  Sobel (kernels [[-1,0,1],[-2,0,2],[-1,0,1]] / 8 and its transpose, valid convolution, no padding), magnitude
  sqrt(gx^2 + gy^2) averaged over pixels. 1 = as sharp as the photos; < 1 blurrier (L1's known failure).
- FCN-score (the paper's table 1), on labels2scenes only: the scenes' evaluation segmenter (trained on real
  scenes64 images, condgen.evaluate.builtin_segmenter) run on the outputs, pixel accuracy and mIoU against the
  input label map (ids read back from its class colours); the same on the real targets is the ceiling.
- HF-energy ratio = mean_i hf(G(A_i)) / mean_i hf(B_i), where hf(x) = the fraction of the power spectrum
  |FFT2(w * (Y - mean Y))|^2 (w = 2-D Hann window, against edge leakage) at radial frequencies above
  --hf-cutoff cycles/pixel (default 0.25 = half Nyquist), out of all non-DC frequencies.

A picture grid for the docs, the first 6 test pairs as rows of input | L1 | cGAN | L1+cGAN | target (first seed),
goes to docs/images/pix2pix_ablation.png. Training runs go in a temporary folder.

    python benchmarks/bench_pix2pix.py speed                  # 2 sizes x 2 settings x 2 repeats, 20 timed steps
    python benchmarks/bench_pix2pix.py ablation               # 3 variants x 1500 steps x seed 0
    python benchmarks/bench_pix2pix.py ablation --seeds 0 1 2 --steps 1500
    python benchmarks/bench_pix2pix.py speed --quick-smoke    # seconds: 64 px, ngf 8, 2 steps, tmp outputs
    python benchmarks/bench_pix2pix.py ablation --quick-smoke # seconds: 2 steps, 8 test pairs, tmp outputs
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import machine, run_child, timed_fit

SETTINGS = {"fp32-nchw": ("fp32", "false"), "default": ("auto", "auto")}
# size -> (netG, batch, load_size, crop_size); 64 is for smoke tests only
SIZES = {256: ("unet_256", 1, 286, 256), 128: ("unet_128", 4, 143, 128), 64: ("unet_64", 4, 72, 64)}
VARIANTS = {"l1": ["model.gan_weight=0", "model.lambda_l1=100"],
            "cgan": ["model.lambda_l1=0", "model.gan_weight=1"],
            "l1+cgan": []}
GRID_LABELS = ["input", "L1", "cGAN", "L1+cGAN", "target"]
ROOT = Path(__file__).resolve().parents[1]


# ----- speed --------------------------------------------------------------------------------------
def _speed_overrides(size: int, ngf: int, precision: str, channels_last: str, steps: int) -> list[str]:
    net, bs, load, crop = SIZES[size]
    big = 10**9
    return [f"model.netG={net}", "model.netD=basic", "model.norm=batch", f"model.ngf={ngf}", f"model.ndf={ngf}",
            f"data.batch_size={bs}", "data.preprocess=resize_and_crop", f"data.load_size={load}",
            f"data.crop_size={crop}", f"train.steps={steps}", f"train.precision={precision}",
            f"train.channels_last={channels_last}", "train.progress=false", "train.tensorboard=false",
            "train.val_every=0", f"train.log_every={big}", f"train.sample_every={big}",
            f"train.checkpoint_every={big}"]


def _speed_child(a: dict) -> None:
    """Subprocess: warm up, then time `steps` Trainer steps; print images/s and peak RSS as JSON."""
    from condgen.cli import resolve_config
    from condgen.train import Trainer

    out = Path(tempfile.mkdtemp()) / "run"
    cfg = resolve_config("pix2pix", "edges2photos", None, None, _speed_overrides(
        a["size"], a["ngf"], a["precision"], a["channels_last"], a["warmup"] + a["steps"]))
    print(json.dumps(timed_fit(Trainer(cfg, out), a["warmup"], a["steps"])))


def _flops_child(a: dict) -> None:
    """Subprocess: FLOPs of one fp32 NCHW `training_step` on a real batch, counted by FlopCounterMode."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from condgen.cli import resolve_config
    from condgen.models import get_model_class
    from condgen.runs import load_model_data
    from condgen.train.trainer import seed_everything
    from condgen.train.update import model_batch

    cfg = resolve_config("pix2pix", "edges2photos", None, None,
                         _speed_overrides(a["size"], a["ngf"], "fp32", "false", 1))
    seed_everything(0)
    cls = get_model_class("pix2pix")
    ds = load_model_data(cls, cfg, split="train", train=True)
    batch = torch.utils.data.default_collate([ds[i] for i in range(cfg.data.batch_size)])
    model = cls(cfg.model)
    model.to("cpu")
    model.train_mode(True)
    batch = model_batch(model, batch)
    with FlopCounterMode(display=False) as fc:
        model.training_step(batch)
    by_op = {str(k): int(v) for k, v in fc.get_flop_counts().get("Global", {}).items()}
    params = {k: sum(p.numel() for p in n.parameters()) for k, n in model.nets.items()}
    print(json.dumps({"flops_per_step": int(fc.get_total_flops()), "by_op": by_op, "params": params,
                      "batch": cfg.data.batch_size}))


def _peak_child(a: dict) -> None:
    """Subprocess: best GFLOP/s of n x n torch.mm in bf16 and fp32."""
    import torch

    out: dict = {}
    for name, dtype in (("bf16", torch.bfloat16), ("fp32", torch.float32)):
        per = {}
        for n in a["sizes"]:
            x, y = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
            torch.mm(x, y)  # untimed: oneDNN/BLAS set-up
            best = float("inf")
            for _ in range(a["reps"]):
                t0 = time.perf_counter()
                torch.mm(x, y)
                best = min(best, time.perf_counter() - t0)
            per[str(n)] = 2 * n**3 / best / 1e9
        out[name] = {"gflops_by_size": per, "gflops": max(per.values())}
    out["threads"] = torch.get_num_threads()
    print(json.dumps(out))




def speed(sizes: list[int], ngf: int, repeats: int, steps: int, warmup: int, peak_sizes: list[int],
          peak_reps: int) -> dict:
    """Interleaved runs per size and setting, FLOPs per step, matmul peaks; medians and ratios."""
    peaks = [run_child(__file__, "peak", {"sizes": peak_sizes, "reps": peak_reps})]
    print("matmul peak (before):", {k: round(v["gflops"], 1) for k, v in peaks[0].items() if k != "threads"},
          "GFLOP/s", flush=True)
    flops = {}
    for size in sizes:
        flops[size] = run_child(__file__, "flops", {"size": size, "ngf": ngf})
        print(f"{size}px: {flops[size]['flops_per_step'] / 1e9:.2f} GFLOP/step, params {flops[size]['params']}",
              flush=True)
    runs: dict[int, dict[str, list[dict]]] = {s: {k: [] for k in SETTINGS} for s in sizes}
    for r in range(repeats):
        order = list(SETTINGS) if r % 2 == 0 else list(SETTINGS)[::-1]  # ABBA
        for size in sizes:
            for name in order:
                prec, cl = SETTINGS[name]
                res = run_child(__file__, "speed", {"size": size, "ngf": ngf, "precision": prec, "channels_last": cl,
                                       "steps": steps, "warmup": warmup})
                runs[size][name].append(res)
                print(size, name, res, flush=True)
    peaks.append(run_child(__file__, "peak", {"sizes": peak_sizes, "reps": peak_reps}))
    peak = {d: max(p[d]["gflops"] for p in peaks) for d in ("bf16", "fp32")}
    out: dict = {"settings": {k: {"precision": p, "channels_last": c} for k, (p, c) in SETTINGS.items()},
                 "steps": steps, "warmup": warmup, "repeats": repeats, "ngf": ngf, "peak_runs": peaks,
                 "matmul_peak_gflops": peak, "sizes": {}}
    for size in sizes:
        net, bs, load, crop = SIZES[size]
        fl = flops[size]["flops_per_step"]
        entry: dict = {"netG": net, "batch": bs, "load_size": load, "crop_size": crop, "flops": flops[size],
                       "runs": runs[size], "settings": {}}
        for name, rs in runs[size].items():
            ips = statistics.median(x["images_per_s"] for x in rs)
            gfs = fl * ips / bs / 1e9
            entry["settings"][name] = {
                "images_per_s": ips, "steps_per_s": ips / bs, "achieved_gflops": gfs,
                "frac_bf16_peak": gfs / peak["bf16"], "frac_fp32_peak": gfs / peak["fp32"],
                "peak_rss_mb": max(x["peak_rss_mb"] for x in rs), "dtype": rs[0]["dtype"],
                "channels_last": rs[0]["channels_last"]}
        s = entry["settings"]
        entry["speedup"] = s["default"]["images_per_s"] / s["fp32-nchw"]["images_per_s"]
        out["sizes"][str(size)] = entry
    out["machine"] = machine()
    return out


def speed_table(res: dict) -> str:
    p = res["matmul_peak_gflops"]
    lines = [f"machine: {res['machine']}",
             f"matmul peak: bf16 {p['bf16']:.1f} GFLOP/s, fp32 {p['fp32']:.1f} GFLOP/s "
             f"(best torch.mm; ngf = ndf = {res['ngf']}; medians of {res['repeats']} runs x {res['steps']} steps)", "",
             "| size | batch | setting | dtype | channels_last | images/s | GFLOP/step | achieved GFLOP/s "
             "| % bf16 mm peak | % fp32 mm peak | peak RSS MB |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for size, e in res["sizes"].items():
        fl = e["flops"]["flops_per_step"] / 1e9
        for name, s in e["settings"].items():
            lines.append(f"| {size} ({e['netG']}) | {e['batch']} | {name} | {s['dtype']} | {s['channels_last']} "
                         f"| {s['images_per_s']:.3f} | {fl:.2f} | {s['achieved_gflops']:.1f} "
                         f"| {100 * s['frac_bf16_peak']:.1f} | {100 * s['frac_fp32_peak']:.1f} "
                         f"| {s['peak_rss_mb']:.0f} |")
        lines.append(f"| {size} | | **default / fp32-nchw** | | | **{e['speedup']:.2f}x** | | | | | |")
    return "\n".join(lines)


# ----- ablation -----------------------------------------------------------------------------------
def _luma(x01):
    """BT.601 luminance of N x C x H x W images in [0, 1] (grey images returned as they are)."""
    if x01.shape[1] == 1:
        return x01
    w = x01.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    return (x01 * w).sum(1, keepdim=True)


def grad_magnitude(x01):
    """Per image: mean Sobel gradient magnitude of the luminance (valid convolution), N values."""
    import torch
    from torch.nn import functional as F

    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8
    y = _luma(x01.float())
    gx = F.conv2d(y, kx.view(1, 1, 3, 3))
    gy = F.conv2d(y, kx.t().contiguous().view(1, 1, 3, 3))
    return (gx.square() + gy.square()).sqrt().flatten(1).mean(1)


def hf_fraction(x01, cutoff: float):
    """Per image: fraction of the non-DC power spectrum of the Hann-windowed, mean-removed luminance at radial
    frequencies above ``cutoff`` cycles/pixel."""
    import torch

    y = _luma(x01.float())[:, 0]
    h, w = y.shape[-2:]
    y = y - y.mean((-2, -1), keepdim=True)
    win = torch.hann_window(h, periodic=False)[:, None] * torch.hann_window(w, periodic=False)[None, :]
    power = torch.fft.fft2(y * win).abs().square()
    rho = (torch.fft.fftfreq(h)[:, None].square() + torch.fft.fftfreq(w)[None, :].square()).sqrt()
    hi = (power * (rho > cutoff)).sum((-2, -1))
    return hi / (power * (rho > 0)).sum((-2, -1)).clamp_min(1e-20)


def labels_from_colours(a):
    """Class ids (H x W) of a colour-coded label image (3 x H x W in [-1, 1]): the nearest class colour per pixel
    (a resized label image blends colours at region borders)."""
    import torch

    from condgen.data.builtin_scenes import CLASS_COLOURS

    rgb = ((a.float() + 1) * 127.5).permute(1, 2, 0)[:, :, None, :]
    return ((rgb - torch.tensor(CLASS_COLOURS, dtype=torch.float32)) ** 2).sum(-1).argmin(-1)


def score_test(model, test_ds, seed: int, n_test: int, cutoff: float, keep: int = 6,
               segmenter=None) -> tuple[dict, list]:
    """The paper's test time (dropout on, batch statistics, batch 1, fixed seed) over the test split."""
    import torch
    from torch.nn import functional as F
    from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

    n = len(test_ds) if n_test <= 0 else min(n_test, len(test_ds))
    sums = {"L1": 0.0, "PSNR": 0.0, "SSIM": 0.0, "grad_out": 0.0, "grad_target": 0.0, "hf_out": 0.0,
            "hf_target": 0.0}
    kept = []
    if segmenter is not None:
        from condgen.metrics.segmenter import confusion_matrix, seg_scores

        k = segmenter.num_classes
        conf = {"fcn": torch.zeros(k, k, dtype=torch.int64), "fcn_real": torch.zeros(k, k, dtype=torch.int64)}
    torch.manual_seed(seed)
    for i in range(n):
        item = test_ds[i]
        a, b = item["A"], item["B"].float()
        fake = model.translate(a, eval_mode=False).float().cpu()  # C x H x W in [-1, 1]
        if len(kept) < keep:
            kept.append((a, fake, b))
        if segmenter is not None:  # the paper's FCN-score: a segmenter of real photos run on the outputs
            ids = labels_from_colours(a)[None]
            with torch.no_grad():
                conf["fcn"] += confusion_matrix(segmenter.predict(fake[None]), ids, k)
                conf["fcn_real"] += confusion_matrix(segmenter.predict(b[None]), ids, k)
        x, y = ((fake + 1) / 2)[None], ((b + 1) / 2)[None]
        sums["L1"] += F.l1_loss(fake, b).item()
        sums["PSNR"] += peak_signal_noise_ratio(x, y, data_range=1.0).item()
        sums["SSIM"] += structural_similarity_index_measure(x, y, data_range=1.0).item()
        sums["grad_out"] += grad_magnitude(x).item()
        sums["grad_target"] += grad_magnitude(y).item()
        sums["hf_out"] += hf_fraction(x, cutoff).item()
        sums["hf_target"] += hf_fraction(y, cutoff).item()
    m = {k: v / n for k, v in sums.items()}
    m["sharpness_ratio"] = m["grad_out"] / m["grad_target"]
    m["hf_energy_ratio"] = m["hf_out"] / m["hf_target"]
    m["n_test"] = n
    if segmenter is not None:
        for key, c in conf.items():
            sc = seg_scores(c)
            m[f"{key}_pixel_acc"], m[f"{key}_miou"] = sc["pixel_accuracy"], sc["miou"]
    return m, kept


def fcn_segmenter(model):
    """For labels2scenes, the scenes' evaluation segmenter (trained once on the real scenes64 training images and
    cached, condgen.evaluate.builtin_segmenter) for the paper's FCN-score (table 1); else None."""
    if Path(str(model.run_config.data.path)).name != "labels2scenes" or model.run_config.data.crop_size != 64:
        return None
    from condgen.evaluate import builtin_segmenter
    from condgen.metrics.segmenter import load_segmenter

    return load_segmenter(builtin_segmenter("scenes64"))


def ablation(preset: str, steps: int, seeds: list[int], n_test: int, cutoff: float, extra: list[str],
             grid_path: Path) -> dict:
    """Train each loss variant for the same steps and seeds; score on the test split; save the picture grid."""
    import torch

    import condgen
    from condgen.cli import resolve_config
    from condgen.runs import load_model_data
    from condgen.train import train
    from condgen.train.images import save_grid

    root = Path(tempfile.mkdtemp(prefix="pix2pix_ablation_"))
    out: dict = {"preset": preset, "steps": steps, "seeds": seeds, "hf_cutoff": cutoff, "extra_overrides": extra,
                 "per_seed": {}, "mean": {}, "std": {}, "runs_dir": str(root)}
    grid_rows: dict[str, list] = {}
    for seed in seeds:
        for variant, over in VARIANTS.items():
            run = root / f"{variant.replace('+', '_')}-{seed}"
            cfg = resolve_config("pix2pix", None, None, preset, [
                f"seed={seed}", f"train.steps={steps}", "train.progress=false", "train.tensorboard=false",
                "train.val_every=0", *over, *extra])
            t0 = time.perf_counter()
            train(cfg, run)
            secs = time.perf_counter() - t0
            model = condgen.load(run)
            test_ds = load_model_data(type(model), model.run_config, split="test", train=False)
            m, kept = score_test(model, test_ds, seed, n_test, cutoff, segmenter=fcn_segmenter(model))
            m["train_seconds"] = secs
            out["per_seed"].setdefault(variant, {})[str(seed)] = m
            if seed == seeds[0]:
                grid_rows[variant] = kept
            print(variant, seed, {k: round(v, 4) for k, v in m.items()}, flush=True)
    keys = ["L1", "PSNR", "SSIM", "sharpness_ratio", "hf_energy_ratio", "train_seconds"]
    keys += [k for k in ("fcn_pixel_acc", "fcn_miou", "fcn_real_pixel_acc", "fcn_real_miou") if k in m]
    for variant, per in out["per_seed"].items():
        out["mean"][variant] = {k: statistics.mean(p[k] for p in per.values()) for k in keys}
        out["std"][variant] = {k: statistics.stdev(p[k] for p in per.values()) if len(per) > 1 else 0.0
                               for k in keys}
    first = grid_rows["l1"]
    cells = []
    for i in range(len(first)):
        a, _, b = first[i]
        cells += [a.float().expand(3, -1, -1), *(grid_rows[v][i][1] for v in VARIANTS), b]
    labels = GRID_LABELS + [""] * (len(cells) - len(GRID_LABELS))
    save_grid(torch.stack(cells), grid_path, nrow=len(GRID_LABELS), labels=labels)
    out["grid"] = str(grid_path)
    out["machine"] = machine()
    return out


def ablation_table(res: dict) -> str:
    n = len(res["seeds"])
    first = next(iter(res["per_seed"].values()))
    n_test = next(iter(first.values()))["n_test"]
    lines = [f"machine: {res['machine']}",
             f"preset {res['preset']}, {res['steps']} steps, seeds {res['seeds']}, {n_test} test pairs, "
             f"HF cutoff {res['hf_cutoff']} cycles/px" + (" (mean ± std over seeds)" if n > 1 else ""), "",
             "| loss | L1 ↓ | PSNR ↑ | SSIM ↑ | sharpness (out/target) | HF energy (out/target) | train s |",
             "|---|---|---|---|---|---|---|"]
    fmt = {"L1": ".4f", "PSNR": ".2f", "SSIM": ".4f", "sharpness_ratio": ".3f", "hf_energy_ratio": ".3f",
           "train_seconds": ".0f"}
    for v in VARIANTS:
        mean, std = res["mean"][v], res["std"][v]
        cells = [f"{mean[k]:{f}}" + (f" ± {std[k]:{f}}" if n > 1 and k != "train_seconds" else "")
                 for k, f in fmt.items()]
        lines.append(f"| {v} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ----- CLI ----------------------------------------------------------------------------------------
def main() -> None:
    """CLI of the benchmark."""
    children = {"_speed": _speed_child, "_flops": _flops_child, "_peak": _peak_child}
    if len(sys.argv) > 2 and sys.argv[1] in children:
        children[sys.argv[1]](json.loads(sys.argv[2]))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["speed", "ablation"])
    ap.add_argument("--quick-smoke", action="store_true",
                    help="tiny settings to check the script end to end; outputs go to a temporary folder")
    ap.add_argument("--steps", type=int, default=None, help="timed steps (speed, default 20) or training steps "
                                                             "(ablation, default 1500)")
    ap.add_argument("--tag", default="", help="suffix of the results file name")
    ap.add_argument("--out-dir", type=Path, default=None, help="results folder (default benchmarks/results)")
    sp = ap.add_argument_group("speed")
    sp.add_argument("--repeats", type=int, default=2)
    sp.add_argument("--warmup", type=int, default=3)
    sp.add_argument("--sizes", type=int, nargs="+", default=[256, 128], choices=sorted(SIZES))
    sp.add_argument("--ngf", type=int, default=64, help="ngf = ndf (the paper: 64)")
    sp.add_argument("--peak-sizes", type=int, nargs="+", default=[2048, 3072, 4096])
    sp.add_argument("--peak-reps", type=int, default=3)
    ab = ap.add_argument_group("ablation")
    ab.add_argument("--preset", default="quick")
    ab.add_argument("--seeds", type=int, nargs="+", default=[0])
    ab.add_argument("--n-test", type=int, default=0, help="test pairs to score (0: all 100)")
    ab.add_argument("--hf-cutoff", type=float, default=0.25, help="cycles/pixel")
    ab.add_argument("--set", dest="extra", action="append", default=[], help="extra config override (repeatable)")
    ab.add_argument("--grid", type=Path, default=None, help="default docs/images/pix2pix_ablation.png")
    args = ap.parse_args()

    dest, grid = args.out_dir, args.grid
    if args.quick_smoke:
        tmp = Path(tempfile.mkdtemp(prefix="bench_pix2pix_smoke_"))
        dest, grid = dest or tmp, grid or tmp / "pix2pix_ablation.png"
        if args.what == "speed":
            args.sizes, args.ngf, args.repeats, args.warmup = [64], 8, 1, 1
            args.peak_sizes, args.peak_reps = [256], 2
            args.steps = args.steps or 2
        else:
            args.steps, args.n_test = args.steps or 2, args.n_test or 8
    dest = dest or Path(__file__).parent / "results"
    grid = grid or ROOT / "docs" / "images" / "pix2pix_ablation.png"

    if args.what == "speed":
        res = speed(args.sizes, args.ngf, args.repeats, args.steps or 20, args.warmup, args.peak_sizes,
                    args.peak_reps)
        table = speed_table(res)
    else:
        res = ablation(args.preset, args.steps or 1500, args.seeds, args.n_test, args.hf_cutoff, args.extra, grid)
        table = ablation_table(res)
    print("\n" + table)
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / f"pix2pix_{args.what}{args.tag}.json"
    path.write_text(json.dumps(res, indent=1))
    print(f"\nwrote {path}" + (f" and {res['grid']}" if "grid" in res else ""))


if __name__ == "__main__":
    main()
