"""Images between PIL, numpy and tensors, and image models run at any size: below the models (they import it), above
condgen.data. ``translate_tensor`` reflect-pads an input to the network's multiple and crops the output back, or goes
through overlapping tiles blended with a smooth window when the image is larger than the tile size; ``as_batch``
and ``triplets`` shape images for a model's inputs and sample grids. Nothing here imports a model or a verb."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F

from condgen.errors import DataError, InputTooSmallError


def pil_to_tensor(img: Image.Image, channels: int) -> torch.Tensor:
    """A PIL image of any mode as a 1 x C x H x W tensor in [-1, 1]."""
    from condgen.data.images import convert_channels, to_tensor

    return to_tensor(convert_channels(img, channels))[None]


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Values in [-1, 1] as 0..255 bytes (clamped, rounded)."""
    return ((x.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def tensor_to_pil(x: torch.Tensor) -> Image.Image:
    """A C x H x W (or 1 x C x H x W) tensor in [-1, 1] (or uint8 0..255) as a PIL image."""
    x = x[0] if x.dim() == 4 else x
    arr = x.cpu() if x.dtype == torch.uint8 else to_uint8(x).cpu()
    if arr.shape[0] == 1:
        return Image.fromarray(arr[0].numpy(), mode="L")
    return Image.fromarray(arr.permute(1, 2, 0).numpy(), mode="RGB")


def _pad_run(model, x: torch.Tensor, multiple: int, scale: int = 1, **gen_kwargs) -> torch.Tensor:
    """``model.generate(A=x)`` with x padded (in input pixels) to the multiple; the output, ``scale`` x the
    input's size, is cropped to scale x (h, w)."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    dtype = getattr(model, "inference_dtype", None)
    if getattr(model, "channels_last", False):
        x = x.contiguous(memory_format=torch.channels_last)
    device_type = getattr(model, "device", x.device).type
    with torch.autocast(device_type, dtype=dtype or torch.float32, enabled=dtype is not None):
        y = model.generate(A=x, **gen_kwargs)
    return y.float()[..., :h * scale, :w * scale]


def _window(size_h: int, size_w: int) -> torch.Tensor:
    """A separable raised-cosine weight that is small (not zero) at tile borders."""
    def one(n: int) -> torch.Tensor:
        t = torch.linspace(0, math.pi, n)
        return 0.05 + torch.sin(t)
    return one(size_h)[:, None] * one(size_w)[None, :]


def _tiled(model, x: torch.Tensor, multiple: int, tile: int, scale: int = 1, out_dtype=torch.float32,
           **gen_kwargs) -> torch.Tensor:
    """Overlapping ``tile`` x ``tile`` input tiles, each output placed at ``scale`` x its input position and
    blended with a window of the output tile's size.

    Memory is bounded by the tiles: the blend is summed in float over one band of output rows (a tile's height, the
    full width) and each finished band is written to the output in ``out_dtype`` (uint8 for images: 3 bytes per
    output pixel instead of the 16 of float sums over the whole image)."""
    tile = max(multiple, tile // multiple * multiple)
    overlap = max(multiple, tile // 4 // multiple * multiple) if tile > multiple else 0
    step = max(1, tile - overlap)
    n, _, h, w = x.shape
    ys = list(range(0, max(h - tile, 0) + 1, step))
    xs = list(range(0, max(w - tile, 0) + 1, step))
    if ys[-1] + tile < h:
        ys.append(h - tile)
    if xs[-1] + tile < w:
        xs.append(w - tile)
    band = min(tile, h) * scale
    out = acc = None
    weight = torch.zeros(1, 1, band, w * scale)
    top = 0  # the output row acc[..., 0, :] holds

    def finish(upto: int) -> None:  # output rows top..upto-1 get no more tiles: write them, slide the band down
        nonlocal acc, weight, top
        k = upto - top
        rows = acc[..., :k, :] / weight[..., :k, :]
        out[..., top:upto, :] = to_uint8(rows) if out_dtype == torch.uint8 else rows
        acc = torch.cat([acc[..., k:, :], acc.new_zeros(*acc.shape[:2], k, acc.shape[-1])], dim=-2)
        weight = torch.cat([weight[..., k:, :], weight.new_zeros(1, 1, k, weight.shape[-1])], dim=-2)
        top = upto

    for y0 in ys:
        if y0 * scale > top:
            finish(y0 * scale)
        for x0 in xs:
            patch = x[..., y0:y0 + tile, x0:x0 + tile]
            y = _pad_run(model, patch, multiple, scale, **gen_kwargs).cpu()
            if out is None:
                out = torch.zeros(n, y.shape[1], h * scale, w * scale, dtype=out_dtype)
                acc = torch.zeros(n, y.shape[1], band, w * scale)
            win = _window(*y.shape[-2:])
            ox = x0 * scale
            acc[..., :y.shape[-2], ox:ox + y.shape[-1]] += y * win
            weight[..., :y.shape[-2], ox:ox + y.shape[-1]] += win
    finish(h * scale)
    return out


def translate_tensor(model, image, in_channels: int, multiple: int, min_size: int, tile: int, scale: int = 1,
                     **gen_kwargs):
    """Run an image translator on an image of any size — a PIL image, a path, a uint8 numpy array or a tensor
    (see ``as_image_input``); returns the same kind of object (a PIL image for a path).
    ``gen_kwargs`` go to ``model.generate`` with every padded image or tile (e.g. direction, style codes).
    ``scale``: the model's output is this many times its input's size (super-resolution); ``multiple``,
    ``min_size`` and ``tile`` are in input pixels."""
    image, kind = as_image_input(image, in_channels)
    as_pil = kind != "tensor"
    x = pil_to_tensor(image, in_channels) if as_pil else torch.as_tensor(image)
    squeeze = x.dim() == 3
    if squeeze:
        x = x[None]
    if x.dim() != 4:
        raise DataError(f"expected an image tensor C x H x W or N x C x H x W, got shape {tuple(x.shape)}.")
    if x.shape[1] != in_channels:
        if x.shape[1] == 1 and in_channels == 3:
            x = x.expand(-1, 3, -1, -1)
        elif x.shape[1] == 3 and in_channels == 1:
            x = x.mean(1, keepdim=True)
        else:
            raise DataError(f"the model takes {in_channels}-channel images, got {x.shape[1]} channels.")
    h, w = x.shape[-2:]
    if min(h, w) < min_size:
        reason = getattr(model, "min_size_reason", None)
        why = f" ({reason()})" if callable(reason) else ""
        raise InputTooSmallError(f"the input is {w}x{h} pixels, smaller than this generator's minimum of "
                                 f"{min_size}x{min_size}{why}. Upscale the image to at least {min_size} px a side.")
    x = x.float()
    if tile and max(h, w) > tile:
        y = _tiled(model, x, multiple, tile, scale, out_dtype=torch.uint8 if as_pil else torch.float32,
                   **gen_kwargs)
    else:
        y = _pad_run(model, x, multiple, scale, **gen_kwargs).cpu()
    if kind == "array":
        return np.asarray(tensor_to_pil(y))
    if as_pil:
        return tensor_to_pil(y)
    return y[0] if squeeze else y


def as_image_input(image, channels: int):
    """(image, kind) for the inference verbs: a path (str or Path) is opened as a PIL image (kind "pil"); a uint8
    numpy array H x W (x C) becomes a PIL image (kind "array": the result is returned as a uint8 array); a PIL
    image stays one; anything else is taken as a tensor (kind "tensor": C x H x W or N x C x H x W in [-1, 1])."""
    from condgen.data.images import open_image

    if isinstance(image, (str, Path)):
        return open_image(Path(image), channels), "pil"
    if isinstance(image, Image.Image):
        return image, "pil"
    if isinstance(image, np.ndarray) and image.dtype == np.uint8:
        if image.ndim == 3 and image.shape[2] == 1:
            image = image[..., 0]
        if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
            raise DataError(f"a uint8 image array must be H x W, H x W x 3 or H x W x 4, got shape {image.shape}.")
        return Image.fromarray(image), "array"
    return image, "tensor"


def as_batch(image, channels: int) -> torch.Tensor:
    """A PIL image or a C x H x W / N x C x H x W tensor in [-1, 1] as an N x ``channels`` x H x W float tensor
    (grey expanded to RGB, RGB averaged to grey)."""
    x = pil_to_tensor(image, channels) if isinstance(image, Image.Image) else torch.as_tensor(image).float()
    if x.dim() == 3:
        x = x[None]
    if x.dim() != 4:
        raise DataError(f"expected an image tensor C x H x W or N x C x H x W, got shape {tuple(x.shape)}.")
    if x.shape[1] == channels:
        return x
    if x.shape[1] == 1 and channels == 3:
        return x.expand(-1, 3, -1, -1)
    if x.shape[1] == 3 and channels == 1:
        return x.mean(1, keepdim=True)
    raise DataError(f"expected {channels}-channel images, got {x.shape[1]} channels.")


def triplets(a: torch.Tensor, fake: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Interleave input, output and target (grey expanded to RGB when the others are colour)."""
    c = max(a.shape[1], fake.shape[1], b.shape[1])
    a, fake, b = (t.float().cpu().expand(-1, c, -1, -1) if t.shape[1] != c else t.float().cpu() for t in (a, fake, b))
    return torch.stack([a, fake, b], dim=1).flatten(0, 1)


__all__ = ["as_batch", "as_image_input", "pil_to_tensor", "tensor_to_pil", "to_uint8", "translate_tensor", "triplets"]
