"""Content images for style transfer: any folder of photographs (any sizes) or the built-in ``photos``, served as
square crops ``{"image": 3 x c x c in [-1, 1], "path": str}``.

Each image's shorter side is first resized to ``load_size`` (Johnson et al. 2016, sec. 4.1, resize their COCO
images to 256 x 256; keeping the aspect ratio and cropping avoids squashing them). Training (``train=True``) then
takes a random ``crop_size`` square drawn from (seed, epoch, index) (``condgen.data.transforms.item_rng``: call
``set_epoch`` each epoch and a resumed run reads the same crops); evaluation takes the centre square. An epoch has
``crops_per_image`` items per image, enough for ``EPOCH_CROPS`` crops, so the 6 training photos of ``photos`` fill
an epoch. Small sets keep their resized images in memory (and are then read in the main process).

Layout: ``root/{split}/`` when it exists, else ``root`` itself is the train split; images directly in the folder,
or in its immediate subfolders (class-structured data, labels unused).
"""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image

from condgen.data.folder import _FolderDataset, _subfolders
from condgen.data.images import EXTENSIONS_TEXT, list_images, open_image, to_tensor
from condgen.data.transforms import item_rng
from condgen.errors import ConfigError, DataError

EPOCH_CROPS = 320  # at least this many crops per training epoch
CACHE_FILES = 64  # sets of at most this many images keep their resized images in memory


class ContentCrops(_FolderDataset):
    """Square crops of content photographs (module doc)."""

    num_classes = 0

    def __init__(self, root: str | Path, crop_size: int = 256, load_size: int = 256, channels: int = 3,
                 train: bool = True, seed: int = 0, bad_images: str = "skip", crops_per_image: int | None = None):
        if crop_size < 1 or load_size < crop_size:
            raise ConfigError(f"data.load_size ({load_size}) must be at least data.crop_size ({crop_size}): images "
                              "are resized so their shorter side is load_size, then cropped to crop_size.")
        root = Path(root).expanduser()
        if not root.is_dir():
            raise DataError(f"content folder {root} does not exist or is not a folder.")
        files = list_images(root)
        if not files:
            for sub in _subfolders(root):
                files.extend(list_images(sub))
        if not files:
            raise DataError(f"no images ({EXTENSIONS_TEXT}) in the content folder {root}: style transfer trains on "
                            "a folder of photographs of any size (or the built-in 'photos': --data photos).")
        self.classes: list[str] = []
        self.crop_size, self.load_size = int(crop_size), int(load_size)
        self.train, self.seed, self.epoch = bool(train), int(seed), 0
        super().__init__(root, files, crop_size, channels, bad_images)
        self._check_not_empty()
        self._cache: dict[Path, Image.Image] | None = {} if len(self.files) <= CACHE_FILES else None
        n = len(self.files)
        self.crops_per_image = 1 if not self.train else int(crops_per_image or max(1, math.ceil(EPOCH_CROPS / n)))

    @property
    def in_memory(self) -> bool:  # read in the main process when the images are cached (no worker start-up)
        return self._cache is not None

    def set_epoch(self, epoch: int) -> None:
        """Use ``epoch``'s random crops from now on."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.files) * self.crops_per_image

    def _decode(self, path: Path) -> Image.Image:
        if self._cache is not None and path in self._cache:
            return self._cache[path]
        img = open_image(path, self.channels)
        w, h = img.size
        f = self.load_size / min(w, h)
        img = img.resize((max(self.load_size, round(w * f)), max(self.load_size, round(h * f))),
                         Image.Resampling.BICUBIC, reducing_gap=None)
        if self._cache is not None:
            self._cache[path] = img
        return img

    def crop_box(self, size: tuple[int, int], index: int) -> tuple[int, int, int, int]:
        """The (left, top, right, bottom) crop of item ``index`` in an image of ``size`` in the current epoch."""
        w, h = size
        c = self.crop_size
        if self.train:
            rng = item_rng(self.seed, self.epoch, index)
            x, y = int(rng.integers(0, w - c + 1)), int(rng.integers(0, h - c + 1))
        else:
            x, y = (w - c) // 2, (h - c) // 2
        return x, y, x + c, y + c

    def __getitem__(self, index: int) -> dict:
        """Item ``index``: a crop of image ``index % len(files)`` (or the next readable one) and its path."""
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        i, img = self._load(index % len(self.files))
        return {"image": to_tensor(img.crop(self.crop_box(img.size, index))), "path": str(self.files[i])}


def load_content(spec: str | Path, split: str = "train", crop_size: int = 256, load_size: int = 256,
                 channels: int = 3, train: bool | None = None, seed: int = 0, bad_images: str = "skip",
                 crops_per_image: int | None = None) -> ContentCrops:
    """Content crops from the built-in ``photos`` or a folder (module doc); ``train`` defaults to split == train."""
    from condgen.data import _split_root
    from condgen.data.builtin import BUILTIN, builtin_name, ensure_builtin, existing_folder

    spec = str(spec)
    if train is None:
        train = split == "train"
    if not spec:
        raise DataError("no content images given: set --data (data.path) to a folder of photographs or 'photos'.")
    name = builtin_name(spec)
    if name is not None:
        spec, info = name, BUILTIN[name]
        if info.kind != "sr":
            raise DataError(f"built-in dataset {spec!r} holds {info.kind} data, not photographs of any size; style "
                            "transfer trains on photos: use --data photos or a folder of images.")
        if split not in info.counts:
            raise DataError(f"built-in dataset {spec!r} has no split {split!r}; it has {', '.join(info.counts)}.")
        folder = ensure_builtin(spec) / split
        bad_images = "error"  # a broken cached file means a broken cache
    else:
        folder = _split_root(existing_folder(spec, "content images"), split, False)
    return ContentCrops(folder, crop_size=crop_size, load_size=load_size, channels=channels, train=train, seed=seed,
                        bad_images=bad_images, crops_per_image=crops_per_image)


__all__ = ["EPOCH_CROPS", "ContentCrops", "load_content"]
