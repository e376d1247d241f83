"""Video translation: flicker with and without stabilisation, fidelity and throughput, on a synthetic clip.

The model: pix2pix trained briefly in this script (the quick preset's networks: U-Net 64, ngf = ndf = 32, batch
4, 72 -> 64 px crops; --steps) on the built-in ``gray2color`` pairs (colourise a grey photo), in a temporary
folder, one torch thread. No EMA (train.ema_decay 0, the default), so "stable" below is fixed noise (the same
dropout masks for every frame).

The clip: two shots cut from the *held-out* test photographs (chelsea, then flower; the model never saw them),
--frames frames at 12 fps, --size x --size px. Shot 1 (2/3 of the frames) is a slow pan with a 10 % zoom over
chelsea, shot 2 a pan over flower, so there is one hard scene cut. Each frame is cut from the colour photo with
subpixel precision (PIL bicubic with a float box): the colour frames are the ground truth, the model's input is
their luminance (PIL "L", stored as R = G = B, the way gray2color's A side is), written losslessly (x264 CRF 0).

Each condition translates that grey clip with ``condgen.video.translate_video`` (default encoder, CRF 18), in its
own pass, and reports:

- flicker_in / flicker_out: mean |frame_t - frame_{t-1}| in grey levels (0..255) over all pixels, channels and
  consecutive pairs (``condgen.metrics.temporal``); the output is measured before encoding. ratio = out / in.
  The cut pair is included in both.
- flicker ratio of the ground truth: the colour frames against the grey input, i.e. what a perfect colouriser
  would score (a stable output is not expected to reach 0: the content moves).
- L1 to truth: mean |decoded output - colour frame| in grey levels, and PSNR (dB) on the same, over all frames.
- cut ghost: mean |output - the same mode's output without blending| on the first frame after the cut, in grey
  levels: what the previous shot leaks into the new one through flow blending (None without blending).
- frames/s: whole pipeline (decode, model, blending, metrics, encode) from the stats; batch size in the table.

Conditions: paper (``--no-stable``: dropout on, fresh noise per frame, batch statistics, one frame per forward),
stable (``--stable``, the default: the run's test mode, here the paper's dropout and batch statistics, with the
same dropout masks for every frame), the same + flow blend 0.5, eval (``--stable --eval``: no dropout, running BN
statistics, 8 frames per forward), eval + flow blend 0.5 and 0.8 (``--flow-blend``), and the 0.5 blend with its
confidence mask switched off (m = 1 wherever the flow stays in the frame: FLOW_ERROR_CUTOFF = inf), an ablation
for the mask.

    python benchmarks/bench_video.py                  # 800 training steps, 48 frames at 128 px
    python benchmarks/bench_video.py --quick-smoke    # seconds: 5 steps, 12 frames, nothing written to results/
    python benchmarks/bench_video.py --run /tmp/v     # keep (or reuse) the trained run
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))


def cpu_flags() -> str:
    try:
        flags = next(ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("flags")).split()
    except (OSError, StopIteration):
        return "unknown"
    have = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_tile") if f in flags]
    return ", ".join(have) or "no AVX2"


def make_clip(n: int, size: int) -> tuple[list[np.ndarray], list[np.ndarray], int]:
    """(colour frames, grey frames as RGB, index of the first frame after the cut)."""
    from PIL import Image

    from condgen.data.builtin_paired import _load_photo

    cut = (2 * n) // 3
    frames = []
    cat = Image.fromarray(_load_photo("chelsea"))  # 451 x 300
    flower = Image.fromarray(_load_photo("flower"))  # 640 x 427
    for t in range(n):
        if t < cut:
            u = t / max(1, cut - 1)
            side = 300 * (0.62 - 0.062 * u)  # 10 % zoom in
            x0, y0 = 40 + 90 * u, 20 + 15 * u  # slow pan (~2.5 source px per frame at 48 frames)
            img, box = cat, (x0, y0, x0 + side, y0 + side)
        else:
            u = (t - cut) / max(1, n - cut - 1)
            side = 300.0
            x0, y0 = 60 + 50 * u, 60
            img, box = flower, (x0, y0, x0 + side, y0 + side)
        frames.append(np.asarray(img.resize((size, size), Image.Resampling.BICUBIC, box=box)))
    grey = [np.repeat(np.asarray(Image.fromarray(f).convert("L"))[..., None], 3, axis=2) for f in frames]
    return frames, grey, cut


def write_lossless(path: Path, frames: list[np.ndarray], fps: int = 12) -> None:
    import imageio.v2 as iio

    w = iio.get_writer(str(path), format="FFMPEG", fps=fps, codec="libx264", pixelformat="yuv444p",
                       macro_block_size=1, output_params=["-crf", "0"], ffmpeg_log_level="error")
    for f in frames:
        w.append_data(f)
    w.close()


def train_model(out: Path, steps: int, smoke: bool) -> float:
    from condgen.cli import resolve_config
    from condgen.train import train

    ngf = 8 if smoke else 32
    over = ["model.netG=unet_64", f"model.ngf={ngf}", f"model.ndf={ngf}", "data.batch_size=4",
            "data.preprocess=resize_and_crop", "data.load_size=72", "data.crop_size=64", f"train.steps={steps}",
            "train.lr_schedule=linear", "train.lr_decay_start=0.5", "train.val_every=0", "train.sample_every=100000",
            f"train.checkpoint_every={steps}", "train.precision=fp32", "train.progress=false",
            "train.tensorboard=false"]
    t0 = time.perf_counter()
    train(resolve_config("pix2pix", "gray2color", None, None, over), out)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=800)
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--quick-smoke", action="store_true")
    ap.add_argument("--run", type=Path, default=None,
                    help="use this run folder (trained into it first when it has no checkpoint), not a temporary one")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "video.json")
    args = ap.parse_args()
    if args.quick_smoke:
        args.steps, args.frames, args.size = 5, 12, 64

    import torch

    torch.set_num_threads(1)
    from common import machine

    import condgen
    import condgen.video as video
    import condgen.video.flow as flow
    from condgen.video import open_video, translate_video

    load_start = os.getloadavg()
    result: dict = {"command": " ".join(["python", "benchmarks/bench_video.py", *sys.argv[1:]]),
                    "machine": machine(), "cpu_flags": cpu_flags(), "torch_threads": 1,
                    "load_average_start": load_start, "steps": args.steps, "frames": args.frames, "size": args.size,
                    "fps": 12}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run = args.run or tmp / "run"
        if not (run / "checkpoints" / "last.pt").is_file():
            result["train_seconds"] = train_model(run, args.steps, args.quick_smoke)
        model = condgen.load(run)
        result["model_step"] = model.step
        colour, grey, cut = make_clip(args.frames, args.size)
        src = tmp / "grey.mp4"
        write_lossless(src, grey)
        with open_video(src) as r:
            decoded_in = list(r)
        assert len(decoded_in) == args.frames

        from condgen.metrics.temporal import flicker, flicker_ratio

        result["cut_index"] = cut
        result["truth"] = {"flicker_in": flicker(decoded_in), "flicker_out": flicker(colour),
                           "flicker_ratio": flicker_ratio(colour, decoded_in)}
        conditions = {
            "paper (--no-stable)": dict(stable=False),
            "stable (--stable, default: fixed dropout masks)": dict(stable=True),
            "stable + flow blend 0.5": dict(stable=True, flow_blend=0.5),
            "eval (--stable --eval)": dict(stable=True, eval_mode=True),
            "eval + flow blend 0.5": dict(stable=True, eval_mode=True, flow_blend=0.5),
            "eval + flow blend 0.8": dict(stable=True, eval_mode=True, flow_blend=0.8),
            "eval + flow blend 0.5, no confidence mask": dict(stable=True, eval_mode=True, flow_blend=0.5,
                                                              _no_mask=True),
        }
        rows = {}
        outputs = {}
        for name, kw in conditions.items():
            kw = dict(kw)
            cutoff = flow.FLOW_ERROR_CUTOFF
            if kw.pop("_no_mask", False):
                flow.FLOW_ERROR_CUTOFF = math.inf
            try:
                stats = translate_video(model, src, tmp / "out.mp4", progress=False, **kw)
            finally:
                flow.FLOW_ERROR_CUTOFF = cutoff
            with open_video(tmp / "out.mp4") as r:
                out = [f.astype(np.float64) for f in r]
            outputs[name] = out
            err = np.mean([np.abs(o - c).mean() for o, c in zip(out, colour)])
            mse = np.mean([((o - c) ** 2).mean() for o, c in zip(out, colour)])
            rows[name] = {k: stats[k] for k in ("flicker_in", "flicker_out", "flicker_ratio", "frames_per_second",
                                                "seconds", "batch_size", "frames", "size")}
            rows[name].update({"l1_to_truth": float(err), "psnr_to_truth": float(10 * np.log10(255 ** 2 / mse))})
            print(f"{name:48s} flicker {stats['flicker_out']:6.2f} / {stats['flicker_in']:.2f} = "
                  f"{stats['flicker_ratio']:.3f}   L1 {err:5.2f}   {stats['frames_per_second']:5.1f} frames/s",
                  flush=True)
        for name, out in outputs.items():  # against the same mode without blending; None without blending
            mode = {k: conditions[name].get(k) for k in ("stable", "eval_mode")}
            base = next((b for b, kw in conditions.items() if "flow_blend" not in kw
                         and {k: kw.get(k) for k in mode} == mode), None)
            if "flow_blend" in conditions[name] and base is not None:
                rows[name]["cut_ghost"] = float(np.abs(out[cut] - outputs[base][cut]).mean())
            else:
                rows[name]["cut_ghost"] = None
        result["conditions"] = rows
    result["load_average_end"] = os.getloadavg()
    ffmpeg = subprocess.run([video.ffmpeg_exe(), "-version"], capture_output=True, text=True).stdout.split("\n")[0]
    result["ffmpeg"] = ffmpeg
    print(json.dumps(result, indent=1))
    if not args.quick_smoke:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
