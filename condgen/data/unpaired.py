"""Unpaired image-to-image data (CycleGAN, UNIT, MUNIT): two folders of images, one per domain, e.g. ``trainA/``
and ``trainB/``, as the junyanz/pytorch-CycleGAN-and-pix2pix ``unaligned`` layout stores them.

Items are ``{"A": image of domain A, "B": image of domain B, "path_A": str, "path_B": str}``, float C x H x W in
[-1, 1]. The two folders may hold different numbers of images; an epoch has ``max(nA, nB)`` items. Item ``i``
takes ``A[i % nA]`` and, with ``pairing="random"`` (the default, as the reference trains), a B image drawn from
(seed, epoch, i), or ``B[i % nB]`` with ``pairing="serial"``. A and B are not pairs, so each gets its own
resize/crop/flip (see ``condgen.data.transforms``), also drawn from (seed, epoch, i) and the domain. Everything
random is a pure function of those numbers: call ``set_epoch`` each epoch, like the sampler's, and a resumed run
reads exactly the items the uninterrupted run would.

A folder of A|B side-by-side images (junyanz's paired layout, e.g. edges2shoes: ``train/*.jpg``, ``val/*.jpg``) is
read as two domains too: A = the left halves, B = the right halves (``halves=True``; ``load_unpaired`` recognises
the layout, see ``condgen.data.layouts``). With random pairing an A half meets the B half of another file.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from torch.utils.data import Dataset

from condgen.data.folder import _FolderDataset, _subfolders, check_image_options
from condgen.data.images import (
    _GREY_MODES,
    EXTENSIONS_TEXT,
    UnreadableImageError,
    _open_checked,
    list_images,
    open_image,
    to_tensor,
)
from condgen.data.layouts import unpaired_split
from condgen.data.paired import _odd_width_error, _paired_layout
from condgen.data.transforms import PairTransform, item_rng
from condgen.errors import DataError

PAIRINGS = ("random", "serial")
DOMAINS = ("A", "B")
# Keys of the per-item random draws (non-zero, see transforms.item_rng): one crop/flip per domain, one B pick.
_STREAMS = {"A": 1, "B": 2}
_PAIRING_STREAM = 3
# Which model option sets each domain's channels, for the grey-domain hint.
_CHANNEL_KEYS = {"A": "model.in_channels", "B": "model.out_channels"}


class GreyDomainWarning(UserWarning):
    """A domain's images are all single-channel (grey) but are read as RGB because 3 channels were asked for."""


