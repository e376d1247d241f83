"""Perceptual-loss style transfer (Johnson, Alahi & Fei-Fei 2016): the trained feed-forward network against the
input and the Gatys et al. 2016 optimisation, on the same losses and held-out photographs; and their speed.

ALL LOSSES HERE USE A RANDOM-WEIGHT VGG-16 (model.vgg_weights=random: torchvision's init, seed 0), NOT ImageNet
VGG-16: the ImageNet file (vgg16-397923af.pth) is not on this machine and nothing is downloaded. Random VGG
features are a weaker (but non-trivial) texture descriptor; the absolute loss values are on a different scale
from ImageNet VGG's and are only comparable between the rows of one run. The JSON records `vgg_weights`.

quality: train (or reuse, --run) a style network with `--preset quick` (the paper's network and losses, batch 4,
Adam 1e-3, style builtin:hubble at 96 px) + model.vgg_weights=random, data.crop_size=--crop (default 64, the
preset's 96 costs ~3x more per step on this busy CPU), train.steps=--steps (120), fp32, seed --seed. Then, on the
held-out `photos` test split (Chelsea the cat and the flower, never in training), each image's shorter side
resized to --eval-size and the centre square taken (condgen.data.content, eval mode), for

    input     the content image itself
    network   model.generate(content): one forward pass of the trained network
    Gatys     condgen.stylize.optimize_image: --gatys-steps L-BFGS iterations (strong-Wolfe line search) on the
              pixels, started from --gatys-init (noise: Gatys et al.; content), on the same PerceptualLoss (same
              random VGG, same style Grams, same weights content 1e5 / style 1e10 / TV 1e-6), clamped to [-1, 1]

the unweighted terms of condgen.models.style.PerceptualLoss against the run's style image (its style_image at
its style_size, the Gram targets the network was trained on):

- style loss  = sum over relu1_2, relu2_2, relu3_3, relu4_3 of mean((G(out) - G(style))^2), G = F F^T / (C H W)
- content loss = mean((phi_relu2_2(out) - phi_relu2_2(content))^2)
- total = 1e5 x content + 1e10 x style + 1e-6 x TV (TV on 0-255 pixels, per image): the objective both minimise

averaged over the test photographs (per-image values in the JSON). Time per image: the network's forward pass
(median of --reps after one untimed call) and the Gatys run's wall time (L-BFGS iterations only; the number of
loss evaluations is recorded), in this one process with --threads torch threads (default 1: on this shared,
oversubscribed CPU one thread ran tiny convs ~10x faster than two). The picture docs/images/style_grid.png has
one row per test photograph: style image (centre square, resized) | content | network | Gatys.

speed: at each of --sizes (square, random content), the network's forward time (median of --reps) and the Gatys
time per L-BFGS iteration measured over --speed-iters iterations (untrained network and the same random VGG: the
cost does not depend on the weights); the Gatys time per image is that x --gatys-steps (extrapolated, labelled
so). The paper (Table 1, GPU): Gatys 300 iterations vs the network, ~1000x at 256-1024 px.

    python benchmarks/bench_style.py quality                   # ~20 min on 2 busy cores (load ~9, 1 thread)
    python benchmarks/bench_style.py quality --run RUN         # reuse a trained run (its config is recorded)
    python benchmarks/bench_style.py speed --sizes 128 256
    python benchmarks/bench_style.py all --quick-smoke         # ~1 min: tiny net, 2 steps, tmp outputs
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import warnings
from pathlib import Path

from common import load_avg, machine
from common import set_threads as _threads

ROOT = Path(__file__).resolve().parents[1]
BIG = 10**9
VGG_NOTE = "random-weight VGG16, not ImageNet"
GRID_LABELS = ["style", "content", "network", "Gatys"]
TERMS = ("style", "content", "tv", "total")


def _quiet() -> None:
    warnings.filterwarnings("ignore", message=r"VGGFeatures\('vgg16'\) with random weights")


def train_overrides(steps: int, crop: int, seed: int) -> list[str]:
    """The overrides of --preset quick used for the benchmark's network."""
    return ["model.vgg_weights=random", f"data.crop_size={crop}", f"seed={seed}", f"train.steps={steps}",
            "train.precision=fp32", "train.progress=false", "train.tensorboard=false", "train.val_every=0",
            f"train.sample_every={BIG}", f"train.checkpoint_every={steps}", "data.num_workers=0"]


def _terms(loss, y, content) -> dict[str, float]:
    import torch

    with torch.no_grad():
        return {k: float(v) for k, v in loss(y, content).items()}


