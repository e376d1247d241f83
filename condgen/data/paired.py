"""Paired image-to-image data (pix2pix): A|B side-by-side files or matching files in A/ and B/ folders.

Items are ``{"A": input, "B": target, "path": str}`` with A and B float C x H x W tensors in [-1, 1], already
swapped by ``direction`` ("BtoA" makes the right/B side the input). Both images of a pair get the same
resize/crop/flip (see ``condgen.data.transforms``), drawn from (seed, epoch, index): call ``set_epoch`` each
epoch, like the sampler's.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image
from torch.utils.data import Dataset

from condgen.data.folder import _existing_dir, _name_some, check_image_options, first_readable, refuse_or_skip
from condgen.data.images import (
    EXTENSIONS_TEXT,
    UnreadableImageError,
    _open_checked,
    list_images,
    open_image,
    to_tensor,
)
from condgen.data.transforms import PairTransform
from condgen.errors import ConfigError, DataError

DIRECTIONS = ("AtoB", "BtoA")
_SHOW_UNMATCHED = 5
_EXIF_ORIENTATION = 0x0112
_EXIF_SWAPS_AXES = {5, 6, 7, 8}  # rotations by 90 or 270 degrees, which open_image undoes


def _header_size(path: Path) -> tuple[tuple[int, int] | None, str | None]:
    """((w, h) as open_image will return it, None), or (None, reason) for an unreadable file; no pixel decode."""
    try:
        img = _open_checked(path)
    except UnreadableImageError as e:
        return None, e.reason
    with img:
        w, h = img.size
        try:
            if img.getexif().get(_EXIF_ORIENTATION) in _EXIF_SWAPS_AXES:
                w, h = h, w
        except Exception:  # noqa: BLE001 - a broken EXIF block is ignored here just as exif_transpose ignores it
            pass
    return (w, h), None


def _odd_width_error(path: Path, width: int) -> DataError:
    return DataError(f"{path} is {width} pixels wide, an odd width, so it cannot be split into equal A|B halves "
                     "(A on the left, B on the right). Re-save it with an even width, e.g. by cropping the stray "
                     "column from the side that has it.")


class _PairedDataset(Dataset):
    """Shared logic: options, header check of every pair, decode on demand skipping or refusing bad pairs."""

    in_memory = False
    num_classes = 0
    _part = ""  # how messages name the image of a pair that the transform sees

    def __init__(self, root: Path, pairs: list[tuple[Path, ...]], channels_A: int, channels_B: int,
                 direction: str, preprocess: str, load_size: int, crop_size: int, flip: bool, train: bool,
                 seed: int, bad_images: str, multiple: int):
        if direction not in DIRECTIONS:
            raise ConfigError(f"direction must be one of {', '.join(DIRECTIONS)} (which side of a pair is the "
                              f"input), got {direction!r}.")
        check_image_options(bad_images, channels_A=channels_A, channels_B=channels_B)
        self.root = root
        self.channels_A, self.channels_B = int(channels_A), int(channels_B)
        self.channels = self.channels_B  # what a generator outputs, for dataset_info
        self.direction = direction
        self.transform = PairTransform(preprocess, load_size, crop_size, flip, train, seed, multiple)
        self.image_size = self.transform.crop_size
        self.classes: list[str] = []
        self.bad_images = bad_images
        self.bad_files: list[tuple[Path, str]] = []
        self._bad_index: set[int] = set()
        self.epoch = 0
        self.pairs = self._header_check(pairs)
        if not self.pairs:
            raise DataError(f"no readable image pairs in {self.root}: all {len(pairs)} failed to open "
                            f"(first ones: {_name_some(self.bad_files)}).")

    def set_epoch(self, epoch: int) -> None:
        """Use ``epoch``'s random crops and flips from now on (call it with the sampler's ``set_epoch``)."""
        self.epoch = int(epoch)

    def _check_sizes(self, pair: tuple[Path, ...], sizes: list[tuple[int, int]]) -> None:
        """Raise a DataError for a pair whose geometry can never work (not an unreadable file)."""

    def _header_check(self, pairs: list[tuple[Path, ...]]) -> list[tuple[Path, ...]]:
        good, bad = [], []
        for pair in pairs:
            checked = [(p, *_header_size(p)) for p in pair]
            reasons = [(p, reason) for p, _, reason in checked if reason is not None]
            if reasons:
                bad.extend(reasons)
            else:
                self._check_sizes(pair, [size for _, size, _ in checked])
                good.append(pair)
        refuse_or_skip(bad, self.root, self.bad_images, self.bad_files, pairs=True)
        return good

    def __len__(self) -> int:
        return len(self.pairs)

    def _read(self, pair: tuple[Path, ...]) -> tuple[Image.Image, Image.Image]:
        """The (A side, B side) of a pair as stored, before ``direction``, each in its final channel count."""
        raise NotImplementedError

    def __getitem__(self, index: int) -> dict:
        """The pair at ``index`` (or with bad_images=skip the next decodable one), transformed and as tensors."""
        n = len(self.pairs)
        found = first_readable(index, n, lambda i: self._read(self.pairs[i]), self.bad_images, self._bad_index,
                               self.bad_files)
        if found is None:
            raise DataError(f"none of the {n} image pairs in {self.root} could be decoded; see the warnings above.")
        i, (a, b) = found
        # Keyed by the requested index, so a skipped file does not shift the crops of later items.
        a, b = self.transform([a, b], self.epoch, index, name=f"{self.pairs[i][0]}{self._part}")
        return {"A": to_tensor(a), "B": to_tensor(b), "path": str(self.pairs[i][0])}

    def _oriented(self, a: Image.Image, b: Image.Image) -> tuple[Image.Image, Image.Image]:
        return (a, b) if self.direction == "AtoB" else (b, a)

    def _stored_channels(self) -> tuple[int, int]:
        """Channels to read the stored A and B sides with, so the returned A and B have channels_A/B."""
        return (self.channels_A, self.channels_B) if self.direction == "AtoB" else (self.channels_B, self.channels_A)


class AlignedDataset(_PairedDataset):
    """A folder of A|B images (A left, B right, split at half the width), the pix2pix ``aligned`` layout.

    ``channels_A``/``channels_B`` are the channels of the returned A (input) and B (target), i.e. after
    ``direction``. ``path`` is the A|B file.
    """

    _part = " (each A|B half)"

    def __init__(self, root: str | Path, channels_A: int = 3, channels_B: int = 3, direction: str = "AtoB",
                 preprocess: str = "resize_and_crop", load_size: int = 286, crop_size: int = 256,
                 flip: bool = True, train: bool = True, seed: int = 0, bad_images: str = "skip",
                 multiple: int = 4):
        root = _existing_dir(root)
        files = list_images(root)
        if not files:
            hint = (" (it has folders A/ and B/: use FolderPairDataset or load_paired)"
                    if (root / "A").is_dir() and (root / "B").is_dir() else "")
            raise DataError(f"no A|B images ({EXTENSIONS_TEXT}) in {root}{hint}.")
        super().__init__(root, [(f,) for f in files], channels_A, channels_B, direction, preprocess, load_size,
                         crop_size, flip, train, seed, bad_images, multiple)

    @property
    def files(self) -> list[Path]:
        """The readable A|B files, in item order."""
        return [p[0] for p in self.pairs]

    def _check_sizes(self, pair: tuple[Path, ...], sizes: list[tuple[int, int]]) -> None:
        w, _ = sizes[0]
        if w % 2:
            # Dropping a column would shift one half by a pixel against the other: refuse instead.
            raise _odd_width_error(pair[0], w)

    def _read(self, pair: tuple[Path, ...]) -> tuple[Image.Image, Image.Image]:
        path = pair[0]
        ca, cb = self._stored_channels()
        ab = open_image(path, max(ca, cb))
        w, h = ab.size
        if w % 2:
            raise _odd_width_error(path, w)
        a, b = ab.crop((0, 0, w // 2, h)), ab.crop((w // 2, 0, w, h))
        a = a.convert("L") if ca == 1 and a.mode != "L" else a
        b = b.convert("L") if cb == 1 and b.mode != "L" else b
        return self._oriented(a, b)


def _by_stem(files: list[Path], folder: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for f in files:
        if f.stem in found:
            raise DataError(f"{folder} has two images named {f.stem!r} ({found[f.stem].name} and {f.name}); pairs "
                            "are matched by name without extension, so keep one.")
        found[f.stem] = f
    return found


def _some(names: list[str]) -> str:
    shown = ", ".join(names[:_SHOW_UNMATCHED])
    return shown + (f", ... ({len(names)} in all)" if len(names) > _SHOW_UNMATCHED else "")


class FolderPairDataset(_PairedDataset):
    """Pairs from two folders (default ``root/A`` and ``root/B``) matched by file name without extension.

    ``subdirs`` names the two folders relative to ``root``, e.g. ``("A/train", "B/train")`` for the layout the
    reference's combine script reads. ``path`` is the A file.
    """

    def __init__(self, root: str | Path, channels_A: int = 3, channels_B: int = 3, direction: str = "AtoB",
                 preprocess: str = "resize_and_crop", load_size: int = 286, crop_size: int = 256,
                 flip: bool = True, train: bool = True, seed: int = 0, bad_images: str = "skip",
                 multiple: int = 4, subdirs: tuple[str, str] = ("A", "B")):
        root = _existing_dir(root)
        dir_a, dir_b = root / subdirs[0], root / subdirs[1]
        for d in (dir_a, dir_b):
            if not d.is_dir():
                raise DataError(f"{d} is not a folder; paired data in separate folders needs {dir_a} and {dir_b}.")
        a_files, b_files = _by_stem(list_images(dir_a), dir_a), _by_stem(list_images(dir_b), dir_b)
        if not a_files or not b_files:
            empty = dir_a if not a_files else dir_b
            raise DataError(f"no images ({EXTENSIONS_TEXT}) in {empty}.")
        only_a = sorted(set(a_files) - set(b_files))
        only_b = sorted(set(b_files) - set(a_files))
        if only_a or only_b:
            parts = []
            if only_a:
                parts.append(f"in {dir_a} but not {dir_b}: {_some([a_files[s].name for s in only_a])}")
            if only_b:
                parts.append(f"in {dir_b} but not {dir_a}: {_some([b_files[s].name for s in only_b])}")
            raise DataError(f"unpaired images ({'; '.join(parts)}). Each A image needs a B image with the same "
                            "name (the extension may differ); add the missing ones or remove the extras.")
        pairs = [(a_files[s], b_files[s]) for s in sorted(a_files)]
        super().__init__(root, pairs, channels_A, channels_B, direction, preprocess, load_size, crop_size, flip,
                         train, seed, bad_images, multiple)

    def _read(self, pair: tuple[Path, ...]) -> tuple[Image.Image, Image.Image]:
        ca, cb = self._stored_channels()
        a, b = open_image(pair[0], ca), open_image(pair[1], cb)
        if a.size != b.size:
            # Different sizes would get different crops; the reference resizes each separately, which silently
            # misaligns the pair, so ask for aligned files instead.
            raise DataError(f"{pair[0]} is {a.size[0]}x{a.size[1]} but its pair {pair[1]} is "
                            f"{b.size[0]}x{b.size[1]}; the two images of a pair must be the same size.")
        return self._oriented(a, b)

    def _check_sizes(self, pair: tuple[Path, ...], sizes: list[tuple[int, int]]) -> None:
        if sizes[0] != sizes[1]:
            raise DataError(f"{pair[0]} is {sizes[0][0]}x{sizes[0][1]} but its pair {pair[1]} is "
                            f"{sizes[1][0]}x{sizes[1][1]}; the two images of a pair must be the same size.")


def _paired_layout(folder: Path) -> str | None:
    """"aligned" (A|B files), "folders" (A/ and B/), or None."""
    if (folder / "A").is_dir() and (folder / "B").is_dir():
        return "folders"
    if list_images(folder):
        return "aligned"
    return None


def load_paired(spec: str | Path, split: str = "train", **kw) -> _PairedDataset:
    """A paired dataset from a built-in name or a folder (A|B files, or A/ and B/) for ``split``.

    A folder with ``split/`` uses it (the reference layout ``root/{train,val,test}``); ``root/A/split`` with
    ``root/B/split`` is read as two folders; otherwise the folder itself is the train split. ``train`` defaults to
    ``split == "train"`` (random crops and flips only when training). Other keywords go to the dataset.
    """
    from condgen.data.builtin import builtin_or_folder, ensure_builtin

    kw.setdefault("train", split == "train")
    found = builtin_or_folder(str(spec), "paired", "paired images")
    if not isinstance(found, Path):
        if split not in found.counts:
            raise DataError(f"built-in dataset {spec!r} has no split {split!r}; it has {', '.join(found.counts)}.")
        return AlignedDataset(ensure_builtin(found.name) / split, **{"bad_images": "error", **kw})
    root = found
    folder = root / split
    if not folder.is_dir():
        if (root / "A" / split).is_dir() and (root / "B" / split).is_dir():
            return FolderPairDataset(root, subdirs=(f"A/{split}", f"B/{split}"), **kw)
        if split != "train":
            raise DataError(f"{root} has no {split}/ subfolder (nor A/{split} and B/{split}), so there is no "
                            f"{split} split; add {root}/{split} with paired images.")
        folder = root
    layout = _paired_layout(folder)
    if layout == "folders":
        return FolderPairDataset(folder, **kw)
    if layout == "aligned":
        return AlignedDataset(folder, **kw)
    hint = ""
    if (folder / f"{split}A").is_dir() or (root / f"{split}A").is_dir():
        hint = (f" ({split}A/ and {split}B/ is the unpaired CycleGAN layout; paired data needs images that "
                "correspond one to one)")
    where = root / split
    raise DataError(f"no paired data in {root}: expected A|B images in {where} or folders {where}/A and "
                    f"{where}/B{' (or the same directly in ' + str(root) + ')' if split == 'train' else ''}{hint}.")
