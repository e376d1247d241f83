"""The papers' claims, each reproduced at its quick preset's FULL budget and scored on held-out data only (issue 18).

    python benchmarks/claims.py                       # every row, one after another (about 2 h on 2 idle cores)
    python benchmarks/claims.py cyclegan srresnet     # some rows (a model name selects its row)
    python benchmarks/claims.py --table               # only rewrite RESULTS.md's table from claims.json

Each row trains what it needs with `--preset quick` (the presets' own steps, never cut), in its own process, then
scores on the test split (photographs, label maps, faces and crops never seen in training) with the scoring code of
the family's benchmark script (bench_*.py, whose docstrings define every number). The parent records for each row
the wall time, the machine (lscpu model name, avx512_bf16 / amx flags, torch threads) and the 1-minute load average
at start and end, and writes

- benchmarks/results/claims.json  (rows merged by name, so one row can be re-run alone),
- the table between the `claims` markers in benchmarks/RESULTS.md (claim · paper · measured · holds?),
- the pictures in docs/images/ (each row names its own).

Measure on an otherwise idle machine: a row whose start load average is above 1.5 is flagged "busy" in the table.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
RESULTS = HERE / "results" / "claims.json"
TABLE = HERE / "RESULTS.md"
IMAGES = ROOT / "docs" / "images"
START, END = "<!-- claims:start -->", "<!-- claims:end -->"
QUIET = ["train.progress=false", "train.tensorboard=false"]

ROWS = ["cgan", "dcgan", "pix2pix", "cyclegan", "unit_munit", "sr", "style", "semantic", "anonymizer", "video"]
ALIASES = {"unit": "unit_munit", "munit": "unit_munit", "srresnet": "sr", "srgan": "sr", "spade": "semantic",
           "oasis": "semantic", "sean": "semantic"}


# ----- helpers --------------------------------------------------------------------------------------
def machine() -> dict:
    """CPU model name and the flags that decide CPU speed, torch version and threads."""
    import torch

    flags, name = set(), platform.processor()
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                name = line.split(":", 1)[1].strip()
            if line.startswith("Flags:"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return {"cpu": name, "cores": os.cpu_count(), "avx512_bf16": "avx512_bf16" in flags,
            "amx": "amx_tile" in flags, "avx512f": "avx512f" in flags, "torch": torch.__version__,
            "torch_threads": torch.get_num_threads()}


def train_quick(model: str, run: Path, seed: int = 0, extra: list[str] | None = None, data: str | None = None) -> float:
    """Train ``model`` with its quick preset's full budget into ``run``; wall seconds."""
    from condgen.cli import resolve_config
    from condgen.train import train

    cfg = resolve_config(model, data, None, "quick", [f"seed={seed}", *QUIET, *(extra or [])])
    t0 = time.perf_counter()
    train(cfg, run)
    return time.perf_counter() - t0


def condgen_cli(*args: str) -> None:
    """Run a `condgen` command in a child process (as a user types it); raise with its output if it fails."""
    res = subprocess.run([sys.executable, "-m", "condgen", *args], capture_output=True, text=True)
    if res.returncode:
        raise RuntimeError(f"condgen {' '.join(args)} failed:\n{res.stdout}\n{res.stderr}")


def steps_of(run: Path) -> int:
    import condgen

    return int(condgen.load(run).step)


# ----- rows -------------------------------------------------------------------------------------------
def row_cgan(work: Path) -> dict:
    from condgen.evaluate import evaluate_run

    run = work / "cgan"
    secs = train_quick("cgan", run)
    r = evaluate_run(run, n=2000)
    pic = IMAGES / "cgan_digits.png"
    condgen_cli("sample", str(run), "--n", "100", "--seed", "0", "--out", str(pic))
    acc = r["class_accuracy"]
    return {"claim": "samples follow the class they are asked for", "paper": "Mirza & Osindero 2014",
            "bar": "class accuracy ≥ 0.95 (shipped digit classifier); FID beside the real floor",
            "measured": f"class accuracy **{acc:.3f}**; FID {r['fid']:.2f} (real floor {r['fid_floor']:.2f}), "
                        "digit-classifier features, 2,000 samples",
            "holds": acc >= 0.95, "seeds": [0], "steps": {"cgan": steps_of(run)}, "train_seconds": secs,
            "numbers": {k: r[k] for k in ("class_accuracy", "fid", "fid_floor", "kid") if k in r},
            "pictures": [str(pic.relative_to(ROOT))]}


