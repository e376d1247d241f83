"""A classic face-identity descriptor for measuring anonymization: local binary pattern histograms (Ahonen, Hadid &
Pietikainen, "Face Description with Local Binary Patterns", TPAMI 2006).

A grey face is divided into a ``grid`` x ``grid`` of cells; each cell's histogram of uniform LBP codes (P = 8
neighbours, radius 1) is concatenated and the chi-square distance compares two faces. No learned weights: the
anonymizer never trains in this space (its identity margins use random convolutional features), so the numbers
are an independent check. Re-identification rate: the fraction of queries whose nearest gallery face (in this
distance) is the true original — 1/N is chance.
"""

from __future__ import annotations

import numpy as np
import torch

LBP_POINTS, LBP_RADIUS = 8, 1


def _grey_uint8(face) -> np.ndarray:
    if isinstance(face, torch.Tensor):
        t = face.detach().float().cpu()
        if t.dim() == 3:
            t = t.mean(0)
        return ((t.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()
    arr = np.asarray(face)
    if arr.ndim == 3:
        arr = arr.mean(2)
    return arr.astype(np.uint8)


def lbp_descriptor(face, grid: int = 4) -> np.ndarray:
    """Concatenated, per-cell normalised histograms of uniform LBP codes of a face (tensor C x H x W in [-1, 1],
    or a uint8 array H x W (x C))."""
    from skimage.feature import local_binary_pattern

    img = _grey_uint8(face)
    codes = local_binary_pattern(img, LBP_POINTS, LBP_RADIUS, method="uniform").astype(np.int64)
    n_codes = LBP_POINTS + 2
    h, w = codes.shape
    hists = []
    for i in range(grid):
        for j in range(grid):
            cell = codes[i * h // grid:(i + 1) * h // grid, j * w // grid:(j + 1) * w // grid]
            hist = np.bincount(cell.ravel(), minlength=n_codes).astype(np.float64)
            hists.append(hist / max(hist.sum(), 1.0))
    return np.concatenate(hists)


def chi2_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Chi-square distance between two descriptors, averaged over bins."""
    denom = a + b
    mask = denom > 0
    return float(((a - b)[mask] ** 2 / denom[mask]).sum() / a.size)


def distance_matrix(queries, gallery, grid: int = 4) -> np.ndarray:
    """Chi-square distances between every query face and every gallery face (len(queries) x len(gallery))."""
    q = [lbp_descriptor(f, grid) for f in queries]
    g = [lbp_descriptor(f, grid) for f in gallery]
    return np.array([[chi2_distance(a, b) for b in g] for a in q])


def reidentification_rate(queries, gallery, grid: int = 4) -> float:
    """Fraction of queries i whose nearest gallery face is gallery[i] (rank-1 re-identification)."""
    d = distance_matrix(queries, gallery, grid)
    return float((d.argmin(1) == np.arange(len(d))).mean())
