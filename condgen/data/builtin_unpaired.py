"""The built-in unpaired (CycleGAN/UNIT/MUNIT) datasets, cut deterministically from images installed packages ship.

Nothing here downloads. Both sets are written in the CycleGAN layout, ``<name>/{trainA,trainB,testA,testB}/
NNNNN.png``, plus ``sources.json`` recording the source image and crop box behind every file.

- ``photo2tone`` (RGB, 128 x 128): domain A is plain photo crops, domain B is *other* crops passed through a
  fixed hidden colour grade, ``tone_map``. The crops are the paired sets' (``builtin_paired.photo_crops``): of
  each train photo's crops the even-numbered go to trainA and the odd-numbered, graded, to trainB, so no crop is
  in both domains (nothing is paired) while both domains show the same six scenes, as CycleGAN's own sets show
  the same kind of scene in both (summer and winter Yosemite): the grade is then the only difference between
  the domains. (A first version gave each domain three different photos; its CycleGAN B -> A learned the
  saturated reds and blues of the astronaut and motorcycles, not the inverse grade.) testA is the crops of the
  test photos (never seen in training) and testB is
  ``tone_map`` of the same crops under the same file names, so the exact answer is known on held-out data in
  both directions: A -> B must give testB, B -> A must give testA. ``true_translation`` applies the mapping to
  tensors, for measuring a translator's error against it.
- ``grass2gravel`` (grey, 64 x 64, stored as single-channel PNGs): domain A is crops of scikit-image's
  ``data.grass()`` texture, domain B of ``data.gravel()`` (both 512 x 512). Each crop is a 128 x 128 window of
  the texture shrunk 2x (antialiased bicubic, from the window's pixels only), so a crop holds a good stretch of
  texture. Train windows lie in rows 0-351, test windows in rows 352-511, so no source pixel is in both splits.
  No exact answer exists; a domain classifier on testA/testB measures a translator.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from condgen.data.builtin_paired import PAIRED_SIZE, PHOTOS, _save_png, photo_crops
from condgen.data.images import uint8_to_float
from condgen.errors import DataError

UNPAIRED_NAMES = ("photo2tone", "grass2gravel")
SOURCES_FILE = "sources.json"
CROP_SEED = 0

# ----- photo2tone
# Both domains draw from every train photo: crop k of a photo goes to trainA if k is even, else to trainB.
PHOTO_DOMAINS = {"trainA": PHOTOS["train"], "trainB": PHOTOS["train"]}
# The hidden mapping (see tone_map). Rows of the mix are non-negative and sum to 1, so a pixel in [0, 1] stays in
# [0, 1] and the grade is invertible (det 0.32) before 8-bit rounding; the cast lifts red and cuts blue.
TONE_MIX = ((0.70, 0.30, 0.00),
            (0.10, 0.75, 0.15),
            (0.05, 0.25, 0.70))
# A strong grade (v2, issue 18): the first one (gamma 0.7, gain 0.88/1.00/0.80, offset 0.12/0/0) moved a channel by
# only 26 of 255 levels on the test crops, so a 64 px CycleGAN's lost detail outweighed the colour it got right and
# "no translation" was the better translator; this one moves a channel by 47 levels (0.184 on [0, 1]).
TONE_GAMMA = 0.5
TONE_GAIN = (0.75, 0.95, 0.40)
TONE_OFFSET = (0.25, 0.05, 0.00)
TONE_FORMULA = ("x = rgb / 255; m = MIX @ x; y = clip(GAIN * clip(m, 0, 1) ** GAMMA + OFFSET, 0, 1); "
                "out = uint8(round(255 * y))")

# ----- grass2gravel
TEXTURES = {"A": "grass", "B": "gravel"}
TEXTURE_SIZE = 64  # stored crop side, pixels
TEXTURE_WINDOW = 128  # crop side in the 512 x 512 source, shrunk to TEXTURE_SIZE
TEXTURE_ROWS = {"train": (0, 352), "test": (352, 512)}  # source rows each split's windows lie in
TEXTURE_CROPS = {"train": 300, "test": 60}

COUNTS = {
    "photo2tone": {"trainA": 300, "trainB": 300, "testA": 100, "testB": 100},
    "grass2gravel": {f"{split}{d}": n for split, n in TEXTURE_CROPS.items() for d in TEXTURES},
}


def _tone(channels: list) -> list:
    """The grade on the three channels in [0, 1]; elementwise only, so numpy arrays and torch tensors alike."""
    r, g, b = channels
    out = []
    for (mr, mg, mb), gain, offset in zip(TONE_MIX, TONE_GAIN, TONE_OFFSET, strict=True):
        mixed = (mr * r + mg * g + mb * b).clip(0.0, 1.0)
        out.append((mixed ** TONE_GAMMA * gain + offset).clip(0.0, 1.0))
    return out


def tone_map(rgb: np.ndarray) -> np.ndarray:
    """photo2tone's hidden A -> B mapping on a uint8 H x W x 3 image; returns uint8 H x W x 3.

    With x the pixel's (r, g, b) / 255 as a column vector (float64)::

        m   = MIX @ x        MIX = [[0.70, 0.30, 0.00],    channel mixing (rows sum to 1)
                                    [0.10, 0.75, 0.15],
                                    [0.05, 0.25, 0.70]]
        t   = m ** 0.5       gamma: lifts shadows and mid-tones strongly
        y   = clip(GAIN * t + OFFSET, 0, 1),  GAIN = (0.75, 0.95, 0.40), OFFSET = (0.25, 0.05, 0.00)
                             warm cast: red lifted from 0.25, blue scaled to at most 0.40
        out = round(255 * y) as uint8

    On the test crops it moves a channel by 47 of 255 levels on average, so the identity is a poor translator.
    """
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        got = f"{rgb.dtype} {rgb.shape}" if isinstance(rgb, np.ndarray) else type(rgb).__name__
        raise DataError(f"tone_map expects a uint8 H x W x 3 RGB array, got {got}.")
    x = rgb.astype(np.float64) / 255.0
    y = np.stack(_tone([x[..., c] for c in range(3)]), axis=-1)
    return np.rint(y * 255.0).astype(np.uint8)


def true_translation(images: torch.Tensor, quantize: bool = False) -> torch.Tensor:
    """``tone_map`` on N x 3 x H x W tensors in [-1, 1]: what a perfect photo2tone A -> B translator returns.

    ``quantize=True`` snaps input and output to the 256 levels of an 8-bit file, so the test-split A tensors give
    exactly the loaded testB tensors; the default keeps the mapping continuous (for a translator's outputs).
    """
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] != 3:
        got = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise DataError(f"true_translation expects an N x 3 x H x W tensor in [-1, 1], got {got}.")
    x = (images.detach().to(torch.float64) + 1.0) / 2.0
    if quantize:
        x = torch.round(x.clamp(0.0, 1.0) * 255.0) / 255.0
    y = torch.stack(_tone(list(x.unbind(1))), dim=1)
    if quantize:
        return uint8_to_float(torch.round(y * 255.0).to(torch.uint8)).to(images.device)
    out = y * 2.0 - 1.0
    return out.to(images.dtype if images.is_floating_point() else torch.float32)


def _texture(name: str) -> np.ndarray:
    """A shipped scikit-image texture as uint8 H x W."""
    try:
        from skimage import data

        return np.asarray(getattr(data, name)(), dtype=np.uint8)
    except Exception as e:  # noqa: BLE001 - a missing/changed package file surfaces as many exception types
        raise DataError(f"cannot load the texture {name!r} shipped with scikit-image ({type(e).__name__}: {e}); "
                        "reinstall it (pip install scikit-image).") from None


def texture_boxes(texture: str, split: str, width: int) -> list[tuple[int, int, int]]:
    """The (x, y, side) windows of ``split`` in a texture ``width`` pixels wide, all inside TEXTURE_ROWS[split]."""
    rng = np.random.default_rng((CROP_SEED, zlib.crc32(f"{texture}/{split}".encode())))
    top, bottom = TEXTURE_ROWS[split]
    side = TEXTURE_WINDOW
    return [(int(rng.integers(0, width - side + 1)), int(rng.integers(top, bottom - side + 1)), side)
            for _ in range(TEXTURE_CROPS[split])]


def _photo2tone() -> dict[str, list[tuple[str, list, np.ndarray]]]:
    crops = photo_crops()
    out: dict = {"trainA": [], "trainB": []}
    seen: dict[str, int] = {}
    for photo, box, rgb in crops["train"]:
        k = seen[photo] = seen.get(photo, -1) + 1
        out["trainA" if k % 2 == 0 else "trainB"].append((photo, list(box), rgb))
    out["testA"] = [(photo, list(box), rgb) for photo, box, rgb in crops["test"]]
    out["testB"] = [(photo, box, tone_map(rgb)) for photo, box, rgb in out["testA"]]
    out["trainB"] = [(photo, box, tone_map(rgb)) for photo, box, rgb in out["trainB"]]
    return out


def _grass2gravel() -> dict[str, list[tuple[str, list, np.ndarray]]]:
    out = {}
    for domain, texture in TEXTURES.items():
        img = Image.fromarray(_texture(texture))
        for split in TEXTURE_ROWS:
            items = []
            for x, y, side in texture_boxes(texture, split, img.width):
                # Crop first, then resize: the filter then reads only the window's pixels, keeping splits apart.
                crop = img.crop((x, y, x + side, y + side)).resize((TEXTURE_SIZE, TEXTURE_SIZE),
                                                                   Image.Resampling.BICUBIC)
                items.append((texture, [x, y, side], np.asarray(crop, dtype=np.uint8)))
            out[f"{split}{domain}"] = items
    return out


def write_unpaired(name: str, dest: Path) -> dict[str, int]:
    """Write built-in unpaired dataset ``name`` under ``dest/{trainA,trainB,testA,testB}`` + sources.json."""
    if name not in UNPAIRED_NAMES:
        raise DataError(f"unknown built-in unpaired dataset {name!r}; valid names: {', '.join(UNPAIRED_NAMES)}.")
    sources: dict = {"dataset": name, "crop_seed": CROP_SEED, "files": {}}
    if name == "photo2tone":
        folders = _photo2tone()
        sources.update({
            "source": "scikit-image and scikit-learn sample photographs (builtin_paired.photo_crops)",
            "photos": {**{k: list(v) for k, v in PHOTO_DOMAINS.items()}, "testA": list(PHOTOS["test"]),
                       "testB": list(PHOTOS["test"])},
            "size": [PAIRED_SIZE, PAIRED_SIZE],
            "tone_map": {"formula": TONE_FORMULA, "MIX": [list(r) for r in TONE_MIX], "GAMMA": TONE_GAMMA,
                         "GAIN": list(TONE_GAIN), "OFFSET": list(TONE_OFFSET)},
            "exact_answer": "testB/NNNNN.png is tone_map(testA/NNNNN.png), the same held-out crop: A -> B on "
                            "testA should give testB and B -> A on testB should give testA. trainA and trainB "
                            "hold alternate crops of the same train photos (no crop in both); test photos are in "
                            "neither.",
        })
    else:
        folders = _grass2gravel()
        sources.update({
            "source": "scikit-image data.grass() (A) and data.gravel() (B), 512 x 512 grey textures",
            "size": [TEXTURE_SIZE, TEXTURE_SIZE],
            "window": TEXTURE_WINDOW,
            "rows": {k: list(v) for k, v in TEXTURE_ROWS.items()},
            "note": "box = [x, y, side] of the source window, shrunk to size; train and test windows lie in "
                    "disjoint rows, so no source pixel is in both splits. No exact answer exists.",
        })
    counts = {}
    for folder, items in folders.items():
        (dest / folder).mkdir(parents=True, exist_ok=True)
        files = {}
        for i, (source, box, arr) in enumerate(items):
            fname = f"{i:05d}.png"
            _save_png(arr, dest / folder / fname)
            files[fname] = {"source": source, "box": box}
        sources["files"][folder] = files
        counts[folder] = len(items)
    if counts != COUNTS[name]:  # pragma: no cover - the constants and the code must change together
        raise AssertionError(f"{name}: wrote {counts}, expected {COUNTS[name]}")
    (dest / SOURCES_FILE).write_text(json.dumps(sources, indent=1, sort_keys=True) + "\n")
    return counts
