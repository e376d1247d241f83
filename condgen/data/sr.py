"""Super-resolution data (SRResNet, SRGAN): high-resolution (HR) images, each item an HR crop and its low-resolution
(LR) version.

Items are ``{"lr": C x (c/s) x (c/s), "hr": C x c x c, "path": str}`` with ``c = hr_crop`` and ``s = scale``, both
float in [-1, 1] (condgen's convention; the SRResNet generator maps its input to [0, 1] itself, as in the paper).
``path`` is the HR file.

Layouts (``root/{split}/`` when it exists, else ``root`` itself is the train split, as condgen's other loaders):

- a folder of HR images: the LR image is made on the fly by ``bicubic_downscale`` of the HR crop;
- ``HR/`` and ``LR/`` folders with matching names (``0001.png`` and ``0001.png``, or the DIV2K style
  ``0001x4.png``; ``LR/X4/`` is used when it exists). Each LR image must be exactly ``HR // scale`` in size (the
  HR image's extra rows/columns, fewer than ``scale``, are cropped off), and the same crop is taken from both.

Training (``train=True``): a random ``hr_crop`` square whose corner lies on the ``scale`` grid, then a random
horizontal flip (``flip``) and, with ``rotate=True``, a random vertical flip and transpose, which together give
all 8 rotations/reflections (the EDSR/BasicSR augmentation; SRGAN's paper names none besides random crops). An
epoch has ``crops_per_image`` items per image, so small sets still fill an epoch; item ``i`` crops image
``i % n_images``. Every draw comes from (seed, epoch, index) (``condgen.data.transforms.item_rng``): call
``set_epoch`` each epoch, like the sampler's, and a resumed run reads exactly the crops the uninterrupted run
would.

Evaluation (``train=False``): the centre ``hr_crop`` square (corner on the ``scale`` grid), never flipped; or with
``hr_crop=0`` the whole image cropped down to a multiple of ``scale`` from the bottom/right (the SR benchmarks'
"modcrop"). Images of different sizes then need a batch size of 1.

HR images smaller than the crop are skipped with a SmallImageWarning that counts them (a DataError if none is
large enough). Grey, 16-bit, palette and RGBA files are converted by ``condgen.data.images.open_image``. Sets of at
most ``CACHE_PIXELS`` HR pixels keep their decoded images in memory (in each worker), since every image is cropped
many times an epoch.
"""

from __future__ import annotations

import math
import numbers
import warnings
from pathlib import Path

from PIL import Image

from condgen.data.folder import _FolderDataset, _subfolders
from condgen.data.images import EXTENSIONS_TEXT, list_images, open_image, to_tensor
from condgen.data.paired import _by_stem, _header_size, _some
from condgen.data.transforms import item_rng
from condgen.errors import ConfigError, DataError

SCALES = (2, 4, 8)
# Auto crops_per_image: at least this many crops per training epoch (20 batches of the paper's 16).
EPOCH_CROPS = 320
# Sets of at most this many HR pixels in all (the built-in photos: 1.8M) keep their decoded images in memory (per
# worker): their few images are cropped many times an epoch, and decoding dominates the cost of an item.
CACHE_PIXELS = 32_000_000
_DIHEDRAL = (Image.Transpose.FLIP_LEFT_RIGHT, Image.Transpose.FLIP_TOP_BOTTOM, Image.Transpose.TRANSPOSE)


class SmallImageWarning(UserWarning):
    """Some HR images are smaller than the crop (``hr_crop``) and have been left out."""


