"""Semantic image synthesis (SPADE, OASIS, SEAN) on the built-in `scenes64`: the papers' evaluation protocol at
small scale, SEAN's per-region control, diversity across seeds, and training speed at 128 px, in one script.

segmenter: the evaluation segmenter (condgen.metrics.segmenter: a compact U-Net, width 16) trained on the REAL
`scenes64` training images (800, flips) by the repo's script `python -m condgen.metrics.segmenter`; its mIoU on the
real test images (100) is the ceiling of the mIoU column. Weights go to WORK/segmenter.safetensors (+ .json).

quality: each model (its --preset quick networks: ngf = ndf = 16, plain batch norm, no VGG loss; OASIS with the
quick preset's EMA 0.99 and its BN statistics re-estimated on training label maps before evaluation, as the
authors do; its live, non-EMA generator is scored too: "OASIS, live G") trained on `scenes64` for the same
--steps at the same batch (4) and seed, one thread per process, the runs in parallel subprocesses (--jobs), into
WORK/<run> (a finished run is reused, not retrained). All scored at
step --steps on the 100 held-out test label maps (never seen in training), one image per map (seed 0):

- mIoU: the segmenter applied to G(test map), against the test map (one confusion matrix over all test pixels,
  don't-care 255 skipped; classes absent from truth and prediction left out of the mean; condgen.metrics.
  segmenter.mean_iou); also pixel accuracy. "real test images" = the ceiling.
- FID / KID (condgen.metrics.fid) in the segmenter's feature space (penultimate 16-channel map, globally averaged;
  SegmenterFeatures): the 100 generated images against the 800 real TRAINING images; the floor is the 100 real
  test images against the same 800 (same sample sizes, so directly comparable). KID: subsets of 100, 100 subsets.
  16-d features and 100 samples: FID here is a coarse, small-sample number, not comparable with papers' FID.
- SEAN is scored twice: "recon" = styles encoded from the test image itself (the SEAN paper's reconstruction
  protocol: it sees the real photo's per-region styles, which SPADE and OASIS do not), and "mean styles" = every
  class's running-mean code (no access to the test photo). SPADE-VAE (use_vae=true, same steps; at 64 px the
  encoder upsamples its input to encoder_size 256, so no 128 px run is needed) is scored with codes from seed 0.

SEAN region control: for each test map i and each class k covering >= --min-area of it that also appears in the
next test map j = i + 1 (mod N): a = translate(map_i, style_image=photo_i) (reconstruction), b = the same with
region_styles={k: (photo_j, map_j)} (class k's code replaced by photo j's), the same noise seed. d = mean over RGB
of |b - a| on [0, 1]. ratio = (mean d inside region k) / (mean d outside it), pooled over all (i, k) pairs; also
the median of the per-pair ratios, and "outside, >= 4 px away" (the region dilated by 4 px excluded: the 3x3 convs
spread a change a few pixels past its edge).

diversity: for the first --n-div test maps, K = --k-seeds outputs per map under seeds 0..K-1: the mean pairwise
distance between the K outputs, (a) L1 in pixels on [0, 1], (b) L2 between segmenter features. OASIS: 3-D noise
vector per seed; SPADE-VAE: z ~ N(0, I) per seed; SEAN: noise-input seed with mean styles; SPADE (no VAE) has
no noise: the same measure is 0 (computed, not assumed).

Picture: docs/images/semantic_compare.png, rows of colourised test label map | SPADE | OASIS | SEAN (recon) |
real for 4 test maps (seed 0); docs/images/semantic_diversity.png: one map, OASIS and SPADE-VAE under 4 seeds
(cells enlarged x2, nearest neighbour).

speed: training images/s at 128 px on `scenes` (--set overrides apply), each model's quick-preset networks, batch
--speed-batch, fp32 NCHW (train.precision=fp32, train.channels_last=false) vs condgen's default (auto/auto: bf16
autocast + channels_last on CPUs with native bf16, else fp32 NCHW). This machine's CPU has no native bf16, so the
default resolves to fp32 NCHW and the ratio is ~1 by construction (measured anyway). Each setting in its own
process, ABBA over --repeats, --warmup untimed steps, medians; 1-minute load average recorded around each run.

--threads N: torch intra-op threads per process (default 1: on 2 cores shared with other jobs, two OpenMP threads
per process ran ~10x slower per step than one).

    python benchmarks/bench_semantic.py segmenter                       # ~8 min on 2 busy cores (load ~8)
    python benchmarks/bench_semantic.py quality                         # 300 steps: ~13-20 min per run on 2 busy
                                                                        # cores (runs in parallel) + ~4 min scoring
    python benchmarks/bench_semantic.py quality --models spade oasis --no-vae
    python benchmarks/bench_semantic.py speed [--repeats 2 --steps 3 --warmup 1]
    python benchmarks/bench_semantic.py all --quick-smoke               # ~3 min busy: tiny nets, 2 steps, tmp outputs
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

from common import load_avg, machine, run_child, set_threads, timed_fit

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {"fp32-nchw": ("fp32", "false"), "default": ("auto", "auto")}
MODELS = ("spade", "oasis", "sean")
BIG = 10**9
DATA = "scenes64"
# run label -> (model, extra overrides)
RUNS = {"spade": ("spade", []), "oasis": ("oasis", []), "sean": ("sean", []),
        "spade_vae": ("spade", ["model.use_vae=true"])}
SMOKE_NET = {"spade": ["model.ngf=2", "model.ndf=2", "model.spade_hidden=4"],
             "oasis": ["model.ngf=2", "model.ndf=2", "model.spade_hidden=4", "model.z_dim=4"],
             "sean": ["model.ngf=2", "model.ndf=2", "model.spade_hidden=4", "model.style_dim=4",
                      "model.encoder_nf=2"]}






def registered() -> list[str]:
    """The semantic models registered in condgen.models.MODELS."""
    from condgen.models import MODELS as REG

    return [m for m in MODELS if m in REG]


# ----- training (subprocesses) --------------------------------------------------------------------
def _overrides(steps: int, seed: int, extra: list[str]) -> list[str]:
    return [f"seed={seed}", f"train.steps={steps}", "train.progress=false", "train.tensorboard=false",
            "train.val_every=0", f"train.sample_every={steps}", "train.checkpoint_every=100", "data.num_workers=0",
            "train.log_every=20", *extra]


def _train_child(a: dict) -> None:
    """Subprocess: train one run with the quick preset; print its wall seconds as JSON."""
    threads = set_threads(a["threads"])
    from condgen.cli import resolve_config
    from condgen.train import train

    cfg = resolve_config(a["model"], a["data"], None, "quick", _overrides(a["steps"], a["seed"], a["extra"]))
    t0 = time.perf_counter()
    train(cfg, Path(a["run"]))
    print(json.dumps({"train_seconds": time.perf_counter() - t0, "threads": threads}))


def _segmenter_child(a: dict) -> None:
    """Subprocess: train the evaluation segmenter with the repo's script; print its wall seconds as JSON."""
    from condgen.metrics import segmenter as seg

    t0 = time.perf_counter()
    seg.main(["--data", DATA, "--out", a["path"], "--steps", str(a["steps"]), "--threads", str(a["threads"])])
    print(json.dumps({"train_seconds": time.perf_counter() - t0}))


