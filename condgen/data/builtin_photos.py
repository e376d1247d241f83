"""The built-in ``photos`` set: the photographs scikit-image and scikit-learn ship, at full resolution, for
super-resolution (``condgen.data.sr``; and later as content images).

Nothing here downloads. Files are ``photos/{train,test}/<photo>.png`` (lossless PNG of the shipped pixels, RGB),
split by photograph as the paired sets are (``builtin_paired.PHOTOS``: test = chelsea and flower), so no scene is
in both splits; ``sources.json`` records each file's source and size.
"""

from __future__ import annotations

import json
from pathlib import Path

from condgen.data.builtin_paired import PHOTOS, _load_photo, _save_png

COUNTS = {split: len(names) for split, names in PHOTOS.items()}
SOURCES_FILE = "sources.json"


def write_photos(dest: Path) -> dict[str, int]:
    """Write the photographs under ``dest/{train,test}/<photo>.png`` + sources.json; returns the counts."""
    sources: dict = {"dataset": "photos", "source": "scikit-image data (astronaut, coffee, rocket, chelsea, "
                     "stereo_motorcycle) and scikit-learn sample images (china, flower), full resolution",
                     "files": {}}
    counts = {}
    for split, names in PHOTOS.items():
        folder = dest / split
        folder.mkdir(parents=True, exist_ok=True)
        files = {}
        for name in names:
            rgb = _load_photo(name)
            _save_png(rgb, folder / f"{name}.png")
            files[f"{name}.png"] = {"photo": name, "size": [int(rgb.shape[1]), int(rgb.shape[0])]}
        sources["files"][split] = files
        counts[split] = len(files)
    (dest / SOURCES_FILE).write_text(json.dumps(sources, indent=1, sort_keys=True) + "\n")
    return counts