def _ink(imgs):
    """Mean stroke brightness above the background (digits are light strokes on a dark ground)."""
    x = (imgs.float().clamp(-1, 1) + 1) / 2
    return x.mean(dim=(1, 2, 3))


def dcgan_arithmetic(run: Path, path: Path, n: int = 1024) -> dict:
    """DCGAN sec. 6 on digits, measured: mean code of 3 bold X - 3 thin X + 3 thin Y should give a bold Y.

    X, Y: the two classes with the most confidently classified samples among ``n`` codes (seed 0); bold / thin =
    the highest / lowest ink (mean brightness). Nine results (the sum plus small noise, as `condgen sample
    --arithmetic`) are classified and their ink compared with the thin-Y inputs and with all confident Ys."""
    import torch

    import condgen
    from condgen import latent
    from condgen.metrics.classifier import load_digit_classifier, to_grey32
    from condgen.train.images import save_grid

    model = condgen.load(run)
    codes = latent.codes_for_seed(model, 0, n)
    with torch.no_grad():
        imgs = torch.cat([model.generate(z=codes[i:i + 256]).cpu().float() for i in range(0, n, 256)])
        clf = load_digit_classifier()
        prob = torch.cat([clf(to_grey32(imgs[i:i + 256])).softmax(1) for i in range(0, n, 256)])
    conf, cls = prob.max(1)
    ink = _ink(imgs)
    ok = conf > 0.9
    counts = torch.bincount(cls[ok], minlength=10)
    x_cls, y_cls = [int(c) for c in counts.argsort(descending=True)[:2]]
    xs = [int(i) for i in torch.nonzero(ok & (cls == x_cls)).flatten()]
    ys = [int(i) for i in torch.nonzero(ok & (cls == y_cls)).flatten()]
    xs.sort(key=lambda i: float(ink[i]))
    ys.sort(key=lambda i: float(ink[i]))
    bold_x, thin_x, thin_y = xs[-3:], xs[:3], ys[:3]
    terms = [(1, bold_x), (-1, thin_x), (1, thin_y)]
    result = latent.arithmetic_code(codes, terms)
    z = latent.arithmetic_variants(result, 9, 0.25 * float(codes.std()), torch.Generator().manual_seed(0))
    with torch.no_grad():
        res = model.generate(z=z).cpu().float()
        res_cls = clf(to_grey32(res)).argmax(1)
    cells = [imgs[i] for i in bold_x] + [imgs[i] for i in thin_x] + [imgs[i] for i in thin_y] + list(res)
    labels = [f"bold {x_cls}", "", "", f"- thin {x_cls}", "", "", f"+ thin {y_cls}", "", "", "= result", "", ""]
    big = torch.nn.functional.interpolate(torch.stack(cells), scale_factor=3, mode="nearest")  # 32 px is tiny
    save_grid(big, path, nrow=3, labels=labels + [""] * (len(cells) - len(labels)))
    return {"classes": [x_cls, y_cls], "bold_x": bold_x, "thin_x": thin_x, "thin_y": thin_y,
            "result_share_classified_y": float((res_cls == y_cls).float().mean()),
            "ink_result": float(_ink(res).mean()), "ink_thin_y_inputs": float(ink[thin_y].mean()),
            "ink_all_confident_y": float(ink[ys].mean()), "ink_bold_x_inputs": float(ink[bold_x].mean()),
            "ink_thin_x_inputs": float(ink[thin_x].mean())}