def checkpoint_at(run: Path, steps: int) -> Path | None:
    """The run's checkpoint of step ``steps``, if written."""
    p = run / "checkpoints" / f"step_{steps:07d}.pt"
    return p if p.is_file() else None


def _segmenter_done(work: Path, steps: int) -> bool:
    side = (work / "segmenter.safetensors").with_suffix(".json")
    return side.is_file() and json.loads(side.read_text()).get("steps") == steps


def _reused(work: Path, label: str) -> dict:
    """A finished run's record (wall seconds of its training, from WORK/<label>.done.json when written)."""
    done = work / f"{label}.done.json"
    return {**(json.loads(done.read_text()) if done.is_file() else {}), "reused": True}


def train_runs(labels: list[str], work: Path, steps: int, seed: int, threads: int, jobs: int,
               extra: dict[str, list[str]], seg_steps: int) -> dict[str, dict]:
    """Train the runs (and the segmenter, label "segmenter") that are not done yet, up to ``jobs`` at a time, each
    in its own process and session (so the scheduler gives each its own share, as any separate job); wall seconds
    each."""
    info: dict[str, dict] = {}
    todo = []
    for label in labels:
        run = work / label
        if label == "segmenter":
            if _segmenter_done(work, seg_steps):
                info[label] = _reused(work, label)
            else:
                todo.append(label)
        elif checkpoint_at(run, steps):
            info[label] = _reused(work, label)
            print(f"{label}: reusing {run} (checkpoint at step {steps})", flush=True)
        else:
            todo.append(label)
    running: list[tuple[str, subprocess.Popen, Path]] = []
    while todo or running:
        while todo and len(running) < jobs:
            label = todo.pop(0)
            run = work / label
            if label == "segmenter":
                kind, args = "_segmenter", {"path": str(work / "segmenter.safetensors"), "steps": seg_steps,
                                            "threads": threads}
            else:
                model, over = RUNS[label]
                if run.exists():  # an unfinished run: start it again from scratch
                    import shutil

                    shutil.rmtree(run)
                kind, args = "_train", {"model": model, "data": DATA, "steps": steps, "seed": seed,
                                        "threads": threads, "run": str(run), "extra": [*over, *extra.get(model, [])]}
            log = work / f"{label}.log"
            proc = subprocess.Popen([sys.executable, __file__, kind, json.dumps(args)], stdout=subprocess.PIPE,
                                    stderr=open(log, "w"), text=True, start_new_session=True)
            running.append((label, proc, log))
            what = f"{seg_steps} steps -> {work / 'segmenter.safetensors'}" if label == "segmenter" else \
                f"{steps} steps -> {run}"
            print(f"{label}: training {what} (log {log}), load {load_avg()}", flush=True)
        time.sleep(2)
        for item in list(running):
            label, proc, log = item
            if proc.poll() is None:
                continue
            running.remove(item)
            out = proc.stdout.read()
            if proc.returncode != 0:
                sys.stderr.write(log.read_text()[-3000:])
                raise SystemExit(f"training {label} failed (log {log})")
            info[label] = {"reused": False, **json.loads(out.strip().splitlines()[-1])}
            (work / f"{label}.done.json").write_text(json.dumps(info[label]) + "\n")
            print(f"{label}: done in {info[label]['train_seconds']:.0f} s, load {load_avg()}", flush=True)
    return info


