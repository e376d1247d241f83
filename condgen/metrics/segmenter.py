"""A small segmentation network for the semantic-synthesis protocol (SPADE, OASIS, SEAN papers): a segmenter
trained on REAL images is applied to GENERATED ones, and its mIoU against the input label maps says how well the
generator follows the layout; FID/KID in its feature space (the penultimate per-pixel features, globally
averaged) say how real the images look to it.

The network is a compact U-Net (three 2x downsamplings, skip connections, batch norm): at 64 px it trains on the
built-in ``scenes64`` in a few CPU minutes. Train it with this module's script (nothing is downloaded):

    python -m condgen.metrics.segmenter --data scenes64 --out /tmp/segmenter.safetensors [--steps 1500]

which writes the weights (safetensors, float32) and a JSON sidecar (classes, width, steps, its mIoU on the real
test split = the ceiling a generator can reach on this measure). Load with ``load_segmenter(path)``; use
``SegmenterFeatures(net)`` with ``condgen.metrics.fid`` for FID/KID.

mIoU: one confusion matrix accumulated over all pixels of a split (rows = true class, columns = predicted),
pixels whose true id is the don't-care id (255) skipped; per class IoU = TP / (TP + FP + FN); classes absent from
both the truth and the prediction (union 0) have no IoU and are left out of the mean (a class that is predicted
but absent from the truth has IoU 0 and counts).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from condgen.errors import DataError, WeightsNotFoundError
from condgen.metrics.features import FeatureExtractor

IGNORE_ID = 255


# ----------------------------------------------------------------------------------------------- mIoU
def confusion_matrix(pred: Tensor, target: Tensor, num_classes: int, ignore_index: int = IGNORE_ID) -> Tensor:
    """K x K int64 counts, rows = true class, columns = predicted class, of two id maps of the same shape; pixels
    whose target is ``ignore_index`` (or outside 0..K-1) are skipped. Predictions outside 0..K-1 are an error."""
    if pred.shape != target.shape:
        raise DataError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
    pred, target = pred.reshape(-1).long().cpu(), target.reshape(-1).long().cpu()
    keep = (target != ignore_index) & (target >= 0) & (target < num_classes)
    pred, target = pred[keep], target[keep]
    if pred.numel() and (pred.min() < 0 or pred.max() >= num_classes):
        raise DataError(f"predicted ids must be in 0..{num_classes - 1}")
    return torch.bincount(target * num_classes + pred, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def iou_per_class(conf: Tensor) -> Tensor:
    """IoU = TP / (TP + FP + FN) per class (float64), NaN where the class is in neither truth nor prediction."""
    conf = conf.double()
    tp = conf.diagonal()
    union = conf.sum(0) + conf.sum(1) - tp
    return torch.where(union > 0, tp / union.clamp_min(1), torch.full_like(tp, float("nan")))


def mean_iou(conf: Tensor) -> float:
    """Mean of ``iou_per_class`` over the classes that occur (in truth or prediction); NaN for an empty matrix."""
    iou = iou_per_class(conf)
    ok = ~iou.isnan()
    return float(iou[ok].mean()) if ok.any() else float("nan")


def pixel_accuracy(conf: Tensor) -> float:
    """Share of the counted pixels whose class was predicted right."""
    total = conf.sum()
    return float(conf.diagonal().sum().double() / total) if total > 0 else float("nan")


def seg_scores(conf: Tensor, class_names: list[str] | None = None) -> dict[str, Any]:
    """mIoU, pixel accuracy and the per-class IoU (None where undefined) of a confusion matrix."""
    iou = iou_per_class(conf)
    names = class_names or [str(i) for i in range(conf.shape[0])]
    return {"miou": mean_iou(conf), "pixel_accuracy": pixel_accuracy(conf),
            "iou": {n: (None if v != v else float(v)) for n, v in zip(names, iou.tolist())},
            "pixels": int(conf.sum())}


# ----------------------------------------------------------------------------------------------- network
def _block(c_in: int, c_out: int) -> nn.Sequential:
    """Two 3x3 conv + batch norm + ReLU."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
                         nn.ReLU(inplace=True), nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class Segmenter(nn.Module):
    """A compact U-Net: images in [-1, 1] (N x 3 x H x W, H and W multiples of 8) -> N x K x H x W class logits.
    Widths w, 2w, 4w, 4w down, then 2w, w, w up with skips; the last decoder map (w channels, after ReLU) is the
    penultimate layer whose global average is the feature vector."""

    def __init__(self, num_classes: int, width: int = 16, in_channels: int = 3) -> None:
        super().__init__()
        if num_classes < 1:
            raise DataError("a segmenter needs at least one class")
        w = width
        self.num_classes, self.width, self.in_channels = num_classes, width, in_channels
        self.enc1, self.enc2, self.enc3 = _block(in_channels, w), _block(w, 2 * w), _block(2 * w, 4 * w)
        self.mid = _block(4 * w, 4 * w)
        self.dec3, self.dec2, self.dec1 = _block(8 * w, 2 * w), _block(4 * w, w), _block(2 * w, w)
        self.head = nn.Conv2d(w, num_classes, 1)

    @staticmethod
    def _up(x: Tensor, skip: Tensor) -> Tensor:
        return torch.cat([F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False), skip], 1)

    def penultimate(self, x: Tensor) -> Tensor:
        """The last decoder map, N x width x H x W."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise DataError(f"the segmenter takes N x {self.in_channels} x H x W images, got {tuple(x.shape)}")
        e1 = self.enc1(x.float())
        e2 = self.enc2(F.max_pool2d(e1, 2))
        e3 = self.enc3(F.max_pool2d(e2, 2))
        m = self.mid(F.max_pool2d(e3, 2))
        d3 = self.dec3(self._up(m, e3))
        d2 = self.dec2(self._up(d3, e2))
        return self.dec1(self._up(d2, e1))

    def features(self, x: Tensor) -> Tensor:
        """N x width: the penultimate map averaged over all pixels."""
        return self.penultimate(x).mean((2, 3))

    def forward(self, x: Tensor) -> Tensor:
        """N x num_classes x H x W logits."""
        return self.head(self.penultimate(x))

    @torch.no_grad()
    def predict(self, x: Tensor, batch_size: int = 64) -> Tensor:
        """N x H x W predicted ids (eval mode, in batches)."""
        was = self.training
        self.eval()
        try:
            return torch.cat([self(b).argmax(1) for b in x.split(batch_size)])
        finally:
            self.train(was)


class SegmenterFeatures(FeatureExtractor):
    """FID/KID features: the segmenter's penultimate map, globally averaged (``width``-d). Always in eval mode."""

    name = "scenes-segmenter"

    def __init__(self, segmenter: Segmenter) -> None:
        super().__init__()
        self.segmenter = segmenter.eval().requires_grad_(False)
        self.dim = segmenter.width

    def train(self, mode: bool = True) -> SegmenterFeatures:
        """Stay in eval mode (batch-norm statistics must not move)."""
        return super().train(False)

    def forward(self, images: Tensor) -> Tensor:
        """N x width features of images in [-1, 1]."""
        return self.segmenter.features(images)


