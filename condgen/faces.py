"""Faces in photos: detection with the frontal-face LBP cascade that scikit-image ships (no download), and
anonymization / restoration of every detected face with a passcode-conditioned anonymizer, blended back with a
feathered elliptical mask.

Restoring needs the same face boxes: ``condgen anonymize`` writes them beside the output (``OUT.faces.json``, boxes
only — never the passcode) and ``--restore`` reads them, because a detector may not find an anonymized face where it
found the original.
"""

from __future__ import annotations

import functools
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from condgen.errors import DataError

DETECT_MAX_SIDE = 640  # larger images are searched at this size (boxes scaled back)


@dataclass(frozen=True)
class Box:
    """A face box in pixels: top-left corner (x, y), width and height."""

    x: int
    y: int
    w: int
    h: int


@functools.lru_cache(maxsize=1)
def _cascade():
    from skimage.data import lbp_frontal_face_cascade_filename
    from skimage.feature import Cascade

    return Cascade(lbp_frontal_face_cascade_filename())


def detect_faces(image: np.ndarray | Image.Image, min_size: int = 32, scale_factor: float = 1.2) -> list[Box]:
    """Frontal faces in an RGB or grey image (uint8 array or PIL), largest first. Images wider or taller than
    ``DETECT_MAX_SIDE`` are searched downscaled; ``min_size`` is in the original image's pixels."""
    img = np.asarray(image.convert("RGB") if isinstance(image, Image.Image) else image)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    h, w = img.shape[:2]
    scale = min(1.0, DETECT_MAX_SIDE / max(h, w))
    if scale < 1.0:
        small = Image.fromarray(img).resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BILINEAR)
        img = np.asarray(small)
    sh, sw = img.shape[:2]
    lo = max(16, int(min_size * scale))
    if min(sh, sw) < lo:
        return []
    found = _cascade().detect_multi_scale(img=img, scale_factor=scale_factor, step_ratio=1, min_size=(lo, lo),
                                          max_size=(min(sh, sw), min(sh, sw)))
    boxes = [Box(round(d["c"] / scale), round(d["r"] / scale), round(d["width"] / scale), round(d["height"] / scale))
             for d in found]
    boxes = [Box(b.x, b.y, min(b.w, w - b.x), min(b.h, h - b.y)) for b in boxes]
    return sorted(_drop_nested(boxes), key=lambda b: -b.w * b.h)


def _drop_nested(boxes: list[Box]) -> list[Box]:
    """Keep the larger of two boxes that overlap by more than half of the smaller one."""
    keep: list[Box] = []
    for b in sorted(boxes, key=lambda b: -b.w * b.h):
        if all(_overlap(b, k) <= 0.5 * b.w * b.h for k in keep):
            keep.append(b)
    return keep


def _overlap(a: Box, b: Box) -> int:
    dx = min(a.x + a.w, b.x + b.w) - max(a.x, b.x)
    dy = min(a.y + a.h, b.y + b.h) - max(a.y, b.y)
    return max(0, dx) * max(0, dy)


def feather_mask(h: int, w: int, softness: float = 0.2) -> np.ndarray:
    """An elliptical weight in [0, 1] filling an h x w box: 1 inside, falling smoothly to 0 at the ellipse edge
    over ``softness`` of the radius."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.sqrt(((yy + 0.5) / h * 2 - 1) ** 2 + ((xx + 0.5) / w * 2 - 1) ** 2)
    t = np.clip((1.0 - r) / max(softness, 1e-6), 0.0, 1.0)
    return t * t * (3 - 2 * t)  # smoothstep


def transform_faces(model, image: np.ndarray | Image.Image, passcode: Any, boxes: list[Box],
                    restore: bool = False, softness: float = 0.2) -> np.ndarray:
    """``image`` (RGB uint8) with each box's face anonymized (or restored) by ``model.translate`` and blended back
    with ``feather_mask``. Returns a new RGB uint8 array; pixels outside the boxes are unchanged."""
    out = np.array(image.convert("RGB") if isinstance(image, Image.Image) else image, dtype=np.uint8, copy=True)
    if out.ndim == 2:
        out = np.repeat(out[..., None], 3, axis=2)
    for b in boxes:
        crop = out[b.y:b.y + b.h, b.x:b.x + b.w]
        if crop.shape[0] < 4 or crop.shape[1] < 4:
            continue
        new = np.asarray(model.translate(crop.copy(), passcode, restore=restore), dtype=np.float32)
        if new.ndim == 2:
            new = np.repeat(new[..., None], 3, axis=2)
        m = feather_mask(*crop.shape[:2], softness)[..., None]
        out[b.y:b.y + b.h, b.x:b.x + b.w] = np.clip(m * new + (1 - m) * crop + 0.5, 0, 255).astype(np.uint8)
    return out


def boxes_path(output: Path) -> Path:
    """Where the face boxes of an anonymized file are kept: ``OUT.faces.json`` beside it."""
    return output.with_name(output.name + ".faces.json")


def save_boxes(path: Path, boxes: list[Box] | list[list[Box]], bits: int) -> None:
    """Write face boxes (one list per frame for a video) and the passcode length; no passcode."""
    frames = boxes if boxes and isinstance(boxes[0], list) else [boxes]
    data = {"passcode_bits": bits, "frames": [[asdict(b) for b in f] for f in frames]}
    path.write_text(json.dumps(data))


def load_boxes(path: Path) -> list[list[Box]]:
    """The per-frame face boxes written by ``save_boxes``, or a DataError naming the file."""
    try:
        data = json.loads(path.read_text())
        return [[Box(int(b["x"]), int(b["y"]), int(b["w"]), int(b["h"])) for b in frame] for frame in data["frames"]]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DataError(f"cannot read the face boxes in {path} ({type(e).__name__}: {e}); it should be the "
                        f".faces.json written by `condgen anonymize`.") from None
