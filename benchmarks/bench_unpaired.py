"""Unpaired translation measures (CycleGAN, UNIT, MUNIT) on the built-in sets, and training speed.

photo2tone: CycleGAN (--preset quick) on the built-in `photo2tone`, where domain B is domain-A-like photos passed
through a hidden tone/colour mapping (condgen.data.builtin_unpaired.tone_map). testA and testB hold the same
held-out crops (photos never seen in training) without and with the mapping. Test images go through the
run's own test-time transform (as the reference tests: the whole 128 px crop resized to crop_size, 64 px for the
quick preset, no flip); a = testA[i] and b = testB[i] at that size. On [0, 1] RGB, averaged over the test crops:

- error A -> B to the true mapping: mean |G_A(a) - tone_map(a)| with tone_map applied (continuously, condgen.data.
  builtin_unpaired.true_translation) to the very input a, and PSNR; the identity baseline (no translation) is
  mean |a - tone_map(a)|. B -> A: mean |G_B(b) - a|, baseline mean |b - a|. "floor": mean |b - tone_map(a)|, the
  part of the B -> A target mismatch due only to 8-bit files and resizing after (not before) the mapping.
- cycle error: mean |G_B(G_A(a)) - a| and mean |G_A(G_B(b)) - b|.
Trained with the identity loss (the paper's 0.5 lambda) and without it (lambda_identity 0), same steps and seed.

textures: CycleGAN, UNIT and MUNIT (each its --preset quick) on the built-in `grass2gravel` (no exact answer). A
small CNN domain classifier (grey 64 px crops -> grass or gravel; trained here on the train crops at the
models' training scale, its accuracy on the real test crops reported) judges the translations: the fraction of
translated test images it assigns to the target domain, per direction, and the mean |output - input| (how much
the translation changed), and the FID between the translations and the target domain's training crops in the
judge's 64-d features. MUNIT translates input i with the style of seed i (one code per input, as the paper samples a
style per input for its metrics). MUNIT diversity: for each of the first --n-div test inputs, K = 8 random styles; the
mean pairwise distance between the K outputs, (a) L1 in pixels on [0, 1], (b) L2 between the domain
classifier's penultimate features (64-d, after ReLU and global average pooling). CycleGAN and UNIT are
deterministic at test time: the same measure on K repeated translations is 0 for them (computed, not assumed).
Pictures: a grid of the three models' outputs (docs/images/cyclegan_unit_munit_grass2gravel.png) and MUNIT's
random and example-guided styles (docs/images/munit_styles.png).

speed: training images/s at 128 px, batch 1, the papers' networks (ngf = ndf = 64; CycleGAN with the 6-block
ResNet the paper uses at 128 px, appendix 7.2), for each model, fp32 NCHW vs condgen's default (bf16 autocast +
channels_last where the CPU has native bf16, else the same as fp32 NCHW), each setting in its own process,
alternated ABBA over --repeats; medians and the ratio. The 1-minute load average is recorded around every run.

--threads N sets torch's intra-op threads in every training process (default 1; 0 = torch's default, one per
core). On a machine shared with other jobs, 2 OpenMP threads per process on 2 cores measured ~10x slower per
step than 1 thread (spinning barriers under oversubscription); the results do not depend on it otherwise.
--model-steps cyclegan=300 unit=500 overrides the training steps per model (after --steps).

    python benchmarks/bench_unpaired.py photo2tone [--steps N] [--threads 1]
    python benchmarks/bench_unpaired.py textures [--steps N | --model-steps cyclegan=N unit=N munit=N]
    python benchmarks/bench_unpaired.py speed [--repeats 2 --steps 10 --warmup 2]
    python benchmarks/bench_unpaired.py all --quick-smoke     # seconds, tiny settings, tmp outputs
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

from common import load_avg, machine, run_child, set_threads, timed_fit

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {"fp32-nchw": ("fp32", "false"), "default": ("auto", "auto")}
MODELS = ("cyclegan", "unit", "munit")
COMMON = ["train.progress=false", "train.tensorboard=false", "train.val_every=0", "data.num_workers=0"]






def _train(model: str, preset: str, run: Path, steps: int | None, extra: list[str]) -> float:
    from condgen.cli import resolve_config
    from condgen.train import train

    over = [*COMMON, *([f"train.steps={steps}"] if steps else []), *extra]
    cfg = resolve_config(model, None, None, preset, over)
    t0 = time.perf_counter()
    train(cfg, run)
    return time.perf_counter() - t0


def _test_items(model, domain: str, n: int, split: str = "test"):
    """The first ``n`` (all if 0) test images of one domain, C x H x W in [-1, 1], through the run's test-time
    transform (resize to crop_size, no crop or flip, as the reference tests), and their file names."""
    from condgen.data.unpaired import load_unpaired

    cfg, m = model.run_config, model.cfg
    ds = load_unpaired(cfg.data.path, split=split, channels_A=m.in_channels, channels_B=m.out_channels,
                       preprocess=cfg.data.preprocess, load_size=cfg.data.load_size, crop_size=cfg.data.crop_size,
                       flip=False, train=False, seed=cfg.seed, pairing="serial", multiple=model.multiple())
    files = ds.files_A if domain == "A" else ds.files_B
    count = len(files) if n <= 0 else min(n, len(files))
    # serial pairing: item i holds A[i] and B[i]; the test transform draws nothing random
    items = [ds[i] for i in range(count)]
    return [it[domain] for it in items], [Path(it[f"path_{domain}"]).name for it in items]


# ----- photo2tone ---------------------------------------------------------------------------------
VARIANTS_P2T = {"identity 0.5 (paper)": [], "no identity": ["model.lambda_identity=0"]}


def photo2tone(preset: str, steps: int | None, n_test: int, extra: list[str], grid_path: Path,
               variants: tuple[str, ...] = tuple(VARIANTS_P2T), seed: int = 0) -> dict:
    """CycleGAN with and without the identity loss; errors to the hidden true mapping on held-out crops."""
    import torch

    import condgen
    from condgen.data.builtin_unpaired import true_translation
    from condgen.train.images import save_grid

    root = Path(tempfile.mkdtemp(prefix="photo2tone_"))
    out: dict = {"preset": preset, "steps": steps, "extra": extra, "runs_dir": str(root), "variants": {},
                 "threads": set_threads(0), "load_avg_start": load_avg()}
    rows = []
    for variant in variants:
        run = root / variant.split()[0].replace("no", "noidt")
        secs = _train("cyclegan", preset, run, steps, [f"seed={seed}", *VARIANTS_P2T[variant], *extra])
        model = condgen.load(run)
        a_imgs, names_a = _test_items(model, "A", n_test)
        b_imgs, names_b = _test_items(model, "B", n_test)
        assert names_a == names_b, "testA and testB must hold the same crops"
        keys = ("err_AtoB", "err_BtoA", "identity_AtoB", "identity_BtoA", "floor_BtoA", "psnr_AtoB", "cycle_A",
                "cycle_B")
        sums = dict.fromkeys(keys, 0.0)
        for i, (a, b) in enumerate(zip(a_imgs, b_imgs)):
            ab = model.translate(a, direction="AtoB").float()
            ba = model.translate(b, direction="BtoA").float()
            aba = model.translate(ab, direction="BtoA").float()
            bab = model.translate(ba, direction="AtoB").float()
            true_b = true_translation(a[None])[0]  # the exact answer for this very input
            a01, b01, tb01, ab01, ba01, aba01, bab01 = ((t.clamp(-1, 1) + 1) / 2
                                                        for t in (a, b, true_b, ab, ba, aba, bab))
            sums["err_AtoB"] += (ab01 - tb01).abs().mean().item()
            sums["err_BtoA"] += (ba01 - a01).abs().mean().item()
            sums["identity_AtoB"] += (a01 - tb01).abs().mean().item()
            sums["identity_BtoA"] += (b01 - a01).abs().mean().item()
            sums["floor_BtoA"] += (b01 - tb01).abs().mean().item()
            mse = (ab01 - tb01).square().mean().clamp_min(1e-12)
            sums["psnr_AtoB"] += (10 * torch.log10(1 / mse)).item()
            sums["cycle_A"] += (aba01 - a01).abs().mean().item()
            sums["cycle_B"] += (bab01 - b01).abs().mean().item()
            if i < 6 and variant.startswith("identity"):
                rows.append([a, ab, b, ba])
        m = {k: v / len(a_imgs) for k, v in sums.items()}
        m["n_test"], m["test_size"], m["train_seconds"] = len(a_imgs), list(a_imgs[0].shape[-2:]), secs
        m["steps_done"] = model.step
        out["variants"][variant] = m
        print(variant, {k: (round(v, 4) if isinstance(v, float) else v) for k, v in m.items()}, flush=True)
    cells = [c.float() for r in rows for c in r]
    save_grid(torch.stack(cells), grid_path, nrow=4, labels=["A (held out)", "CycleGAN A->B", "true B",
                                                             "CycleGAN B->A"] + [""] * (len(cells) - 4))
    out["grid"], out["machine"], out["load_avg_end"] = str(grid_path), machine(), load_avg()
    return out


def photo2tone_table(res: dict) -> str:
    lines = [f"machine: {res['machine']}; load average (1/5/15 min) at start {res['load_avg_start']}, "
             f"end {res['load_avg_end']}; {res['threads']} thread(s)",
             f"preset {res['preset']}, steps {res['steps'] or 'preset'} {' '.join(res.get('extra', []))}; "
             f"{next(iter(res['variants'].values()))['n_test']} held-out crops at "
             f"{next(iter(res['variants'].values()))['test_size'][0]} px; errors are mean |difference| on [0, 1] RGB",
             "",
             "| CycleGAN | A→B error to true mapping ↓ | no translation | PSNR A→B dB | B→A error ↓ "
             "| no translation (floor) | cycle A→B→A | cycle B→A→B | train s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for v, m in res["variants"].items():
        lines.append(f"| {v} | **{m['err_AtoB']:.4f}** | {m['identity_AtoB']:.4f} | {m['psnr_AtoB']:.2f} "
                     f"| **{m['err_BtoA']:.4f}** | {m['identity_BtoA']:.4f} ({m['floor_BtoA']:.4f}) "
                     f"| {m['cycle_A']:.4f} | {m['cycle_B']:.4f} | {m['train_seconds']:.0f} |")
    return "\n".join(lines)


# ----- textures -----------------------------------------------------------------------------------
def _classifier():
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(1, 16, 3, 2, 1), nn.ReLU(), nn.Conv2d(16, 32, 3, 2, 1), nn.ReLU(),
        nn.Conv2d(32, 64, 3, 2, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 2))


def _grey(x):
    return x.float().mean(0, keepdim=True) if x.shape[0] == 3 else x.float()


def train_domain_classifier(size: int, steps: int = 400, seed: int = 0):
    """A small CNN: grey crops of the train split -> 0 (domain A) / 1 (domain B); random crops + flips."""
    import torch
    from torch.nn import functional as F

    from condgen.data.unpaired import load_unpaired

    torch.manual_seed(seed)
    ds = load_unpaired("grass2gravel", split="train", channels_A=1, channels_B=1, load_size=size + size // 8,
                       crop_size=size, flip=True, train=True, seed=seed)
    net = _classifier()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    for step in range(steps):
        ds.set_epoch(step)
        idx = torch.randint(0, len(ds), (16,)).tolist()
        items = [ds[i] for i in idx]
        x = torch.stack([it["A"] for it in items] + [it["B"] for it in items])
        y = torch.cat([torch.zeros(16), torch.ones(16)]).long()
        loss = F.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


def _features(net, x):
    return net[:-1](x)  # penultimate: 64-d after ReLU + global average pooling


def _mean_pairwise(t):
    import torch

    k = t.shape[0]
    d = [(t[i] - t[j]).flatten() for i in range(k) for j in range(i + 1, k)]
    return torch.stack(d).abs().mean().item() if t.dim() > 2 else torch.stack(d).norm(dim=1).mean().item()


def textures(steps: dict[str, int | None], n_test: int, n_div: int, k_styles: int, extra: list[str],
             grid_path: Path, styles_path: Path) -> dict:
    """Domain-classifier success of each model's translations on grass2gravel; MUNIT diversity."""
    import torch

    import condgen
    from condgen.data.unpaired import GreyDomainWarning
    from condgen.metrics.fid import fid_from_features
    from condgen.train.images import save_grid

    # CycleGAN's and UNIT's quick presets read the grey textures as RGB (three equal channels), knowingly
    warnings.filterwarnings("ignore", category=GreyDomainWarning)
    root = Path(tempfile.mkdtemp(prefix="textures_"))
    out: dict = {"steps": steps, "extra": extra, "runs_dir": str(root), "models": {}, "k_styles": k_styles,
                 "threads": set_threads(0), "load_avg_start": load_avg()}
    grid_cols = []
    clf = None
    for name in MODELS:
        run = root / name
        secs = _train(name, "quick", run, steps.get(name), [*extra, "data.path=grass2gravel"])
        model = condgen.load(run)
        size = model.run_config.data.crop_size
        a_imgs, _ = _test_items(model, "A", n_test)
        b_imgs, _ = _test_items(model, "B", n_test)
        if clf is None:
            clf = train_domain_classifier(size)
            with torch.no_grad():
                xa, xb = torch.stack([_grey(t) for t in a_imgs]), torch.stack([_grey(t) for t in b_imgs])
                hits = (clf(xa).argmax(1) == 0).float().mean() + (clf(xb).argmax(1) == 1).float().mean()
                acc = hits.item() / 2
            out["classifier_test_accuracy"] = acc
            print("domain classifier accuracy on real test crops:", round(acc, 4), flush=True)
            # FID in the judge's 64-d features against the real TRAINING crops of the target domain: the real test
            # crops give the floor, the untranslated source crops the no-translation baseline
            with torch.no_grad():
                ta = torch.stack([_grey(t) for t in _test_items(model, "A", 0, split="train")[0]])
                tb = torch.stack([_grey(t) for t in _test_items(model, "B", 0, split="train")[0]])
                feat_train = {"A": _features(clf, ta), "B": _features(clf, tb)}
                fa, fb = _features(clf, xa), _features(clf, xb)
            out["fid_floor_B"] = fid_from_features(feat_train["B"], fb)
            out["fid_floor_A"] = fid_from_features(feat_train["A"], fa)
            out["fid_no_translation_AtoB"] = fid_from_features(feat_train["B"], fa)
            out["fid_no_translation_BtoA"] = fid_from_features(feat_train["A"], fb)
            out["fid_reference"] = {"A": int(ta.shape[0]), "B": int(tb.shape[0])}
        # MUNIT: one style code per input (seed i for input i), as the paper samples a style per input for its
        # metrics; translating every input with the same code would score one mode of a multimodal model against
        # the whole target distribution (it did: A -> B judge-FID 109 with one code, 20 with one per input, on the
        # training crops at the quick preset)
        styles = (lambda i: {"seed": i}) if name == "munit" else (lambda i: {})  # noqa: E731
        with torch.no_grad():
            ab = torch.stack([_grey(model.translate(a, direction="AtoB", **styles(i))) for i, a in enumerate(a_imgs)])
            ba = torch.stack([_grey(model.translate(b, direction="BtoA", **styles(i))) for i, b in enumerate(b_imgs)])
            m = {"AtoB_classified_B": (clf(ab).argmax(1) == 1).float().mean().item(),
                 "BtoA_classified_A": (clf(ba).argmax(1) == 0).float().mean().item(),
                 # how far the output is from its input, so "classified as the target" is not read alone
                 "AtoB_change_L1": (ab - torch.stack([_grey(a) for a in a_imgs])).abs().mean().item() / 2,
                 "fid_AtoB": fid_from_features(feat_train["B"], _features(clf, ab)),
                 "fid_BtoA": fid_from_features(feat_train["A"], _features(clf, ba))}
            pix, feat = [], []
            for i, a in enumerate(a_imgs[:n_div]):
                if name == "munit":
                    outs = model.translate(a, direction="AtoB", num_styles=k_styles, seed=i)
                else:
                    outs = [model.translate(a, direction="AtoB") for _ in range(k_styles)]
                stack = torch.stack([_grey(o) for o in outs])
                pix.append(_mean_pairwise((stack + 1) / 2))
                feat.append(_mean_pairwise(_features(clf, stack)))
                if i == 0:
                    grid_cols.append((name, a, stack[: min(4, k_styles)]))
            if name == "munit":
                _munit_styles_picture(model, a_imgs, b_imgs, styles_path)
                out["styles_picture"] = str(styles_path)
        m["diversity_pixel_L1"] = statistics.mean(pix)
        m["diversity_feature_L2"] = statistics.mean(feat)
        m["train_seconds"], m["steps_done"] = secs, model.step
        out["models"][name] = m
        print(name, {k: round(v, 4) for k, v in m.items()}, flush=True)
    cells, labels = [], []
    for name, a, outs in grid_cols:
        cells += [_grey(a)] + list(outs) + [outs[0]] * (4 - len(outs))
        labels += [f"{name}: input", "output 1", "output 2", "output 3", "output 4"]
    save_grid(torch.stack(cells).float(), grid_path, nrow=5, labels=labels)
    out["grid"], out["machine"], out["load_avg_end"] = str(grid_path), machine(), load_avg()
    return out


