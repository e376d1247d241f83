"""Reading image files: listing a folder, opening any PIL mode as 8-bit L/RGB, resizing, and converting to tensors."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from condgen.errors import DataError

IMG_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
EXTENSIONS_TEXT = ", ".join(e.lstrip(".") for e in IMG_EXTENSIONS)

_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}
_GREY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
_WIDE_INT_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N"}


class BadImageWarning(UserWarning):
    """An image file was unreadable and has been skipped (``data.bad_images=skip``)."""


class UnreadableImageError(DataError):
    """An image file that cannot be opened or decoded; ``path`` and ``reason`` say which and why."""

    def __init__(self, path: str | Path, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"cannot read image {self.path}: {reason}.")


def is_image_file(path: str | Path) -> bool:
    """True for a non-hidden file name with one of the ``IMG_EXTENSIONS`` (any letter case)."""
    name = Path(path).name
    return not name.startswith(".") and name.lower().endswith(IMG_EXTENSIONS)


def list_images(folder: str | Path) -> list[Path]:
    """The image files directly inside ``folder`` (not recursive, hidden files ignored), sorted by name."""
    folder = Path(folder)
    found, loops = [], []
    with os.scandir(folder) as it:
        for e in it:
            if not is_image_file(e.name):
                continue
            try:  # is_file() follows symlinks, so linked images count and dangling links do not
                if e.is_file():
                    found.append(Path(e.path))
            except OSError as err:  # a symlink loop (ELOOP), a link into a folder we may not read
                loops.append(f"{e.name} ({err.strerror or err})")
    if loops:
        import warnings

        warnings.warn(f"{folder}: skipped {len(loops)} entr{'y' if len(loops) == 1 else 'ies'} that could not be "
                      f"followed: {', '.join(sorted(loops)[:5])}{' ...' if len(loops) > 5 else ''}.",
                      UnreadableLinkWarning, stacklevel=2)
    return sorted(found)


class UnreadableLinkWarning(UserWarning):
    """A folder entry that could not be followed (a symlink loop, no permission) was left out."""


def _describe(err: BaseException) -> str:
    """A short human reason for an exception PIL raised while reading a file."""
    if isinstance(err, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        return (f"image is too large, a possible decompression bomb ({err}); if the file is trusted, "
                "raise PIL.Image.MAX_IMAGE_PIXELS")
    if isinstance(err, UnidentifiedImageError):
        return "not a recognised image (unknown format or corrupt header)"
    msg = str(err).strip() or type(err).__name__
    if "truncated" in msg.lower():
        return f"the file is truncated or corrupt ({msg})"
    return f"cannot decode it ({type(err).__name__}: {msg})"


def _open_checked(path: Path) -> Image.Image:
    """Open ``path`` lazily (header only), raising UnreadableImageError for empty, unknown or oversized files."""
    try:
        if os.path.getsize(path) == 0:
            raise UnreadableImageError(path, "the file is empty (0 bytes)")
    except OSError as e:
        raise UnreadableImageError(path, f"cannot access it ({e.strerror or e})") from None
    try:
        # PIL only warns between MAX_IMAGE_PIXELS and twice that; a huge image is refused either way.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(path)
    except UnreadableImageError:
        raise
    except Exception as e:  # noqa: BLE001 - PIL raises many types (OSError, SyntaxError, ValueError, ...)
        raise UnreadableImageError(path, _describe(e)) from None
    w, h = img.size
    if w <= 0 or h <= 0:
        img.close()
        raise UnreadableImageError(path, f"it has zero size ({w}x{h})")
    return img


def check_image(path: str | Path) -> str | None:
    """Cheap header check (open + size, no pixel decode): None if the file looks fine, else the reason."""
    try:
        _open_checked(Path(path)).close()
    except UnreadableImageError as e:
        return e.reason
    return None


def check_image_size(path: str | Path, max_pixels: int) -> tuple[int, int]:
    """(width, height) of an image file from its header (no pixel decode, decompression-bomb guard included);
    UnreadableImageError when it has more than ``max_pixels`` pixels."""
    path = Path(path)
    with _open_checked(path) as img:
        w, h = img.size
    if w * h > max_pixels:
        raise UnreadableImageError(path, f"it is {w}x{h} = {w * h:,} pixels, more than the limit of {max_pixels:,}; "
                                         "shrink it first")
    return w, h


def _wide_to_8bit(img: Image.Image) -> Image.Image:
    """16/32-bit integer or float grey to 8-bit L, scaled by the data's bit range instead of clipped at 255."""
    arr = np.asarray(img)
    if img.mode == "F":
        arr = np.nan_to_num(arr.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        lo, hi = float(arr.min()), float(arr.max())
        if lo >= 0.0 and hi <= 1.0:  # the usual float convention: intensities in [0, 1]
            scaled = arr * 255.0
        elif lo >= 0.0 and hi <= 255.0:
            scaled = arr
        else:
            scaled = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)
    else:
        arr = arr.astype(np.int64)
        lo = int(arr.min())
        if lo < 0:
            arr = arr - lo
        # A 12-bit sensor stored as I;16 tops out at 4095: scale by 2**12 - 1, keeping brightness across files.
        bits = max(8, int(arr.max()).bit_length())
        scaled = arr * (255.0 / (2**bits - 1))
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8))


