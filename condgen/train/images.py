"""Image grids and GIFs from generator output, written atomically."""

from __future__ import annotations

import math
import os
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import torch
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor
from torchvision.utils import make_grid

__all__ = ["atomic_output", "make_grid_image", "save_gif", "save_grid"]


@contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to `path`; on success move it over `path` in one rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A leading dot keeps half-written files out of globs like "step_*.png"; keeping the real
    # suffix lets writers that infer the format from the name (PIL, matplotlib) work unchanged.
    # Not using mkstemp: its 0600 mode would survive the rename and hide the file from a web server.
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _to_uint8_hwc(grid: Tensor) -> Tensor:
    """Convert a CHW float grid in [0, 1] to HWC uint8."""
    return (
        grid.mul(255)
        .add_(0.5)
        .clamp_(0, 255)
        .to(torch.uint8)
        .permute(1, 2, 0)
        .contiguous()
    )


def make_grid_image(
    images: Tensor,
    nrow: int | None = None,
    padding: int = 2,
    labels: Sequence[str] | None = None,
    pad_value: float = 1.0,
    column_titles: Sequence[str] | None = None,
) -> Image.Image:
    """Tile an NCHW batch in [-1, 1] into one PIL image, optionally with a label in each cell's corner and a title
    above each column (what the column shows, e.g. ``A``, ``A→B``)."""
    if images.ndim == 3:
        images = images.unsqueeze(0)
    if images.ndim != 4:
        raise ValueError(
            f"expected an NCHW (or CHW) tensor, got shape {tuple(images.shape)}"
        )
    n, c, h, w = images.shape
    if n == 0:
        raise ValueError("cannot make a grid from an empty batch")
    if c not in (1, 3, 4):
        raise ValueError(
            f"expected 1, 3 or 4 channels, got {c}; map other tensors to RGB first"
        )
    if labels is not None and len(labels) != n:
        raise ValueError(f"got {len(labels)} labels for {n} images")
    if nrow is None:
        nrow = math.ceil(math.sqrt(n))
    nrow = max(1, min(nrow, n))

    # A diverged generator emits NaN; without this the uint8 cast turns it into random colours.
    x = images.detach().to("cpu", torch.float32)
    x = torch.nan_to_num(x, nan=0.0).clamp_(-1, 1).add_(1).mul_(0.5)
    grid = make_grid(x, nrow=nrow, padding=padding, pad_value=pad_value)
    if c == 1:
        # make_grid copies a single channel to three; keep one so the PNG stays greyscale (mode L).
        grid = grid[:1]
    arr = _to_uint8_hwc(grid).numpy()
    img = Image.fromarray(arr[:, :, 0] if c == 1 else arr)

    if labels is not None:
        _draw_labels(img, labels, nrow=nrow, cell_h=h, cell_w=w, padding=padding)
    if column_titles:
        img = _with_column_titles(img, column_titles, nrow=nrow, cell_w=w, padding=padding)
    return img


def _with_column_titles(img: Image.Image, titles: Sequence[str], *, nrow: int, cell_w: int,
                        padding: int) -> Image.Image:
    """``img`` under a white band holding ``titles[k]`` centred over column k (clipped to the column)."""
    font = ImageFont.load_default()
    band = 14
    out = Image.new(img.mode, (img.width, img.height + band), 255 if img.mode == "L" else (255,) * len(img.mode))
    out.paste(img, (0, band))
    draw = ImageDraw.Draw(out)
    ink = 0 if img.mode == "L" else (0,) * len(img.mode)
    if img.mode == "RGBA":
        ink = (0, 0, 0, 255)
    for k, text in enumerate(list(titles)[:nrow]):
        x0 = k * (cell_w + padding) + padding
        text = str(text)
        while text and draw.textlength(text, font=font) > cell_w:  # clip to the column, never onto the next
            text = text[:-1]
        x = x0 + (cell_w - draw.textlength(text, font=font)) / 2
        draw.text((x, 1), text, fill=ink, font=font)
    return out


def _draw_labels(
    img: Image.Image,
    labels: Sequence[str],
    *,
    nrow: int,
    cell_h: int,
    cell_w: int,
    padding: int,
) -> None:
    """Draw each label on a dark box in the top-left corner of its grid cell (same layout as make_grid)."""
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    channels = len(img.getbands())
    dark = 0 if channels == 1 else (0,) * channels
    light = 255 if channels == 1 else (255,) * channels
    if channels == 4:
        dark, light = (0, 0, 0, 255), (255, 255, 255, 255)
    for k, text in enumerate(labels):
        if not text:
            continue
        row, col = divmod(k, nrow)
        x0 = col * (cell_w + padding) + padding
        y0 = row * (cell_h + padding) + padding
        _, _, right, bottom = draw.textbbox((x0 + 1, y0), str(text), font=font)
        # Clip the box to the cell so a long label does not paint over its neighbours.
        box = (
            x0,
            y0,
            min(right + 1, x0 + cell_w - 1),
            min(bottom + 1, y0 + cell_h - 1),
        )
        draw.rectangle(box, fill=dark)
        draw.text((x0 + 1, y0), str(text), fill=light, font=font)


def save_grid(images: Tensor, path: str | os.PathLike, **kw) -> Path:
    """Write `make_grid_image(images, **kw)` to `path` atomically and return the path."""
    path = Path(path)
    img = make_grid_image(images, **kw)
    with atomic_output(path) as tmp:
        img.save(tmp)
    return path


def save_gif(
    frames: Sequence[Image.Image | Tensor],
    path: str | os.PathLike,
    duration_ms: int = 80,
    loop: int | None = 0,
) -> Path:
    """Write frames (PIL images or NCHW tensors in [-1, 1]) as an animated GIF (loop=0: forever; None: once)."""
    if not frames:
        raise ValueError("save_gif needs at least one frame")
    images = [f if isinstance(f, Image.Image) else make_grid_image(f) for f in frames]
    # GIF frames are palette images; PIL quantises L/RGB/P reliably, so other modes (RGBA, I, F) go via RGB.
    images = [
        im if im.mode in ("RGB", "L", "P") else im.convert("RGB") for im in images
    ]
    size = images[0].size
    if any(im.size != size for im in images):
        raise ValueError(
            f"all GIF frames must have the same size; first frame is {size}"
        )
    path = Path(path)
    extra = {} if loop is None else {"loop": loop}
    with atomic_output(path) as tmp:
        images[0].save(
            tmp,
            format="GIF",
            save_all=True,
            append_images=images[1:],
            duration=duration_ms,
            **extra,
        )
    return path
