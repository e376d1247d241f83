"""Evaluate a run: FID/KID of generated images against the held-out split, beside the real-data floor,
and class accuracy for class-conditional models; for models with targets (pix2pix, SR), their held-out metrics
(L1/PSNR/SSIM; SR: PSNR/SSIM on Y beside the bicubic baseline). Results go to RUN/eval.json, metrics.jsonl
and the report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

import condgen
from condgen.errors import ConfigError, DataError
from condgen.runs import load_model_data
from condgen.train.update import model_batch


def _dataset_images(ds, batch_size: int = 256):
    """Yield image batches of a dataset (labels dropped)."""
    loader = torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=False, num_workers=0)
    for batch in loader:
        yield batch["image"]


def _generated(model, n: int, seed: int, num_classes: int, batch_size: int = 250):
    """Yield (images, labels) in batches: ``n`` samples, classes balanced for conditional models."""
    gen = torch.Generator().manual_seed(seed)
    done = 0
    while done < n:
        k = min(batch_size, n - done)
        z = model.sample_z(k, gen)
        labels = (torch.arange(done, done + k) % num_classes) if num_classes else None
        yield model.generate(z=z, labels=labels).cpu(), labels
        done += k


def evaluate_run(run: str | Path, n: int = 2000, features: str = "auto", weights_path: str | Path | None = None,
                 seed: int = 0, ema: bool = True, checkpoint: str | Path | None = None,
                 segmenter: str | Path | None = None, data: str | None = None) -> dict[str, Any]:
    """Compute the metrics of a run's generator and record them in the run directory. ``data`` evaluates on
    another dataset than the run's ``data.path`` (an imported checkpoint has none); the run's config is unchanged."""
    from condgen.metrics import class_accuracy, fid_kid, get_feature_extractor

    run = Path(run)
    if checkpoint is not None and not Path(checkpoint).is_file() and (run / "checkpoints" / str(checkpoint)).is_file():
        checkpoint = run / "checkpoints" / str(checkpoint)
    model = condgen.load(run, checkpoint=checkpoint, ema=ema)
    if data is not None:
        model.run_config.data.path = str(data)
    elif not model.run_config.data.path:
        raise DataError(f"{run} names no dataset (an imported checkpoint?): pass the held-out data to evaluate on with "
                        "--data FOLDER (e.g. the dataset the checkpoint was trained on, in its published layout).")
    kind = type(model).data_kind
    if kind == "unpaired":
        return _record(run, evaluate_unpaired(model, features, weights_path, seed), model.run_config.train.tensorboard)
    if kind == "content":
        return _record(run, evaluate_style(model, run), model.run_config.train.tensorboard)
    if kind == "semantic":
        return _record(run, evaluate_semantic(model, segmenter, seed), model.run_config.train.tensorboard)
    if has_targets(model):
        return _record(run, evaluate_with_targets(model, run), model.run_config.train.tensorboard)
    if model.task != "sample":
        raise ConfigError(f"condgen evaluate measures generators (FID/KID: gan, dcgan, cgan) and models with "
                          f"targets (pix2pix, srresnet, srgan: L1/PSNR/SSIM on the test split); "
                          f"{model.run_config.model_name} is neither yet.")
    cfg = model.run_config
    data = cfg.data.path
    train_ds = load_model_data(type(model), cfg, split="train", train=False)
    try:
        test_ds = load_model_data(type(model), cfg, split="test", train=False)
        ref_split = "test"
    except DataError:
        test_ds, ref_split = train_ds, "train"  # no held-out split: compare with the training images
    extractor = get_feature_extractor(features, dataset=Path(str(data)).name, weights_path=weights_path)
    num_classes = getattr(model.cfg, "num_classes", 0)

    fakes, labels = [], []
    with torch.no_grad():
        for imgs, lab in _generated(model, n, seed, num_classes):
            fakes.append(imgs)
            if lab is not None:
                labels.append(lab)
    scores = fid_kid(_dataset_images(test_ds), iter(fakes), extractor)
    results: dict[str, Any] = {
        "step": model.step, "n_fake": scores["n_fake"], "n_real": scores["n_real"],
        "reference": f"{data}:{ref_split}", "features": scores["features"], "ema": bool(model.ema),
        "fid": scores["fid"], "kid_mean": scores["kid_mean"], "kid_std": scores["kid_std"],
    }
    if ref_split == "test":
        floor = fid_kid(_dataset_images(test_ds), _dataset_images(train_ds), extractor)
        results.update(fid_floor=floor["fid"], kid_floor=floor["kid_mean"])
    if num_classes:
        from condgen.metrics import load_digit_classifier

        if Path(str(data)).name != "digits" or num_classes != 10:
            results["class_accuracy"] = None
            results["class_accuracy_note"] = "needs a classifier for this dataset (shipped: digits)"
        else:
            clf = load_digit_classifier()
            results["class_accuracy"] = class_accuracy(torch.cat(fakes), torch.cat(labels), clf)
    return _record(run, results, cfg.train.tensorboard)


def held_out(model, what: str):
    """(dataset, split) of the run's held-out data as the model evaluates it: test, else val; a DataError naming
    ``what`` is missing when neither exists."""
    cfg = model.run_config
    for split in ("test", "val"):
        try:
            return load_model_data(type(model), cfg, split, evaluation=True), split
        except DataError:
            continue
    raise DataError(f"{cfg.data.path} has no test or val split to evaluate {cfg.model_name} on: held-out {what}.")


def _unpaired_test(model):
    """The held-out A and B images (serial pairing, the test transform: resize to crop_size, no crop or flip)."""
    from condgen.data.unpaired import load_unpaired

    cfg, m = model.run_config, model.cfg
    for split in ("test", "val"):
        try:
            ds = load_unpaired(cfg.data.path, split=split, channels_A=m.in_channels, channels_B=m.out_channels,
                               preprocess=cfg.data.preprocess, load_size=cfg.data.load_size,
                               crop_size=cfg.data.crop_size, flip=False, train=False, seed=cfg.seed, pairing="serial",
                               multiple=model.multiple())
            return ds, split
        except DataError:
            continue
    raise DataError(f"{cfg.data.path} has no testA/testB (or valA/valB) folders to evaluate {cfg.model_name} on; add "
                    "held-out images of each domain (the CycleGAN layout) or use `condgen data make`.")


def evaluate_unpaired(model, features: str, weights_path, seed: int) -> dict[str, Any]:
    """Two-way translators on held-out A and B: cycle errors, FID/KID of each direction's outputs against the
    other domain's held-out images (when a feature network is available), and, on data with a known hidden
    mapping (the built-in photo2tone), the error to the true answer beside returning the input unchanged."""
    from condgen.data.builtin import builtin_name
    from condgen.errors import WeightsNotFoundError
    from condgen.metrics import fid_kid, get_feature_extractor

    cfg = model.run_config
    ds, split = _unpaired_test(model)
    n = min(len(ds.files_A), len(ds.files_B))
    items = [ds[i] for i in range(n)]
    a = torch.stack([it["A"] for it in items])
    b = torch.stack([it["B"] for it in items])
    torch.manual_seed(seed)  # MUNIT draws its random styles from this
    with model.inference():
        ab = torch.cat([model.translate(x[None], direction="AtoB") for x in a]).float()
        ba = torch.cat([model.translate(x[None], direction="BtoA") for x in b]).float()
        aba = torch.cat([model.translate(x[None], direction="BtoA") for x in ab]).float()
        bab = torch.cat([model.translate(x[None], direction="AtoB") for x in ba]).float()

    def l1(x, y):  # mean absolute error on [0, 1] images
        return ((x.clamp(-1, 1) - y.clamp(-1, 1)).abs() / 2).mean().item()

    results: dict[str, Any] = {"step": model.step, "kind": "unpaired", "ema": bool(model.ema),
                               "reference": f"{cfg.data.path}:{split}", "n": n,
                               "cycle_L1_A": l1(aba, a), "cycle_L1_B": l1(bab, b)}
    if builtin_name(str(cfg.data.path)) == "photo2tone":
        from condgen.data.builtin_unpaired import true_translation

        truth = true_translation(a)  # testB holds the hidden grade of testA: the exact answers are known
        results.update(true_map_L1_AtoB=l1(ab, truth), no_translation_L1_AtoB=l1(a, truth),
                       true_map_L1_BtoA=l1(ba, a), no_translation_L1_BtoA=l1(b, a))
    try:
        extractor = get_feature_extractor(features, dataset=Path(str(cfg.data.path)).name, weights_path=weights_path)
    except WeightsNotFoundError as e:
        results["fid_note"] = f"no FID/KID: {e}"
        return results
    for name, fake, real in (("AtoB", ab, b), ("BtoA", ba, a)):
        scores = fid_kid(iter([real]), iter([fake]), extractor)
        results.update({f"fid_{name}": scores["fid"], f"kid_{name}": scores["kid_mean"]})
    results["features"] = scores["features"]
    return results


def evaluate_style(model, run: Path) -> dict[str, Any]:
    """Style transfer on held-out content photos: the unweighted content and style losses of the stylised images
    and the style loss of the photos themselves (the baseline to beat), with the run's VGG weights and style
    image (named in the results)."""
    from condgen.models.style import PerceptualLoss, load_style_image

    cfg = model.run_config
    model.loss = PerceptualLoss.from_config(model.cfg)  # the training losses: VGG + the run's style image
    model.loss.set_style(load_style_image(model.cfg.style_image, model.cfg.style_size))
    model.loss.to(model.device)
    ds, split = held_out(model, "photos: add a test/ folder of photographs beside train/")
    loader = torch.utils.data.DataLoader(ds, batch_size=4, shuffle=False, num_workers=0)
    with model.inference():
        metrics, grid = model.validate(loader)
    if grid is not None:
        from condgen.train.images import save_grid

        save_grid(grid, run / "eval_grid.png", nrow=model.val_grid_nrow)
    return {"step": model.step, "kind": "style", "ema": bool(model.ema),
            "reference": f"{cfg.data.path}:{split}", "n": len(ds), "vgg_weights": str(model.cfg.vgg_weights),
            "style_image": str(model.cfg.style_image), **metrics}


SEGMENTER_STEPS = 1500  # the built-in segmenter's training (condgen.metrics.segmenter's default)


def builtin_segmenter(data: str) -> Path:
    """The evaluation segmenter of a built-in semantic set (scenes, scenes64): trained on its real training images
    the first time it is needed (deterministic, a few minutes on a CPU) and cached as
    ``<cache>/segmenters/scenes64.safetensors``; the same file serves both sets (it works at 64 px)."""
    from condgen.data.builtin import cache_dir
    from condgen.metrics import segmenter as seg

    path = cache_dir() / "segmenters" / "scenes64.safetensors"
    side = path.with_suffix(".json")
    try:
        if json.loads(side.read_text()).get("steps") == SEGMENTER_STEPS and path.is_file():
            return path
    except (OSError, ValueError):
        pass
    print(f"training the evaluation segmenter for {data} once ({SEGMENTER_STEPS} steps on its real training "
          f"images; cached in {path}) ...", flush=True)
    seg.main(["--data", "scenes64", "--out", str(path), "--steps", str(SEGMENTER_STEPS)])
    return path


def evaluate_semantic(model, segmenter: str | Path | None, seed: int) -> dict[str, Any]:
    """Label-map synthesis on the held-out maps: mIoU of a segmenter on the generated images against the maps they
    came from, beside the same segmenter on the real images (the ceiling), and FID/KID between generated and real
    images in the segmenter's features. The segmenter is the user's file, or the built-in one for scenes."""
    import torch.nn.functional as F

    from condgen.data.builtin import builtin_name
    from condgen.metrics import fid_kid
    from condgen.metrics.segmenter import SegmenterFeatures, confusion_matrix, load_segmenter, seg_scores

    cfg = model.run_config
    if segmenter is None:
        name = builtin_name(str(cfg.data.path))
        if name not in ("scenes", "scenes64"):
            raise ConfigError(f"evaluating {cfg.model_name} needs a segmenter for {cfg.data.path}: pass --segmenter "
                              "FILE (train one on the real images with `python -m condgen.metrics.segmenter --data "
                              "DATA --out FILE`); the built-in scenes sets have one built in.")
        segmenter = builtin_segmenter(name)
    net = load_segmenter(segmenter)
    ds, split = held_out(model, "images/ and labels/ (test/ or val/)")
    items = [ds[i] for i in range(len(ds))]
    maps = torch.stack([it["segmap"] for it in items])
    real = torch.stack([it["image"] for it in items]).float()
    inst = torch.stack([it["instance"] for it in items]) if "instance" in items[0] else None
    fakes = []
    with model.inference():
        for k in range(0, len(items), 16):
            kw = {"instance": inst[k:k + 16]} if inst is not None else {}
            fakes.append(model.generate(maps[k:k + 16].to(model.device), seed=seed + k, **kw).float().cpu())
    fake = torch.cat(fakes)
    meta = json.loads(Path(segmenter).with_suffix(".json").read_text())
    side = int((meta.get("image_size") or [64])[-1])  # the size the segmenter was trained at

    def to_seg(x):  # images at the segmenter's size
        return F.interpolate(x, size=(side, side), mode="area") if x.shape[-1] != side else x

    labels = F.interpolate(maps[:, None].float(), size=(side, side), mode="nearest")[:, 0].long()
    scores = {}
    for name, x in (("generated", fake), ("real", real)):
        conf = confusion_matrix(torch.cat([net.predict(b) for b in to_seg(x).split(64)]), labels, net.num_classes)
        scores[name] = seg_scores(conf)
    fk = fid_kid(iter([to_seg(real)]), iter([to_seg(fake)]), SegmenterFeatures(net))
    return {"step": model.step, "kind": "semantic", "ema": bool(model.ema),
            "reference": f"{cfg.data.path}:{split}", "n": len(items), "segmenter": str(segmenter),
            "miou": scores["generated"]["miou"], "pixel_accuracy": scores["generated"]["pixel_accuracy"],
            "miou_real": scores["real"]["miou"], "fid_segmenter": fk["fid"], "kid_segmenter": fk["kid_mean"]}


def has_targets(model) -> bool:
    """Whether the model is evaluated against ground truth (it implements ``validate``: pix2pix, SR models)."""
    from condgen.models.base import GenerativeModel

    return type(model).validate is not GenerativeModel.validate


def evaluate_with_targets(model, run: Path) -> dict[str, Any]:
    """The model's own held-out metrics (``validate``: L1/PSNR/SSIM for pix2pix; PSNR/SSIM on Y of SR and of the
    bicubic baseline for SR models) per image and averaged over the whole test split (else val), and a grid of the
    first images saved as RUN/eval_grid.png."""
    from condgen.train.images import save_grid

    cfg = model.run_config
    ds, split = held_out(model, "pairs: add test/ or val/, or use `condgen data make`")
    # one image at a time: per-image scores, images of different sizes, and pix2pix's paper test mode (batch
    # statistics) on batch 1 as in the paper
    loader = torch.utils.data.DataLoader(ds, batch_size=1, shuffle=False, num_workers=0)
    sums: dict[str, float] = {}
    per_image, grids = [], []
    with model.inference():
        for batch in loader:
            metrics, grid = model.validate([model_batch(model, batch)])
            for k, v in metrics.items():
                sums[k] = sums.get(k, 0.0) + v
            path = batch.get("path", [None])[0]
            per_image.append({"path": str(path) if path is not None else None, **metrics})
            if grid is not None and len(grids) < 4 and (not grids or grid.shape[-2:] == grids[0].shape[-2:]):
                grids.append(grid)
    if grids:
        save_grid(torch.cat(grids), run / "eval_grid.png", nrow=model.val_grid_nrow)
    n = len(per_image)
    return {"step": model.step, "kind": "targets", "reference": f"{cfg.data.path}:{split}",
            "n": n, "ema": bool(model.ema), **{k: v / max(n, 1) for k, v in sums.items()}, "per_image": per_image}


def _record(run: Path, results: dict[str, Any], tensorboard: bool = True) -> dict[str, Any]:
    """Append results to RUN/eval.json and metrics.jsonl and refresh the report."""
    out = run / "eval.json"
    history = json.loads(out.read_text()) if out.is_file() else []
    history.append(results)
    out.write_text(json.dumps(history, indent=2))
    from condgen.train.logging import RunLogger

    scores = {k: v for k, v in results.items() if isinstance(v, (int, float)) and k not in ("step", "time", "kind")}
    with RunLogger(run, tensorboard=tensorboard) as log:  # metrics.jsonl and, as in training, TensorBoard (eval/)
        log.scalars(results["step"] or 0, scores, kind="eval")
    from condgen.train.report import write_report

    write_report(run)
    return results


def format_results(r: dict[str, Any]) -> str:
    """A short human-readable summary of evaluate_run's results."""
    if r.get("kind") in ("unpaired", "style", "semantic"):
        skip = {"step", "kind", "reference", "n", "ema", "features"}
        scores = "   ".join(f"{k} {v:.4f}" for k, v in r.items() if k not in skip and isinstance(v, float))
        notes = "".join(f"\n  {r[k]}" for k in ("fid_note",) if k in r)
        extra = "".join(f", {k} {r[k]}" for k in ("vgg_weights", "style_image", "features", "segmenter") if k in r)
        return (f"step {r['step']}: {r['n']} held-out items ({r['reference']}{extra})"
                f"{' (EMA generator)' if r['ema'] else ''}\n  {scores}{notes}")
    if r.get("kind") == "targets":
        skip = {"step", "kind", "reference", "n", "ema"}
        scores = "   ".join(f"{k} {v:.4f}" for k, v in r.items() if k not in skip and isinstance(v, float))
        return (f"step {r['step']}: {r['n']} held-out items ({r['reference']}){' (EMA generator)' if r['ema'] else ''}"
                f"\n  {scores}")
    lines = [f"step {r['step']}: {r['n_fake']} generated vs {r['n_real']} real ({r['reference']}), "
             f"features: {r['features']}{' (EMA generator)' if r['ema'] else ''}",
             f"  FID {r['fid']:.3f}" + (f"   (floor, real test vs real train: {r['fid_floor']:.3f})"
                                       if "fid_floor" in r else ""),
             f"  KID {r['kid_mean']:.5f} ± {r['kid_std']:.5f}" + (f"   (floor {r['kid_floor']:.5f})"
                                                               if "kid_floor" in r else "")]
    if "class_accuracy" in r:
        acc = r["class_accuracy"]
        note = f"  class accuracy: {r.get('class_accuracy_note')}"
        lines.append(f"  class accuracy {acc:.4f}" if acc is not None else note)
    return "\n".join(lines)