def _time_network(model, x, reps: int) -> float:
    """Median seconds of model.generate(x) over ``reps`` calls after one untimed call."""
    model.generate(A=x)
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        model.generate(A=x)
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def _style_cell(style, size: int):
    """The style image's centre square resized to size x size (for the picture)."""
    from torch.nn import functional as F

    h, w = style.shape[-2:]
    c = min(h, w)
    sq = style[..., (h - c) // 2:(h - c) // 2 + c, (w - c) // 2:(w - c) // 2 + c]
    return F.interpolate(sq, size=(size, size), mode="bicubic", align_corners=False).clamp(-1, 1)[0]


def quality(run: Path | None, steps: int, crop: int, seed: int, threads: int, eval_size: int, gatys_steps: int,
            gatys_init: str, reps: int, smoke: bool, grid_path: Path) -> dict:
    """Train (or load) the network; score input / network / Gatys on the held-out photos; time; picture."""
    import torch

    import condgen
    from condgen.data.content import load_content
    from condgen.models.style import PerceptualLoss, load_style_image
    from condgen.stylize import optimize_image
    from condgen.train.images import save_grid

    _quiet()
    threads = _threads(threads)
    out: dict = {"vgg_weights": "random", "vgg_note": VGG_NOTE, "threads": threads, "eval_size": eval_size,
                 "gatys_steps": gatys_steps, "gatys_init": gatys_init, "load_avg": {"start": load_avg()}}
    if run is None:
        from condgen.cli import resolve_config
        from condgen.train import train

        run = Path(tempfile.mkdtemp(prefix="bench_style_")) / "style"
        tiny = ["model.ngf=8", "model.n_blocks=1", "model.style_size=32", "data.load_size=48"] if smoke else []
        over = [*train_overrides(steps, crop, seed), *tiny]
        cfg = resolve_config("style", "photos", None, "quick", over)
        t0 = time.perf_counter()
        train(cfg, run)
        out["train_seconds"] = time.perf_counter() - t0
        out["train_overrides"] = ["--preset quick", "--style (preset) builtin:hubble", *over]
        print(f"trained {steps} steps in {out['train_seconds']:.0f} s, load {load_avg()}", flush=True)
    else:
        out["train_seconds"] = None  # trained elsewhere: see the run's config (recorded below) and log
    model = condgen.load(run)
    rc = model.run_config
    mc = model.cfg
    if mc.vgg_weights != "random":
        raise SystemExit(f"{run} was trained with model.vgg_weights={mc.vgg_weights}; this benchmark compares "
                         "against the random-weight VGG16 (the ImageNet file is not here).")
    out["run"] = str(run)
    out["train"] = {"checkpoint_step": int(model.step), "steps": rc.train.steps, "crop_size": rc.data.crop_size,
                    "load_size": rc.data.load_size,
                    "batch_size": rc.data.batch_size, "style_image": mc.style_image, "style_size": mc.style_size,
                    "ngf": mc.ngf, "n_blocks": mc.n_blocks, "lr": mc.lr, "seed": rc.seed,
                    "weights": {"content": mc.content_weight, "style": mc.style_weight, "tv": mc.tv_weight}}
    style = load_style_image(mc.style_image, mc.style_size)
    loss = PerceptualLoss.from_config(mc)
    loss.set_style(style)
    test = load_content("photos", split="test", crop_size=eval_size, load_size=eval_size, train=False)
    rows, cells = [], []
    for i in range(len(test)):
        item = test[i]
        x = item["image"][None].float()
        y = model.generate(A=x).clamp(-1, 1)
        t_net = _time_network(model, x, reps)
        res = optimize_image(x, style, steps=gatys_steps, init=gatys_init, seed=seed, loss=loss)
        row = {"image": Path(item["path"]).name, "size": list(x.shape[-2:]),
               "input": _terms(loss, x, x), "network": _terms(loss, y, x), "gatys": _terms(loss, res.image, x),
               "gatys_start": res.initial, "network_seconds": t_net, "gatys_seconds": res.seconds,
               "gatys_evaluations": len(res.history)}
        rows.append(row)
        cells += [_style_cell(style, eval_size), x[0], y[0], res.image[0]]
        print(f"{row['image']}: style in/net/gatys {row['input']['style']:.3g} / {row['network']['style']:.3g} / "
              f"{row['gatys']['style']:.3g}; content net/gatys {row['network']['content']:.3g} / "
              f"{row['gatys']['content']:.3g}; network {t_net * 1e3:.1f} ms, Gatys {res.seconds:.1f} s "
              f"({len(res.history)} evaluations); load {load_avg()}  [{VGG_NOTE}]", flush=True)
    n = len(rows)
    out["mean"] = {m: {k: sum(r[m][k] for r in rows) / n for k in TERMS} for m in ("input", "network", "gatys")}
    net_s = statistics.mean(r["network_seconds"] for r in rows)
    gat_s = statistics.mean(r["gatys_seconds"] for r in rows)
    out["seconds_per_image"] = {"network": net_s, "gatys": gat_s, "ratio": gat_s / net_s}
    out["per_image"] = rows
    grid_path.parent.mkdir(parents=True, exist_ok=True)
    labels = [*GRID_LABELS, *[""] * (len(cells) - len(GRID_LABELS))]
    save_grid(torch.stack(cells), grid_path, nrow=len(GRID_LABELS), labels=labels)
    out["grid"] = str(grid_path)
    out["load_avg"]["end"] = load_avg()
    out["machine"] = machine()
    return out


def quality_table(res: dict) -> str:
    t, m, s = res["train"], res["mean"], res["seconds_per_image"]
    secs = "" if res["train_seconds"] is None else f", {res['train_seconds']:.0f} s"
    n = len(res["per_image"])
    lines = [f"machine: {res['machine']}; {res['threads']} torch thread(s); load average start "
             f"{res['load_avg']['start']}, end {res['load_avg']['end']}",
             f"VGG-16 weights: RANDOM ({VGG_NOTE}); network: step {t['checkpoint_step']} (of {t['steps']}), "
             f"batch {t['batch_size']} of "
             f"{t['crop_size']} px crops (images resized to {t['load_size']}), style {t['style_image']} at "
             f"{t['style_size']} px{secs}; {n} held-out photographs, centre {res['eval_size']} px squares; Gatys "
             f"{res['gatys_steps']} L-BFGS iterations from {res['gatys_init']}", "",
             f"| image | style loss ({VGG_NOTE}) ↓ | content loss relu2_2 ({VGG_NOTE}) ↓ | total (1e5 c + 1e10 s "
             f"+ 1e-6 TV) ↓ | seconds / image |", "|---|---|---|---|---|"]
    times = {"input": "-", "network": f"{s['network']:.4f}", "gatys": f"{s['gatys']:.1f}"}
    names = {"input": "input (content itself)", "network": "network (feed-forward)",
             "gatys": f"Gatys (L-BFGS x {res['gatys_steps']})"}
    for k in ("input", "network", "gatys"):
        lines.append(f"| {names[k]} | {m[k]['style']:.4g} | {m[k]['content']:.4g} | {m[k]['total']:.4g} "
                     f"| {times[k]} |")
    lines.append(f"| **Gatys / network time** | | | | **{s['ratio']:.0f}x** |")
    return "\n".join(lines)


def speed(sizes: list[int], threads: int, iters: int, gatys_steps: int, reps: int, smoke: bool) -> dict:
    """Network forward vs Gatys L-BFGS time at each size, same process and threads."""
    import torch

    from condgen.models.style import PerceptualLoss, StyleConfig, StyleTransfer, load_style_image
    from condgen.stylize import optimize_image

    _quiet()
    threads = _threads(threads)
    cfg = StyleConfig(style_image="builtin:hubble", vgg_weights="random")
    if smoke:
        cfg.ngf, cfg.n_blocks = 8, 1
    torch.manual_seed(0)
    model = StyleTransfer.for_inference(cfg)
    loss = PerceptualLoss.from_config(cfg)
    out: dict = {"vgg_weights": "random", "vgg_note": VGG_NOTE, "threads": threads, "speed_iters": iters,
                 "gatys_steps": gatys_steps, "net": {"ngf": cfg.ngf, "n_blocks": cfg.n_blocks},
                 "load_avg": {"start": load_avg()}, "sizes": {}}
    for size in sizes:
        gen = torch.Generator().manual_seed(size)
        x = torch.rand(1, 3, size, size, generator=gen) * 2 - 1
        style = load_style_image("builtin:hubble", size)
        t_net = _time_network(model, x, reps)
        res = optimize_image(x, style, steps=iters, init="noise", loss=loss)
        per_iter = res.seconds / iters
        out["sizes"][str(size)] = {"network_seconds": t_net, "gatys_seconds_per_iter": per_iter,
                                   "gatys_evaluations_per_iter": len(res.history) / iters,
                                   "gatys_seconds_extrapolated": per_iter * gatys_steps,
                                   "ratio_extrapolated": per_iter * gatys_steps / t_net, "load": load_avg()}
        print(f"{size} px: network {t_net * 1e3:.1f} ms, Gatys {per_iter:.2f} s/iteration "
              f"({len(res.history) / iters:.2f} evaluations/iteration) -> x{gatys_steps} = "
              f"{per_iter * gatys_steps:.0f} s; ratio {per_iter * gatys_steps / t_net:.0f}x  [{VGG_NOTE}]",
              flush=True)
    out["load_avg"]["end"] = load_avg()
    out["machine"] = machine()
    return out


def speed_table(res: dict) -> str:
    lines = [f"machine: {res['machine']}; {res['threads']} torch thread(s); load average start "
             f"{res['load_avg']['start']}, end {res['load_avg']['end']}",
             f"network: ngf {res['net']['ngf']}, {res['net']['n_blocks']} blocks (untrained; the cost does not depend "
             f"on the weights); Gatys: {VGG_NOTE}, s/iteration over {res['speed_iters']} L-BFGS iterations, "
             f"x {res['gatys_steps']} = extrapolated", "",
             f"| size | network s / image | Gatys s / iteration | Gatys s / image (x {res['gatys_steps']}, "
             "extrapolated) | ratio |", "|---|---|---|---|---|"]
    for size, r in res["sizes"].items():
        lines.append(f"| {size} x {size} | {r['network_seconds']:.4f} | {r['gatys_seconds_per_iter']:.3f} "
                     f"| {r['gatys_seconds_extrapolated']:.0f} | {r['ratio_extrapolated']:.0f}x |")
    return "\n".join(lines)


# ----- CLI ----------------------------------------------------------------------------------------
def main() -> None:
    """CLI of the benchmark."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["quality", "speed", "all"])
    ap.add_argument("--quick-smoke", action="store_true",
                    help="tiny settings to check the script end to end; outputs go to a temporary folder")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1, see the docstring)")
    ap.add_argument("--tag", default="", help="suffix of the results file names")
    ap.add_argument("--out-dir", type=Path, default=None, help="results folder (default benchmarks/results)")
    ap.add_argument("--gatys-steps", type=int, default=100, help="L-BFGS iterations of the Gatys optimisation")
    ap.add_argument("--reps", type=int, default=5, help="timed network forward passes (median)")
    qa = ap.add_argument_group("quality")
    qa.add_argument("--run", type=Path, default=None, help="a trained style run to score instead of training one")
    qa.add_argument("--steps", type=int, default=120, help="training steps (quick preset: 200 at 96 px crops)")
    qa.add_argument("--crop", type=int, default=64, help="training crop size (quick preset: 96)")
    qa.add_argument("--seed", type=int, default=0)
    qa.add_argument("--eval-size", type=int, default=128, help="side of the held-out centre squares")
    qa.add_argument("--gatys-init", choices=["noise", "content"], default="noise")
    qa.add_argument("--grid", type=Path, default=None, help="default docs/images/style_grid.png")
    sp = ap.add_argument_group("speed")
    sp.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    sp.add_argument("--speed-iters", type=int, default=5, help="timed L-BFGS iterations per size")
    args = ap.parse_args()

    dest, grid = args.out_dir, args.grid
    if args.quick_smoke:
        tmp = Path(tempfile.mkdtemp(prefix="bench_style_smoke_"))
        dest, grid = dest or tmp, grid or tmp / "style_grid.png"
        args.steps, args.crop, args.eval_size, args.gatys_steps, args.reps = 2, 32, 32, 2, 2
        args.sizes, args.speed_iters = [32], 2
    dest = dest or Path(__file__).parent / "results"
    grid = grid or ROOT / "docs" / "images" / "style_grid.png"
    dest.mkdir(parents=True, exist_ok=True)

    if args.what in ("quality", "all"):
        res = quality(args.run, args.steps, args.crop, args.seed, args.threads, args.eval_size, args.gatys_steps,
                      args.gatys_init, args.reps, args.quick_smoke, grid)
        print("\n" + quality_table(res))
        path = dest / f"style_quality{args.tag}.json"
        path.write_text(json.dumps(res, indent=1))
        print(f"\nwrote {path} and {res['grid']}\n")
    if args.what in ("speed", "all"):
        res = speed(args.sizes, args.threads, args.speed_iters, args.gatys_steps, args.reps, args.quick_smoke)
        print("\n" + speed_table(res))
        path = dest / f"style_speed{args.tag}.json"
        path.write_text(json.dumps(res, indent=1))
        print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
