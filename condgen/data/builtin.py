"""Built-in offline datasets: written once as image folders into a cache, then held in memory as uint8 tensors.

The cache is ``$CONDGEN_CACHE`` if set, else ``~/.cache/condgen``; ``digits`` lands in ``<cache>/digits``.
Paired, unpaired, super-resolution and semantic sets stay on disk and are read by ``load_paired`` /
``load_unpaired`` / ``load_sr`` / ``load_semantic``.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from condgen.data.folder import ClassFolderDataset, ImageFolderDataset
from condgen.data.images import open_image, resize_to, to_uint8_array, uint8_to_float
from condgen.errors import DataError

# Bump when builtin_arrays or the folder layout changes, so stale caches are rebuilt rather than reused.
CACHE_VERSION = 3  # 2: photo2tone's stronger grade; 3: its domains cut from the same photos (issue 18)
_MARKER = ".condgen-builtin.json"  # hidden, so image listing ignores it


@dataclass(frozen=True)
class BuiltinInfo:
    """What a built-in dataset is: its kind ("classes", "images", "paired", "unpaired", "sr" or "semantic"), source
    and size.

    ``counts`` is images per split (``train``, ``test``), or per domain folder (``trainA``, ...) when unpaired.
    ``image_size`` 0 means full-resolution images of varying sizes ("sr").
    """

    name: str
    description: str
    kind: str
    source: str
    counts: Mapping[str, int] = field(default_factory=dict)
    image_size: int = 32
    channels: int = 1


BUILTIN: dict[str, BuiltinInfo] = {
    "digits": BuiltinInfo(
        name="digits",
        description="handwritten digits 0-9, grey 32x32 (the 8x8 originals upscaled bicubic), 10 classes",
        kind="classes",
        source="scikit-learn load_digits (UCI optical recognition of handwritten digits), stratified 80/20 split",
        counts={"train": 1437, "test": 360},
        image_size=32,
    ),
    "faces": BuiltinInfo(
        name="faces",
        description="100 face crops, grey 25x25, no labels",
        kind="images",
        source="scikit-image data.lfw_subset (Labeled Faces in the Wild), 80/20 split",
        counts={"train": 80, "test": 20},
        image_size=25,
    ),
    # Paired (pix2pix A|B) sets; counts and photos live in builtin_paired (a test checks they agree).
    "edges2photos": BuiltinInfo(
        name="edges2photos",
        description="128x128 photo crops (B) and their Canny edge maps (A), A|B files, 8 photos",
        kind="paired",
        source="scikit-image and scikit-learn sample photographs; train and test from different photos",
        counts={"train": 600, "test": 100},
        image_size=128,
        channels=3,
    ),
    "gray2color": BuiltinInfo(
        name="gray2color",
        description="128x128 photo crops (B) and their grey versions (A, 3 equal channels), A|B files, 8 photos",
        kind="paired",
        source="scikit-image and scikit-learn sample photographs; train and test from different photos",
        counts={"train": 600, "test": 100},
        image_size=128,
        channels=3,
    ),
    "labels2scenes": BuiltinInfo(
        name="labels2scenes",
        description="128x128 colour-coded label maps (A) and the scenes painted from them (B), A|B files: "
                    "pix2pix's labels -> photo task",
        kind="paired",
        source="the procedural scenes (condgen.data.builtin_scenes) with scikit-image textures; test = other scenes",
        counts={"train": 800, "test": 100},
        image_size=128,
        channels=3,
    ),
    # Super-resolution (HR images at full size; load_sr crops them); counts live in builtin_photos (a test checks).
    "photos": BuiltinInfo(
        name="photos",
        description="8 colour photographs at full resolution (300x451 to 500x741) for super-resolution; "
                    "train and test are different photos",
        kind="sr",
        source="scikit-image and scikit-learn sample photographs; test = chelsea and flower",
        counts={"train": 6, "test": 2},
        image_size=0,  # full resolution, sizes vary; load_sr crops
        channels=3,
    ),
    # Unpaired (CycleGAN trainA/trainB/testA/testB) sets; counts live in builtin_unpaired (a test checks).
    "photo2tone": BuiltinInfo(
        name="photo2tone",
        description="128x128 photo crops (A) and crops of other photos under a hidden colour grade (B); "
                    "testB = the grade of testA, so the exact answer is known",
        kind="unpaired",
        source="scikit-image and scikit-learn sample photographs; trainA, trainB and test from different photos",
        counts={"trainA": 300, "trainB": 300, "testA": 100, "testB": 100},
        image_size=128,
        channels=3,
    ),
    # Semantic (label map -> photo) sets; classes, counts and sizes live in builtin_scenes (a test checks).
    "scenes": BuiltinInfo(
        name="scenes",
        description="128x128 procedural landscapes: label maps of 8 classes (sky, cloud, mountain, water, grass, "
                    "rock, tree, building), instance maps, photos painted from real textures",
        kind="semantic",
        source="procedural layouts; textures from scikit-image data.grass, gravel, moon and brick",
        counts={"train": 800, "test": 100},
        image_size=128,
        channels=3,
    ),
    "scenes64": BuiltinInfo(
        name="scenes64",
        description="the scenes set rendered natively at 64x64 (same layouts; labels never resized)",
        kind="semantic",
        source="procedural layouts; textures from scikit-image data.grass, gravel, moon and brick",
        counts={"train": 800, "test": 100},
        image_size=64,
        channels=3,
    ),
    "grass2gravel": BuiltinInfo(
        name="grass2gravel",
        description="grey 64x64 texture crops, grass (A) and gravel (B); train and test from disjoint regions",
        kind="unpaired",
        source="scikit-image data.grass and data.gravel (512x512), 128x128 windows shrunk 2x",
        counts={"trainA": 300, "trainB": 300, "testA": 60, "testB": 60},
        image_size=64,
        channels=1,
    ),
}


def list_builtin() -> list[BuiltinInfo]:
    """The built-in datasets, by name."""
    return [BUILTIN[k] for k in sorted(BUILTIN)]


def builtin_info(name: str) -> BuiltinInfo:
    """The BuiltinInfo for ``name``, or a DataError listing the valid names."""
    try:
        return BUILTIN[name]
    except KeyError:
        names = sorted(BUILTIN, key=lambda n: (BUILTIN[n].kind in ("paired", "unpaired", "semantic"), n))  # pairs last
        raise DataError(f"unknown built-in dataset {name!r}; valid names: {', '.join(names)} "
                        "(or pass a folder path).") from None


# What each kind of built-in set trains, for messages that turn a user from a set of the wrong kind.
KIND_USES = {"classes": "cgan", "images": "gan and dcgan", "paired": "pix2pix", "unpaired": "cyclegan, unit and munit",
             "sr": "srresnet and srgan", "semantic": "spade, oasis and sean"}


BUILTIN_DATA_PREFIX = "builtin:"


def builtin_name(spec: str | Path) -> str | None:
    """The built-in dataset ``spec`` names, or None when it names a folder.

    ``builtin:NAME`` always means the built-in set. A bare NAME means the built-in set unless a file or folder of
    that name exists where the command runs: then the path wins (the user's own data is never silently replaced by a
    built-in set), and a warning names both so the choice is never silent.
    """
    spec = str(spec)
    if spec.startswith(BUILTIN_DATA_PREFIX):
        name = spec[len(BUILTIN_DATA_PREFIX):]
        builtin_info(name)  # DataError listing the valid names
        return name
    if spec not in BUILTIN:
        return None
    if Path(spec).exists():
        _warn_shadowed(spec)
        return None
    return spec


_WARNED_SHADOWED: set[str] = set()


def _warn_shadowed(name: str) -> None:
    """Say once per process that ./NAME is used instead of the built-in set NAME."""
    if name in _WARNED_SHADOWED:
        return
    _WARNED_SHADOWED.add(name)
    import warnings

    warnings.warn(f"data '{name}': using the folder ./{name}, not the built-in dataset of that name "
                  f"(write --data {BUILTIN_DATA_PREFIX}{name} for the built-in one).", DataNameWarning, stacklevel=3)


class DataNameWarning(UserWarning):
    """A data name that matches both a built-in dataset and an existing path (the path is used)."""


def existing_folder(spec: str, contents: str) -> Path:
    """``spec`` (not a built-in name) as an existing folder, or a DataError saying it is missing or a file."""
    root = Path(spec).expanduser()
    if not root.exists():
        raise DataError(f"data folder {root} does not exist (and it is not a built-in dataset: "
                        f"{', '.join(sorted(BUILTIN))}).")
    if not root.is_dir():
        raise DataError(f"data path {root} is a file, not a folder of {contents}.")
    return root


def builtin_or_folder(spec: str, kind: str, contents: str) -> BuiltinInfo | Path:
    """The BuiltinInfo of a built-in set of ``kind``, or else ``spec`` as a folder of ``contents``.

    Raises a DataError for an empty spec, a built-in set of another kind, or a missing folder.
    """
    fits = ", ".join(sorted(n for n, i in BUILTIN.items() if i.kind == kind))
    if not spec:
        raise DataError(f"no data given: set data.path (--data) to a folder of {contents} or a built-in {kind} "
                        f"dataset ({fits}).")
    name = builtin_name(spec)
    if name is None:
        return existing_folder(spec, contents)
    info = BUILTIN[name]
    spec = name
    if info.kind != kind:
        article = "an" if kind[0] in "aeiou" or kind == "sr" else "a"  # an "ess-ar" dataset
        raise DataError(f"built-in dataset {spec!r} is not {kind} (it is {info.kind!r}, for "
                        f"{KIND_USES[info.kind]}); use {article} {kind} dataset for {KIND_USES[kind]}, such as "
                        f"{fits}.")
    return info


def cache_dir() -> Path:
    """Where built-in datasets are materialised: ``$CONDGEN_CACHE`` or ``~/.cache/condgen``."""
    env = os.environ.get("CONDGEN_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "condgen"


def _save_png(arr: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # No metadata and fixed zlib settings: the same arrays give byte-identical files.
    Image.fromarray(arr).save(path, format="PNG", compress_level=6)


def _write_layout(info: BuiltinInfo, dest: Path) -> None:
    """Write ``dest/{train,test}/...`` (unpaired: ``dest/{trainA,...}``) PNGs for one built-in set + the marker."""
    from condgen.data import builtin_arrays  # late: pulls in scikit-learn / scikit-image

    if info.name == "digits":
        for split, (imgs, labels) in builtin_arrays.digits_arrays().items():
            for i, (img, label) in enumerate(zip(imgs, labels, strict=True)):
                _save_png(img, dest / split / str(int(label)) / f"{i:05d}.png")
    elif info.name == "faces":
        for split, imgs in builtin_arrays.faces_arrays().items():
            for i, img in enumerate(imgs):
                _save_png(img, dest / split / f"{i:05d}.png")
    elif info.name == "labels2scenes":
        from condgen.data import builtin_scenes

        builtin_scenes.write_label_pairs(dest)
    elif info.kind == "paired":
        from condgen.data import builtin_paired

        builtin_paired.write_paired(info.name, dest)
    elif info.kind == "unpaired":
        from condgen.data import builtin_unpaired

        builtin_unpaired.write_unpaired(info.name, dest)
    elif info.kind == "sr":
        from condgen.data import builtin_photos

        builtin_photos.write_photos(dest)
    elif info.kind == "semantic":
        from condgen.data import builtin_scenes

        builtin_scenes.write_scenes(info.name, dest)
    else:  # pragma: no cover - BUILTIN and this function must grow together
        raise AssertionError(info.name)
    marker = {"name": info.name, "version": CACHE_VERSION, "counts": dict(info.counts)}
    (dest / _MARKER).write_text(json.dumps(marker, sort_keys=True) + "\n")


def _is_complete(path: Path, info: BuiltinInfo) -> bool:
    try:
        marker = json.loads((path / _MARKER).read_text())
    except (OSError, ValueError):
        return False
    return marker.get("version") == CACHE_VERSION and marker.get("counts") == dict(info.counts)


def _build_atomically(info: BuiltinInfo, final: Path) -> None:
    """Write into a private temp folder next to ``final``, then rename it into place in one step."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{final.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        _write_layout(info, tmp)
        os.rename(tmp, final)  # fails if another process got there first; theirs is as good as ours
    except OSError:
        if not final.is_dir():
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def ensure_builtin(name: str) -> Path:
    """The cached image-folder copy of a built-in dataset, written the first time it is needed."""
    info = builtin_info(name)
    final = cache_dir() / name
    if _is_complete(final, info):
        return final
    if final.exists():
        # A stale or half-copied cache (older version, or a hand-edited folder): move it aside first.
        aside = final.parent / f".{final.name}.old-{uuid.uuid4().hex[:8]}"
        try:
            os.rename(final, aside)
        except OSError:
            pass  # another process moved it already
        shutil.rmtree(aside, ignore_errors=True)
    try:
        _build_atomically(info, final)
    except OSError as e:
        raise DataError(f"cannot write the built-in dataset {name!r} to {final} ({e}); set CONDGEN_CACHE to a "
                        "writable folder.") from None
    if not _is_complete(final, info):
        raise DataError(f"the cached built-in dataset at {final} is incomplete; delete it and retry.")
    return final


