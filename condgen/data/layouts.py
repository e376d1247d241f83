"""Folder layouts of semantic and unpaired data, recognised from the folder structure: condgen's own, and those of
the published datasets the released checkpoints were trained on, read as they are unpacked.

``detect_layout(root, kind)`` names the layout of a folder (or raises a DataError saying what it expected);
``semantic_split`` / ``unpaired_split`` give the files of one of condgen's splits (train, test, val) in it.

Semantic layouts (images, label maps, optional instance maps)::

    condgen        root/{train,test,val}/images|labels|instances/  (or root/images + root/labels = train)
    coco-stuff     root/{train,val}_img|_label|_inst/                (SPADE's COCO-Stuff layout; test -> val)
    ade20k         root/images/{training,validation}/*.jpg + root/annotations/{training,validation}/*.png
                   (the SceneParsing release, ADEChallengeData2016/; train -> training, test and val -> validation)
    cityscapes     root/leftImg8bit/{train,val}/CITY/*_leftImg8bit.png + root/gtFine/{train,val}/CITY/
                   *_gtFine_labelIds.png and *_gtFine_instanceIds.png (test -> val: the test labels are withheld)
    celebamask-hq  root/{train,test}/{train,test}_img|_label/        (SEAN's CelebAMask-HQ layout)

Unpaired layouts (two image domains)::

    cyclegan       root/{train,test,val}A/ and root/{train,test,val}B/
    ab-pairs       root/{train,val,test}/*.jpg, A|B side by side (junyanz's paired layout, e.g. edges2shoes):
                   domain A = the left halves, domain B = the right halves (test -> val when there is no test/)

Ids are read as stored (see docs/models/semantic.md for what each dataset's ids mean); a layout that fixes its
class count (ADE20K 151, Cityscapes 35, CelebAMask-HQ 19) says so in ``label_nc``, used when the model's is 0.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from condgen.data.images import list_images
from condgen.errors import DataError

SPLITS = ("train", "test", "val")


@dataclass(frozen=True)
class Layout:
    """A recognised folder layout: its ``name``, a ``title`` for messages, its data ``kind``, the class count it
    fixes (0: from the data) and, per condgen split, the layout's split names tried in order."""

    name: str
    title: str
    kind: str
    splits: dict[str, tuple[str, ...]]
    label_nc: int = 0


LAYOUTS = {layout.name: layout for layout in (
    Layout("condgen", "condgen's layout", "semantic", {s: (s,) for s in SPLITS}),
    Layout("coco-stuff", "SPADE's COCO-Stuff layout", "semantic",
           {"train": ("train",), "test": ("test", "val"), "val": ("val",)}),
    Layout("ade20k", "the ADE20K SceneParsing layout", "semantic",
           {"train": ("training",), "test": ("validation",), "val": ("validation",)}, label_nc=151),
    Layout("cityscapes", "the Cityscapes layout", "semantic",
           {"train": ("train",), "test": ("val",), "val": ("val",)}, label_nc=35),
    Layout("celebamask-hq", "SEAN's CelebAMask-HQ layout", "semantic", {s: (s,) for s in SPLITS}, label_nc=19),
    Layout("cyclegan", "the CycleGAN layout", "unpaired", {s: (s,) for s in SPLITS}),
    Layout("ab-pairs", "A|B side-by-side pairs (junyanz's paired layout)", "unpaired",
           {"train": ("train",), "test": ("test", "val"), "val": ("val",)}),
)}

@dataclass(frozen=True)
class Files:
    """One side of a split: the image files in ``folder`` (and, when ``recursive``, its subfolders) whose names end
    in ``suffix`` before the extension, keyed by their path below ``folder`` without suffix and extension."""

    folder: Path
    suffix: str = ""
    recursive: bool = False

    def describe(self) -> str:
        """The folder, with the file pattern when there is one (for messages)."""
        if not self.suffix and not self.recursive:
            return str(self.folder)
        below = "*/" if self.recursive else ""
        return f"{self.folder} ({below}*{self.suffix}.*)"

    def listing(self) -> list[Path]:
        """The matching image files, sorted."""
        if not self.recursive:
            found = list_images(self.folder)
        else:
            found, seen = [], set()
            for here, dirs, _ in os.walk(self.folder, followlinks=True):
                real = os.path.realpath(here)
                if real in seen:  # a linked folder met twice (or a link loop): read it once
                    dirs[:] = []
                    continue
                seen.add(real)
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found.extend(list_images(here))
        return sorted(p for p in found if p.stem.endswith(self.suffix))

    def keyed(self) -> dict[str, Path]:
        """{key: file}; a DataError when two files share a key (same name, different extension)."""
        out: dict[str, Path] = {}
        for p in self.listing():
            rel = p.relative_to(self.folder)
            key = str(rel.parent / p.stem[:len(p.stem) - len(self.suffix)])
            if key in out:
                raise DataError(f"{p.parent} has two images named {p.stem!r} ({out[key].name} and {p.name}); files "
                                "are matched by name without extension, so keep one.")
            out[key] = p
        return out