# ----- segmenter ----------------------------------------------------------------------------------
def segmenter(work: Path, steps: int, threads: int, force: bool = False) -> dict:
    """Train (or reuse) the evaluation segmenter on the real scenes64 training images; its test scores."""
    from condgen.metrics import segmenter as seg

    path = work / "segmenter.safetensors"
    side = path.with_suffix(".json")
    if force or not side.is_file() or json.loads(side.read_text()).get("steps") != steps:
        seg.main(["--data", DATA, "--out", str(path), "--steps", str(steps), "--threads", str(threads)])
    meta = json.loads(side.read_text())
    return {"weights": str(path), **meta, "machine": machine(), "load_avg": load_avg()}


# ----- quality ------------------------------------------------------------------------------------
def _mean_pairwise(t) -> float:
    """Mean over pairs of rows: L1 (mean |.|) for images, L2 norm for feature vectors."""
    import torch

    k = t.shape[0]
    d = torch.stack([(t[i] - t[j]).flatten() for i in range(k) for j in range(i + 1, k)])
    return d.abs().mean().item() if t.dim() > 2 else d.norm(dim=1).mean().item()


def _load(run: Path, steps: int, train_maps, ema: bool = True):
    """The model at step ``steps`` (OASIS: BN statistics of the EMA generator re-estimated on training maps)."""
    import condgen

    model = condgen.load(run, checkpoint=checkpoint_at(run, steps), ema=ema)
    model.train_mode(False)
    if model.run_config.model_name == "oasis" and ema:
        model.reestimate_bn(model._bn_batches(train_maps), seed=0)
    return model


def _generate(model, label: str, maps, images, seed: int = 0):
    """One image per label map (batches of 25): SEAN "recon" uses each map's own photo, "mean" the mean codes."""
    import torch

    outs = []
    for k in range(0, maps.shape[0], 25):
        m, x = maps[k:k + 25], images[k:k + 25]
        if label == "sean_recon":
            codes = model.encode_styles(x, m)
            y = model.generate(m, style_matrix=codes, seed=seed)
        elif label == "sean_mean":
            y = model.generate(m, seed=seed)
        else:
            y = model.generate(m, seed=seed)
        outs.append(y.float().cpu().clamp(-1, 1))
    return torch.cat(outs)


