"""Semantic image synthesis data (SPADE, OASIS, SEAN): photos with per-pixel class-id label maps (+ instance maps).

condgen's layout (SPADE's "custom" mode), files paired by name without extension::

    root/train/images/*.jpg|png   root/train/labels/*.png   [root/train/instances/*.png]   (and test/, val/)
    root/images/ + root/labels/ [+ root/instances/]           (no split folders: this is the train split)
    [root/classes.txt or root/<split>/classes.txt]             line i names class id i (optional)

and the published datasets' layouts as unpacked (SPADE's COCO-Stuff ``train_img/``, ADE20K, Cityscapes, SEAN's
CelebAMask-HQ), recognised from the folder structure by ``condgen.data.layouts``.

Label files hold one class id per pixel: single-channel 8-bit PNGs (mode "L", or "P" where the palette indices
are the ids and the palette only colours them), or 16-bit ones with ids below 256. A colour-coded RGB label map
is refused with a hint to convert it (an RGB file whose three channels are equal is read as grey). JPEG labels
are refused: lossy compression changes ids along every edge.

Items are ``{"image": float32 C x H x W in [-1, 1], "segmap": int64 H x W, "path": str}`` plus ``"instance"``
(int64 H x W, raw instance ids) when the data has instance maps. Label ids are ``0 .. label_nc - 1``; pixels
nobody labelled hold ``IGNORE_ID`` (255). Which stored value means "don't care" is ``dontcare_id`` (255 by
default; -1 = none; another value v maps v to 255 and shifts the ids above v down by one, which reads data with
don't-care first, e.g. OASIS-style files where 0 is unlabelled, as contiguous ids 0 .. label_nc - 1).

``label_nc`` is given (the model's config) or, when 0, taken from ``classes.txt`` or else inferred as the largest
id in the split's label files + 1. Every label file is decoded once when the dataset is built, so ids >= label_nc,
size mismatches and colour label maps fail at once, naming the file, instead of deep inside a training step.

Training items are resized (labels and instances with nearest neighbour, so no new ids appear; the photo
bicubic), cropped and flipped with one draw per (seed, epoch, index), the same for photo, label and instance
(``condgen.data.transforms``; call ``set_epoch`` each epoch). Evaluation items (``train=False``) are resized to
``crop_size`` with nothing random.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from condgen.data.folder import _existing_dir, _name_some, check_image_options, first_readable, refuse_or_skip
from condgen.data.images import (
    EXTENSIONS_TEXT,
    UnreadableImageError,
    _describe,
    _open_checked,
    open_image,
    to_tensor,
)
from condgen.data.layouts import Files, SemanticSplit, ade20k_class_names, semantic_split
from condgen.data.paired import _header_size, _some
from condgen.data.transforms import PairTransform
from condgen.errors import ConfigError, DataError

IGNORE_ID = 255  # the don't-care id in items and batches
INSTANCE_CHOICES = ("auto", "true", "false")
CLASSES_FILE = "classes.txt"
_LOSSY = (".jpg", ".jpeg", ".webp")
_LABEL_MODES = ("L", "P", "1", "I;16", "I;16L", "I;16B", "I;16N", "I")
_NEAREST = Image.Resampling.NEAREST  # labels and instances: never invents an id
_PHOTO_RESAMPLE = Image.Resampling.BICUBIC  # the photo's filter (the reference's)


class MissingDontcareWarning(UserWarning):
    """A don't-care id other than 255 was configured, but no label file of the split contains it."""


_CONVERT_HINT = (
    "Label maps must hold one class id per pixel (single-channel 8-bit PNG, mode L or P). To convert a colour-coded "
    "map, list your class colours in id order and map each pixel: `ids = np.full(rgb.shape[:2], 255, np.uint8); "
    "for i, c in enumerate(COLOURS): ids[(rgb == c).all(-1)] = i; Image.fromarray(ids).save(path)` (pixels of "
    "no listed colour become 255 = don't care); see the semantic data docs.")


# ----------------------------------------------------------------------------------------------- reading files
def _decode(path: Path) -> Image.Image:
    img = _open_checked(path)
    try:
        with img:
            img.load()
            return img.copy()
    except Exception as e:  # noqa: BLE001 - decoders raise many types for truncated/corrupt data
        raise UnreadableImageError(path, _describe(e)) from None