def make_builtin(name: str, out_dir: str | Path) -> Path:
    """Write a built-in dataset as image folders (``out_dir/train``, ``out_dir/test``; unpaired sets
    ``out_dir/trainA``, ``trainB``, ``testA``, ``testB``; semantic sets ``out_dir/{train,test}/{images,labels,
    instances}`` + ``classes.txt``) and return ``out_dir``."""
    info = builtin_info(name)
    out = Path(out_dir).expanduser()
    if out.exists():
        if not out.is_dir() or any(out.iterdir()):
            raise DataError(f"{out} already exists and is not an empty folder; choose another --out or remove it.")
        out.rmdir()
    try:
        _build_atomically(info, out)
    except OSError as e:
        raise DataError(f"cannot write {name!r} to {out} ({e}).") from None
    return out


class InMemoryDataset(Dataset):
    """Images held as one uint8 N x C x S x S tensor (+ int64 labels); items match the folder datasets."""

    in_memory = True

    def __init__(self, images: torch.Tensor, labels: torch.Tensor | None = None,
                 classes: list[str] | None = None, name: str = ""):
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise DataError(f"InMemoryDataset expects a uint8 N x C x H x W tensor, got {images.dtype} "
                            f"{tuple(images.shape)}.")
        self.images = images
        self.labels = labels
        self.classes = list(classes or [])
        self.num_classes = len(self.classes) if labels is not None else 0
        self.channels = images.shape[1]
        self.image_size = images.shape[-1]
        self.name = name
        self.bad_files: list[tuple[Path, str]] = []

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        """The image (float in [-1, 1]) at ``index``, with its label when the data has classes."""
        item = {"image": uint8_to_float(self.images[index])}
        if self.labels is not None:
            item["label"] = self.labels[index]
        return item