def row_dcgan(work: Path) -> dict:
    from condgen.evaluate import evaluate_run

    run = work / "dcgan"
    secs = train_quick("dcgan", run)
    r = evaluate_run(run, n=2000)
    walk, numbered, arith = IMAGES / "dcgan_walk.png", IMAGES / "dcgan_numbered.png", IMAGES / "dcgan_arithmetic.png"
    condgen_cli("sample", str(run), "--n", "64", "--seed", "0", "--interpolate", "3,17,42,3", "--out", str(walk))
    condgen_cli("sample", str(run), "--n", "64", "--seed", "0", "--numbered", "--out", str(numbered))
    a = dcgan_arithmetic(run, arith)
    x, y = a["classes"]
    arith_ok = a["result_share_classified_y"] >= 0.5 and a["ink_result"] > a["ink_thin_y_inputs"]
    return {"claim": "a smooth latent space (walks) and vector arithmetic on codes", "paper": "Radford et al. 2015",
            "bar": "a walk and an arithmetic grid; digit-classifier FID ≤ 8",
            "measured": f"FID **{r['fid']:.2f}** (real floor {r['fid_floor']:.2f}); arithmetic bold {x} − thin {x} + "
                        f"thin {y}: {a['result_share_classified_y']:.0%} of results read as {y}, ink "
                        f"{a['ink_result']:.3f} vs thin-{y} inputs {a['ink_thin_y_inputs']:.3f} (all {y}s "
                        f"{a['ink_all_confident_y']:.3f}) — {'bolder' if arith_ok else 'not bolder'}",
            "holds": r["fid"] <= 8.0 and arith_ok, "seeds": [0], "steps": {"dcgan": steps_of(run)},
            "train_seconds": secs, "numbers": {"fid": r["fid"], "fid_floor": r["fid_floor"], "arithmetic": a},
            "pictures": [str(p.relative_to(ROOT)) for p in (walk, walk.with_suffix(".gif"), numbered, arith)]}


def row_pix2pix(work: Path) -> dict:
    import bench_pix2pix as bp

    bp.VARIANTS = {"l1": bp.VARIANTS["l1"], "l1+cgan": bp.VARIANTS["l1+cgan"]}
    bp.GRID_LABELS = ["input", "L1", "L1+cGAN", "target"]
    seeds = [0, 1, 2]
    pic = IMAGES / "pix2pix_ablation.png"
    res = bp.ablation("quick", steps_quick("pix2pix"), seeds, 0, 0.25, [], pic)
    l1, both = res["mean"]["l1"], res["mean"]["l1+cgan"]
    per = res["per_seed"]
    holds = (l1["sharpness_ratio"] <= 0.7 and 0.8 <= both["sharpness_ratio"] <= 1.25
             and both["L1"] <= 1.15 * l1["L1"])
    sd = res["std"]
    return {"claim": "L1 alone blurs; L1 + cGAN is sharp and stays on target", "paper": "Isola et al. 2017, table 1",
            "bar": "L1-only sharpness ≤ 0.7; L1+cGAN sharpness 0.8–1.25 with L1 error ≤ 1.15 × L1-only's; 3 seeds",
            "measured": f"sharpness L1 **{l1['sharpness_ratio']:.2f}** ± {sd['l1']['sharpness_ratio']:.2f}, "
                        f"L1+cGAN **{both['sharpness_ratio']:.2f}** ± {sd['l1+cgan']['sharpness_ratio']:.2f}; "
                        f"L1 error {l1['L1']:.3f} vs {both['L1']:.3f} (× {both['L1'] / l1['L1']:.2f}); "
                        "mean ± sd of 3 seeds, 100 held-out pairs",
            "holds": holds, "seeds": seeds, "steps": {"pix2pix (each of 6 runs)": res["steps"]},
            "train_seconds": sum(p["train_seconds"] for v in per.values() for p in v.values()),
            "numbers": {"mean": res["mean"], "std": res["std"], "per_seed": per},
            "pictures": [str(pic.relative_to(ROOT))]}


