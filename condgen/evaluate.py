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
                 seed: int = 0, ema: bool = True, checkpoint: str | Path | None = None) -> dict[str, Any]:
    """Compute the metrics of a run's generator and record them in the run directory."""
    from condgen.metrics import class_accuracy, fid_kid, get_feature_extractor

    run = Path(run)
    if checkpoint is not None and not Path(checkpoint).is_file() and (run / "checkpoints" / str(checkpoint)).is_file():
        checkpoint = run / "checkpoints" / str(checkpoint)
    model = condgen.load(run, checkpoint=checkpoint, ema=ema)
    if has_targets(model):
        return _record(run, evaluate_with_targets(model, run), model.run_config.train.tensorboard)
    if not hasattr(model, "sample_z"):
        raise ConfigError(f"condgen evaluate measures generators (FID/KID: gan, dcgan, cgan) and models with "
                          f"targets (pix2pix, srresnet, srgan: L1/PSNR/SSIM on the test split); "
                          f"{model.run_config.model_name} is neither yet.")
    cfg = model.run_config
    data = cfg.data.path
    train_ds = type(model).load_data(cfg, split="train", train=False)
    try:
        test_ds = type(model).load_data(cfg, split="test", train=False)
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
        "step": getattr(model, "step", None), "n_fake": scores["n_fake"], "n_real": scores["n_real"],
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
    ds, split = None, None
    for split in ("test", "val"):
        try:
            ds = type(model).load_eval_data(cfg, split)
            break
        except DataError:
            continue
    if ds is None:
        raise DataError(f"{cfg.data.path} has no test or val split to evaluate {cfg.model_name} against; add "
                        f"held-out pairs (test/ or val/) or use `condgen data make`.")
    # one image at a time: per-image scores, images of different sizes, and pix2pix's paper test mode (batch
    # statistics) on batch 1 as in the paper
    loader = torch.utils.data.DataLoader(ds, batch_size=1, shuffle=False, num_workers=0)
    sums: dict[str, float] = {}
    per_image, grids = [], []
    with model.inference():
        for batch in loader:
            metrics, grid = model.validate([model.prepare_batch(batch)])
            for k, v in metrics.items():
                sums[k] = sums.get(k, 0.0) + v
            path = batch.get("path", [None])[0]
            per_image.append({"path": str(path) if path is not None else None, **metrics})
            if grid is not None and len(grids) < 4 and (not grids or grid.shape[-2:] == grids[0].shape[-2:]):
                grids.append(grid)
    if grids:
        save_grid(torch.cat(grids), run / "eval_grid.png", nrow=getattr(model, "val_grid_nrow", 3))
    n = len(per_image)
    return {"step": getattr(model, "step", None), "kind": "targets", "reference": f"{cfg.data.path}:{split}",
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