def _image_size(path: Path) -> tuple[tuple[int, int] | None, str | None]:
    """((w, h) as open_image returns it, None), or (None, reason); reads the header only."""
    if path.suffix.lower() == ".png":
        # PIL's PNG getexif decodes the whole file to find a trailing eXIf chunk; photos stored as PNG
        # practically never carry one (and a rotation that slips through is caught when the item is read).
        try:
            with _open_checked(path) as img:
                return img.size, None
        except UnreadableImageError as e:
            return None, e.reason
    return _header_size(path)


def read_label(path: str | Path) -> np.ndarray:
    """The stored values of a label file as uint8 H x W (no id mapping), or a DataError saying how to fix it.

    Raises UnreadableImageError (a DataError) for a file that cannot be decoded.
    """
    path = Path(path)
    img = _decode(path)
    mode = img.mode
    if mode in ("RGB", "RGBA", "RGBX"):
        rgb = np.asarray(img.convert("RGB"))
        if (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all():
            return np.ascontiguousarray(rgb[..., 0])  # grey stored as RGB: the ids are in every channel
        n = len(np.unique(rgb.reshape(-1, 3), axis=0))
        raise DataError(f"label map {path} is a colour (RGB) image with {n} distinct colours, not a map of class "
                        f"ids. {_CONVERT_HINT}")
    if mode == "LA":
        img, mode = img.getchannel("L"), "L"
    if mode not in _LABEL_MODES:
        raise DataError(f"label map {path} has PIL mode {mode!r}; class ids must be integers. {_CONVERT_HINT}")
    arr = np.asarray(img)
    if mode == "1":
        return arr.astype(np.uint8)  # a 1-bit mask: ids 0 and 1
    if arr.dtype != np.uint8:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi > 255:
            raise DataError(f"label map {path} ({mode}) holds ids {lo}..{hi}; ids must lie in 0..255 (254 classes "
                            f"at most, {IGNORE_ID} = don't care). Remap the classes to 0..254 and save an 8-bit PNG.")
        arr = arr.astype(np.uint8)
    return arr


def open_label_map(path: str | Path, dontcare_id: int = IGNORE_ID) -> Image.Image:
    """A label-map file as the loader reads it (palette indices and grey levels are ids; ``dontcare_id`` mapped to
    IGNORE_ID as ``data.dontcare_id`` does), as a mode-L image of ids for a semantic model's ``translate``."""
    ids = read_label(path)
    if dontcare_id not in (-1, IGNORE_ID):
        ids = id_map(dontcare_id)[ids].astype(np.uint8)
    return Image.fromarray(ids, mode="L")


def read_instance(path: str | Path) -> np.ndarray:
    """An instance map as int32 H x W ids (integer modes as stored; an RGB map packs r, g, b into one id)."""
    path = Path(path)
    img = _decode(path)
    if img.mode in ("RGB", "RGBA", "RGBX"):
        rgb = np.asarray(img.convert("RGB")).astype(np.int32)
        return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]  # only "same or different" matters
    if img.mode == "LA":
        img = img.getchannel("L")
    if img.mode not in _LABEL_MODES:
        raise DataError(f"instance map {path} has PIL mode {img.mode!r}; instance ids must be integers (an 8- or "
                        "16-bit grey or palette PNG, or a 32-bit integer one).")
    return np.asarray(img).astype(np.int32)


def id_map(dontcare_id: int) -> np.ndarray:
    """The 256-entry table from stored label values to item ids (don't care -> IGNORE_ID); see the module doc."""
    lut = np.arange(256, dtype=np.int64)
    if 0 <= dontcare_id < IGNORE_ID:
        lut[dontcare_id + 1:] -= 1
        lut[dontcare_id] = IGNORE_ID
    elif dontcare_id == -1:
        lut[IGNORE_ID] = -1  # 255 is an ordinary value, and no class id can be 255: always out of range
    return lut


def read_class_names(path: Path) -> list[str]:
    """The class names in a classes.txt (line i names id i; blank lines and #-comments skipped)."""
    names = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.append(line)
    if not names:
        raise DataError(f"{path} lists no class names; write one name per line (line i names class id i), or "
                        "delete it.")
    return names