def steps_quick(model: str) -> int:
    from condgen.cli import resolve_config

    return resolve_config(model, None, None, "quick", []).train.steps


def row_cyclegan(work: Path) -> dict:
    import bench_unpaired as bu

    pic = IMAGES / "cyclegan_photo2tone.png"
    res = bu.photo2tone("quick", None, 0, [], pic)
    p, n = res["variants"]["identity 0.5 (paper)"], res["variants"]["no identity"]
    both = p["err_AtoB"] <= 0.5 * p["identity_AtoB"] and p["err_BtoA"] <= 0.5 * p["identity_BtoA"]
    worse = n["err_AtoB"] > p["err_AtoB"] and n["err_BtoA"] > p["err_BtoA"]
    return {"claim": "recovers an unpaired mapping; the identity loss keeps the colours",
            "paper": "Zhu et al. 2017, sec. 5.2",
            "bar": "photo2tone error to the true mapping ≤ 0.5 × no translation's, both directions; without the "
                   "identity loss worse",
            "measured": f"A→B **{p['err_AtoB']:.3f}** vs no translation {p['identity_AtoB']:.3f} "
                        f"(× {p['err_AtoB'] / p['identity_AtoB']:.2f}); B→A **{p['err_BtoA']:.3f}** vs "
                        f"{p['identity_BtoA']:.3f} (× {p['err_BtoA'] / p['identity_BtoA']:.2f}); without identity "
                        f"loss {n['err_AtoB']:.3f} / {n['err_BtoA']:.3f}; 100 held-out crops",
            "holds": both and worse, "seeds": [0], "steps": {"cyclegan (each of 2 runs)": p["steps_done"]},
            "train_seconds": p["train_seconds"] + n["train_seconds"], "numbers": res,
            "pictures": [str(pic.relative_to(ROOT))]}


def row_unit_munit(work: Path) -> dict:
    import bench_unpaired as bu

    grid, styles = IMAGES / "cyclegan_unit_munit_grass2gravel.png", IMAGES / "munit_styles.png"
    res = bu.textures({}, 0, 20, 8, [], grid, styles)
    m = res["models"]
    ok = {}
    for name in ("unit", "munit"):
        r = m[name]
        ok[name] = (r["AtoB_classified_B"] >= 0.8 and r["BtoA_classified_A"] >= 0.8
                    and r["fid_AtoB"] <= 0.5 * res["fid_no_translation_AtoB"]
                    and r["fid_BtoA"] <= 0.5 * res["fid_no_translation_BtoA"])
    multimodal = m["munit"]["diversity_pixel_L1"] > 0.01 and m["unit"]["diversity_pixel_L1"] < 1e-6 \
        and m["cyclegan"]["diversity_pixel_L1"] < 1e-6

    def cell(name):
        r = m[name]
        return (f"{name.upper()} {r['AtoB_classified_B']:.0%} / {r['BtoA_classified_A']:.0%} classified as the target, "
                f"FID {r['fid_AtoB']:.2f} / {r['fid_BtoA']:.2f}")

    return {"claim": "translation to the other domain (UNIT, MUNIT); MUNIT is multimodal",
            "paper": "Liu et al. 2017; Huang et al. 2018",
            "bar": "≥ 80 % of held-out translations classified as the target domain and judge-feature FID ≤ ½ of no "
                   "translation's, both directions (MUNIT: one seeded style per input); MUNIT diversity > 0 where "
                   "CycleGAN / UNIT are 0",
            "measured": f"{cell('unit')}; {cell('munit')} (no translation: FID {res['fid_no_translation_AtoB']:.2f} / "
                        f"{res['fid_no_translation_BtoA']:.2f}, real test floor {res['fid_floor_B']:.2f} / "
                        f"{res['fid_floor_A']:.2f}); diversity MUNIT **{m['munit']['diversity_pixel_L1']:.3f}**, "
                        f"UNIT {m['unit']['diversity_pixel_L1']:.3f}, "
                        f"CycleGAN {m['cyclegan']['diversity_pixel_L1']:.3f}; judge accuracy on real test crops "
                        f"{res['classifier_test_accuracy']:.3f}",
            "holds": ok["unit"] and ok["munit"] and multimodal, "seeds": [0],
            "steps": {k: v["steps_done"] for k, v in m.items()},
            "train_seconds": sum(v["train_seconds"] for v in m.values()), "numbers": res,
            "pictures": [str(p.relative_to(ROOT)) for p in (grid, styles)]}


