"""A small CNN that recognises the built-in 32x32 digits; its penultimate layer is the digits feature space."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from condgen.errors import DataError, WeightsNotFoundError

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DIGITS_CLASSIFIER_WEIGHTS = WEIGHTS_DIR / "digits_classifier.safetensors"
INPUT_SIZE = 32
NUM_CLASSES = 10
EMBED_DIM = 128


def to_grey32(images: Tensor) -> Tensor:
    """Bring N x C x H x W images in [-1, 1] to the classifier's N x 1 x 32 x 32 (grey, antialiased resize)."""
    if images.dim() != 4:
        raise DataError(f"expected images shaped N x C x H x W, got a tensor of shape {tuple(images.shape)}")
    c = images.shape[1]
    if c == 3:
        images = images.mean(dim=1, keepdim=True)
    elif c != 1:
        raise DataError(f"the digits classifier takes 1- or 3-channel images, got {c} channels")
    if images.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
        # antialias matters when downsampling generator output: without it, aliasing shifts the features
        images = F.interpolate(images, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear",
                               align_corners=False, antialias=True)
    return images.float()


def _conv_block(c_in: int, c_out: int) -> nn.Sequential:
    """3x3 conv, batch norm, ReLU, 2x2 max-pool."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


class DigitClassifier(nn.Module):
    """Small CNN for the built-in digits: logits over 10 classes and a 128-d embedding for FID/KID."""

    def __init__(self, embed_dim: int = EMBED_DIM, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.body = nn.Sequential(
            _conv_block(1, 32),   # 32 x 16 x 16
            _conv_block(32, 64),  # 64 x 8 x 8
            _conv_block(64, 128),  # 128 x 4 x 4
        )
        # pooling to 2x2 keeps coarse layout (which stroke is where) at a quarter of the flatten-4x4 weights
        self.embed = nn.Sequential(nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(128 * 2 * 2, embed_dim),
                                   nn.ReLU(inplace=True))
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(embed_dim, num_classes)

    def features(self, x: Tensor) -> Tensor:
        """Penultimate embedding (N x embed_dim) of images in [-1, 1], any size, 1 or 3 channels."""
        return self.embed(self.body(to_grey32(x)))

    def forward(self, x: Tensor) -> Tensor:
        """Class logits (N x 10) of images in [-1, 1], any size, 1 or 3 channels."""
        return self.head(self.dropout(self.features(x)))


def load_digit_classifier(device: str | torch.device = "cpu", path: str | Path | None = None) -> DigitClassifier:
    """The shipped, frozen digits classifier in eval mode (weights from package data, or ``path``)."""
    from safetensors.torch import load_file

    path = Path(path) if path is not None else DIGITS_CLASSIFIER_WEIGHTS
    if not path.is_file():
        raise WeightsNotFoundError(
            f"the digits classifier weights {path} are missing. They are made offline in under a minute by "
            "running `python scripts/train_digit_classifier.py` from the repository root.")
    state = load_file(str(path))
    model = DigitClassifier()
    # stored as fp16 to keep the file small; compute stays fp32
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    model.eval().requires_grad_(False)
    return model.to(device)
