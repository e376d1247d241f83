"""Inference latency of exported generators: PyTorch eager (fp32) vs onnxruntime (CPU, fp32), one image.

For each generator of the papers' size (random weights: latency does not depend on them) the script writes the
ONNX file with condgen's exporter (condgen.export, the same path as `condgen export`), checks it against PyTorch
(max |difference|), then times one image through both, alternating the two runtimes for --repeats rounds of
--iters calls after a warm-up; medians in ms. Both use the same number of threads (--threads, default torch's).

    python benchmarks/bench_export.py [--repeats 5 --iters 5]
    python benchmarks/bench_export.py --quick-smoke      # tiny networks, seconds
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
from common import machine

ROOT = Path(__file__).resolve().parents[1]

# name: (model, model overrides, spatial size of the example input)
CASES = {
    "pix2pix unet_256 (256 px)": ("pix2pix", {}, 256),
    "cyclegan resnet_9blocks (256 px)": ("cyclegan", {}, 256),
    "srresnet x4 (64 -> 256 px)": ("srresnet", {}, 64),
    "dcgan 64 px": ("dcgan", {}, None),
}
SMOKE = {
    "pix2pix unet_64 ngf 8 (64 px)": ("pix2pix", {"netG": "unet_64", "ngf": 8, "ndf": 8}, 64),
    "srresnet x4 ngf 8 (16 -> 64 px)": ("srresnet", {"n_blocks": 2, "ngf": 8}, 16),
}


def _spec(model_name: str, overrides: dict, size: int | None):
    from condgen.models import get_model_class
    from condgen.runs import build_config

    cfg = build_config(model_name, {"model": overrides})
    model = get_model_class(model_name).for_inference(cfg.model)
    model.train_mode(False)
    return model.export_spec(size=size)


def bench_case(model_name: str, overrides: dict, size: int | None, repeats: int, iters: int) -> dict:
    import onnxruntime as ort

    from condgen.export import ExportSpec, _to_onnx

    spec: ExportSpec = _spec(model_name, overrides, size)
    spec.module.eval().requires_grad_(False)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "g.onnx"
        _to_onnx(spec, path, model_name)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = torch.get_num_threads()  # the same thread count as PyTorch
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        feeds = {n: t.numpy() for n, t in zip(spec.input_names, spec.inputs)}
        with torch.inference_mode():
            ref = spec.module(*spec.inputs)
        diff = float((torch.from_numpy(sess.run(None, feeds)[0]) - ref).abs().max())

        def eager() -> None:
            with torch.inference_mode():
                spec.module(*spec.inputs)

        def onnx() -> None:
            sess.run(None, feeds)

        for fn in (eager, onnx, eager, onnx):  # warm-up
            fn()
        times: dict[str, list[float]] = {"eager": [], "onnxruntime": []}
        for r in range(repeats):
            order = (("eager", eager), ("onnxruntime", onnx)) if r % 2 == 0 else (("onnxruntime", onnx),
                                                                                 ("eager", eager))
            for key, fn in order:
                t0 = time.perf_counter()
                for _ in range(iters):
                    fn()
                times[key].append((time.perf_counter() - t0) / iters * 1000)
        size_mb = path.stat().st_size / 1e6
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"ms": med, "runs_ms": times, "speedup_onnxruntime": med["eager"] / med["onnxruntime"],
            "max_abs_diff": diff, "onnx_mb": size_mb,
            "inputs": {n: list(t.shape) for n, t in zip(spec.input_names, spec.inputs)}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--quick-smoke", action="store_true")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--threads", type=int, default=0, help="threads for both runtimes (0: torch's default)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    cases = SMOKE if a.quick_smoke else CASES
    repeats, iters = (2, 2) if a.quick_smoke else (a.repeats, a.iters)
    results = {"machine": machine(), "threads": torch.get_num_threads(), "load_avg": os.getloadavg(), "cases": {}}
    for name, (model_name, overrides, size) in cases.items():
        r = bench_case(model_name, overrides, size, repeats, iters)
        results["cases"][name] = r
        print(f"{name:36s} eager {r['ms']['eager']:8.1f} ms   onnxruntime {r['ms']['onnxruntime']:8.1f} ms   "
              f"x{r['speedup_onnxruntime']:.2f}   max diff {r['max_abs_diff']:.1e}", flush=True)
    out = a.out or (Path(tempfile.gettempdir()) / "export_latency.json" if a.quick_smoke
                    else ROOT / "benchmarks" / "results" / "export_latency.json")
    out.write_text(json.dumps(results, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