def row_sr(work: Path) -> dict:
    import bench_sr as bs

    pic = IMAGES / "sr_compare.png"
    res = bs.quality(steps_quick("srresnet"), steps_quick("srgan"), 0, 0, 0.125, False, False, pic)
    m = res["models"]
    bic, srr, srg, first = m["bicubic"], m["SRResNet"], m["SRGAN-MSE"], m["SRResNet@N1"]
    holds = first["psnr_y"] >= bic["psnr_y"] + 0.5 and srg["sharpness_ratio"] > srr["sharpness_ratio"]
    return {"claim": "SRResNet beats bicubic in PSNR; SRGAN trades PSNR for sharpness",
            "paper": "Ledig et al. 2017, table 2",
            "bar": "SRResNet (quick preset) ≥ bicubic + 0.5 dB PSNR_Y on the held-out photos; SRGAN(-MSE, no "
                   "ImageNet VGG offline) sharper than SRResNet",
            "measured": f"PSNR_Y bicubic {bic['psnr_y']:.2f}, SRResNet **{first['psnr_y']:.2f}** "
                        f"(+{first['psnr_y'] - bic['psnr_y']:.2f} dB); from it, equal extra steps: SRResNet "
                        f"{srr['psnr_y']:.2f} dB sharpness {srr['sharpness_ratio']:.2f}, SRGAN-MSE {srg['psnr_y']:.2f} "
                        f"dB sharpness **{srg['sharpness_ratio']:.2f}** (HR photo = 1)",
            "holds": holds, "seeds": [0], "steps": {"srresnet": res["steps1"], "then each": res["steps2"]},
            "train_seconds": sum(res["train_seconds"].values()), "numbers": res,
            "pictures": [str(pic.relative_to(ROOT))]}


def row_style(work: Path) -> dict:
    import bench_style as bst

    pic = IMAGES / "style_grid.png"
    from condgen.cli import resolve_config

    crop = resolve_config("style", None, None, "quick", []).data.crop_size  # the preset's own crop (96)
    res = bst.quality(None, steps_quick("style"), crop, 0, 0, 128, 100, "noise", 5, False, pic)
    net, gat = res["mean"]["network"]["total"], res["mean"]["gatys"]["total"]
    inp = res["mean"]["input"]["total"]
    speed = res["seconds_per_image"]["ratio"]
    return {"claim": "one forward pass ≈ Gatys's optimisation, ~1000× faster", "paper": "Johnson et al. 2016, fig. 5",
            "bar": "total loss within 1.5 × Gatys's at ≥ 250 × its speed (random-weight VGG-16: the ImageNet file "
                   "is not shipped)",
            "measured": f"total loss network **{net:.3g}** vs Gatys (100 L-BFGS) {gat:.3g} (× {net / gat:.2f}; the "
                        f"input itself {inp:.3g}); **{speed:.0f}×** faster "
                        f"({res['seconds_per_image']['network'] * 1e3:.0f} ms vs "
                        f"{res['seconds_per_image']['gatys']:.1f} s at 128 px); random-weight VGG-16",
            "holds": net <= 1.5 * gat and speed >= 250, "seeds": [0],
            "steps": {"style": res["train"]["checkpoint_step"]},
            "train_seconds": res["train_seconds"], "numbers": res, "pictures": [str(pic.relative_to(ROOT))]}


