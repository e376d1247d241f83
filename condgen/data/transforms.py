"""Preprocessing for image pairs: one resize/crop/flip, drawn once per (seed, epoch, index), applied to A and B.

Unpaired data draws once per domain instead, adding the domain's ``stream`` number to the key, so each side gets
its own crop and flip.

Training modes follow pix2pix/CycleGAN's ``--preprocess`` (Isola et al. 2017, sec. 6.2: resize 286, random crop
256, random mirroring). At evaluation (``train=False``) nothing is random: resizing modes resize to
``crop_size`` (as the reference's test options set ``load_size = crop_size``), crops are taken from the centre,
and images are never flipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from condgen.errors import ConfigError, DataError

PREPROCESS_MODES = ("resize_and_crop", "scale_width", "scale_width_and_crop", "crop", "none")
_RESAMPLE = Image.Resampling.BICUBIC  # the reference's interpolation for images


@dataclass(frozen=True)
class PairParams:
    """The random choices for one item: crop fractions in [0, 1) and whether to mirror."""

    crop_x: float
    crop_y: float
    flip: bool


def item_rng(seed: int, epoch: int, index: int, stream: int = 0) -> np.random.Generator:
    """A generator that is a pure function of (seed, epoch, index, stream); stream 0 is the paired one."""
    # Keyed, not a shared stream, so an item's draws do not depend on which worker loads it or on what was read
    # before: a resumed run sees the same crops. Streams must be non-zero: numpy's seeding maps (s, e, i) and
    # (s, e, i, 0) to the same state, so a stream 0 key would repeat the paired draw.
    key = (int(seed), int(epoch), int(index)) + ((int(stream),) if stream else ())
    return np.random.default_rng(key)


def draw_params(seed: int, epoch: int, index: int, stream: int = 0) -> PairParams:
    """The random choices for item ``index`` in ``epoch`` (and ``stream``): a pure function of the numbers."""
    rng = item_rng(seed, epoch, index, stream)
    x, y, f = rng.random(3)
    return PairParams(float(x), float(y), bool(f < 0.5))


def _round_to(n: int, multiple: int) -> int:
    return max(multiple, int(round(n / multiple)) * multiple)


class PairTransform:
    """Resize/crop/flip two or more same-sized PIL images identically; see the module doc for the modes."""

    def __init__(self, preprocess: str = "resize_and_crop", load_size: int = 286, crop_size: int = 256,
                 flip: bool = True, train: bool = True, seed: int = 0, multiple: int = 4):
        if preprocess not in PREPROCESS_MODES:
            raise ConfigError(f"preprocess must be one of {', '.join(PREPROCESS_MODES)}, got {preprocess!r}.")
        for name, value in (("load_size", load_size), ("crop_size", crop_size), ("multiple", multiple)):
            if int(value) < 1:
                raise ConfigError(f"{name} must be a positive number of pixels, got {value}.")
        if preprocess == "resize_and_crop" and load_size < crop_size:
            raise ConfigError(f"load_size ({load_size}) must be at least crop_size ({crop_size}) for "
                              "preprocess=resize_and_crop; the crop is taken from the resized image.")
        if int(seed) < 0:
            raise ConfigError(f"seed must be >= 0, got {seed}.")
        self.preprocess = preprocess
        self.load_size = int(load_size)
        self.crop_size = int(crop_size)
        self.flip = bool(flip)
        self.train = bool(train)
        self.seed = int(seed)
        self.multiple = int(multiple)

    def __repr__(self) -> str:
        return (f"PairTransform(preprocess={self.preprocess!r}, load_size={self.load_size}, "
                f"crop_size={self.crop_size}, flip={self.flip}, train={self.train}, seed={self.seed})")

    def _resized_size(self, w: int, h: int) -> tuple[int, int]:
        """The (w, h) before cropping."""
        # At evaluation the reference loads at crop_size, so the "crop" covers the whole resized image.
        load = self.load_size if self.train else self.crop_size
        mode = self.preprocess
        if mode == "resize_and_crop":
            return load, load
        if mode in ("scale_width", "scale_width_and_crop"):
            # Height at least crop_size (the reference does the same) so the crop always fits.
            return load, max(self.crop_size, int(load * h / w))
        if mode == "none":
            return _round_to(w, self.multiple), _round_to(h, self.multiple)
        return w, h  # crop

    def output_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """The (w, h) that an input of ``size`` (w, h) comes out as."""
        w, h = self._resized_size(*size)
        if self.preprocess in ("resize_and_crop", "scale_width_and_crop", "crop"):
            return self.crop_size, self.crop_size
        return w, h

    def __call__(self, images: list[Image.Image], epoch: int = 0, index: int = 0, name: str = "",
                 stream: int = 0, resample: list[Image.Resampling] | None = None) -> list[Image.Image]:
        """``images`` (all the same size) resized, cropped and flipped with the one draw for (epoch, index).

        ``resample`` gives each image's resizing filter (default bicubic for all); label and instance maps need
        ``Image.Resampling.NEAREST`` so resizing never invents ids.
        """
        size = images[0].size
        if any(im.size != size for im in images):
            raise DataError(f"{name or 'pair'}: the images of a pair differ in size "
                            f"({' vs '.join('x'.join(map(str, im.size)) for im in images)}); they must match.")
        p = draw_params(self.seed, epoch, index, stream)
        rw, rh = self._resized_size(*size)
        box = None
        if self.preprocess in ("resize_and_crop", "scale_width_and_crop", "crop"):
            c = self.crop_size
            if rw < c or rh < c:
                raise DataError(f"{name or 'image'} is {rw}x{rh}, smaller than crop_size={c} "
                                f"(preprocess={self.preprocess}); lower crop_size or use resize_and_crop.")
            if self.train:
                x, y = int(p.crop_x * (rw - c + 1)), int(p.crop_y * (rh - c + 1))
            else:
                x, y = (rw - c) // 2, (rh - c) // 2
            box = (x, y, x + c, y + c)
        mirror = self.train and self.flip and p.flip
        out = []
        for k, im in enumerate(images):
            if (rw, rh) != im.size:
                im = im.resize((rw, rh), _RESAMPLE if resample is None else resample[k])
            if box is not None and box != (0, 0, rw, rh):
                im = im.crop(box)
            if mirror:
                im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            out.append(im)
        return out