def _region_control(model, maps, images, min_area: float, n_maps: int, seed: int = 0) -> dict:
    """SEAN: replace one class's style code by another photo's; |change| inside vs outside that class's region."""
    import torch
    from torch.nn import functional as F

    n = maps.shape[0]
    rows = []
    sums = {"in": 0.0, "n_in": 0, "out": 0.0, "n_out": 0, "far": 0.0, "n_far": 0}
    for i in range(min(n, n_maps)):
        j = (i + 1) % n
        mi, mj = maps[i], maps[j]
        base = ((model.translate(mi, style_image=images[i], seed=seed).float().clamp(-1, 1) + 1) / 2)
        area = torch.bincount(mi.flatten()[mi.flatten() != 255], minlength=model.cfg.label_nc).float() / mi.numel()
        for k in range(model.cfg.label_nc):
            if area[k] < min_area or area[k] > 1 - min_area or not bool((mj == k).any()):
                continue
            swap = model.translate(mi, style_image=images[i], region_styles={k: (images[j], mj)}, seed=seed)
            d = ((swap.float().clamp(-1, 1) + 1) / 2 - base).abs().mean(0)
            inside = mi == k
            near = F.max_pool2d(inside[None, None].float(), 9, stride=1, padding=4)[0, 0] > 0
            far = ~near
            r = {"map": i, "class": k, "area": float(area[k]), "in": d[inside].mean().item(),
                 "out": d[~inside].mean().item(), "far": d[far].mean().item() if far.any() else None}
            r["ratio"] = r["in"] / max(r["out"], 1e-12)
            rows.append(r)
            sums["in"] += d[inside].sum().item()
            sums["n_in"] += int(inside.sum())
            sums["out"] += d[~inside].sum().item()
            sums["n_out"] += int((~inside).sum())
            sums["far"] += d[far].sum().item()
            sums["n_far"] += int(far.sum())
    mean_in, mean_out = sums["in"] / max(1, sums["n_in"]), sums["out"] / max(1, sums["n_out"])
    mean_far = sums["far"] / max(1, sums["n_far"])
    return {"pairs": len(rows), "mean_abs_change_inside": mean_in, "mean_abs_change_outside": mean_out,
            "mean_abs_change_outside_4px": mean_far, "ratio": mean_in / max(mean_out, 1e-12),
            "ratio_4px": mean_in / max(mean_far, 1e-12),
            "median_pair_ratio": statistics.median(r["ratio"] for r in rows) if rows else None,
            "min_area": min_area, "n_maps": min(n, n_maps), "per_pair": rows}


def _diversity(model, label: str, maps, feats, n_div: int, k: int) -> tuple[dict, list]:
    """Mean pairwise pixel L1 and feature L2 of K seeded outputs per map, over the first n_div maps."""
    import torch

    pix, feat, first = [], [], None
    for i in range(min(n_div, maps.shape[0])):
        m = maps[i:i + 1].expand(k, -1, -1)
        if label == "spade_vae":
            z = torch.cat([model.sample_z(1, s) for s in range(k)])
            outs = model.generate(m, z=z)
        elif label == "oasis":
            z = torch.cat([model.sample_z(1, s) for s in range(k)])
            outs = model.generate(m, z=z)
        else:  # spade: no noise; sean: noise-input seeds, mean styles
            outs = torch.cat([model.generate(maps[i:i + 1], seed=s) for s in range(k)])
        outs = outs.float().cpu().clamp(-1, 1)
        pix.append(_mean_pairwise((outs + 1) / 2))
        with torch.no_grad():
            feat.append(_mean_pairwise(feats(outs)))
        if i == 0:
            first = outs
    return {"pixel_L1": statistics.mean(pix), "feature_L2": statistics.mean(feat), "n_maps": len(pix),
            "k_seeds": k}, first