def row_semantic(work: Path) -> dict:
    import bench_semantic as bsem

    steps = steps_quick("spade")
    common = dict(vae=False, seg_steps=800, seed=0, threads=0, jobs=1, n_div=20, k_seeds=8, min_area=0.02,
                  n_region=100, smoke=False, extra={})
    (work / "sem").mkdir(parents=True, exist_ok=True)
    res = bsem.quality(["spade", "oasis", "sean"], work=work / "sem", steps=steps, images_dir=IMAGES, **common)
    t = {k: v["train_seconds"] for k, v in res["train"].items() if "train_seconds" in v}
    # SPADE again for OASIS's wall-clock (SPADE is the cheaper step), scored the same way
    eq_steps = int(round(steps * t["oasis"] / t["spade"] / 100.0)) * 100
    eq = work / "sem_eq"
    eq.mkdir(parents=True, exist_ok=True)
    for f in ("segmenter.safetensors", "segmenter.json"):
        if not (eq / f).exists():
            (eq / f).symlink_to(work / "sem" / f)
    res_eq = bsem.quality(["spade"], work=eq, steps=eq_steps, images_dir=work / "eq_images", **common)
    res["spade_equal_wallclock"] = {"steps": eq_steps, **res_eq["models"]["spade"], "train": res_eq["train"]["spade"]}
    m = res["models"]
    sp, oa, se = m["spade"], m["oasis"], m["sean_recon"]
    spe = res["spade_equal_wallclock"]
    rc = res["sean_region_control"]
    holds = (oa["miou"] >= spe["miou"] and oa["fid"] <= spe["fid"] and rc["ratio"] >= 10
             and rc["mean_abs_change_inside"] >= 0.05)
    return {"claim": "OASIS ≥ SPADE in mIoU and FID; SEAN edits one region", "paper":
            "Park et al. 2019; Schönfeld et al. 2021; Zhu et al. 2020",
            "bar": "mIoU / FID in segmenter space at equal wall-clock (OASIS's EMA as the preset ships it); SEAN "
                   "inside/outside ratio ≥ 10 with a visible change (≥ 0.05 mean |Δ| inside)",
            "measured": f"mIoU OASIS **{oa['miou']:.3f}** vs SPADE at equal wall-clock ({eq_steps} steps) "
                        f"**{spe['miou']:.3f}** (SPADE {steps} steps {sp['miou']:.3f}; real "
                        f"{m['real test images']['miou']:.3f}); "
                        f"FID {oa['fid']:.2f} vs {spe['fid']:.2f} ({sp['fid']:.2f}; real floor "
                        f"{m['real test images']['fid']:.2f}); SEAN recon mIoU {se['miou']:.3f}, region edit "
                        f"inside/outside **{rc['ratio']:.1f}** (|Δ| {rc['mean_abs_change_inside']:.3f} inside)",
            "holds": holds, "seeds": [0], "steps": {"spade": steps, "oasis": steps, "sean": steps,
                                                   "spade (equal wall-clock)": eq_steps},
            "train_seconds": sum(t.values()) + res_eq["train"]["spade"].get("train_seconds", 0.0),
            "numbers": {k: v for k, v in res.items() if k != "sean_region_control"} | {
                "sean_region_control": {k: v for k, v in rc.items() if k != "per_pair"}},
            "pictures": [str(Path(res["grid"]).relative_to(ROOT)), str(Path(res["diversity_picture"]).relative_to(ROOT))
                         if res.get("diversity_picture") else None]}


