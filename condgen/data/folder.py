"""Datasets read from folders of image files: a plain folder (gan, dcgan) or one subfolder per class (cgan)."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch.utils.data import Dataset

from condgen.data.images import (
    EXTENSIONS_TEXT,
    BadImageWarning,
    UnreadableImageError,
    check_image,
    list_images,
    load_image,
)
from condgen.errors import DataError

BAD_IMAGES_CHOICES = ("skip", "error")
_SHOW_NAMES = 5  # how many bad files a message names before "..."


def _existing_dir(root: str | Path) -> Path:
    """``root`` as a Path, or a DataError if it is missing or not a folder."""
    root = Path(root).expanduser()
    if not root.exists():
        raise DataError(f"data folder {root} does not exist; check the path (data.path / --data).")
    if not root.is_dir():
        raise DataError(f"data path {root} is a file, not a folder of images.")
    return root


def _subfolders(root: Path) -> list[Path]:
    """Non-hidden subfolders of ``root``, sorted numerically when every name is an integer, else by name."""
    subs = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    if subs and all(p.name.isdigit() for p in subs):
        # Folders 0..10 must map to labels 0..10, not the string order 0, 1, 10, 2, ...
        return sorted(subs, key=lambda p: (int(p.name), p.name))
    return sorted(subs, key=lambda p: p.name)


def check_image_options(bad_images: str, **channels: int) -> None:
    """A DataError for a ``bad_images`` value other than skip/error, or a channel count other than 1 or 3."""
    if bad_images not in BAD_IMAGES_CHOICES:
        raise DataError(f"bad_images must be one of {', '.join(BAD_IMAGES_CHOICES)}, got {bad_images!r}.")
    for name, c in channels.items():
        if c not in (1, 3):
            raise DataError(f"{name} must be 1 (grey) or 3 (RGB), got {c}.")


def _name_some(items: list[tuple[Path, str]]) -> str:
    shown = "; ".join(f"{p.name} ({reason})" for p, reason in items[:_SHOW_NAMES])
    return shown + ("; ..." if len(items) > _SHOW_NAMES else "")


def refuse_or_skip(bad: list[tuple[Path, str]], root: Path, policy: str, bad_files: list[tuple[Path, str]],
                   noun: str = "image(s)", pairs: bool = False) -> None:
    """``data.bad_images`` for the files whose header check failed: "error" raises naming them; "skip" records
    them in ``bad_files`` and warns (``pairs``: the items they belong to are left out too)."""
    if not bad:
        return
    if policy == "error":
        raise DataError(f"{len(bad)} unreadable {noun} in {root}: {_name_some(bad)}. Fix or remove them, or set "
                        f"data.bad_images=skip to leave {'their pairs' if pairs else 'them'} out.")
    bad_files.extend(bad)
    warnings.warn(f"skipping {len(bad)} unreadable {noun} in {root}{' and their pairs' if pairs else ''}: "
                  f"{_name_some(bad)}.", BadImageWarning, stacklevel=4)


def first_readable(index: int, n: int, read, policy: str, bad_index: set[int], bad_files: list[tuple[Path, str]],
                   noun: str = "image"):
    """``(i, read(i))`` for the first item from ``index`` on (wrapping around) that decodes; with
    ``data.bad_images=skip`` an item that fails is recorded, warned about and never tried again, "error" raises.
    None when no item decodes. The next index, not a random one, keeps runs reproducible for a given seed."""
    for step in range(n):
        i = (index + step) % n
        if i in bad_index:
            continue
        try:
            return i, read(i)
        except UnreadableImageError as e:
            if policy == "error":
                raise DataError(f"{e} Fix or remove it, or set data.bad_images=skip to leave it out.") from None
            bad_index.add(i)
            bad_files.append((e.path, e.reason))
            warnings.warn(f"skipping unreadable {noun} {e.path}: {e.reason}.", BadImageWarning, stacklevel=4)
    return None


class _FolderDataset(Dataset):
    """Shared logic: header-check the files, then decode on demand, skipping or refusing bad ones."""

    in_memory = False

    def __init__(self, root: str | Path, files: list[Path], image_size: int, channels: int, bad_images: str):
        check_image_options(bad_images, channels=channels)
        self.root = Path(root)
        self.image_size = int(image_size)
        self.channels = int(channels)
        self.bad_images = bad_images
        self.bad_files: list[tuple[Path, str]] = []
        self._bad_index: set[int] = set()
        self.files, self._keep = self._header_check(files)

    def _header_check(self, files: list[Path]) -> tuple[list[Path], list[int]]:
        """Drop (skip) or refuse (error) files with unreadable headers; return the good files and their positions."""
        good, keep, bad = [], [], []
        for i, f in enumerate(files):
            reason = self._check(f)
            if reason is None:
                good.append(f)
                keep.append(i)
            else:
                bad.append((f, reason))
        refuse_or_skip(bad, self.root, self.bad_images, self.bad_files)
        return good, keep

    def _check(self, path: Path) -> str | None:
        """Header check of one file: None if it looks readable, else the reason."""
        return check_image(path)

    def _decode(self, path: Path):
        """Read one file as the dataset serves it (raising UnreadableImageError for a bad one)."""
        return load_image(path, self.image_size, self.channels)

    def __len__(self) -> int:
        return len(self.files)

    def _load(self, index: int) -> tuple[int, torch.Tensor]:
        """Decode item ``index``, or with bad_images=skip the next decodable one; returns (index used, image)."""
        n = len(self.files)
        found = first_readable(index, n, lambda i: self._decode(self.files[i]), self.bad_images, self._bad_index,
                               self.bad_files)
        if found is None:
            raise DataError(f"none of the {n} images in {self.root} could be decoded; see the warnings above.")
        return found

    def _check_not_empty(self) -> None:
        if not self.files:
            raise DataError(f"no readable images in {self.root}: all {len(self.bad_files)} failed to open "
                            f"(first ones: {_name_some(self.bad_files)}).")


class ImageFolderDataset(_FolderDataset):
    """A folder of images (no labels); items are ``{"image": C x S x S float tensor in [-1, 1]}``.

    With ``include_subfolders=True`` images in the immediate subfolders are gathered too (class-structured
    data used without its labels).
    """

    num_classes = 0

    def __init__(self, root: str | Path, image_size: int = 64, channels: int = 3, bad_images: str = "skip",
                 include_subfolders: bool = False):
        self.classes: list[str] = []
        root = _existing_dir(root)
        files = list_images(root)
        if include_subfolders:
            for sub in _subfolders(root):
                files.extend(list_images(sub))
        if not files:
            hint = ""
            if not include_subfolders and any(list_images(s) for s in _subfolders(root)):
                hint = " (its subfolders hold images: pass include_subfolders=True or use load_dataset)"
            raise DataError(f"no images ({EXTENSIONS_TEXT}) in {root}{hint}.")
        super().__init__(root, files, image_size, channels, bad_images)
        self._check_not_empty()

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        """The image at ``index`` (or the next readable one when skipping bad files)."""
        _, image = self._load(index)
        return {"image": image}


class ClassFolderDataset(_FolderDataset):
    """One subfolder per class (``root/<class>/*.png``); items are ``{"image", "label"}`` (label int64)."""

    def __init__(self, root: str | Path, image_size: int = 64, channels: int = 3, bad_images: str = "skip"):
        root = _existing_dir(root)
        class_dirs = _subfolders(root)
        if not class_dirs:
            found = f" (it holds {len(list_images(root))} images directly)" if list_images(root) else ""
            raise DataError(f"no class subfolders in {root}{found}. Class-conditional data needs one subfolder per "
                            f"class, e.g. {root}/cat/001.png and {root}/dog/002.png.")
        files: list[Path] = []
        labels: list[int] = []
        for label, d in enumerate(class_dirs):
            imgs = list_images(d)
            if not imgs:
                raise DataError(f"class folder {d} has no images ({EXTENSIONS_TEXT}); add images or remove it.")
            files.extend(imgs)
            labels.extend([label] * len(imgs))
        loose = list_images(root)
        if loose:
            warnings.warn(f"ignoring {len(loose)} image(s) directly in {root}: class data is read only from "
                          "its class subfolders.", stacklevel=2)
        self.classes = [d.name for d in class_dirs]
        self.num_classes = len(self.classes)
        super().__init__(root, files, image_size, channels, bad_images)
        self.labels = torch.tensor([labels[i] for i in self._keep], dtype=torch.int64)
        present = set(self.labels.tolist())
        for label, d in enumerate(class_dirs):
            if label not in present:
                raise DataError(f"class folder {d} has no readable images (all failed to open); fix or remove them.")

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        """The image at ``index`` and its class id (or the next readable item when skipping bad files)."""
        i, image = self._load(index)
        return {"image": image, "label": self.labels[i]}