# ---------------------------------------------------------------------------------------------------- dataset
class SemanticDataset(Dataset):
    """Photos, label maps and optional instance maps from three folders, paired by file name (module doc).

    Attributes for models: ``label_nc``, ``class_names`` (list or None), ``has_dontcare`` (some training label
    pixel is don't care), ``has_instances``; and ``class_counts`` (label pixels per class id over the split, as
    stored), ``files`` (the photos, in item order).
    """

    in_memory = False
    num_classes = 0  # no image-level classes; see label_nc

    def __init__(self, images_dir: str | Path | Files, labels_dir: str | Path | Files,
                 instances_dir: str | Path | Files | None = None, label_nc: int = 0,
                 class_names: list[str] | None = None, dontcare_id: int = IGNORE_ID,
                 preprocess: str = "resize_and_crop", load_size: int = 286, crop_size: int = 256, flip: bool = True,
                 train: bool = True, seed: int = 0, bad_images: str = "skip", channels: int = 3, multiple: int = 4,
                 class_names_from: str = "", label_nc_from: str = "model.label_nc"):
        check_image_options(bad_images, channels=channels)
        self.class_names_from = class_names_from  # where class_names came from, for messages
        self.label_nc_from = label_nc_from  # where a given label_nc came from, for messages
        # A folder, or a Files pattern (subfolders, a name suffix such as Cityscapes' _gtFine_labelIds).
        sides = [None if d is None else d if isinstance(d, Files) else Files(Path(d).expanduser())
                 for d in (images_dir, labels_dir, instances_dir)]
        self._files = sides
        images_dir, labels_dir, instances_dir = (None if f is None else f.folder for f in sides)
        if not -1 <= int(dontcare_id) <= IGNORE_ID:
            raise ConfigError(f"dontcare_id must be a label value 0..255, or -1 for none, got {dontcare_id}.")
        if not 0 <= int(label_nc) <= IGNORE_ID:
            raise ConfigError(f"label_nc must be 0 (take it from the data) or 1..{IGNORE_ID} (ids 0..254; "
                              f"{IGNORE_ID} is don't care), got {label_nc}.")
        self.images_dir, self.labels_dir = _existing_dir(images_dir), _existing_dir(labels_dir)
        self.instances_dir = None if instances_dir is None else _existing_dir(instances_dir)
        self.root = self.images_dir.parent
        self.channels = int(channels)
        self.dontcare_id = int(dontcare_id)
        self.transform = PairTransform(preprocess, load_size, crop_size, flip, train, seed, multiple)
        self.image_size = self.transform.crop_size
        self.classes: list[str] = []
        self.bad_images = bad_images
        self.bad_files: list[tuple[Path, str]] = []
        self._bad_index: set[int] = set()
        self.epoch = 0
        self._lut = id_map(self.dontcare_id)
        triples = self._match()
        self.items, counts = self._scan(triples)
        if not self.items:
            raise DataError(f"no readable image/label pairs in {self.root}: all {len(triples)} failed to open "
                            f"(first ones: {_name_some(self.bad_files)}).")
        self.has_instances = self.instances_dir is not None
        self._settle_classes(counts, int(label_nc), class_names)

    # ----- construction
    def _match(self) -> list[tuple[Path, Path, Path | None]]:
        image_files, label_files, inst_files = self._files
        images, labels = image_files.keyed(), label_files.keyed()
        if not images:
            raise DataError(f"no images ({EXTENSIONS_TEXT}) in {image_files.describe()}.")
        if not labels:
            raise DataError(f"no label maps in {label_files.describe()}; add one single-channel PNG of class ids per "
                            "image.")
        lossy = sorted(p.name for p in labels.values() if p.suffix.lower() in _LOSSY)
        if lossy:
            raise DataError(f"label maps must be stored losslessly (PNG), but {self.labels_dir} holds "
                            f"{_some(lossy)}: JPEG/WebP compression changes the class ids along every edge. "
                            "Re-create them as PNG from the original ids.")
        sides = {"label": labels}
        if inst_files is not None:
            sides["instance map"] = inst_files.keyed()
        parts = []
        for what, found in sides.items():
            side = label_files if what == "label" else inst_files
            folder = side.describe()
            no_partner = sorted(set(images) - set(found))
            no_image = sorted(set(found) - set(images))
            if no_partner:
                parts.append(f"{len(no_partner)} image(s) in {self.images_dir} have no {what} in {folder}: "
                             f"{_some([str(images[s].relative_to(image_files.folder)) for s in no_partner])}")
            if no_image:
                parts.append(f"{len(no_image)} {what} file(s) in {folder} have no image in {self.images_dir}: "
                             f"{_some([str(found[s].relative_to(side.folder)) for s in no_image])}")
        if parts:
            suffixes = [f.suffix for f in self._files if f is not None and f.suffix]
            how = (f"by name without the endings {', '.join(suffixes)} and the extension" if suffixes else
                   "by name without extension (images/0001.jpg with labels/0001.png)")
            raise DataError(f"unmatched files ({'; '.join(parts)}). Files are paired {how}; add the missing files "
                            "or remove the extras.")
        inst = sides.get("instance map", {})
        return [(images[s], labels[s], inst.get(s)) for s in sorted(images)]

    def _scan(self, triples: list[tuple[Path, Path, Path | None]]):
        """Header-check every photo, decode every label map once: sizes, formats and per-file value counts."""
        good, bad, hists = [], [], []
        for image, label, inst in triples:
            size, reason = _image_size(image)
            if reason is not None:
                bad.append((image, reason))
                continue
            try:
                ids = read_label(label)
            except UnreadableImageError as e:
                bad.append((e.path, e.reason))
                continue
            lh, lw = ids.shape
            if (lw, lh) != size:
                raise DataError(f"label map {label} is {lw}x{lh} but its image {image.name} is {size[0]}x{size[1]} "
                                "(width x height); a label map must have exactly the size of its image. Resize it "
                                "with nearest-neighbour interpolation (never bilinear: that invents ids), or fix "
                                "the pairing.")
            if inst is not None:
                try:
                    header = _open_checked(inst)
                except UnreadableImageError as e:
                    bad.append((e.path, e.reason))
                    continue
                with header:
                    isize = header.size
                if isize != (lw, lh):
                    raise DataError(f"instance map {inst} is {isize[0]}x{isize[1]} but its label map {label.name} "
                                    f"is {lw}x{lh}; they must be the same size.")
            good.append((image, label, inst))
            hists.append(np.bincount(ids.ravel(), minlength=256))
        refuse_or_skip(bad, self.root, self.bad_images, self.bad_files, noun="file(s)", pairs=True)
        return good, (np.stack(hists) if hists else np.zeros((0, 256), np.int64))

    def _settle_classes(self, counts: np.ndarray, label_nc: int, class_names: list[str] | None) -> None:
        """Decide label_nc, check every id against it, and set class_names, has_dontcare and class_counts."""
        lut, d = self._lut, self.dontcare_id
        present = counts.sum(0) > 0  # per stored value
        self.has_dontcare = bool(d >= 0 and present[d])
        stored = {int(lut[v]) for v in np.flatnonzero(present)}
        ids = sorted(i for i in stored if 0 <= i < IGNORE_ID)  # -1: 255 with dontcare_id=-1, reported below
        source = self.label_nc_from
        if class_names is not None:
            class_names = [str(c) for c in class_names]
        if not label_nc and class_names:
            label_nc, source = len(class_names), self.class_names_from or "class_names"
        if not label_nc:
            if not ids and -1 not in stored:
                raise DataError(f"every label pixel in {self.labels_dir} is don't care ({d}); there are no class ids "
                                "to learn. Check the label files, or data.dontcare_id.")
            label_nc, source = (max(ids) + 1 if ids else 1), "the data"
            if label_nc == 1 and self.has_dontcare:
                raise DataError(f"the label maps in {self.labels_dir} hold only ids 0 and {d}, and {d} means "
                                "'don't care' (data.dontcare_id), which leaves a single class. If they are "
                                f"black/white masks with {d} marking a second class, store that class as id 1 (e.g. "
                                "`Image.fromarray((np.asarray(mask) == 255).astype(np.uint8)).save(path)`).")
        if class_names is not None and len(class_names) != label_nc:
            raise DataError(f"{len(class_names)} class names (from {self.class_names_from or 'class_names'}) but "
                            f"label_nc is {label_nc} (from {source}); give one name per class id 0..{label_nc - 1}.")
        self._check_range(counts, label_nc, source)
        self.label_nc = int(label_nc)
        self.class_names = class_names
        mapped = np.zeros(IGNORE_ID + 1, np.int64)
        valid = lut >= 0
        np.add.at(mapped, lut[valid], counts.sum(0)[valid])
        self.class_counts = mapped[:self.label_nc]
        self.dontcare_pixels = int(mapped[IGNORE_ID])
        if 0 <= d < IGNORE_ID and not self.has_dontcare:
            warnings.warn(f"data.dontcare_id={d} is set, but no label map in {self.labels_dir} contains {d}: no "
                          f"pixel is don't care, and ids above {d} still move down by one. If the files have no "
                          "unlabelled pixels, set data.dontcare_id=255 (the default) or -1.",
                          MissingDontcareWarning, stacklevel=4)

    def _check_range(self, counts: np.ndarray, label_nc: int, source: str) -> None:
        lut = self._lut
        bad_values = (lut < 0) | ((lut >= label_nc) & (lut != IGNORE_ID))  # per stored value
        hit = (counts[:, bad_values] > 0).any(1)
        if not hit.any():
            return
        first = int(np.flatnonzero(hit)[0])
        values = [int(v) for v in np.flatnonzero((counts[first] > 0) & bad_values)]
        shown = ", ".join(map(str, values[:12])) + (" ..." if len(values) > 12 else "")
        all_values = np.flatnonzero((counts.sum(0) > 0) & bad_values)
        d = self.dontcare_id
        care = (f"{IGNORE_ID} is read as don't care" if d == IGNORE_ID else
                f"{d} is read as don't care and ids above it move down by one" if d >= 0 else
                f"data.dontcare_id=-1, so {IGNORE_ID} is an ordinary id, and it cannot be a class")
        need = int(lut[all_values].max()) + 1
        fix = (f"Set model.label_nc to at least {need} (or to 0 to take it from the data), or remap the labels."
               if need > label_nc else "Remap the labels, or set data.dontcare_id=255.")
        raise DataError(f"label values {shown} in {self.items[first][1]} are out of range: label_nc is {label_nc} "
                        f"(from {source}), so ids must be 0..{label_nc - 1} ({care}). {int(hit.sum())} label "
                        f"file(s) have such values (largest {int(all_values.max())}). {fix}")

    # ----- items
    def set_epoch(self, epoch: int) -> None:
        """Use ``epoch``'s random crops and flips from now on (call it with the sampler's ``set_epoch``)."""
        self.epoch = int(epoch)

    @property
    def files(self) -> list[Path]:
        """The photos, in item order."""
        return [t[0] for t in self.items]

    def __len__(self) -> int:
        return len(self.items)

    def _read(self, triple: tuple[Path, Path, Path | None]) -> list[Image.Image]:
        image, label, inst = triple
        img = open_image(image, self.channels)
        ids = self._lut[read_label(label)]
        if (ids < 0).any():  # a file changed since the scan (only possible with dontcare_id=-1)
            raise DataError(f"label map {label} holds {IGNORE_ID}, which is not a class with data.dontcare_id=-1.")
        out = [img, Image.fromarray(ids.astype(np.uint8))]
        if inst is not None:
            out.append(Image.fromarray(read_instance(inst)))
        sizes = {im.size for im in out}
        if len(sizes) > 1:
            # The scan checked headers; an EXIF-rotated photo or a file replaced since can still disagree.
            raise DataError(f"{image} and its label/instance maps differ in size after loading "
                            f"({' vs '.join('x'.join(map(str, im.size)) for im in out)}); they must match.")
        return out

    def __getitem__(self, index: int) -> dict:
        """The item at ``index`` (or with bad_images=skip the next decodable one), transformed, as tensors."""
        n = len(self.items)
        found = first_readable(index, n, lambda i: self._read(self.items[i]), self.bad_images, self._bad_index,
                               self.bad_files, noun="file")
        if found is None:
            raise DataError(f"none of the {n} image/label pairs in {self.root} could be decoded; see the warnings "
                            "above.")
        i, parts = found
        triple = self.items[i]
        resample = [_PHOTO_RESAMPLE] + [_NEAREST] * (len(parts) - 1)
        # Keyed by the requested index, so a skipped file does not shift the crops of later items.
        parts = self.transform(parts, self.epoch, index, name=str(triple[0]), resample=resample)
        item = {"image": to_tensor(parts[0]),
                "segmap": torch.from_numpy(np.asarray(parts[1], dtype=np.int64)),
                "path": str(triple[0])}
        if len(parts) == 3:
            item["instance"] = torch.from_numpy(np.asarray(parts[2], dtype=np.int64))
        return item