def row_anonymizer(work: Path) -> dict:
    import bench_anonymize as ba

    import condgen

    run = work / "anonymizer"
    t0 = time.perf_counter()
    ba.train(run, steps_quick("anonymizer"))
    secs = time.perf_counter() - t0
    model = condgen.load(run)
    faces, x, outs, anon2 = ba.faces_metrics(model)
    photo, tiles = ba.photo_metrics(model)
    pic = IMAGES / "anonymize_grid.png"
    ba.picture(x, outs, anon2, tiles, pic)
    rows = faces["rows"]
    an, right, wrong = rows["anonymized"], rows["restored (right passcode)"], rows["restored (random wrong passcode)"]
    holds = (an["reid_rank1"] <= 0.15 and right["reid_rank1"] >= 0.8
             and right["pixel_L1"] <= 0.5 * wrong["pixel_L1"])
    return {"claim": "anonymized faces are other people; the passcode restores", "paper": "Gu et al. 2020",
            "bar": "held-out faces: anonymized re-identified ≤ 0.15 (chance 0.05), restored with the right passcode "
                   "≥ 0.8, its error ≤ ½ a wrong passcode's",
            "measured": f"re-identification (LBP, rank 1, 20 held-out faces): anonymized **{an['reid_rank1']:.2f}**, "
                        f"restored right **{right['reid_rank1']:.2f}**, wrong passcode {wrong['reid_rank1']:.2f}; "
                        f"restoration error {right['pixel_L1']:.1f} vs wrong {wrong['pixel_L1']:.1f} grey levels "
                        f"(anonymized {an['pixel_L1']:.1f})",
            "holds": holds, "seeds": [0], "steps": {"anonymizer": int(model.step)}, "train_seconds": secs,
            "numbers": {"faces": faces, "photo": photo}, "pictures": [str(pic.relative_to(ROOT))]}


def row_video(work: Path) -> dict:
    out = HERE / "results" / "video.json"
    t0 = time.perf_counter()
    subprocess.run([sys.executable, str(HERE / "bench_video.py"), "--run", str(work / "video_run"), "--out",
                    str(out)], check=True)
    secs = time.perf_counter() - t0
    res = json.loads(out.read_text())
    c = res["conditions"]
    paper, stable = c["paper (--no-stable)"], c["stable + flow blend 0.5"]
    holds = stable["flicker_ratio"] < paper["flicker_ratio"] and stable["l1_to_truth"] <= 1.05 * paper["l1_to_truth"]
    return {"claim": "stabilisation lowers flicker at equal fidelity", "paper": "condgen's video mode (no paper)",
            "bar": "flicker (output / input) lower than per-frame translation's, L1 to the true colours ≤ 1.05 × its",
            "measured": f"flicker ratio per-frame {paper['flicker_ratio']:.2f} → stable + flow blend 0.5 "
                        f"**{stable['flicker_ratio']:.2f}**; L1 to truth {paper['l1_to_truth']:.1f} → "
                        f"{stable['l1_to_truth']:.1f} grey levels (held-out photos, 48 frames, 128 px)",
            "holds": holds, "seeds": [0], "steps": {"pix2pix gray2color": res["model_step"]},
            "train_seconds": res.get("train_seconds") or secs, "numbers": res, "pictures": []}


# ----- orchestration ------------------------------------------------------------------------------
def _child(name: str, work: str) -> None:
    import torch

    torch.manual_seed(0)
    rec = globals()[f"row_{name}"](Path(work))
    print("CLAIMS-ROW " + json.dumps(rec, default=str), flush=True)


def settle(limit: float = 1.0, wait_s: float = 150.0) -> None:
    """Wait (up to ``wait_s``) for the 1-minute load average to fall below ``limit``: the previous row's own
    threads keep it near 2 for a minute after they stop, and a row's start load should show other jobs, not that."""
    t0 = time.monotonic()
    while os.getloadavg()[0] >= limit and time.monotonic() - t0 < wait_s:
        time.sleep(5)


def run_row(name: str) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"claims_{name}_"))
    settle()
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    lines = []
    with subprocess.Popen([sys.executable, __file__, "_row", name, str(work)], stdout=subprocess.PIPE,
                          text=True) as proc:
        for line in proc.stdout:  # shown as it comes; the row's record is the CLAIMS-ROW line
            if line.startswith("CLAIMS-ROW "):
                lines.append(line)
            else:
                sys.stdout.write(line)
                sys.stdout.flush()
    wall = time.perf_counter() - t0
    load1 = os.getloadavg()[0]
    base = {"row": name, "date": _dt.date.today().isoformat(), "wall_seconds": wall, "machine": machine(),
            "load_avg_1min": {"start": load0, "end": load1}, "busy": load0 > 1.5, "work_dir": str(work)}
    if proc.returncode or not lines:
        return {**base, "holds": False, "error": f"exit code {proc.returncode}", "measured": "did not finish",
                "claim": "", "paper": "", "bar": ""}
    return {**base, **json.loads(lines[-1][len("CLAIMS-ROW "):])}