def _munit_styles_picture(model, a_imgs, b_imgs, path: Path, n_inputs: int = 3, n_random: int = 4) -> None:
    """Rows: a held-out grass crop | 4 random styles (seed 1) | gravel example 1 | guided by it | example 2 | guided."""
    import torch

    from condgen.train.images import save_grid

    examples = [b_imgs[min(3, len(b_imgs) - 1)], b_imgs[len(b_imgs) * 2 // 3]]
    cells, labels = [], []
    for r, a in enumerate(a_imgs[:n_inputs]):
        row = [a, *model.translate(a, direction="AtoB", num_styles=n_random, seed=1)]
        for ex in examples:
            row += [ex, model.translate(a, direction="AtoB", style_image=ex)]
        cells += [_grey(t) for t in row]
        labels += (["input A"] + [f"style {k + 1}" for k in range(n_random)]
                   + ["example B", "its style", "example B", "its style"]) if r == 0 else [""] * len(row)
    save_grid(torch.stack(cells), path, nrow=len(cells) // n_inputs, labels=labels)


def textures_table(res: dict) -> str:
    lines = [f"machine: {res['machine']}; load average (1/5/15 min) at start {res['load_avg_start']}, "
             f"end {res['load_avg_end']}; {res['threads']} thread(s)",
             f"domain classifier accuracy on the real test crops: "
             f"{res['classifier_test_accuracy']:.3f}; diversity over K = {res['k_styles']} outputs per input", "",
             "| model | steps | A→B classified as B ↑ | B→A classified as A ↑ | mean change A→B | diversity, pixel L1 "
             "| diversity, feature L2 | train s |", "|---|---|---|---|---|---|---|---|"]
    for name, m in res["models"].items():
        lines.append(f"| {name} | {m['steps_done']} | {m['AtoB_classified_B']:.3f} | {m['BtoA_classified_A']:.3f} "
                     f"| {m['AtoB_change_L1']:.3f} | {m['diversity_pixel_L1']:.4f} | {m['diversity_feature_L2']:.4f} "
                     f"| {m['train_seconds']:.0f} |")
    return "\n".join(lines)


# ----- speed --------------------------------------------------------------------------------------
def _speed_child(a: dict) -> None:
    """Subprocess: warm up, then time Trainer steps of one model at 128 px; print images/s as JSON."""
    from condgen.cli import resolve_config
    from condgen.train import Trainer

    big = 10**9
    threads = set_threads(a["threads"])
    out = Path(tempfile.mkdtemp()) / "run"
    # the paper's CycleGAN generator at 128 px has 6 residual blocks (Zhu et al., appendix 7.2)
    netg = ["model.netG=resnet_6blocks"] if a["model"] == "cyclegan" else []
    cfg = resolve_config(a["model"], "photo2tone", None, None, [*netg,
        "data.batch_size=1", f"data.load_size={a['size']}", f"data.crop_size={a['size']}",
        f"model.ngf={a['ngf']}", f"model.ndf={a['ngf']}", f"train.steps={a['warmup'] + a['steps']}",
        f"train.precision={a['precision']}", f"train.channels_last={a['channels_last']}", *COMMON,
        f"train.log_every={big}", f"train.sample_every={big}", f"train.checkpoint_every={big}"])
    res = timed_fit(Trainer(cfg, out), a["warmup"], a["steps"])
    print(json.dumps({**res, "threads": threads}))




def speed(models: list[str], size: int, ngf: int, repeats: int, steps: int, warmup: int, threads: int) -> dict:
    """Interleaved fp32-NCHW / default runs per model; medians and ratios."""
    runs = {m: {k: [] for k in SETTINGS} for m in models}
    for r in range(repeats):
        order = list(SETTINGS) if r % 2 == 0 else list(SETTINGS)[::-1]
        for m in models:
            for name in order:
                prec, cl = SETTINGS[name]
                res = run_child(__file__, "speed", {"model": m, "size": size, "ngf": ngf, "precision": prec,
                                                    "channels_last": cl, "steps": steps, "warmup": warmup,
                                                    "threads": threads}, record_load=True)
                runs[m][name].append(res)
                print(m, name, res, flush=True)
    out: dict = {"size": size, "ngf": ngf, "steps": steps, "warmup": warmup, "repeats": repeats,
                 "threads": threads, "runs": runs, "models": {}}
    for m in models:
        med = {k: statistics.median(x["images_per_s"] for x in v) for k, v in runs[m].items()}
        rss = {k: max(x["peak_rss_mb"] for x in v) for k, v in runs[m].items()}
        resolved = {k: f"{v[0]['dtype']}, channels_last {v[0]['channels_last']}" for k, v in runs[m].items()}
        out["models"][m] = {"images_per_s": med, "peak_rss_mb": rss, "speedup": med["default"] / med["fp32-nchw"],
                            "resolved": resolved}
    loads = [x[k][0] for m in models for v in runs[m].values() for x in v for k in ("load_avg_before",
                                                                                   "load_avg_after") if x[k]]
    out["load_avg_1min_range"] = [min(loads), max(loads)] if loads else []
    out["machine"] = machine()
    return out


def speed_table(res: dict) -> str:
    lines = [f"machine: {res['machine']}; 1-minute load average {res['load_avg_1min_range']} (min, max) around "
             f"the runs; {res['threads']} thread(s) per process",
             f"{res['size']} px, batch 1, ngf = ndf = {res['ngf']}; medians of {res['repeats']} runs x "
             f"{res['steps']} timed steps after {res['warmup']} warm-up steps; default resolved to: "
             + "; ".join(f"{m} {e['resolved']['default']}" for m, e in res["models"].items()), "",
             "| model | fp32 NCHW images/s | default images/s | default / fp32 | peak RSS MB (fp32 / default) |",
             "|---|---|---|---|---|"]
    for m, e in res["models"].items():
        ips, rss = e["images_per_s"], e["peak_rss_mb"]
        lines.append(f"| {m} | {ips['fp32-nchw']:.2f} | {ips['default']:.2f} | **{e['speedup']:.2f}x** "
                     f"| {rss['fp32-nchw']:.0f} / {rss['default']:.0f} |")
    return "\n".join(lines)


# ----- CLI ----------------------------------------------------------------------------------------
def main() -> None:
    """CLI of the benchmark."""
    if len(sys.argv) > 2 and sys.argv[1] == "_speed":
        _speed_child(json.loads(sys.argv[2]))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["photo2tone", "textures", "speed", "all"])
    ap.add_argument("--quick-smoke", action="store_true", help="tiny settings, outputs in a temporary folder")
    ap.add_argument("--steps", type=int, default=None, help="training steps (default: the quick presets') or "
                                                             "timed steps (speed, default 10)")
    ap.add_argument("--n-test", type=int, default=0, help="test images per domain (0: all)")
    ap.add_argument("--n-div", type=int, default=20, help="inputs for the diversity measure")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    ap.add_argument("--model-steps", nargs="+", default=[], metavar="MODEL=N",
                    help="training steps per model for textures, e.g. cyclegan=300 (overrides --steps)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps before the timed ones (speed)")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads per process (0: torch's default)")
    ap.add_argument("--set", dest="extra", action="append", default=[], help="extra config override (repeatable)")
    ap.add_argument("--out-dir", type=Path, default=None)
    args = ap.parse_args()
    dest, images = args.out_dir, ROOT / "docs" / "images"
    size, ngf, warmup = 128, 64, args.warmup
    if args.quick_smoke:
        tmp = Path(tempfile.mkdtemp(prefix="bench_unpaired_smoke_"))
        dest, images = dest or tmp, tmp
        args.steps, args.n_test, args.n_div, args.repeats = args.steps or 2, args.n_test or 4, 2, 1
        args.extra += ["model.ngf=4", "model.ndf=4"]
        size, ngf, warmup = 64, 4, 1
    dest = dest or Path(__file__).parent / "results"
    dest.mkdir(parents=True, exist_ok=True)
    per_model = {m: args.steps for m in MODELS}
    for item in args.model_steps:
        m, _, n = item.partition("=")
        if m not in MODELS or not n.isdigit():
            ap.error(f"--model-steps takes MODEL=N with MODEL one of {', '.join(MODELS)}, got {item!r}")
        per_model[m] = int(n)
    set_threads(args.threads)
    jobs = ["photo2tone", "textures", "speed"] if args.what == "all" else [args.what]
    for job in jobs:
        if job == "photo2tone":
            res = photo2tone("quick", per_model["cyclegan"], args.n_test, args.extra,
                             images / "cyclegan_photo2tone.png")
            table = photo2tone_table(res)
        elif job == "textures":
            res = textures(per_model, args.n_test, args.n_div, 8, args.extra,
                           images / "cyclegan_unit_munit_grass2gravel.png", images / "munit_styles.png")
            table = textures_table(res)
        else:
            timed = 1 if args.quick_smoke else (args.steps or 10)
            res = speed(args.models, size, ngf, args.repeats, timed, warmup, args.threads)
            table = speed_table(res)
        print("\n" + table, flush=True)
        (dest / f"unpaired_{job}.json").write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