@dataclass(frozen=True)
class SemanticSplit:
    """The files of one split of a semantic layout: images, labels, instances (or None) and the layout."""

    layout: Layout
    images: Files
    labels: Files
    instances: Files | None


def _any_dir(*paths: Path) -> bool:
    return any(p.is_dir() for p in paths)


def _holds_images(folder: Path) -> bool:
    return folder.is_dir() and bool(list_images(folder))


def detect_layout(root: Path, kind: str, split: str = "train") -> Layout:
    """The layout of ``root`` for data ``kind`` ("semantic" or "unpaired"), from its folder structure (module doc);
    a DataError naming the expected folders (of ``split``) when it matches none."""
    root = Path(root)
    if kind == "semantic":
        if _any_dir(root / "leftImg8bit", root / "gtFine"):
            return LAYOUTS["cityscapes"]
        if _any_dir(root / "annotations", root / "images" / "training", root / "images" / "validation"):
            return LAYOUTS["ade20k"]
        if _any_dir(*(root / s / f"{s}_{part}" for s in SPLITS for part in ("img", "label"))):
            return LAYOUTS["celebamask-hq"]
        if _any_dir(*(root / f"{s}_{part}" for s in SPLITS for part in ("img", "label"))):
            return LAYOUTS["coco-stuff"]
        if _any_dir(root / "images", root / "labels",
                    *(root / s / part for s in SPLITS for part in ("images", "labels"))):
            return LAYOUTS["condgen"]
        raise DataError(f"no semantic data for split {split!r} in {root}: expected {root}/{split}/images and "
                        f"{root}/{split}/labels (condgen's layout: label maps, one single-channel PNG of class ids "
                        f"per image, same name; optionally {split}/instances"
                        + (f"; or {root}/images and {root}/labels" if split == "train" else "")
                        + "), or a published dataset as unpacked: train_img/ + train_label/ (SPADE's COCO-Stuff), "
                        "images/training/ + annotations/training/ (ADE20K), leftImg8bit/ + gtFine/ (Cityscapes), "
                        "train/train_img/ + train/train_label/ (SEAN's CelebAMask-HQ); see docs/models/semantic.md.")
    if kind == "unpaired":
        if _any_dir(*(root / f"{s}{d}" for s in SPLITS for d in "AB")):
            return LAYOUTS["cyclegan"]
        if any(_holds_images(root / s) for s in SPLITS):
            return LAYOUTS["ab-pairs"]
        from condgen.data.unpaired import _missing_domain

        raise _missing_domain(root, split, root / f"{split}A")
    raise ValueError(f"no folder layouts for data kind {kind!r}")


def _first_split(layout: Layout, split: str, exists) -> str | None:
    """The first of the layout's names for condgen's ``split`` whose folders exist, else None."""
    for name in layout.splits.get(split, ()):
        if exists(name):
            return name
    return None


def _names(layout: Layout, split: str) -> str:
    return " or ".join(layout.splits.get(split, (split,)))


