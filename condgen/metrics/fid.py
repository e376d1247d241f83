"""FID and KID on the features of any FeatureExtractor, computed in float64 from one pass over the images.

We compute both metrics ourselves rather than through torchmetrics: one feature pass serves both (torchmetrics'
FID and KID would each run the network), KID subsets come from a seeded generator (torchmetrics draws them from
the global RNG), and torchmetrics' custom-module path would still need our own [-1, 1] handling. The formulas
match torchmetrics / torch-fidelity (unbiased covariance, cubic polynomial kernel, population std over subsets).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from condgen.errors import DataError

KID_SUBSET_SIZE = 1000  # torch-fidelity / torchmetrics default
KID_SUBSETS = 100


def _as_batches(images: Tensor | Iterable[Any]) -> Iterable[Tensor]:
    """Yield image batches from a tensor, or an iterable of tensors, (image, ...) tuples or {"image": ...} dicts."""
    if isinstance(images, Tensor):
        yield from images.split(256) if images.dim() == 4 else [images]
        return
    for batch in images:
        if isinstance(batch, Mapping):
            batch = batch["image"]
        elif isinstance(batch, (tuple, list)):
            batch = batch[0]
        yield batch


def _device_of(module: nn.Module) -> torch.device | None:
    """Device of a module's first parameter or buffer, or None for a parameterless module."""
    for t in [*module.parameters(), *module.buffers()]:
        return t.device
    return None


@torch.inference_mode()
def extract_features(images: Tensor | Iterable[Any], extractor: nn.Module) -> Tensor:
    """N x D float32 features (on the CPU) of images in [-1, 1], given as a tensor or an iterable of batches."""
    extractor.eval()
    device = _device_of(extractor)
    feats = []
    for batch in _as_batches(images):
        if batch.dim() == 3:
            batch = batch.unsqueeze(0)
        f = extractor(batch.to(device) if device is not None else batch)
        feats.append(f.reshape(f.shape[0], -1).float().cpu())
    if not feats:
        raise DataError("no images were given to compute features on")
    return torch.cat(feats)


def _mean_cov(features: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and unbiased covariance in float64, centring first so no precision is lost to cancellation."""
    n = features.shape[0]
    mu = features.double().mean(0)
    cov = torch.zeros(features.shape[1], features.shape[1], dtype=torch.float64)
    for chunk in features.split(8192):  # bounds float64 memory for 50k x 2048 features
        c = chunk.double() - mu
        cov += c.T @ c
    return mu, cov / (n - 1)


def frechet_distance(mu1: Tensor, cov1: Tensor, mu2: Tensor, cov2: Tensor) -> float:
    """Fréchet distance ||mu1 - mu2||^2 + tr(C1 + C2 - 2 (C1 C2)^1/2) between two Gaussians, in float64."""
    mu1, cov1, mu2, cov2 = (t.double() for t in (mu1, cov1, mu2, cov2))
    # tr (C1 C2)^1/2 = tr (A C2 A)^1/2 with A = C1^1/2 (same eigenvalues); A C2 A is symmetric PSD, so symmetric
    # eigensolvers apply and a rank-deficient C1 (fewer samples than dimensions) needs no eps fudge as sqrtm does
    w, v = torch.linalg.eigh((cov1 + cov1.T) / 2)
    a = (v * w.clamp_min(0).sqrt()) @ v.T
    m = a @ cov2 @ a
    tr_sqrt = torch.linalg.eigvalsh((m + m.T) / 2).clamp_min(0).sqrt().sum()
    return float((mu1 - mu2).square().sum() + cov1.trace() + cov2.trace() - 2 * tr_sqrt)


def fid_from_features(real: Tensor, fake: Tensor) -> float:
    """FID between two N x D feature sets (Gaussian fits, float64)."""
    if real.shape[0] < 2 or fake.shape[0] < 2:
        raise DataError(f"FID needs at least 2 real and 2 fake samples, got {real.shape[0]} and {fake.shape[0]}")
    return frechet_distance(*_mean_cov(real), *_mean_cov(fake))


def _poly_mmd2(x: Tensor, y: Tensor) -> Tensor:
    """Unbiased MMD^2 with the cubic polynomial kernel k(a, b) = (a.b / d + 1)^3."""
    m, d = x.shape
    k_xx = (x @ x.T / d + 1) ** 3
    k_yy = (y @ y.T / d + 1) ** 3
    k_xy = (x @ y.T / d + 1) ** 3
    # the unbiased estimator drops the diagonal (k(a, a)) terms of the within-set kernels
    within = (k_xx.sum() - k_xx.diagonal().sum() + k_yy.sum() - k_yy.diagonal().sum()) / (m * (m - 1))
    return within - 2 * k_xy.mean()


def kid_from_features(real: Tensor, fake: Tensor, subset_size: int | None = None, subsets: int = KID_SUBSETS,
                      seed: int = 0) -> tuple[float, float, int]:
    """KID (mean, std over random subsets, subset size used); subset size = min(1000 or given, n_real, n_fake)."""
    size = min(subset_size or KID_SUBSET_SIZE, real.shape[0], fake.shape[0])
    if size < 2:
        raise DataError(f"KID needs at least 2 real and 2 fake samples, got {real.shape[0]} and {fake.shape[0]}")
    g = torch.Generator().manual_seed(seed)
    real, fake = real.double(), fake.double()
    scores = torch.stack([
        _poly_mmd2(real[torch.randperm(real.shape[0], generator=g)[:size]],
                   fake[torch.randperm(fake.shape[0], generator=g)[:size]])
        for _ in range(subsets)])
    # population std (ddof 0), as torch-fidelity and torchmetrics report it
    return float(scores.mean()), float(scores.std(unbiased=False)), size


def fid_kid(real: Tensor | Iterable[Tensor], fake: Tensor | Iterable[Tensor], extractor: nn.Module,
            kid_subset_size: int | None = None, kid_subsets: int = KID_SUBSETS, seed: int = 0) -> dict[str, Any]:
    """FID and KID between real and generated images in [-1, 1], in the feature space of ``extractor``."""
    f_real = extract_features(real, extractor)
    f_fake = extract_features(fake, extractor)
    kid_mean, kid_std, _ = kid_from_features(f_real, f_fake, kid_subset_size, kid_subsets, seed)
    return {
        "fid": fid_from_features(f_real, f_fake),
        "kid_mean": kid_mean,
        "kid_std": kid_std,
        "n_real": int(f_real.shape[0]),
        "n_fake": int(f_fake.shape[0]),
        "features": getattr(extractor, "name", type(extractor).__name__),
    }


def floor_fid(test_images: Tensor | Iterable[Tensor], train_images: Tensor | Iterable[Tensor],
              extractor: nn.Module, **kwargs: Any) -> dict[str, Any]:
    """The floor: FID/KID of real test images against real train images, the best a generator can hope for."""
    return fid_kid(train_images, test_images, extractor, **kwargs)