class _Domain(_FolderDataset):
    """The image folder of one domain: headers checked up front, files decoded on demand at full size."""

    def __init__(self, folder: Path, domain: str, channels: int, bad_images: str, half: str = ""):
        self.domain = domain
        self.half = half  # "left" / "right": that half of each A|B file; "": the whole image
        self.grey_files = 0  # readable files whose stored mode is single-channel
        files = list_images(folder)
        if not files:
            hint = ""
            if any(list_images(sub) for sub in _subfolders(folder)):
                hint = " (its subfolders hold images, but a domain folder is read flat: move them up into it)"
            raise DataError(f"no images ({EXTENSIONS_TEXT}) in {folder}, the folder of domain {domain}{hint}. "
                            "Unpaired data needs at least one image in each domain folder.")
        super().__init__(folder, files, 0, channels, bad_images)
        self._check_not_empty()

    def _check(self, path: Path) -> str | None:
        try:
            img = _open_checked(path)
        except UnreadableImageError as e:
            return e.reason
        with img:
            self.grey_files += img.mode in _GREY_MODES
            if self.half and img.size[0] % 2:
                raise _odd_width_error(path, img.size[0])  # a pixel shift between halves, never a skip
        return None

    def _decode(self, path: Path):
        img = open_image(path, self.channels)
        if not self.half:
            return img
        w, h = img.size
        if w % 2:
            raise _odd_width_error(path, w)
        return img.crop((0, 0, w // 2, h) if self.half == "left" else (w // 2, 0, w, h))

    def warn_if_grey(self) -> None:
        """One GreyDomainWarning when every image is grey but the domain is read as 3-channel RGB."""
        if self.channels == 3 and self.grey_files == len(self.files):
            warnings.warn(
                f"all {len(self.files)} images of domain {self.domain} in {self.root} are grey (one channel) but "
                f"channels_{self.domain}=3: they are read as RGB with three equal channels, which trains fine. To "
                f"keep domain {self.domain} grey, set {_CHANNEL_KEYS[self.domain]}=1 (channels_{self.domain}=1 "
                "in condgen.data.load_unpaired).", GreyDomainWarning, stacklevel=4)


class UnpairedDataset(Dataset):
    """Two image folders, domain A and domain B, with no correspondence between their files (module doc).

    ``halves=True`` reads A|B side-by-side files: domain A the left halves of ``dir_A``'s, B the right halves of
    ``dir_B``'s (usually the same folder)."""

    in_memory = False
    num_classes = 0

    def __init__(self, dir_A: str | Path, dir_B: str | Path, channels_A: int = 3, channels_B: int = 3,
                 preprocess: str = "resize_and_crop", load_size: int = 286, crop_size: int = 256,
                 flip: bool = True, train: bool = True, seed: int = 0, bad_images: str = "skip",
                 pairing: str = "random", multiple: int = 4, halves: bool = False):
        if pairing not in PAIRINGS:
            raise DataError(f"pairing must be one of {', '.join(PAIRINGS)} (random: each A image meets a B image "
                            "drawn at random, anew each epoch, as CycleGAN trains; serial: item i takes A[i % nA] "
                            f"and B[i % nB]), got {pairing!r}.")
        check_image_options(bad_images, channels_A=channels_A, channels_B=channels_B)
        self.transform = PairTransform(preprocess, load_size, crop_size, flip, train, seed, multiple)
        self.pairing = pairing
        self.seed = int(seed)
        self.epoch = 0
        self.channels_A, self.channels_B = int(channels_A), int(channels_B)
        self.channels = self.channels_B  # what a generator A -> B outputs, for dataset_info
        self.image_size = self.transform.crop_size
        self.classes: list[str] = []
        self.dir_A, self.dir_B = Path(dir_A).expanduser(), Path(dir_B).expanduser()
        domains = []
        for domain, folder, channels in (("A", self.dir_A, self.channels_A), ("B", self.dir_B, self.channels_B)):
            if not folder.is_dir():
                raise DataError(f"{folder}, the folder of domain {domain}, "
                                f"{'is a file' if folder.exists() else 'does not exist'}; unpaired data needs one "
                                "folder of images per domain.")
            half = ("left" if domain == "A" else "right") if halves else ""
            domains.append(_Domain(folder, domain, channels, bad_images, half))
        self._A, self._B = domains
        for d in domains:
            d.warn_if_grey()

    @property
    def files_A(self) -> list[Path]:
        """The readable images of domain A, sorted by name."""
        return self._A.files

    @property
    def files_B(self) -> list[Path]:
        """The readable images of domain B, sorted by name."""
        return self._B.files

    @property
    def bad_files(self) -> list[tuple[Path, str]]:
        """(path, reason) of every image skipped as unreadable so far, domain A first."""
        return self._A.bad_files + self._B.bad_files

    def set_epoch(self, epoch: int) -> None:
        """Use ``epoch``'s B picks, crops and flips from now on (call it with the sampler's ``set_epoch``)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return max(len(self._A.files), len(self._B.files))

    def b_index(self, index: int) -> int:
        """Which B file item ``index`` takes in the current epoch (before skipping an undecodable one)."""
        n = len(self._B.files)
        if self.pairing == "serial":
            return index % n
        return int(item_rng(self.seed, self.epoch, index, _PAIRING_STREAM).integers(n))

    def __getitem__(self, index: int) -> dict:
        """Item ``index``: an A image and a B image, each with its own crop/flip, and their paths."""
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        images, paths = {}, {}
        for domain, position in (("A", index % len(self._A.files)), ("B", self.b_index(index))):
            folder = self._A if domain == "A" else self._B
            # With bad_images=skip an undecodable file gives way to the next one of its domain.
            i, img = folder._load(position)
            paths[domain] = str(folder.files[i])
            # Keyed by the requested index and the domain: independent crops, unmoved by a skipped file.
            (img,) = self.transform([img], self.epoch, index, name=paths[domain], stream=_STREAMS[domain])
            images[domain] = to_tensor(img)
        return {"A": images["A"], "B": images["B"], "path_A": paths["A"], "path_B": paths["B"]}


def _missing_domain(root: Path, split: str, missing: Path) -> DataError:
    """The error for a missing ``splitA``/``splitB`` folder, naming the domain folders ``root`` does have."""
    usual = list(dict.fromkeys(f"{s}{d}" for s in ("train", "test", split) for d in DOMAINS))
    present = [n for n in usual if (root / n).is_dir()]
    has = f"{root} has {', '.join(present)}" if present else f"{root} has none of {', '.join(usual)}"
    hint = ""
    for folder in dict.fromkeys((root / split, root)):
        layout = _paired_layout(folder) if folder.is_dir() else None
        if layout == "folders":
            hint = (f" {folder} has A/ and B/ folders, the paired pix2pix layout (files matched by name); for "
                    f"CycleGAN/UNIT/MUNIT put each domain's images in {root}/{split}A and {root}/{split}B.")
            break
        if layout == "aligned":
            hint = (f" {folder} holds images directly; if they are A|B side-by-side pairs, put them in "
                    f"{root}/{split}/ (read as domain A = left halves, B = right halves); for two separate domains "
                    f"put each domain's images in {root}/{split}A and {root}/{split}B.")
            break
    return DataError(f"{missing} does not exist: unpaired data (the CycleGAN layout) needs one folder per domain, "
                     f"{split}A/ and {split}B/, in {root} (or A|B side-by-side images in {root}/{split}/); "
                     f"{has}.{hint}")


def load_unpaired(spec: str | Path, split: str = "train", channels_A: int = 3, channels_B: int = 3,
                  preprocess: str = "resize_and_crop", load_size: int = 286, crop_size: int = 256,
                  flip: bool = True, train: bool | None = None, seed: int = 0, bad_images: str = "skip",
                  pairing: str = "random", multiple: int = 4) -> UnpairedDataset:
    """An unpaired dataset from a built-in name or a folder holding ``{split}A/`` and ``{split}B/``, or A|B pairs.

    ``split`` "train" reads ``trainA``/``trainB``, "test" ``testA``/``testB``, "val" ``valA``/``valB``. A folder of
    A|B side-by-side images in ``split/`` (``test`` falls back to ``val/``, as edges2shoes has no test split) gives
    domain A from the left halves and B from the right ones.
    ``train`` defaults to ``split == "train"`` (random crops and flips only when training). See UnpairedDataset.
    """
    from condgen.data.builtin import builtin_or_folder, ensure_builtin

    if train is None:
        train = split == "train"
    found = builtin_or_folder(str(spec), "unpaired", f"images in {split}A/ and {split}B/ (the CycleGAN layout)")
    if isinstance(found, Path):
        root = found
    else:
        splits = list(dict.fromkeys(k[:-1] for k in found.counts))
        if split not in splits:
            raise DataError(f"built-in dataset {spec!r} has no split {split!r}; it has {', '.join(splits)}.")
        root = ensure_builtin(found.name)
        bad_images = "error"  # a broken cached file means a broken cache, not a file to skip
    layout, dir_a, dir_b = unpaired_split(root, split)
    return UnpairedDataset(dir_a, dir_b, channels_A=channels_A, channels_B=channels_B,
                           preprocess=preprocess, load_size=load_size, crop_size=crop_size, flip=flip, train=train,
                           seed=seed, bad_images=bad_images, pairing=pairing, multiple=multiple,
                           halves=layout.name == "ab-pairs")
