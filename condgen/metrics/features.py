"""Pluggable feature extractors for FID/KID: images in [-1, 1] (N x C x H x W) -> N x D float features."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

from condgen.errors import CheckpointError, ConfigError, DataError, MissingDependencyError, WeightsNotFoundError
from condgen.metrics.classifier import DigitClassifier, load_digit_classifier

INCEPTION_ENV = "CONDGEN_INCEPTION_WEIGHTS"
# torch-fidelity's and pytorch-fid's names for the same port of TF's inception-2015-12-05 (sha256 6726825d...)
INCEPTION_FILENAMES = ("weights-inception-2015-12-05-6726825d.pth", "pt_inception-2015-12-05-6726825d.pth")
INCEPTION_SHA256_PREFIX = "6726825d"
INCEPTION_URL = "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/" + INCEPTION_FILENAMES[0]


class FeatureExtractor(nn.Module):
    """Maps images in [-1, 1] (N x C x H x W) to N x ``dim`` float features; ``name`` labels reported scores."""

    name: str = "features"
    dim: int = 0

    def forward(self, images: Tensor) -> Tensor:  # pragma: no cover - interface
        """N x dim features of a batch of images in [-1, 1]."""
        raise NotImplementedError


class ClassifierFeatures(FeatureExtractor):
    """The digits classifier's penultimate embedding ("FID-digits"; not comparable with Inception FID)."""

    name = "digits-classifier"

    def __init__(self, classifier: DigitClassifier | None = None, device: str | torch.device = "cpu") -> None:
        super().__init__()
        self.classifier = classifier if classifier is not None else load_digit_classifier(device)
        self.classifier.eval().requires_grad_(False)
        self.dim = self.classifier.embed_dim

    def train(self, mode: bool = True) -> ClassifierFeatures:
        """Stay in eval mode: batch-norm statistics and dropout must not change the feature space."""
        return super().train(False)

    def forward(self, images: Tensor) -> Tensor:
        """Digits-classifier embedding (N x 128) of images in [-1, 1]."""
        return self.classifier.features(images)


def _torch_fidelity_available() -> bool:
    """Whether torch-fidelity (needed for the FID Inception network) is importable."""
    return importlib.util.find_spec("torch_fidelity") is not None


def inception_weight_candidates(weights_path: str | Path | None = None) -> list[tuple[str, Path | None]]:
    """Every place searched for the FID Inception weights, in order, as (description, path or None)."""
    if weights_path is not None:
        # an explicit path is never silently replaced by some other file
        return [("weights_path argument", Path(weights_path).expanduser())]
    env = os.environ.get(INCEPTION_ENV)
    places: list[tuple[str, Path | None]] = [(f"${INCEPTION_ENV}", Path(env).expanduser() if env else None)]
    hub_checkpoints = Path(torch.hub.get_dir()) / "checkpoints"  # honours TORCH_HOME and XDG_CACHE_HOME
    places += [("torch hub cache", hub_checkpoints / name) for name in INCEPTION_FILENAMES]
    return places


def find_inception_weights(weights_path: str | Path | None = None) -> Path:
    """Path of a local FID Inception weights file, or WeightsNotFoundError naming every place looked."""
    places = inception_weight_candidates(weights_path)
    for _, path in places:
        if path is not None and path.is_file():
            return path
    looked = "; ".join(f"{what}: {path if path is not None else '(not set)'}" for what, path in places)
    hub_dir = Path(torch.hub.get_dir()) / "checkpoints"
    msg = (f"the FID Inception weights were not found (nothing is downloaded). Looked in: {looked}. "
           f"Put the file {INCEPTION_FILENAMES[0]} (torch-fidelity's port of TF inception-2015-12-05, from "
           f"{INCEPTION_URL}; pytorch-fid's {INCEPTION_FILENAMES[1]} is the same file) in {hub_dir}, "
           f"or point ${INCEPTION_ENV} or the weights path option at it. "
           "For the built-in digits, the 'digits' feature extractor needs no download.")
    if not _torch_fidelity_available():
        msg += " Inception features also need torch-fidelity: pip install torch-fidelity."
    raise WeightsNotFoundError(msg)


def _check_sha256(path: Path) -> None:
    """Warn when the weights are not the standard file, since the FID would not be comparable with papers."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    if not h.hexdigest().startswith(INCEPTION_SHA256_PREFIX):
        warnings.warn(f"{path} is not the standard FID Inception file (sha256 {h.hexdigest()[:8]}..., expected "
                      f"{INCEPTION_SHA256_PREFIX}...); scores will not be comparable with published FID.",
                      stacklevel=3)


class InceptionFeatures(FeatureExtractor):
    """The standard FID Inception-v3 pool3 features (2048-d) via torch-fidelity, from a local weights file only."""

    name = "inception-v3"
    dim = 2048

    def __init__(self, weights_path: str | Path | None = None, device: str | torch.device = "cpu") -> None:
        super().__init__()
        path = find_inception_weights(weights_path)
        if not _torch_fidelity_available():
            raise MissingDependencyError(
                f"found the Inception weights at {path}, but Inception features need torch-fidelity, which is "
                "not installed: pip install torch-fidelity")
        _check_sha256(path)
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        try:
            # torch-fidelity resizes inside the net with its TF1-compatible bilinear, so numbers match
            # torch-fidelity / torchmetrics(antialias=False); we must not resize before it
            self.net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"],
                                                   feature_extractor_weights_path=str(path))
        except (RuntimeError, OSError, KeyError, ValueError) as e:
            raise CheckpointError(f"could not load the Inception weights {path}: {e}. Is it the FID "
                                  f"Inception file {INCEPTION_FILENAMES[0]}?") from e
        self.net.eval().requires_grad_(False)
        self.to(device)

    def train(self, mode: bool = True) -> InceptionFeatures:
        """Stay in eval mode (batch norm must use its stored statistics)."""
        return super().train(False)

    def forward(self, images: Tensor) -> Tensor:
        """Pool3 features (N x 2048) of images in [-1, 1], grey or RGB, any size."""
        if images.dim() != 4 or images.shape[1] not in (1, 3):
            raise DataError(f"Inception features take N x 1|3 x H x W images, got shape {tuple(images.shape)}")
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)  # grey -> RGB, as pytorch-fid and clean-fid do
        # quantise like saving a PNG would: the reference net expects uint8 pixels
        u8 = ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        return self.net(u8)[0].float()


def get_feature_extractor(name: str = "auto", dataset: str | None = None, weights_path: str | Path | None = None,
                          device: str | torch.device = "cpu") -> FeatureExtractor:
    """Feature extractor by name: "digits", "inception", or "auto" (digits for the digits dataset, else inception)."""
    key = name.lower()
    if key == "auto":
        key = "digits" if dataset == "digits" else "inception"
    if key in ("digits", "digits-classifier"):
        classifier = load_digit_classifier(device, path=weights_path)
        return ClassifierFeatures(classifier)
    if key in ("inception", "inception-v3"):
        return InceptionFeatures(weights_path, device=device)
    raise ConfigError(f"unknown feature extractor {name!r}; choose 'auto', 'digits' or 'inception'")
