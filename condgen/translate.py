"""Image-to-image inference at any size: reflect-pad to the network's multiple and crop back, or go through
overlapping tiles blended with a smooth window when the image is larger than the tile size."""

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


#: the largest output image (in pixels) translate_files writes unless asked for more: 8000 x 8000. PIL refuses
#: to open images above about 179 megapixels as possible decompression bombs.
MAX_OUTPUT_PIXELS = 64_000_000


def translate_files(model, inputs: list[Path], out_dir: Path, max_output_pixels: int = MAX_OUTPUT_PIXELS,
                    **kwargs) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Translate image files and folders into ``out_dir`` (PNG, named after the inputs; see condgen.outputs for
    colliding names); returns the written files and the skipped inputs with their reasons.

    ``kwargs`` go to ``model.translate``. A model that returns several images per input (MUNIT with several
    styles) writes ``STEM_style0.png``, ``STEM_style1.png``, ... An input that cannot be read, is too small for
    the network, or whose output would exceed ``max_output_pixels`` (0: no limit) is skipped and listed; the
    others are still written. Nothing is written when an output would replace an input (a ConfigError).
    """
    from condgen.data.images import list_images, open_image
    from condgen.outputs import check_output_folder, plan_outputs, unique_files

    files: list[Path] = []
    for p in map(Path, inputs):
        if p.is_dir():
            found = list_images(p)
            if not found:
                raise DataError(f"no images in folder {p}.")
            files += found
        elif p.is_file():
            files.append(p)
        else:
            raise DataError(f"input {p} does not exist.")
    check_output_folder(out_dir)
    files = unique_files(files)  # a file given twice (itself and its folder, two spellings) is translated once
    styles = kwargs.get("num_styles") or 0
    plan = plan_outputs(files, out_dir, lambda stem: [f"{stem}_style{k}.png" for k in range(styles)] if styles > 1
                        else [f"{stem}.png"])
    out_dir.mkdir(parents=True, exist_ok=True)
    written, failed = [], []
    channels = model.input_channels(kwargs.get("direction") or "AtoB")
    scale = int(getattr(model.cfg, "scale", 1)) if model.task == "upscale" else 1
    opener = getattr(model, "open_input", None)  # e.g. label maps: read their ids, not their colours
    for f in files:
        try:
            img = opener(f) if opener is not None else open_image(f, channels)
            ow, oh = img.width * scale, img.height * scale
            if max_output_pixels and ow * oh > max_output_pixels:
                raise DataError(f"its output would be {ow}x{oh} = {ow * oh / 1e6:.1f} megapixels, above the limit "
                                f"of {max_output_pixels / 1e6:g} (--max-output-pixels {ow * oh} allows it)")
            y = model.translate(img, **kwargs)
        except (DataError, InputTooSmallError) as e:
            failed.append((f, str(e)))
            continue
        images = y if isinstance(y, list) else [y]
        for im, target in zip(images, plan[f]):
            im.save(target)
            written.append(target)
    return written, failed