def quality(models: list[str], vae: bool, work: Path, steps: int, seg_steps: int, seed: int, threads: int,
            jobs: int, n_div: int, k_seeds: int, min_area: float, n_region: int, smoke: bool, images_dir: Path,
            extra: dict[str, list[str]]) -> dict:
    """Train (or reuse) the runs, then mIoU / FID / KID in segmenter space, SEAN region control, diversity."""
    import torch

    from condgen.metrics.fid import extract_features, fid_from_features, kid_from_features
    from condgen.metrics.segmenter import SegmenterFeatures, confusion_matrix, load_segmenter, load_split, seg_scores
    from condgen.nn.labels import colorize
    from condgen.train.images import save_grid

    threads = set_threads(threads)
    out: dict = {"data": DATA, "steps": steps, "batch": 4, "seed": seed, "threads": threads, "work_dir": str(work),
                 "load_avg": {"start": load_avg()}, "models": {}, "train": {}}
    avail = registered()
    missing = [m for m in models if m not in avail]
    if missing:
        out["not_registered"] = missing
        print(f"not registered in condgen.models (skipped): {missing}", flush=True)
    models = [m for m in models if m in avail]
    labels = [*models, *(["spade_vae"] if vae and "spade" in models else [])]
    out["train"] = train_runs(["segmenter", *labels], work, steps, seed, threads, jobs, extra, seg_steps)
    seg_info = segmenter(work, seg_steps, threads)
    out["segmenter"] = {k: seg_info[k] for k in ("weights", "steps", "width", "test_miou", "test_pixel_accuracy",
                                                 "train_seconds")}

    net = load_segmenter(work / "segmenter.safetensors")
    feats = SegmenterFeatures(net)
    names = seg_info.get("class_names") or None
    x_tr, y_tr, _ = load_split(DATA, "train")
    x_te, y_te, _ = load_split(DATA, "test")
    f_train = extract_features(x_tr, feats)
    n_kid = min(100, x_te.shape[0])

    def scores(images) -> dict:
        conf = confusion_matrix(net.predict(images), y_te, net.num_classes)
        f = extract_features(images, feats)
        kid, kid_std, size = kid_from_features(f_train, f, subset_size=n_kid, seed=0)
        return {**seg_scores(conf, names), "fid": fid_from_features(f_train, f), "kid": kid, "kid_std": kid_std,
                "kid_subset": size, "n": int(images.shape[0])}

    out["models"]["real test images"] = scores(x_te)
    print("real test images (ceiling / floor):", _short(out["models"]["real test images"]), flush=True)
    generated: dict = {}
    loaded: dict = {}
    for label in labels:
        loaded[label] = _load(work / label, steps, y_tr)
        evals = ["sean_recon", "sean_mean"] if label == "sean" else [label]
        for ev in evals:
            t0 = time.perf_counter()
            with torch.no_grad():
                imgs = _generate(loaded[label], ev, y_te, x_te, seed=0)
            generated[ev] = imgs
            out["models"][ev] = {**scores(imgs), "eval_seconds": time.perf_counter() - t0,
                                 "steps_done": loaded[label].step}
            print(ev, _short(out["models"][ev]), flush=True)
        if label == "oasis" and "G" in loaded[label].ema:
            # the live generator too: the quick preset's EMA (0.99) is part of OASIS's recipe, but at a few hundred
            # steps an average of the last ~100 steps' weights may lag behind
            live = _load(work / label, steps, y_tr, ema=False)
            t0 = time.perf_counter()
            with torch.no_grad():
                imgs = _generate(live, label, y_te, x_te, seed=0)
            out["models"]["oasis_live"] = {**scores(imgs), "eval_seconds": time.perf_counter() - t0,
                                           "steps_done": live.step}
            print("oasis_live", _short(out["models"]["oasis_live"]), flush=True)

    if "sean" in loaded:
        rc = _region_control(loaded["sean"], y_te, x_te, min_area, n_region)
        out["sean_region_control"] = rc
        print("SEAN region control:", {k: v for k, v in rc.items() if k != "per_pair"}, flush=True)

    out["diversity"] = {}
    div_pics = {}
    for label in labels:
        d, first = _diversity(loaded[label], label, y_te, feats, n_div, k_seeds)
        out["diversity"][label] = d
        div_pics[label] = first
        print("diversity", label, d, flush=True)

    # pictures
    rows = [0, 1, 2, 3] if not smoke else [0]
    cols = [("label map", None), ("SPADE", "spade"), ("OASIS", "oasis"), ("SEAN (recon)", "sean_recon"),
            ("real", "real")]
    cols = [(t, k) for t, k in cols if k in (None, "real") or k in generated]
    cells = []
    lab = colorize(y_te[rows], net.num_classes)
    for r, i in enumerate(rows):
        for _, k in cols:
            cells.append(lab[r] if k is None else x_te[i] if k == "real" else generated[k][i])
    images_dir.mkdir(parents=True, exist_ok=True)
    grid = images_dir / "semantic_compare.png"
    save_grid(_x2(torch.stack(cells)), grid, nrow=len(cols),
              labels=[t for t, _ in cols] + [""] * (len(cells) - len(cols)))
    out["grid"], out["grid_test_maps"] = str(grid), rows
    div_rows = [(lbl, p) for lbl, p in div_pics.items() if lbl in ("oasis", "spade_vae")]
    if div_rows:
        cells, tl = [], []
        for lbl, p in div_rows:
            cells += [colorize(y_te[:1], net.num_classes)[0], *p[:4]]
            tl += [f"{lbl}: map"] + [f"seed {s}" for s in range(min(4, p.shape[0]))]
        path = images_dir / "semantic_diversity.png"
        save_grid(_x2(torch.stack(cells)), path, nrow=1 + min(4, div_rows[0][1].shape[0]), labels=tl)
        out["diversity_picture"] = str(path)
    out["load_avg"]["end"] = load_avg()
    out["machine"] = machine()
    return out