# ----------------------------------------------------------------------------------------------------- layout
def _instances_choice(instances: str | bool) -> str:
    if isinstance(instances, bool):
        return "true" if instances else "false"
    if instances not in INSTANCE_CHOICES:
        raise ConfigError(f"instances must be one of {', '.join(INSTANCE_CHOICES)} (use instance maps: when an "
                          f"instances/ folder exists, always, never), got {instances!r}.")
    return instances


def load_semantic(spec: str | Path, split: str = "train", label_nc: int = 0, class_names: list[str] | None = None,
                  dontcare_id: int = IGNORE_ID, instances: str | bool = "auto", preprocess: str = "resize_and_crop",
                  load_size: int = 286, crop_size: int = 256, flip: bool = True, train: bool | None = None,
                  seed: int = 0, bad_images: str = "skip", channels: int = 3, multiple: int = 4) -> SemanticDataset:
    """A semantic dataset (SemanticDataset) from a built-in name (``scenes``, ``scenes64``) or a folder in any layout
    of ``condgen.data.layouts`` (condgen's, ADE20K, Cityscapes, SPADE's COCO-Stuff, SEAN's CelebAMask-HQ).

    ``train`` defaults to ``split == "train"`` (random crops and flips only when training). ``instances``: "auto"
    reads ``instances/`` when it exists, "true" requires it, "false" ignores it. ``class_names`` default to the
    lines of ``classes.txt`` (in the split folder or the root) when there is one.
    """
    from condgen.data.builtin import builtin_or_folder, ensure_builtin

    if train is None:
        train = split == "train"
    choice = _instances_choice(instances)
    found = builtin_or_folder(str(spec), "semantic", "images/ and labels/ folders (semantic label maps)")
    if isinstance(found, Path):
        root = found
    else:
        if split not in found.counts:
            raise DataError(f"built-in dataset {spec!r} has no split {split!r}; it has {', '.join(found.counts)}.")
        root = ensure_builtin(found.name)
        bad_images = "error"  # a broken cached file means a broken cache, not a file to skip
    found: SemanticSplit = semantic_split(root, split)
    layout, labels, inst = found.layout, found.labels.folder, found.instances
    if inst is not None and layout.name == "cityscapes" and not inst.listing():
        inst = None  # a Cityscapes tree without *_gtFine_instanceIds.png files has no instance maps
    if choice == "true" and inst is None:
        expected = (f"{labels}/*/*_gtFine_instanceIds.png" if layout.name == "cityscapes" else
                    labels.parent / ("instances" if layout.name == "condgen" else labels.name.replace("label", "inst")))
        raise DataError(f"data.instances is true but there is no instance map folder next to {labels} (expected "
                        f"{expected}); add it or set data.instances=auto.")
    if choice == "false":
        inst = None
    names_from, nc_from = "", "model.label_nc"
    if class_names is None:
        for f in (labels.parent / CLASSES_FILE, root / CLASSES_FILE):
            if f.is_file():
                class_names, names_from = read_class_names(f), str(f)
                break
    # A stored value read as don't care (data.dontcare_id other than 255) is one class fewer.
    shift = 0 <= dontcare_id < IGNORE_ID
    if class_names is None and layout.name == "ade20k":
        names = ade20k_class_names(root)
        if names and shift:
            names = names[:dontcare_id] + names[dontcare_id + 1:]
        if names and label_nc in (0, len(names)):
            class_names, names_from = names, str(root / "objectInfo150.txt")
    if not label_nc and class_names is None and layout.label_nc:
        label_nc = layout.label_nc - shift
        nc_from = f"{layout.title}, which has {layout.label_nc} label ids" + (
            f", {dontcare_id} read as don't care" if shift else "")
    return SemanticDataset(found.images, found.labels, inst, label_nc=label_nc, class_names=class_names,
                           dontcare_id=dontcare_id, preprocess=preprocess, load_size=load_size, crop_size=crop_size,
                           flip=flip, train=train, seed=seed, bad_images=bad_images, channels=channels,
                           multiple=multiple, class_names_from=names_from, label_nc_from=nc_from)