def load_builtin(name: str, kind: str = "images", split: str = "train", image_size: int = 64,
                 channels: int = 3) -> InMemoryDataset:
    """A built-in dataset in memory, resized to ``image_size`` with ``channels`` once at load time."""
    info = builtin_info(name)
    if info.kind == "unpaired":
        raise DataError(f"built-in dataset {name!r} holds two unpaired image domains (trainA/ and trainB/) for "
                        "models such as cyclegan; load it with kind 'unpaired' (condgen.data.load_unpaired).")
    if split not in info.counts:
        raise DataError(f"built-in dataset {name!r} has no split {split!r}; it has {', '.join(info.counts)}.")
    if info.kind == "paired":
        raise DataError(f"built-in dataset {name!r} holds image pairs (A|B files) for image-to-image models such as "
                        "pix2pix; load it with kind 'paired' (condgen.data.load_paired).")
    if info.kind == "sr":
        raise DataError(f"built-in dataset {name!r} holds full-resolution photographs for super-resolution models "
                        "(srresnet, srgan); load it with kind 'sr' (condgen.data.load_sr).")
    if info.kind == "semantic":
        raise DataError(f"built-in dataset {name!r} holds label maps and photos for semantic image synthesis (spade, "
                        "oasis, sean); load it with kind 'semantic' (condgen.data.load_semantic).")
    if kind == "classes" and info.kind != "classes":
        raise DataError(f"built-in dataset {name!r} has no classes (it is a plain image set); use it with an "
                        "unconditional model (gan, dcgan), or use a class dataset such as 'digits'.")
    root = ensure_builtin(name) / split
    if kind == "classes":
        folder = ClassFolderDataset(root, image_size, channels, bad_images="error")
        labels, classes = folder.labels, folder.classes
    else:
        folder = ImageFolderDataset(root, image_size, channels, bad_images="error",
                                    include_subfolders=info.kind == "classes")
        labels, classes = None, []
    arrays = [to_uint8_array(resize_to(open_image(f, channels), image_size)) for f in folder.files]
    images = torch.from_numpy(np.stack(arrays))
    return InMemoryDataset(images, labels, classes, name=name)