def _x2(x):
    """Pictures: 64 px cells enlarged x2 (nearest neighbour), so the corner labels cover less of them."""
    from torch.nn import functional as F

    return F.interpolate(x.float(), scale_factor=2, mode="nearest")


def _short(m: dict) -> dict:
    return {k: round(m[k], 4) for k in ("miou", "pixel_accuracy", "fid", "kid") if k in m}


LABELS = {"real test images": "real test images (ceiling / floor)", "spade": "SPADE", "oasis": "OASIS",
          "oasis_live": "OASIS, live G (no EMA)",
          "sean_recon": "SEAN, recon (test photo's styles)", "sean_mean": "SEAN, mean styles",
          "spade_vae": "SPADE-VAE (z from seed 0)"}


def quality_table(res: dict) -> str:
    s = res["segmenter"]
    lines = [f"machine: {res['machine']}; {res['threads']} thread(s) per process; load average start "
             f"{res['load_avg']['start']}, end {res['load_avg']['end']}",
             f"`{res['data']}` 64 px, each model its quick preset's networks, {res['steps']} steps at batch "
             f"{res['batch']}, seed {res['seed']}; 100 held-out test maps, one image each (seed 0). Segmenter: "
             f"U-Net width {s['width']}, {s['steps']} steps on the real training images; its real-test mIoU "
             f"{s['test_miou']:.3f}. FID/KID: segmenter features (16-d), generated (100) vs real train (800)", "",
             "| images | mIoU ↑ | pixel acc. ↑ | FID (seg. features) ↓ | KID ×100 ↓ | train s |",
             "|---|---|---|---|---|---|"]
    for label, m in res["models"].items():
        run = label.split("_")[0] if label.startswith(("sean", "oasis")) else label
        tr = res["train"].get(run, {})
        secs = f"{tr['train_seconds']:.0f}" if "train_seconds" in tr else ("reused" if tr else "-")
        lines.append(f"| {LABELS.get(label, label)} | {m['miou']:.3f} | {m['pixel_accuracy']:.3f} | {m['fid']:.3f} "
                     f"| {100 * m['kid']:.3f} ± {100 * m['kid_std']:.3f} | {secs} |")
    if "sean_region_control" in res:
        rc = res["sean_region_control"]
        lines += ["", f"SEAN region control ({rc['pairs']} (map, class) pairs from {rc['n_maps']} test maps): "
                      f"mean |Δ| inside the restyled region "
                      f"{rc['mean_abs_change_inside']:.4f}, outside {rc['mean_abs_change_outside']:.4f} "
                      f"(>= 4 px away {rc['mean_abs_change_outside_4px']:.4f}); ratio **{rc['ratio']:.1f}** "
                      f"(>= 4 px away {rc['ratio_4px']:.1f}; median per pair {rc['median_pair_ratio']:.1f})"]
    if res.get("diversity"):
        lines += ["", "| diversity over seeds | pixel L1 | segmenter-feature L2 |", "|---|---|---|"]
        for label, d in res["diversity"].items():
            what = {"spade": "SPADE (no noise input)", "oasis": "OASIS (3-D noise vector per seed)",
                    "sean": "SEAN (noise-input seed, mean styles)", "spade_vae": "SPADE-VAE (z per seed)"}
            lines.append(f"| {what.get(label, label)}, {d['n_maps']} maps x {d['k_seeds']} seeds "
                         f"| {d['pixel_L1']:.4f} | {d['feature_L2']:.4f} |")
    return "\n".join(lines)