def bicubic_downscale(img: Image.Image, scale: int) -> Image.Image:
    """The LR image of an HR PIL image whose sides are multiples of ``scale``: PIL's bicubic with antialiasing.

    PIL's bicubic is Keys' cubic with a = -0.5, widened by ``scale`` when shrinking (antialiased), i.e. the kernel
    of MATLAB's ``imresize`` that made the LR images of the SR benchmarks (Set5, Set14, BSD100, DIV2K). It runs on
    the 8-bit image and returns 8-bit pixels, as a saved LR file holds. ``reducing_gap=None``: one exact pass, no
    box pre-reduction.
    """
    w, h = img.size
    if w % scale or h % scale:
        raise DataError(f"bicubic_downscale needs sides that are multiples of the scale {scale}, got {w}x{h}; crop "
                        "the image first.")
    return img.resize((w // scale, h // scale), Image.Resampling.BICUBIC, reducing_gap=None)


def check_sr_options(scale: int, hr_crop: int, train: bool, crops_per_image: int | None = None) -> None:
    """ConfigError for a scale other than 2/4/8, a crop that is not a multiple of it, or a crop of 0 in training."""
    if scale not in SCALES:
        raise ConfigError(f"scale must be one of {', '.join(map(str, SCALES))} (the upscaling factor), got {scale!r}.")
    if not isinstance(hr_crop, numbers.Integral) or hr_crop < 0:
        raise ConfigError(f"hr_crop (data.crop_size) must be a whole number of HR pixels >= 0, got {hr_crop!r}.")
    if hr_crop % scale:
        lower, upper = hr_crop // scale * scale, (hr_crop // scale + 1) * scale
        raise ConfigError(f"hr_crop (data.crop_size) {hr_crop} is not a multiple of the scale {scale}, so its LR "
                          f"crop would not be whole pixels; use e.g. {lower or upper} or {upper}.")
    if hr_crop == 0 and train:
        raise ConfigError("hr_crop (data.crop_size) 0 means whole images, which only evaluation can use (training "
                          "batches need one size); set a crop such as 96 (SRGAN's).")
    if crops_per_image is not None and (not isinstance(crops_per_image, numbers.Integral) or crops_per_image < 1):
        raise ConfigError(f"crops_per_image must be a positive whole number (or None for auto), got "
                          f"{crops_per_image!r}.")


def _lr_folder(lr_dir: Path, scale: int) -> Path:
    """``lr_dir/X{scale}`` (the DIV2K layout) when it exists, else ``lr_dir``."""
    for name in (f"X{scale}", f"x{scale}"):
        if (lr_dir / name).is_dir():
            return lr_dir / name
    return lr_dir


def unmatched_names(sides: dict[str, tuple[dict[str, Path], dict[str, Path]]]) -> str:
    """``"label: a.png, b.png; label2: ..."`` for each ``label: (files, others)`` (both keyed by name without
    extension) whose files have no namesake among the others; "" when every name is matched."""
    parts = [f"{label}: {_some([files[k].name for k in sorted(set(files) - set(others))])}"
             for label, (files, others) in sides.items() if set(files) - set(others)]
    return "; ".join(parts)


def match_lr(hr_files: list[Path], hr_dir: Path, lr_dir: Path, scale: int) -> dict[Path, Path]:
    """``{HR file: LR file}`` matched by name without extension (``0001`` or ``0001x4``); DataError naming the
    unmatched files otherwise."""
    lr_files = list_images(lr_dir)
    if not lr_files:
        raise DataError(f"no images ({EXTENSIONS_TEXT}) in {lr_dir}, the LR folder next to {hr_dir}; add the LR "
                        "images (or remove the empty LR folder to make them from the HR images).")
    suffix = f"x{scale}"
    lr_by_stem = {}
    for stem, f in _by_stem(lr_files, lr_dir).items():
        key = stem[: -len(suffix)] if stem.lower().endswith(suffix) and len(stem) > len(suffix) else stem
        if key in lr_by_stem:
            raise DataError(f"{lr_dir} has two LR images for {key!r} ({lr_by_stem[key].name} and {f.name}); keep one.")
        lr_by_stem[key] = f
    hr_by_stem = _by_stem(hr_files, hr_dir)
    parts = unmatched_names({f"HR images without an LR image in {lr_dir}": (hr_by_stem, lr_by_stem),
                             f"LR images without an HR image in {hr_dir}": (lr_by_stem, hr_by_stem)})
    if parts:
        raise DataError(f"unmatched super-resolution pairs ({parts}). Each HR image needs an LR image of the same "
                        f"name (or the name + 'x{scale}'); add the missing ones or remove the extras.")
    return {hr_by_stem[s]: lr_by_stem[s] for s in hr_by_stem}


def _lr_size_error(hr: Path, hr_size: tuple[int, int], lr: Path, lr_size: tuple[int, int], scale: int) -> DataError:
    (w, h), (lw, lh) = hr_size, lr_size
    hint = ""
    if lw and lh:
        k = round(w / lw)
        if k in SCALES and k != scale and (w // k, h // k) == (lw, lh):
            hint = (f" The pair fits scale {k}: set model.scale={k} (load_sr scale={k}), or use LR images made at "
                    f"scale {scale}.")
    return DataError(f"{lr} is {lw}x{lh} but its HR image {hr} is {w}x{h}: at scale {scale} the LR image must be "
                     f"{w // scale}x{h // scale} (the HR size / {scale}, rounded down). Regenerate the LR images at "
                     f"scale {scale}, or remove the LR folder to make LR images from the HR ones.{hint}")


class SRDataset(_FolderDataset):
    """HR images (and optional matching LR images) served as (LR, HR) crop pairs; see the module doc.

    For ``condgen.data.dataset_info`` and the models: ``scale``, ``channels``, ``image_size`` (= ``hr_crop``; 0 for
    whole images), ``num_classes`` 0, ``classes`` [], ``in_memory`` False. Also ``files`` (the HR files used),
    ``lr_files``, ``paired``, ``crops_per_image``, ``bad_files`` and ``skipped_small`` ((path, size) of the images
    left out as smaller than the crop).
    """

    in_memory = False
    num_classes = 0

    def __init__(self, hr_dir: str | Path, lr_dir: str | Path | None = None, scale: int = 4, hr_crop: int = 96,
                 channels: int = 3, train: bool = True, seed: int = 0, bad_images: str = "skip", flip: bool = True,
                 rotate: bool = False, crops_per_image: int | None = None):
        check_sr_options(scale, hr_crop, train, crops_per_image)
        if int(seed) < 0:
            raise ConfigError(f"seed must be >= 0, got {seed}.")
        self.scale, self.hr_crop, self.train = int(scale), int(hr_crop), bool(train)
        self.seed, self.flip, self.rotate = int(seed), bool(flip), bool(rotate)
        self.epoch = 0
        self.classes: list[str] = []
        hr_dir = Path(hr_dir).expanduser()
        files = list_images(hr_dir)
        if not files:
            hint = ""
            if any(list_images(sub) for sub in _subfolders(hr_dir)):
                hint = (" (its subfolders hold images, but the HR folder is read flat: move them up into it, or "
                        "use HR/ and LR/ subfolders for paired data)")
            raise DataError(f"no images ({EXTENSIONS_TEXT}) in {hr_dir}{hint}. Super-resolution data needs a folder "
                            "of high-resolution images.")
        self.lr_dir = None if lr_dir is None else _lr_folder(Path(lr_dir).expanduser(), self.scale)
        self._lr_of = {} if self.lr_dir is None else match_lr(files, hr_dir, self.lr_dir, self.scale)
        self._sizes: dict[Path, tuple[int, int]] = {}  # usable HR size (a multiple of scale) from the header
        super().__init__(hr_dir, files, hr_crop, channels, bad_images)
        self._check_not_empty()
        self.skipped_small = self._drop_small()
        n = len(self.files)
        self._cache: dict[Path, tuple[Image.Image, Image.Image | None]] | None = (
            {} if sum(w * h for w, h in (self._sizes[f] for f in self.files)) <= CACHE_PIXELS else None)
        if not self.train:
            self.crops_per_image = 1
        else:
            self.crops_per_image = int(crops_per_image) if crops_per_image else max(1, math.ceil(EPOCH_CROPS / n))

    # ----- header checks --------------------------------------------------------------------------------
    def _check(self, path: Path) -> str | None:
        size, reason = _header_size(path)
        if reason is not None:
            return reason
        s = self.scale
        if self.lr_dir is not None:
            lr = self._lr_of[path]
            lr_size, lr_reason = _header_size(lr)
            if lr_reason is not None:
                return f"its LR image {lr}: {lr_reason}"
            if lr_size != (size[0] // s, size[1] // s):
                raise _lr_size_error(path, size, lr, lr_size, s)
        self._sizes[path] = (size[0] // s * s, size[1] // s * s)
        return None

    def _drop_small(self) -> list[tuple[Path, tuple[int, int]]]:
        """Leave out images smaller than the crop (warning once), or raise a DataError when none is big enough."""
        need = self.hr_crop or self.scale
        small = [(f, self._sizes[f]) for f in self.files if min(self._sizes[f]) < need]
        if not small:
            return []
        w0, h0 = min(small, key=lambda item: item[1][0] * item[1][1])[1]
        what = f"{self.hr_crop}x{self.hr_crop} HR crops" if self.hr_crop else f"scale {self.scale}"
        if len(small) == len(self.files):
            w1, h1 = max(small, key=lambda item: item[1][0] * item[1][1])[1]
            fit = min(w1, h1) // self.scale * self.scale
            raise DataError(f"none of the {len(small)} images in {self.root} is large enough for {what}: the smallest "
                            f"is {w0}x{h0}, the largest {w1}x{h1}. Use larger images or lower the crop "
                            f"(data.crop_size) to at most {fit}.")
        warnings.warn(f"skipping {len(small)} of {len(self.files)} images in {self.root} smaller than {what} (the "
                      f"smallest is {w0}x{h0}, e.g. {small[0][0].name}); lower data.crop_size to use them.",
                      SmallImageWarning, stacklevel=4)
        dropped = {f for f, _ in small}
        self.files = [f for f in self.files if f not in dropped]
        return small

    # ----- items ----------------------------------------------------------------------------------------
    @property
    def paired(self) -> bool:
        """Whether LR images come from an LR folder (True) or are made from the HR crops (False)."""
        return self.lr_dir is not None

    @property
    def lr_files(self) -> list[Path]:
        """The LR file of each HR file in ``files`` (paired data; empty otherwise)."""
        return [self._lr_of[f] for f in self.files] if self._lr_of else []

    def set_epoch(self, epoch: int) -> None:
        """Use ``epoch``'s random crops and flips from now on (call it with the sampler's ``set_epoch``)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.files) * self.crops_per_image

    def _decode(self, path: Path) -> tuple[Image.Image, Image.Image | None]:
        if self._cache is not None and path in self._cache:
            return self._cache[path]
        pair = self._read(path)
        if self._cache is not None:
            self._cache[path] = pair
        return pair

    def _read(self, path: Path) -> tuple[Image.Image, Image.Image | None]:
        hr = open_image(path, self.channels)
        if self.lr_dir is None:
            return hr, None
        lr_path = self._lr_of[path]
        lr = open_image(lr_path, self.channels)
        s = self.scale
        if lr.size != (hr.width // s, hr.height // s):
            raise _lr_size_error(path, hr.size, lr_path, lr.size, s)
        return hr, lr

    def crop_box(self, size: tuple[int, int], index: int) -> tuple[tuple[int, int, int, int], tuple[bool, ...]]:
        """The HR box (left, top, right, bottom) and the (h-flip, v-flip, transpose) choices of item ``index``
        for an HR image of ``size`` (its sides multiples of ``scale``) in the current epoch."""
        w, h = size
        s, c = self.scale, self.hr_crop
        if not self.train:
            if not c:
                return (0, 0, w, h), (False, False, False)
            x, y = (w - c) // 2 // s * s, (h - c) // 2 // s * s
            return (x, y, x + c, y + c), (False, False, False)
        rng = item_rng(self.seed, self.epoch, index)
        x, y = int(rng.integers(0, (w - c) // s + 1)) * s, int(rng.integers(0, (h - c) // s + 1)) * s
        hflip, vflip, transpose = (bool(b) for b in rng.random(3) < 0.5)
        return (x, y, x + c, y + c), (self.flip and hflip, self.rotate and vflip, self.rotate and transpose)

    def __getitem__(self, index: int) -> dict:
        """Item ``index``: an HR crop and its LR version (both in [-1, 1]) and the HR file's path."""
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        # With bad_images=skip an undecodable file gives way to the next one.
        i, (hr, lr) = self._load(index % len(self.files))
        s = self.scale
        usable = (hr.width // s * s, hr.height // s * s)
        box, ops = self.crop_box(usable, index)  # keyed by the requested index: unmoved by a skipped file
        hr = hr.crop(box)
        if lr is not None:
            lr = lr.crop(tuple(v // s for v in box))
        for op, do in zip(_DIHEDRAL, ops):
            if do:
                hr = hr.transpose(op)
                lr = lr.transpose(op) if lr is not None else None
        if lr is None:
            lr = bicubic_downscale(hr, s)
        return {"lr": to_tensor(lr), "hr": to_tensor(hr), "path": str(self.files[i])}


def _sr_folders(folder: Path) -> tuple[Path, Path | None]:
    """(HR folder, LR folder or None) of a split folder: ``HR/`` + ``LR/``, ``HR/`` alone, or the folder itself."""
    hr, lr = folder / "HR", folder / "LR"
    if hr.is_dir():
        return hr, (lr if lr.is_dir() else None)
    if lr.is_dir():
        raise DataError(f"{folder} has an LR/ folder but no HR/ folder; paired super-resolution data needs "
                        f"{hr} next to {lr} (or put the HR images directly in {folder} and remove LR/).")
    return folder, None


def load_sr(spec: str | Path, split: str = "train", scale: int = 4, hr_crop: int = 96, channels: int = 3,
            train: bool | None = None, seed: int = 0, bad_images: str = "skip", flip: bool = True,
            rotate: bool = False, crops_per_image: int | None = None) -> SRDataset:
    """A super-resolution dataset from a built-in name (``photos``) or a folder of HR images (module doc).

    ``train`` defaults to ``split == "train"`` (random crops and flips only when training). ``crops_per_image``
    (training only) defaults to enough crops for an epoch of at least ``EPOCH_CROPS`` items: 54 per photo for
    the 6 ``photos`` train photographs, 1 for a folder of 320 or more images.
    """
    from condgen.data import _split_root
    from condgen.data.builtin import builtin_or_folder, ensure_builtin

    if train is None:
        train = split == "train"
    check_sr_options(scale, hr_crop, train, crops_per_image)
    found = builtin_or_folder(str(spec), "sr", "high-resolution images")
    if isinstance(found, Path):
        folder = _split_root(found, split, False)
    else:
        if split not in found.counts:
            raise DataError(f"built-in dataset {spec!r} has no split {split!r}; it has {', '.join(found.counts)}.")
        folder = ensure_builtin(found.name) / split
        bad_images = "error"  # a broken cached file means a broken cache, not a file to skip
    hr_dir, lr_dir = _sr_folders(folder)
    return SRDataset(hr_dir, lr_dir, scale=scale, hr_crop=hr_crop, channels=channels, train=train, seed=seed,
                     bad_images=bad_images, flip=flip, rotate=rotate, crops_per_image=crops_per_image)


__all__ = ["EPOCH_CROPS", "SCALES", "SRDataset", "SmallImageWarning", "bicubic_downscale", "check_sr_options",
           "load_sr", "match_lr"]