# ----------------------------------------------------------------------------------------------- data, training
def load_split(data: str, split: str, size: int = 64) -> tuple[Tensor, Tensor, dict[str, Any]]:
    """(images N x 3 x size x size in [-1, 1], label maps N x size x size int64, info) of a semantic dataset split,
    as the models' evaluation loader reads it (resized to ``size``, no crop, no flip)."""
    from condgen.data import load_dataset

    ds = load_dataset(data, kind="semantic", split=split, image_size=size, train=False)
    items = [ds[i] for i in range(len(ds))]
    info = {"label_nc": int(ds.label_nc), "class_names": list(getattr(ds, "class_names", None) or [])}
    return torch.stack([it["image"] for it in items]).float(), torch.stack([it["segmap"] for it in items]), info


@torch.no_grad()
def evaluate_segmenter(net: Segmenter, images: Tensor, labels: Tensor, class_names: list[str] | None = None,
                       batch_size: int = 64) -> dict[str, Any]:
    """mIoU / pixel accuracy / per-class IoU of ``net`` on images against their label maps."""
    conf = torch.zeros(net.num_classes, net.num_classes, dtype=torch.int64)
    for x, y in zip(images.split(batch_size), labels.split(batch_size)):
        conf += confusion_matrix(net.predict(x), y, net.num_classes)
    return seg_scores(conf, class_names)