# ----- speed --------------------------------------------------------------------------------------
def _speed_child(a: dict) -> None:
    """Subprocess: warm up, then time Trainer steps of one model at 128 px; print images/s as JSON."""
    threads = set_threads(a["threads"])
    from condgen.cli import resolve_config
    from condgen.train import Trainer

    out = Path(tempfile.mkdtemp()) / "run"
    cfg = resolve_config(a["model"], "scenes", None, "quick", [
        f"data.batch_size={a['batch']}", f"data.load_size={a['size']}", f"data.crop_size={a['size']}",
        f"train.steps={a['warmup'] + a['steps']}", f"train.precision={a['precision']}",
        f"train.channels_last={a['channels_last']}", "train.progress=false", "train.tensorboard=false",
        "train.val_every=0", "data.num_workers=0", f"train.log_every={BIG}", f"train.sample_every={BIG}",
        f"train.checkpoint_every={BIG}", *a["extra"]])
    res = timed_fit(Trainer(cfg, out), a["warmup"], a["steps"])
    print(json.dumps({**res, "threads": threads}))




def speed(models: list[str], size: int, batch: int, repeats: int, steps: int, warmup: int, threads: int,
          extra: dict[str, list[str]]) -> dict:
    """ABBA fp32-NCHW / default runs per model; medians and ratios."""
    avail = registered()
    skipped = [m for m in models if m not in avail]
    models = [m for m in models if m in avail]
    runs = {m: {k: [] for k in SETTINGS} for m in models}
    for r in range(repeats):
        order = list(SETTINGS) if r % 2 == 0 else list(SETTINGS)[::-1]
        for m in models:
            for name in order:
                prec, cl = SETTINGS[name]
                res = run_child(__file__, "speed", {"model": m, "size": size, "batch": batch, "precision": prec,
                                                    "channels_last": cl, "steps": steps, "warmup": warmup,
                                                    "threads": threads, "extra": extra.get(m, [])}, record_load=True)
                runs[m][name].append(res)
                print(m, name, {k: res[k] for k in ("images_per_s", "dtype", "channels_last", "load_avg_after")},
                      flush=True)
    out: dict = {"data": "scenes", "size": size, "batch": batch, "steps": steps, "warmup": warmup,
                 "repeats": repeats, "threads": threads, "runs": runs, "models": {}, "not_registered": skipped}
    for m in models:
        med = {k: statistics.median(x["images_per_s"] for x in v) for k, v in runs[m].items()}
        rss = {k: max(x["peak_rss_mb"] for x in v) for k, v in runs[m].items()}
        resolved = {k: f"{v[0]['dtype']}, channels_last {v[0]['channels_last']}" for k, v in runs[m].items()}
        out["models"][m] = {"images_per_s": med, "peak_rss_mb": rss, "speedup": med["default"] / med["fp32-nchw"],
                            "resolved": resolved}
    loads = [x[k][0] for m in models for v in runs[m].values() for x in v
             for k in ("load_avg_before", "load_avg_after") if x[k]]
    out["load_avg_1min_range"] = [min(loads), max(loads)] if loads else []
    out["machine"] = machine()
    return out


def speed_table(res: dict) -> str:
    lines = [f"machine: {res['machine']}; 1-minute load average {res['load_avg_1min_range']} (min, max) around the "
             f"runs; {res['threads']} thread(s) per process",
             f"`{res['data']}` {res['size']} px, batch {res['batch']}, quick-preset networks; medians of "
             f"{res['repeats']} runs x {res['steps']} timed steps after {res['warmup']} warm-up; default resolved to: "
             + "; ".join(f"{m} {e['resolved']['default']}" for m, e in res["models"].items())
             + " (dtype None = no autocast, fp32)", "",
             "| model | fp32 NCHW images/s | default images/s | default / fp32 | peak RSS MB (fp32 / default) |",
             "|---|---|---|---|---|"]
    for m, e in res["models"].items():
        ips, rss = e["images_per_s"], e["peak_rss_mb"]
        lines.append(f"| {m} | {ips['fp32-nchw']:.3f} | {ips['default']:.3f} | **{e['speedup']:.2f}x** "
                     f"| {rss['fp32-nchw']:.0f} / {rss['default']:.0f} |")
    return "\n".join(lines)


