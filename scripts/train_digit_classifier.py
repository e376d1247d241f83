"""Train the digits classifier shipped as condgen/metrics/weights/digits_classifier.safetensors (CPU, < 1 min).

Usage: python scripts/train_digit_classifier.py [--seed 0] [--epochs 12] [--out PATH]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import math
import os
import shlex
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torchvision.transforms.v2.functional import gaussian_blur

from condgen.data.builtin_arrays import digits_arrays
from condgen.metrics.classifier import DIGITS_CLASSIFIER_WEIGHTS, DigitClassifier, load_digit_classifier


def to_tensor(images_u8) -> torch.Tensor:
    """uint8 N x H x W array -> float N x 1 x H x W in [-1, 1]."""
    return torch.from_numpy(images_u8).float().div(127.5).sub(1.0).unsqueeze(1)


def augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Random small affine warps, intensity jitter, blur and noise so the classifier tolerates generator artefacts."""
    n = x.shape[0]

    def u(lo: float, hi: float, size: int = n) -> torch.Tensor:
        return torch.rand(size, generator=g) * (hi - lo) + lo

    angle = u(-12, 12) * math.pi / 180
    scale = u(0.9, 1.1)
    shear = u(-0.15, 0.15)
    tx, ty = u(-3, 3) / 16, u(-3, 3) / 16  # 1 pixel is 2/32 in grid coordinates
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin + shear, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    # warp x + 1 so the zero padding grid_sample adds is the black (-1) background, not mid-grey
    x = F.grid_sample(x + 1, grid, mode="bilinear", padding_mode="zeros", align_corners=False) - 1

    gain = u(0.75, 1.1).view(n, 1, 1, 1)
    x = (x + 1) * gain - 1
    blur = torch.rand(n, generator=g) < 0.3
    if blur.any():
        sigma = float(u(0.4, 1.0, 1))
        x[blur] = gaussian_blur(x[blur], kernel_size=[5, 5], sigma=[sigma, sigma])
    noisy = (torch.rand(n, generator=g) < 0.3).view(n, 1, 1, 1)
    x = x + noisy * u(0.0, 0.12).view(n, 1, 1, 1) * torch.randn(x.shape, generator=g)
    return x.clamp(-1, 1)


@torch.no_grad()
def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Top-1 accuracy of ``model`` on images ``x`` with labels ``y``."""
    model.eval()
    pred = torch.cat([model(xb).argmax(1) for xb in x.split(512)])
    return (pred == y).float().mean().item()


def main(argv: list[str] | None = None) -> int:
    """Train, evaluate the saved (fp16) weights on the test split, write safetensors + JSON."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--out", type=Path, default=DIGITS_CLASSIFIER_WEIGHTS)
    args = p.parse_args(argv)

    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    g = torch.Generator().manual_seed(args.seed)

    data = digits_arrays()
    x_train, y_train = to_tensor(data["train"][0]), torch.from_numpy(data["train"][1])
    x_test, y_test = to_tensor(data["test"][0]), torch.from_numpy(data["test"][1])

    model = DigitClassifier()
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=5e-4)
    steps_per_epoch = math.ceil(len(x_train) / args.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch)

    t0 = time.perf_counter()
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(x_train), generator=g)
        total = 0.0
        for idx in order.split(args.batch_size):
            xb = augment(x_train[idx], g)
            loss = F.cross_entropy(model(xb), y_train[idx], label_smoothing=0.05)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        if epoch % 4 == 3 or epoch == args.epochs - 1:
            print(f"epoch {epoch + 1:3d}  loss {total / len(x_train):.4f}  "
                  f"test acc {accuracy(model, x_test, y_test):.4f}  ({time.perf_counter() - t0:.1f}s)")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    state = {k: v.detach().half().contiguous() if v.is_floating_point() else v.contiguous()
             for k, v in model.state_dict().items()}
    # one metadata key: safetensors writes a multi-key map in random order, which breaks byte-identical reruns
    meta_str = json.dumps({"arch": "DigitClassifier", "seed": args.seed, "epochs": args.epochs}, sort_keys=True)
    save_file(state, str(tmp), metadata={"condgen": meta_str})
    os.chmod(tmp, 0o644)  # safetensors creates the file owner-only; package data must be world-readable
    os.replace(tmp, args.out)  # atomic: a crash never leaves a half-written weights file

    # report the accuracy of what was shipped (fp16 round trip), not of the in-memory fp32 model
    test_acc = accuracy(load_digit_classifier(path=args.out), x_test, y_test)
    info = {
        "test_accuracy": round(test_acc, 6),
        "n_train": len(x_train),
        "n_test": len(x_test),
        "seed": args.seed,
        "epochs": args.epochs,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": shlex.join(["python", *sys.argv]) if argv is None else shlex.join(["python", __file__, *argv]),
        "torch": torch.__version__,
        "dtype": "float16",
        "sha256": hashlib.sha256(args.out.read_bytes()).hexdigest(),
        "train_seconds": round(time.perf_counter() - t0, 1),
    }
    meta = args.out.with_suffix(".json")
    meta_tmp = meta.with_suffix(".json.tmp")
    meta_tmp.write_text(json.dumps(info, indent=2) + "\n")
    os.replace(meta_tmp, meta)
    print(f"test accuracy {test_acc:.4f}; wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB) and {meta}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
