"""Super-resolution scores as the SR papers report them: PSNR and SSIM on the luma (Y) channel, ``scale`` pixels
cropped from every border, against the bicubic baseline.

The protocol (SRCNN, VDSR, EDSR, SRGAN's Table 1 and 2): convert both images to Y with ITU-R BT.601 as MATLAB's
``rgb2ycbcr`` does (``rgb_to_y``), drop ``scale`` pixels at each border (where upscalers see only half a
neighbourhood), then PSNR with peak 1 and the SSIM of Wang et al. 2004 (11 x 11 Gaussian window, sigma 1.5,
K1 = 0.01, K2 = 0.03, averaged over the window positions inside the image, as their ``ssim_index.m``). Scores are
computed in float64 on the images as given (no rounding to 8 bits first).

Images are condgen's: float N x C x H x W (or C x H x W) in [-1, 1], C = 3 (RGB) or 1 (grey, used as Y).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import Tensor
from torch.nn import functional as F

from condgen.errors import DataError, ModelError

# ITU-R BT.601 for RGB in [0, 1], as MATLAB's rgb2ycbcr: Y in [16/255, 235/255].
Y_WEIGHTS = (65.481 / 255.0, 128.553 / 255.0, 24.966 / 255.0)
Y_OFFSET = 16.0 / 255.0
# Identical images have MSE 0 and an infinite PSNR; scores are capped here instead so means stay finite.
PSNR_CAP = 100.0
SSIM_WINDOW, SSIM_SIGMA, SSIM_K1, SSIM_K2 = 11, 1.5, 0.01, 0.03


def _batched(x: Tensor, name: str) -> Tensor:
    if not isinstance(x, Tensor) or x.dim() not in (3, 4) or x.shape[-3] not in (1, 3):
        got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise DataError(f"{name} must be a C x H x W or N x C x H x W image tensor with C = 1 or 3, got {got}.")
    return x[None] if x.dim() == 3 else x


def rgb_to_y(x01: Tensor) -> Tensor:
    """The BT.601 luma of RGB images in [0, 1] (N x 3 x H x W or 3 x H x W) as MATLAB's ``rgb2ycbcr``:
    ``Y = 16/255 + (65.481 R + 128.553 G + 24.966 B) / 255``, shape N x 1 x H x W (1 x H x W). A grey (1-channel)
    image is returned as it is."""
    x = _batched(x01, "rgb_to_y's input")
    if x.shape[1] == 1:
        return x01
    w = torch.tensor(Y_WEIGHTS, dtype=x.dtype if x.is_floating_point() else torch.float32, device=x.device)
    y = Y_OFFSET + (x * w.view(1, 3, 1, 1)).sum(dim=1, keepdim=True)
    return y if x01.dim() == 4 else y[0]


def _y_pair(pred: Tensor, target: Tensor, crop: int) -> tuple[Tensor, Tensor]:
    """Both [-1, 1] batches as float64 Y in [0, 1] with ``crop`` pixels cut from every border."""
    pred, target = _batched(pred, "the SR image"), _batched(target, "the HR image")
    if pred.shape != target.shape:
        raise DataError(f"the SR and HR images differ in shape: {tuple(pred.shape)} vs {tuple(target.shape)}; "
                        "upscale the LR image by exactly the scale of the HR image.")
    crop = int(crop)
    h, w = pred.shape[-2:]
    if crop < 0 or h - 2 * crop < 1 or w - 2 * crop < 1:
        raise DataError(f"cannot crop {crop} border pixels from {h}x{w} images.")
    ys = []
    for x in (pred, target):
        y = rgb_to_y((x.detach().to(torch.float64) + 1.0) / 2.0)
        ys.append(y[..., crop:h - crop, crop:w - crop] if crop else y)
    return ys[0], ys[1]


def psnr_y(pred: Tensor, target: Tensor, crop: int = 0) -> Tensor:
    """Per-image PSNR (dB, float64 tensor of N) on Y with ``crop`` border pixels dropped; peak 1 on [0, 1] Y, so
    ``10 log10(1 / MSE)``; identical images score ``PSNR_CAP`` (100 dB) instead of infinity."""
    a, b = _y_pair(pred, target, crop)
    mse = ((a - b) ** 2).flatten(1).mean(dim=1)
    return (10.0 * torch.log10(1.0 / mse.clamp_min(10.0 ** (-PSNR_CAP / 10.0)))).clamp_max(PSNR_CAP)


def _gaussian_window(dtype: torch.dtype, device: torch.device) -> Tensor:
    r = torch.arange(SSIM_WINDOW, dtype=dtype, device=device) - (SSIM_WINDOW - 1) / 2
    g = torch.exp(-(r ** 2) / (2 * SSIM_SIGMA ** 2))
    return g / g.sum()


def _blur(x: Tensor, g: Tensor) -> Tensor:
    """``x`` filtered by the separable window ``g`` x ``g``ᵀ over the positions where it fits (``valid``)."""
    # Shifted sums: exact in float64 and much faster on CPU than a float64 convolution.
    k, (h, w) = len(g), x.shape[-2:]
    x = sum(x[..., :, i:w - k + 1 + i] * g[i] for i in range(k))
    return sum(x[..., i:h - k + 1 + i, :] * g[i] for i in range(k))


def ssim_y(pred: Tensor, target: Tensor, crop: int = 0) -> Tensor:
    """Per-image SSIM (float64 tensor of N) on Y with ``crop`` border pixels dropped: Wang et al.'s Gaussian
    window (11 x 11, sigma 1.5), data range 1, averaged over every position where the window fits (``valid``)."""
    a, b = _y_pair(pred, target, crop)
    if min(a.shape[-2:]) < SSIM_WINDOW:
        raise DataError(f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels after cropping {crop} "
                        f"border pixels, got {a.shape[-2]}x{a.shape[-1]}.")
    g = _gaussian_window(a.dtype, a.device)
    mu_a, mu_b, aa, bb, ab = _blur(torch.cat([a, b, a * a, b * b, a * b], dim=1), g).unbind(1)
    var_a, var_b, cov = aa - mu_a ** 2, bb - mu_b ** 2, ab - mu_a * mu_b
    c1, c2 = SSIM_K1 ** 2, SSIM_K2 ** 2
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return ssim_map.flatten(1).mean(dim=1)


def sr_scores(sr: Tensor, hr: Tensor, scale: int) -> dict[str, Tensor]:
    """``{"psnr_y": N, "ssim_y": N}`` per-image scores of SR images against their HR images (both in [-1, 1]),
    with ``scale`` pixels cropped from every border: the standard SR protocol (module doc)."""
    return {"psnr_y": psnr_y(sr, hr, crop=scale), "ssim_y": ssim_y(sr, hr, crop=scale)}


def bicubic_upscale(lr: Tensor, scale: int, value_range: tuple[float, float] = (-1.0, 1.0)) -> Tensor:
    """The bicubic baseline: LR images (N x C x h x w or C x h x w) upscaled ``scale`` times with the same cubic
    as the degradation (``condgen.data.sr.bicubic_downscale``: Keys' a = -0.5, PIL's and MATLAB's), clamped to
    ``value_range``.

    torch's antialiased bicubic is that kernel; antialiasing only widens it when shrinking, so upscaling does no
    extra smoothing. (torch's plain bicubic uses a = -0.75, a slightly sharper cubic.)
    """
    x = _batched(lr, "the LR image")
    out = F.interpolate(x.float(), scale_factor=int(scale), mode="bicubic", align_corners=False, antialias=True)
    out = out.clamp(*value_range)
    return out if lr.dim() == 4 else out[0]


def _mean(rows: list[dict], key: str) -> float:
    return sum(r[key] for r in rows) / len(rows)


@torch.no_grad()
def evaluate_sr(upscale: Callable[[Tensor], Tensor], dataset: Iterable[dict], scale: int | None = None,
                limit: int | None = None) -> dict:
    """Score an upscaler on SR data (items ``{"lr", "hr", "path"}`` in [-1, 1], e.g. ``load_sr(..., split="test",
    hr_crop=0)``) and the bicubic baseline on the same items.

    ``upscale`` gets one 1 x C x h x w LR batch and returns the 1 x C x (scale h) x (scale w) SR batch in [-1, 1]
    (clamped here). ``scale`` defaults to ``dataset.scale``; ``limit`` scores the first items only. Returns
    ``{"per_image": [{"path", "psnr_y", "ssim_y", "bicubic_psnr_y", "bicubic_ssim_y"}, ...],
    "mean": {"psnr_y", "ssim_y"}, "bicubic": {"psnr_y", "ssim_y"}, "scale": scale, "n": count}``.
    """
    scale = int(scale if scale is not None else getattr(dataset, "scale", 0))
    if scale < 1:
        raise DataError("evaluate_sr needs the scale: pass scale= or a dataset with a .scale (condgen.data.load_sr).")
    n = len(dataset) if limit is None else min(int(limit), len(dataset))
    rows = []
    for i in range(n):
        item = dataset[i]
        lr, hr = item["lr"][None].float(), item["hr"][None].float()
        sr = upscale(lr)
        sr = sr[None] if sr.dim() == 3 else sr
        if sr.shape[-2:] != hr.shape[-2:]:
            raise ModelError(f"the upscaler returned {sr.shape[-2]}x{sr.shape[-1]} for a {lr.shape[-2]}x"
                             f"{lr.shape[-1]} LR image whose HR image is {hr.shape[-2]}x{hr.shape[-1]}; it must "
                             f"upscale by exactly {scale}.")
        sr = sr.detach().float().cpu().clamp(-1.0, 1.0)
        ours, base = sr_scores(sr, hr, scale), sr_scores(bicubic_upscale(lr, scale), hr, scale)
        rows.append({"path": item.get("path", str(i)), **{k: float(v[0]) for k, v in ours.items()},
                     **{f"bicubic_{k}": float(v[0]) for k, v in base.items()}})
    if not rows:
        raise DataError("evaluate_sr got an empty dataset; nothing to score.")
    return {"per_image": rows, "mean": {k: _mean(rows, k) for k in ("psnr_y", "ssim_y")},
            "bicubic": {k: _mean(rows, f"bicubic_{k}") for k in ("psnr_y", "ssim_y")}, "scale": scale, "n": n}


__all__ = ["PSNR_CAP", "bicubic_upscale", "evaluate_sr", "psnr_y", "rgb_to_y", "sr_scores", "ssim_y"]