def _steps_text(steps: dict) -> str:
    return ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in steps.items())


def table(rows: dict) -> str:
    lines = ["| model | claim · paper | bar (held-out data) | measured | holds? | seeds · steps · wall · machine · "
             "load (start → end) |", "|---|---|---|---|---|---|"]
    for name in ROWS:
        r = rows.get(name)
        if r is None:
            lines.append(f"| {name} | | | not run yet | | |")
            continue
        mc = r["machine"]
        cpu = f"{mc['cpu']}, {'AVX512-BF16' if mc['avx512_bf16'] else 'no bf16'}{', AMX' if mc['amx'] else ''}"
        la = r["load_avg_1min"]
        busy = " **busy**" if r.get("busy") else ""
        meta = (f"seed {', '.join(map(str, r.get('seeds', [])))} · {_steps_text(r.get('steps', {}))} · "
                f"{r['wall_seconds'] / 60:.1f} min ({r.get('train_seconds', 0) / 60:.1f} training) · {cpu} · "
                f"{la['start']:.2f} → {la['end']:.2f}{busy} · {r['date']}")
        cells = [name.replace("_", ", "), f"{r['claim']} · {r['paper']}", r["bar"], r["measured"],
                 "**yes**" if r["holds"] else "**no**", meta]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")  # |Δ| inside a cell
    held = sum(1 for n in ROWS if rows.get(n, {}).get("holds"))
    lines.append("")
    lines.append(f"{held} of {len(ROWS)} rows hold.")
    return "\n".join(lines)


def write_table(rows: dict) -> None:
    text = TABLE.read_text()
    block = f"{START}\n{table(rows)}\n{END}"
    if START in text and END in text:
        pre, rest = text.split(START, 1)
        text = pre + block + rest.split(END, 1)[1]
    else:
        raise SystemExit(f"{TABLE} has no {START} ... {END} markers to write the table between")
    TABLE.write_text(text)


def load_rows() -> dict:
    return json.loads(RESULTS.read_text())["rows"] if RESULTS.is_file() else {}


def save_rows(rows: dict) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    tmp = RESULTS.with_suffix(".tmp")
    tmp.write_text(json.dumps({"command": "python benchmarks/claims.py", "rows": rows}, indent=1, default=str) + "\n")
    tmp.replace(RESULTS)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_row":
        _child(sys.argv[2], sys.argv[3])
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="*", help=f"rows to run (default all): {', '.join(ROWS)} or a model name")
    ap.add_argument("--table", action="store_true", help="only rewrite the RESULTS.md table from claims.json")
    args = ap.parse_args()
    names = []
    for m in args.models or ROWS:
        name = ALIASES.get(m, m)
        if name not in ROWS:
            raise SystemExit(f"unknown row or model {m!r}; rows: {', '.join(ROWS)}; models: {', '.join(ALIASES)}")
        if name not in names:
            names.append(name)
    rows = load_rows()
    if not args.table:
        for name in names:
            print(f"== {name}: started {time.strftime('%H:%M:%S')}, load {os.getloadavg()[0]:.2f}", flush=True)
            rows[name] = run_row(name)
            r = rows[name]
            print(f"== {name}: {'HOLDS' if r['holds'] else 'does not hold'} — {r['measured']} "
                  f"({r['wall_seconds'] / 60:.1f} min)", flush=True)
            save_rows(rows)
            write_table(rows)
    write_table(rows)
    held = [n for n in ROWS if rows.get(n, {}).get("holds")]
    print(f"{len(held)} of {len(ROWS)} rows hold: {', '.join(held)}")


if __name__ == "__main__":
    main()
