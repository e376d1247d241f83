"""The raw arrays behind the built-in offline datasets, made deterministically from what installed packages ship.

Nothing here downloads: scikit-learn ships the 1,797 8x8 digits, scikit-image ships ``lfw_subset``.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

DIGITS_SIZE = 32  # the 8x8 digits are stored upscaled to 32x32 (bicubic), the smallest DCGAN-friendly size
DIGITS_TEST_FRACTION = 0.2
SPLIT_SEED = 0  # the fixed train/test split


def _upscale(img01: np.ndarray, size: int) -> np.ndarray:
    """Upscale one float image in [0, 1] to ``size`` x ``size`` uint8 with a bicubic filter."""
    im = Image.fromarray(np.clip(img01 * 255.0 + 0.5, 0, 255).astype(np.uint8), mode="L")
    return np.asarray(im.resize((size, size), Image.Resampling.BICUBIC), dtype=np.uint8)


def digits_arrays() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """scikit-learn's digits as ``{"train"|"test": (uint8 N x 32 x 32, int64 labels)}``, stratified 80/20 split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    imgs = np.stack([_upscale(x / 16.0, DIGITS_SIZE) for x in d.images])
    labels = d.target.astype(np.int64)
    idx_train, idx_test = train_test_split(
        np.arange(len(labels)), test_size=DIGITS_TEST_FRACTION, random_state=SPLIT_SEED, stratify=labels)
    idx_train.sort()
    idx_test.sort()
    return {"train": (imgs[idx_train], labels[idx_train]), "test": (imgs[idx_test], labels[idx_test])}


def faces_arrays() -> dict[str, np.ndarray]:
    """The 100 face crops of scikit-image's ``lfw_subset`` (25x25 grey) as uint8, split 80/20 by a fixed seed."""
    from skimage.data import lfw_subset

    faces = lfw_subset()[:100]  # the first 100 are faces, the last 100 are not
    imgs = np.stack([np.clip(f * 255.0 + 0.5, 0, 255).astype(np.uint8) for f in faces])
    order = np.random.default_rng(SPLIT_SEED).permutation(len(imgs))
    n_test = int(len(imgs) * DIGITS_TEST_FRACTION)
    return {"train": imgs[np.sort(order[n_test:])], "test": imgs[np.sort(order[:n_test])]}
