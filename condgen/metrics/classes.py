"""Class accuracy of conditional samples: does a classifier see the class each image was generated for?"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from condgen.errors import DataError


@torch.inference_mode()
def predict_classes(images: Tensor, classifier: nn.Module, batch_size: int = 256) -> Tensor:
    """Predicted class ids (N, long, on the CPU) of images in [-1, 1]."""
    classifier.eval()
    device = next(iter(classifier.parameters()), images).device
    return torch.cat([classifier(b.to(device)).argmax(1).cpu() for b in images.split(batch_size)])


def _check(images: Tensor, labels: Tensor) -> Tensor:
    """Labels as a flat CPU long tensor matching the number of images."""
    labels = torch.as_tensor(labels).reshape(-1).long().cpu()
    if images.shape[0] != labels.shape[0] or labels.numel() == 0:
        raise DataError(f"class accuracy needs one label per image, got {images.shape[0]} images and "
                        f"{labels.shape[0]} labels")
    return labels


def class_accuracy(images: Tensor, labels: Tensor, classifier: nn.Module) -> float:
    """Fraction of images generated for class k that the classifier calls k (over all samples)."""
    labels = _check(images, labels)
    return (predict_classes(images, classifier) == labels).float().mean().item()


def per_class_accuracy(images: Tensor, labels: Tensor, classifier: nn.Module) -> dict[int, float]:
    """Class accuracy for each class id present in ``labels``, as {class id: fraction}."""
    labels = _check(images, labels)
    correct = predict_classes(images, classifier) == labels
    return {int(k): correct[labels == k].float().mean().item() for k in labels.unique()}
