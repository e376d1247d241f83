"""The built-in paired (pix2pix) datasets, cut deterministically from photographs that installed packages ship.

Nothing here downloads. Train and test come from different photographs (no scene is in both): crops of one
photo overlap, so splitting crops at random would leak test content into training. Each photo gives a fixed
number of square crops at random positions and scales (a fixed seed per photo), resized to 128 x 128:

- ``edges2photos``: A = Canny edges of the crop, dark lines on white like the pix2pix ``edges2*`` sets; B = crop.
- ``gray2color``: A = the crop's luminance (PIL "L"), stored as three equal channels because an A|B file is one
  RGB image; load it with ``channels_A=1`` to get the exact 1-channel grey back. B = the crop.

Files are written in the A|B layout, ``<name>/{train,test}/NNNNN.png``, plus ``sources.json`` recording the
photo and crop box behind every file.
"""

from __future__ import annotations

import importlib.util
import json
import zlib
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from condgen.errors import DataError

PAIRED_SIZE = 128  # crop side, pixels; each A|B file is 256 x 128
CROP_SEED = 0
CROP_SCALE = (0.3, 0.75)  # crop side as a fraction of the photo's short side
EDGE_SIGMA = 2.0  # Canny smoothing at 128 px: outlines and major texture, not pixel noise
# Photos by split; the two motorcycle views show one scene, so they stay on the same side.
PHOTOS = {
    "train": ("astronaut", "coffee", "rocket", "motorcycle_left", "motorcycle_right", "china"),
    "test": ("chelsea", "flower"),
}
CROPS_PER_PHOTO = {"train": 100, "test": 50}
COUNTS = {split: len(PHOTOS[split]) * CROPS_PER_PHOTO[split] for split in PHOTOS}
PAIRED_NAMES = ("edges2photos", "gray2color")
SOURCES_FILE = "sources.json"


def _load_photo(name: str) -> np.ndarray:
    """One shipped photograph as uint8 H x W x 3 (scikit-image's data folder or scikit-learn's sample images)."""
    try:
        if name in ("china", "flower"):
            # The JPEG that sklearn.datasets.load_sample_image reads, found without importing scikit-learn
            # (about 2 s); PIL decodes it the same way.
            spec = importlib.util.find_spec("sklearn")
            folder = Path(spec.submodule_search_locations[0]) / "datasets" / "images"
            with Image.open(folder / f"{name}.jpg") as img:
                return np.asarray(img.convert("RGB"), dtype=np.uint8)
        from skimage import data

        if name.startswith("motorcycle_"):
            left, right, _ = data.stereo_motorcycle()
            return left if name.endswith("left") else right
        return getattr(data, name)()
    except Exception as e:  # noqa: BLE001 - a missing/changed package file surfaces as many exception types
        raise DataError(f"cannot load the sample photo {name!r} shipped with scikit-image/scikit-learn "
                        f"({type(e).__name__}: {e}); reinstall them (pip install scikit-image scikit-learn).") from None


def _crop_boxes(name: str, size: tuple[int, int], n: int) -> list[tuple[float, float, float]]:
    """``n`` crop boxes (x, y, side) in a photo of ``size`` (w, h), from a generator keyed by the photo's name."""
    # Keyed by name (not list position) so adding or moving a photo leaves the other photos' crops unchanged.
    rng = np.random.default_rng((CROP_SEED, zlib.crc32(name.encode())))
    w, h = size
    boxes = []
    for _ in range(n):
        side = rng.uniform(*CROP_SCALE) * min(w, h)
        x, y = rng.uniform(0, w - side), rng.uniform(0, h - side)
        boxes.append((round(x, 2), round(y, 2), round(side, 2)))
    return boxes


@lru_cache(maxsize=1)
def photo_crops() -> dict[str, list[tuple[str, tuple[float, float, float], np.ndarray]]]:
    """``{split: [(photo, (x, y, side), uint8 128 x 128 x 3 crop), ...]}``, shared by both paired sets."""
    out = {}
    for split, names in PHOTOS.items():
        items = []
        for name in names:
            photo = Image.fromarray(_load_photo(name))
            for x, y, side in _crop_boxes(name, photo.size, CROPS_PER_PHOTO[split]):
                # Cropping and resizing in one call filters from the full-resolution photo (antialiased).
                crop = photo.resize((PAIRED_SIZE, PAIRED_SIZE), Image.Resampling.BICUBIC,
                                    box=(x, y, x + side, y + side))
                items.append((name, (x, y, side), np.asarray(crop, dtype=np.uint8)))
        out[split] = items
    return out


def _grey(rgb: np.ndarray) -> np.ndarray:
    # PIL's conversion, the same one open_image(path, 1) applies, so a user's own grey inputs match.
    return np.asarray(Image.fromarray(rgb).convert("L"), dtype=np.uint8)


def edge_map(rgb: np.ndarray) -> np.ndarray:
    """Canny edges of a uint8 RGB image as uint8 H x W: 0 (black) on edges, 255 (white) elsewhere."""
    from skimage.feature import canny

    edges = canny(_grey(rgb) / 255.0, sigma=EDGE_SIGMA)
    return np.where(edges, 0, 255).astype(np.uint8)


def _input_side(name: str, rgb: np.ndarray) -> np.ndarray:
    """The A image for dataset ``name`` as uint8 H x W x 3."""
    grey = edge_map(rgb) if name == "edges2photos" else _grey(rgb)
    return np.repeat(grey[:, :, None], 3, axis=2)


def _save_png(arr: np.ndarray, path: Path) -> None:
    # No metadata and fixed zlib settings give byte-identical files; level 1 halves the build time for ~7% size.
    Image.fromarray(arr).save(path, format="PNG", compress_level=1)


def write_paired(name: str, dest: Path) -> dict[str, int]:
    """Write built-in paired dataset ``name`` as A|B files under ``dest/{train,test}`` + sources.json; the counts."""
    if name not in PAIRED_NAMES:
        raise DataError(f"unknown built-in paired dataset {name!r}; valid names: {', '.join(PAIRED_NAMES)}.")
    sources: dict = {"dataset": name, "photos": {s: list(p) for s, p in PHOTOS.items()}, "size": PAIRED_SIZE,
                     "crop_seed": CROP_SEED, "files": {}}
    counts = {}
    for split, items in photo_crops().items():
        folder = dest / split
        folder.mkdir(parents=True, exist_ok=True)
        files = {}
        for i, (photo, box, rgb) in enumerate(items):
            fname = f"{i:05d}.png"
            _save_png(np.concatenate([_input_side(name, rgb), rgb], axis=1), folder / fname)
            files[fname] = {"photo": photo, "box": list(box)}
        sources["files"][split] = files
        counts[split] = len(items)
    (dest / SOURCES_FILE).write_text(json.dumps(sources, indent=1, sort_keys=True) + "\n")
    return counts
