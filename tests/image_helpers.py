"""Small image fixtures shared by the data tests: write arrays as files, noise images, tensors back to uint8."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image


def save_array(arr: np.ndarray, path):
    """Write a uint8 H x W (grey) or H x W x C array as an image file, creating folders; returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path


def noise(h: int, w: int, seed: int = 0, channels: int = 3) -> np.ndarray:
    """A uint8 uniform-noise image, H x W x 3 (or H x W for channels=1), fixed by ``seed``."""
    shape = (h, w, channels) if channels == 3 else (h, w)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def to_u8(t: torch.Tensor) -> np.ndarray:
    """A [-1, 1] C x H x W tensor back to uint8 H x W x C."""
    return np.rint((t.numpy().transpose(1, 2, 0) + 1) * 127.5).astype(np.uint8)