def semantic_split(root: Path, split: str) -> SemanticSplit:
    """The files of condgen's ``split`` in the semantic folder ``root``, whatever its layout, or a DataError."""
    root = Path(root)
    layout = detect_layout(root, "semantic", split)
    if layout.name == "condgen":
        images, labels, inst = _condgen_folders(root, split)
        return SemanticSplit(layout, Files(images), Files(labels), None if inst is None else Files(inst))
    if layout.name == "cityscapes":
        def folders(s):
            return root / "leftImg8bit" / s, root / "gtFine" / s
    elif layout.name == "ade20k":
        def folders(s):
            return root / "images" / s, root / "annotations" / s
    elif layout.name == "celebamask-hq":
        def folders(s):
            return root / s / f"{s}_img", root / s / f"{s}_label"
    else:  # coco-stuff
        def folders(s):
            return root / f"{s}_img", root / f"{s}_label"
    name = _first_split(layout, split, lambda s: all(f.is_dir() for f in folders(s)))
    if name is None:
        tried = [folders(s) for s in layout.splits.get(split, (split,))]
        half = next(((i, lab) for i, lab in tried if i.is_dir() != lab.is_dir()), None)
        if half is not None:
            missing = half[1] if half[0].is_dir() else half[0]
            raise DataError(f"{missing} is missing: {root} has {layout.title}, which needs {half[0]} (photos) and "
                            f"{half[1]} (label maps) for the {split} split.")
        expected = " and ".join(str(f) for f in tried[0])
        raise DataError(f"no semantic data for split {split!r} in {root} ({layout.title}; condgen's {split} split is "
                        f"its {_names(layout, split)}): expected {expected} (images and label maps).")
    images, labels = folders(name)
    if layout.name == "cityscapes":
        return SemanticSplit(layout, Files(images, "_leftImg8bit", True), Files(labels, "_gtFine_labelIds", True),
                             Files(labels, "_gtFine_instanceIds", True))
    if layout.name == "coco-stuff":
        inst = root / f"{name}_inst"
        return SemanticSplit(layout, Files(images), Files(labels), Files(inst) if inst.is_dir() else None)
    return SemanticSplit(layout, Files(images), Files(labels), None)


def _condgen_folders(root: Path, split: str) -> tuple[Path, Path, Path | None]:
    """(images, labels, instances or None) of ``split`` in condgen's own layout, or a DataError."""
    candidates = [(root / split / "images", root / split / "labels", root / split / "instances")]
    if split == "train":
        candidates.append((root / "images", root / "labels", root / "instances"))
    for images, labels, instances in candidates:
        if images.is_dir() and labels.is_dir():
            return images, labels, instances if instances.is_dir() else None
        if images.is_dir() or labels.is_dir():
            missing = labels if images.is_dir() else images
            raise DataError(f"{missing} is missing: semantic data needs {images.name}/ (photos) and {labels.name}/ "
                            f"(label maps) side by side in {images.parent}.")
    if split != "train" and (root / "images").is_dir():
        raise DataError(f"{root} has images/ and labels/ but no {split}/ folder, so there is no {split} split; add "
                        f"{root}/{split}/images and {root}/{split}/labels.")
    raise DataError(f"no semantic data for split {split!r} in {root}: expected {root}/{split}/images and "
                    f"{root}/{split}/labels (label maps, one single-channel PNG of class ids per image, same name), "
                    f"optionally {root}/{split}/instances"
                    + (f"; or {root}/images and {root}/labels" if split == "train" else "") + ".")


def ade20k_class_names(root: Path) -> list[str] | None:
    """The 151 class names of an ADE20K release folder ("other" for id 0, then the first name of each line of its
    ``objectInfo150.txt``), or None when the file is absent or not the expected table."""
    info = Path(root) / "objectInfo150.txt"
    if not info.is_file():
        return None
    names = {}
    for line in info.read_text(errors="replace").splitlines()[1:]:
        fields = line.split("\t")
        if len(fields) >= 2 and fields[0].strip().isdigit():
            names[int(fields[0])] = fields[-1].split(",")[0].strip() or f"class {fields[0]}"
    if sorted(names) != list(range(1, 151)):
        return None
    return ["other"] + [names[i] for i in range(1, 151)]


def unpaired_split(root: Path, split: str) -> tuple[Layout, Path, Path]:
    """(layout, folder of domain A, folder of domain B) of condgen's ``split`` in the unpaired folder ``root``; for
    ``ab-pairs`` both are the split's A|B folder (A the left halves, B the right ones). A DataError when missing."""
    from condgen.data.unpaired import DOMAINS, _missing_domain

    root = Path(root)
    layout = detect_layout(root, "unpaired", split)
    if layout.name == "ab-pairs":
        name = _first_split(layout, split, lambda s: _holds_images(root / s))
        if name is None:
            raise DataError(f"no {split} split in {root} ({layout.title}): expected A|B images in "
                            + " or ".join(str(root / s) for s in layout.splits.get(split, (split,)))
                            + f" (for the CycleGAN layout: {root}/{split}A and {root}/{split}B).")
        return layout, root / name, root / name
    for d in DOMAINS:
        if not (root / f"{split}{d}").is_dir():
            raise _missing_domain(root, split, root / f"{split}{d}")
    return layout, root / f"{split}A", root / f"{split}B"
