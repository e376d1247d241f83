"""Datasets: a built-in name or a folder of images in, ``dict[str, Tensor]`` items out (images in [-1, 1])."""

from __future__ import annotations

import warnings
from pathlib import Path

from torch.utils.data import Dataset

from condgen.data.builtin import (
    BUILTIN,
    BuiltinInfo,
    DataNameWarning,
    InMemoryDataset,
    builtin_name,
    existing_folder,
    list_builtin,
    load_builtin,
    make_builtin,
)
from condgen.data.folder import ClassFolderDataset, ImageFolderDataset
from condgen.data.images import IMG_EXTENSIONS, BadImageWarning, list_images, load_image, open_image, to_tensor
from condgen.data.paired import AlignedDataset, FolderPairDataset, load_paired
from condgen.data.sampler import ResumableSampler, batches_per_epoch
from condgen.data.semantic import IGNORE_ID, MissingDontcareWarning, SemanticDataset, load_semantic
from condgen.data.sr import SmallImageWarning, SRDataset, bicubic_downscale, load_sr
from condgen.data.unpaired import UnpairedDataset, load_unpaired
from condgen.errors import DataError

__all__ = [
    "AlignedDataset", "BUILTIN", "BadImageWarning", "BuiltinInfo", "ClassFolderDataset", "DataError", "DataNameWarning",
    "FolderPairDataset", "IGNORE_ID", "IMG_EXTENSIONS", "ImageFolderDataset", "InMemoryDataset",
    "MissingDontcareWarning", "ResumableSampler", "SRDataset", "SemanticDataset", "SmallImageWarning",
    "UnpairedDataset", "batches_per_epoch", "bicubic_downscale", "builtin_name",
    "dataset_info", "list_builtin", "list_images",
    "load_dataset", "load_image", "load_paired", "load_semantic", "load_sr", "load_unpaired", "make_builtin",
    "open_image", "to_tensor",
]

KINDS = ("images", "classes", "paired", "unpaired", "sr", "semantic", "content")


def _split_root(root: Path, split: str, fallback_to_train: bool) -> Path:
    """The folder holding ``split``: ``root/split`` if present, else ``root`` itself as the train split."""
    if (root / split).is_dir():
        return root / split
    if split == "train":
        if (root / "test").is_dir():
            raise DataError(f"{root} has a test/ folder but no train/ folder; add {root}/train or point at the "
                            "folder holding the training images.")
        return root
    if fallback_to_train:
        warnings.warn(f"{root} has no {split}/ folder; using the training images for the {split} split.",
                      stacklevel=3)
        return _split_root(root, "train", False)
    if (root / "train").is_dir():
        raise DataError(f"{root} has a train/ but no {split}/ subfolder; add {root}/{split} with {split} images.")
    raise DataError(f"{root} has no {split}/ subfolder, so there is no {split} split (the folder itself is the "
                    f"train split). Add {root}/{split}, or move the training images to {root}/train.")


def load_dataset(spec: str, kind: str, split: str = "train", image_size: int = 64, channels: int = 3,
                 bad_images: str = "skip", fallback_to_train: bool = False, **paired_options) -> Dataset:
    """A dataset from a built-in name (see ``list_builtin``) or a folder; kind "classes" adds ``label``.

    Kind "paired" returns ``load_paired(spec, split, ...)`` with ``crop_size=image_size``, ``channels_A`` and
    ``channels_B`` defaulting to ``channels``, and ``paired_options`` (direction, preprocess, load_size, flip,
    train, seed, ...) passed on. Kind "unpaired" does the same with ``load_unpaired`` (options: pairing,
    preprocess, load_size, flip, train, seed, ...).
    Kind "sr" returns ``load_sr(spec, split, hr_crop=image_size, channels=channels, ...)`` with the options
    (scale, train, seed, flip, rotate, crops_per_image) passed on.
    Kind "semantic" returns ``load_semantic(spec, split, crop_size=image_size, channels=channels, ...)`` with the
    options (label_nc, class_names, dontcare_id, instances, preprocess, load_size, flip, train, seed) passed on.
    Kind "content" returns ``load_content(spec, split, crop_size=image_size, channels=channels, ...)`` (options:
    load_size, train, seed, crops_per_image).

    An existing folder wins over a built-in set of the same name, with a warning; ``builtin:NAME`` always means the
    built-in set (``condgen.data.builtin.builtin_name``). A folder with a
    ``train/`` (or ``split``) subfolder uses it; otherwise the folder itself is the train split.
    """
    if kind not in KINDS:
        raise DataError(f"dataset kind must be one of {', '.join(KINDS)}, got {kind!r}.")
    if kind == "sr":
        return load_sr(spec, split, hr_crop=image_size, channels=channels, bad_images=bad_images, **paired_options)
    if kind == "content":
        from condgen.data.content import load_content

        return load_content(spec, split, crop_size=image_size, channels=channels, bad_images=bad_images,
                            **paired_options)
    if kind == "semantic":
        return load_semantic(spec, split, crop_size=image_size, channels=channels, bad_images=bad_images,
                             **paired_options)
    if kind in ("paired", "unpaired"):
        opts = {"crop_size": image_size, "channels_A": channels, "channels_B": channels, "bad_images": bad_images,
                **paired_options}
        return (load_paired if kind == "paired" else load_unpaired)(spec, split, **opts)
    if paired_options:
        raise DataError(f"options {', '.join(sorted(paired_options))} apply only to kind 'paired' or 'unpaired', "
                        f"not {kind!r}.")
    spec = str(spec)
    if not spec:
        raise DataError(f"no data given: set data.path (--data) to a folder or a built-in dataset "
                        f"({', '.join(sorted(BUILTIN))}).")
    name = builtin_name(spec)
    if name is not None:
        return load_builtin(name, kind=kind, split=split, image_size=image_size, channels=channels)
    root = _split_root(existing_folder(spec, "images"), split, fallback_to_train)
    if kind == "classes":
        return ClassFolderDataset(root, image_size, channels, bad_images=bad_images)
    # Class-structured data (images only in subfolders) also serves unconditional models, labels unused.
    gather = not list_images(root) and any(
        list_images(p) for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    return ImageFolderDataset(root, image_size, channels, bad_images=bad_images, include_subfolders=gather)


def dataset_info(ds: Dataset) -> dict:
    """``{num_classes, classes, channels, image_size, size}`` of a condgen dataset (or a Subset of one).

    Semantic datasets add ``label_nc``, ``class_names`` (list or None), ``has_dontcare`` and ``has_instances``.
    """
    base = ds
    while hasattr(base, "dataset") and not hasattr(base, "image_size"):
        base = base.dataset  # torch Subset and similar wrappers
    try:
        info = {
            "num_classes": int(base.num_classes),
            "classes": list(base.classes),
            "channels": int(base.channels),
            "image_size": int(base.image_size),
            "size": len(ds),
        }
        if hasattr(base, "label_nc"):
            info.update(label_nc=int(base.label_nc), has_dontcare=bool(base.has_dontcare),
                        has_instances=bool(base.has_instances),
                        class_names=None if base.class_names is None else list(base.class_names))
        return info
    except (AttributeError, TypeError):
        raise DataError(f"{type(ds).__name__} is not a condgen dataset (it lacks num_classes/classes/channels/"
                        "image_size); build it with condgen.data.load_dataset.") from None