# ----- CLI ----------------------------------------------------------------------------------------
def main() -> None:
    """CLI of the benchmark."""
    children = {"_train": _train_child, "_speed": _speed_child, "_segmenter": _segmenter_child}
    if len(sys.argv) > 2 and sys.argv[1] in children:
        children[sys.argv[1]](json.loads(sys.argv[2]))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["segmenter", "quality", "speed", "all"])
    ap.add_argument("--quick-smoke", action="store_true", help="tiny settings, outputs in a temporary folder")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads per process (0: torch's default)")
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    ap.add_argument("--work-dir", type=Path, default=Path(tempfile.gettempdir()) / "bench_semantic",
                    help="runs and the segmenter's weights; finished runs found here are reused")
    ap.add_argument("--out-dir", type=Path, default=None, help="results folder (default benchmarks/results)")
    ap.add_argument("--images-dir", type=Path, default=None, help="pictures (default docs/images)")
    ap.add_argument("--tag", default="", help="suffix of the results file names")
    ap.add_argument("--set", dest="extra", action="append", default=[], help="extra override for every model")
    sg = ap.add_argument_group("segmenter")
    sg.add_argument("--seg-steps", type=int, default=800, help="segmenter training steps (batch 8)")
    qa = ap.add_argument_group("quality")
    qa.add_argument("--steps", type=int, default=300, help="training steps of every model (equal budget)")
    qa.add_argument("--seed", type=int, default=0)
    qa.add_argument("--jobs", type=int, default=4, help="training runs in parallel")
    qa.add_argument("--no-vae", action="store_true", help="skip the SPADE-VAE run (diversity)")
    qa.add_argument("--n-div", type=int, default=20, help="test maps for the diversity measure")
    qa.add_argument("--k-seeds", type=int, default=8, help="seeds per map for the diversity measure")
    qa.add_argument("--n-region", type=int, default=100, help="test maps for SEAN's region control")
    qa.add_argument("--min-area", type=float, default=0.02, help="smallest region (share of the map) restyled")
    sp = ap.add_argument_group("speed")
    sp.add_argument("--repeats", type=int, default=2, help="ABBA: 2 = A B B A")
    sp.add_argument("--speed-steps", type=int, default=3, help="timed steps per process")
    sp.add_argument("--warmup", type=int, default=1)
    sp.add_argument("--speed-batch", type=int, default=1)
    args = ap.parse_args()

    dest, images, work = args.out_dir, args.images_dir, args.work_dir
    tiny: dict[str, list[str]] = {m: list(args.extra) for m in MODELS}
    if args.quick_smoke:
        tmp = Path(tempfile.mkdtemp(prefix="bench_semantic_smoke_"))
        dest, images, work = dest or tmp, images or tmp, tmp / "work"
        args.steps, args.seg_steps, args.n_div, args.k_seeds, args.repeats, args.n_region = 2, 2, 2, 2, 1, 3
        args.speed_steps, args.warmup = 1, 1
        tiny = {m: [*SMOKE_NET[m], *args.extra] for m in MODELS}
    dest = dest or Path(__file__).parent / "results"
    images = images or ROOT / "docs" / "images"
    dest.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    set_threads(args.threads)
    jobs = ["segmenter", "quality", "speed"] if args.what == "all" else [args.what]
    for job in jobs:
        if job == "segmenter":
            res = segmenter(work, args.seg_steps, args.threads)
            table = (f"segmenter ({res['steps']} steps, {res['train_seconds']:.0f} s): real test mIoU "
                     f"{res['test_miou']:.4f}, pixel accuracy {res['test_pixel_accuracy']:.4f}, train mIoU "
                     f"{res['train_miou']:.4f}; per class {res['test_iou']}")
        elif job == "quality":
            res = quality(args.models, not args.no_vae, work, args.steps, args.seg_steps, args.seed, args.threads,
                          args.jobs, args.n_div, args.k_seeds, args.min_area, args.n_region, args.quick_smoke,
                          images, tiny)
            table = quality_table(res)
        else:
            res = speed(args.models, 128 if not args.quick_smoke else 64, args.speed_batch, args.repeats,
                        args.speed_steps, args.warmup, args.threads, tiny)
            table = speed_table(res)
        print("\n" + table + "\n", flush=True)
        path = dest / f"semantic_{job}{args.tag}.json"
        path.write_text(json.dumps(res, indent=1) + "\n")
        print(f"wrote {path}", flush=True)


if __name__ == "__main__":
    main()