def _to_channels(img: Image.Image, channels: int) -> Image.Image:
    """Convert any PIL mode to "L" (channels=1) or "RGB" (channels=3), compositing transparency onto white."""
    mode = img.mode
    if mode in _WIDE_INT_MODES or mode == "F":
        img = _wide_to_8bit(img)
    elif mode == "1":
        img = img.convert("L")
    elif mode in _ALPHA_MODES or "transparency" in img.info:
        # Dropping alpha exposes whatever colour hides under transparent pixels (often black); white is
        # what a viewer shows.
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba).convert("L" if mode in _GREY_MODES else "RGB")
    target = "L" if channels == 1 else "RGB"
    return img if img.mode == target else img.convert(target)


def _check_channels(channels: int) -> None:
    if channels not in (1, 3):
        raise DataError(f"channels must be 1 (grey) or 3 (RGB), got {channels}.")


def open_image(path: str | Path, channels: int) -> Image.Image:
    """Open and fully decode an image file as 8-bit "L" (channels=1) or "RGB" (channels=3), EXIF-rotated."""
    _check_channels(channels)
    path = Path(path)
    img = _open_checked(path)
    try:
        with img:
            img.load()
            out = _to_channels(ImageOps.exif_transpose(img), channels)
            # Closing the file object below must not invalidate what we return.
            return out.copy() if out is img else out
    except Exception as e:  # noqa: BLE001 - decoders raise many types for truncated/corrupt data
        raise UnreadableImageError(path, _describe(e)) from None


def resize_to(img: Image.Image, size: int) -> Image.Image:
    """Resize the short side to ``size`` (antialiased bicubic) and center-crop to ``size`` x ``size``."""
    w, h = img.size
    if (w, h) == (size, size):
        return img
    side = min(w, h)
    left, top = (w - side) / 2.0, (h - side) / 2.0
    # Cropping the central square in source coordinates and resizing it in one pass is the same as
    # resize-then-crop, without rounding the long side to whole pixels; PIL's bicubic widens its
    # support when shrinking, so this is antialiased.
    return img.resize((size, size), Image.Resampling.BICUBIC, box=(left, top, left + side, top + side))


def uint8_to_float(t: torch.Tensor) -> torch.Tensor:
    """A uint8 tensor in [0, 255] as float32 in [-1, 1]."""
    return t.to(torch.float32).div_(127.5).sub_(1.0)


def to_uint8_array(img: Image.Image) -> np.ndarray:
    """An "L" or "RGB" image as a uint8 C x H x W array."""
    arr = np.array(img, dtype=np.uint8)  # a writable copy: torch refuses to wrap PIL's read-only buffer
    return arr[None] if arr.ndim == 2 else np.ascontiguousarray(arr.transpose(2, 0, 1))


def to_tensor(img: Image.Image) -> torch.Tensor:
    """An "L" or "RGB" image as a float32 C x H x W tensor in [-1, 1]."""
    if img.mode not in ("L", "RGB"):
        raise DataError(f"to_tensor expects an 'L' or 'RGB' image, got mode {img.mode!r}; use open_image first.")
    return uint8_to_float(torch.from_numpy(to_uint8_array(img)))


def load_image(path: str | Path, image_size: int, channels: int) -> torch.Tensor:
    """Read, convert, resize/center-crop and normalise one image file to a C x S x S tensor in [-1, 1]."""
    return to_tensor(resize_to(open_image(path, channels), image_size))


def convert_channels(img: Image.Image, channels: int) -> Image.Image:
    """An in-memory PIL image of any mode as 8-bit "L" (channels=1) or "RGB" (channels=3)."""
    _check_channels(channels)
    return _to_channels(img, channels)