def train_segmenter(images: Tensor, labels: Tensor, num_classes: int, steps: int = 1500, batch_size: int = 8,
                    width: int = 16, lr: float = 2e-3, seed: int = 0, log_every: int = 0) -> Segmenter:
    """Train a Segmenter on (images, label maps): random batches with horizontal flips, per-pixel cross-entropy
    (don't-care 255 ignored), Adam with the learning rate cosine-decayed to 0. Returned in eval mode."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = Segmenter(num_classes, width=width, in_channels=images.shape[1])
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, steps))
    net.train()
    t0 = time.perf_counter()
    for step in range(steps):
        idx = torch.randint(0, images.shape[0], (batch_size,), generator=g)
        x, y = images[idx], labels[idx]
        flip = torch.rand(batch_size, generator=g) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        y = torch.where(flip[:, None, None], y.flip(-1), y)
        loss = F.cross_entropy(net(x), y, ignore_index=IGNORE_ID)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if log_every and (step + 1) % log_every == 0:
            print(f"segmenter step {step + 1}/{steps} loss {loss.item():.4f} ({time.perf_counter() - t0:.0f} s)",
                  flush=True)
    return net.eval()


def save_segmenter(net: Segmenter, path: str | Path, meta: dict[str, Any] | None = None) -> Path:
    """Weights as safetensors (float32) + ``<path>.json`` with the architecture and ``meta``."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    side = {"num_classes": net.num_classes, "width": net.width, "in_channels": net.in_channels, **(meta or {})}
    path.with_suffix(".json").write_text(json.dumps(side, indent=1) + "\n")
    return path


def load_segmenter(path: str | Path, device: str | torch.device = "cpu") -> Segmenter:
    """A Segmenter saved by ``save_segmenter`` (its JSON sidecar gives the architecture), frozen, eval mode."""
    from safetensors.torch import load_file

    path = Path(path)
    side = path.with_suffix(".json")
    if not path.is_file() or not side.is_file():
        raise WeightsNotFoundError(f"segmenter weights {path} (and {side.name}) not found; train one with "
                                   f"`python -m condgen.metrics.segmenter --data scenes64 --out {path}`.")
    meta = json.loads(side.read_text())
    net = Segmenter(meta["num_classes"], width=meta["width"], in_channels=meta.get("in_channels", 3))
    net.load_state_dict(load_file(str(path)))
    return net.eval().requires_grad_(False).to(device)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Train the segmenter on a semantic dataset's train split, score it on the test split, save both."""
    ap = argparse.ArgumentParser(description="Train the semantic-synthesis evaluation segmenter on real images.")
    ap.add_argument("--data", default="scenes64", help="semantic dataset (built-in name or folder)")
    ap.add_argument("--out", type=Path, required=True, help="weights file (.safetensors); a .json sidecar is written")
    ap.add_argument("--size", type=int, default=64, help="image side (scenes64: 64)")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    x_tr, y_tr, info = load_split(args.data, "train", args.size)
    x_te, y_te, _ = load_split(args.data, "test", args.size)
    t0 = time.perf_counter()
    net = train_segmenter(x_tr, y_tr, info["label_nc"], steps=args.steps, batch_size=args.batch_size,
                          width=args.width, lr=args.lr, seed=args.seed, log_every=max(1, args.steps // 10))
    secs = time.perf_counter() - t0
    names = info["class_names"] or None
    test, train_sc = evaluate_segmenter(net, x_te, y_te, names), evaluate_segmenter(net, x_tr, y_tr, names)
    meta = {"data": args.data, "class_names": info["class_names"], "steps": args.steps, "batch_size": args.batch_size,
            "lr": args.lr, "seed": args.seed, "n_train": int(x_tr.shape[0]), "n_test": int(x_te.shape[0]),
            "image_size": list(x_tr.shape[-2:]), "train_seconds": secs, "test_miou": test["miou"],
            "test_pixel_accuracy": test["pixel_accuracy"], "test_iou": test["iou"], "train_miou": train_sc["miou"],
            "command": "python -m condgen.metrics.segmenter " + " ".join(argv if argv is not None else []),
            "torch": torch.__version__}
    save_segmenter(net, args.out, meta)
    print(f"segmenter: test mIoU {test['miou']:.4f}, pixel accuracy {test['pixel_accuracy']:.4f} "
          f"(train mIoU {train_sc['miou']:.4f}), {secs:.0f} s; wrote {args.out}", flush=True)
    return meta


__all__ = ["Segmenter", "SegmenterFeatures", "confusion_matrix", "evaluate_segmenter", "iou_per_class",
           "load_segmenter", "load_split", "mean_iou", "pixel_accuracy", "save_segmenter", "seg_scores",
           "train_segmenter"]

if __name__ == "__main__":
    main()
