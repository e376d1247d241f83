"""Tests for condgen.metrics: the shipped digits classifier, FID/KID, class accuracy, Inception weight lookup."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import Tensor

from condgen.data.builtin_arrays import digits_arrays
from condgen.errors import ConfigError, DataError, WeightsNotFoundError
from condgen.metrics import (
    DIGITS_CLASSIFIER_WEIGHTS,
    ClassifierFeatures,
    FeatureExtractor,
    InceptionFeatures,
    MissingDependencyError,
    class_accuracy,
    extract_features,
    fid_from_features,
    fid_kid,
    floor_fid,
    get_feature_extractor,
    kid_from_features,
    load_digit_classifier,
    per_class_accuracy,
)
from condgen.metrics.features import INCEPTION_ENV, INCEPTION_FILENAMES


class Flatten(FeatureExtractor):
    """Identity features: N x D x 1 x 1 'images' -> N x D, so tests control the feature distribution exactly."""

    name = "identity"

    def forward(self, images: Tensor) -> Tensor:
        """The input, flattened per sample."""
        return images.flatten(1)


def _to_images(u8: np.ndarray) -> Tensor:
    return torch.from_numpy(u8).float().div(127.5).sub(1.0).unsqueeze(1)


@pytest.fixture(scope="module")
def digits() -> dict[str, tuple[Tensor, Tensor]]:
    d = digits_arrays()
    return {k: (_to_images(x), torch.from_numpy(y)) for k, (x, y) in d.items()}


@pytest.fixture(scope="module")
def classifier():
    return load_digit_classifier()


@pytest.fixture(scope="module")
def extractor(classifier):
    return ClassifierFeatures(classifier)


def test_classifier_is_small_and_accurate(digits, classifier):
    assert DIGITS_CLASSIFIER_WEIGHTS.stat().st_size < 1_000_000
    x, y = digits["test"]
    assert class_accuracy(x, y, classifier) >= 0.97
    # grey -> RGB and other sizes go through the classifier's own conversion
    assert class_accuracy(x.repeat(1, 3, 1, 1), y, classifier) >= 0.97
    x64 = torch.nn.functional.interpolate(x, size=(64, 64), mode="bilinear", align_corners=False)
    assert class_accuracy(x64, y, classifier) >= 0.97
    assert classifier.features(x[:4]).shape == (4, classifier.embed_dim)


def test_missing_classifier_weights_says_how_to_make_them(tmp_path):
    with pytest.raises(WeightsNotFoundError, match="train_digit_classifier.py") as e:
        load_digit_classifier(path=tmp_path / "missing.safetensors")
    assert "missing.safetensors" in str(e.value)


def test_fid_self_is_zero_and_noise_is_far_above_floor(digits, extractor):
    train, test = digits["train"][0], digits["test"][0]
    self_fid = fid_kid(test, test, extractor)
    assert abs(self_fid["fid"]) < 1e-3
    floor = floor_fid(test, train, extractor)
    noise = torch.rand(test.shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
    far = fid_kid(train, noise, extractor)
    assert far["fid"] > 20 * max(floor["fid"], 1e-3)
    assert floor["features"] == "digits-classifier"
    assert (floor["n_real"], floor["n_fake"]) == (len(train), len(test))
    assert set(far) == {"fid", "kid_mean", "kid_std", "n_real", "n_fake", "features"}


def test_kid_sanity(digits, extractor):
    train, test = digits["train"][0], digits["test"][0]
    f_train, f_test = extract_features(train, extractor), extract_features(test, extractor)
    noise = torch.rand(test.shape, generator=torch.Generator().manual_seed(1)) * 2 - 1
    f_noise = extract_features(noise, extractor)
    far_mean, far_std, size = kid_from_features(f_train, f_noise, subsets=20)
    near_mean, near_std, _ = kid_from_features(f_train, f_test, subsets=20)
    assert size == min(1000, len(train), len(noise))
    assert far_std >= 0 and near_std >= 0
    assert far_mean > 10 * far_std and far_mean > 20 * abs(near_mean)
    # seeded subsets: the same seed gives the same number
    again = kid_from_features(f_train, f_test, subsets=5, seed=3)
    assert kid_from_features(f_train, f_test, subsets=5, seed=3) == again
    assert kid_from_features(f_train, f_test, subset_size=50, subsets=2)[2] == 50
    with pytest.raises(DataError):
        kid_from_features(f_train[:1], f_test)


def _exact_gaussian(n: int, mean: np.ndarray, cov: np.ndarray, seed: int) -> Tensor:
    """n samples whose sample mean and unbiased sample covariance equal ``mean`` and ``cov`` exactly."""
    z = np.random.default_rng(seed).standard_normal((n, len(mean)))
    z -= z.mean(0)
    z = z @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False))).T  # whiten: sample cov = I
    x = z @ np.linalg.cholesky(cov).T + mean
    return torch.from_numpy(x)[:, :, None, None]


def test_fid_matches_gaussian_closed_form():
    d = 6
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((d, d)), rng.standard_normal((d, d))
    cov1, cov2 = a @ a.T + 0.1 * np.eye(d), b @ b.T + 0.1 * np.eye(d)
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    x, y = _exact_gaussian(500, mu1, cov1, 1), _exact_gaussian(700, mu2, cov2, 2)
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(cov1 + cov2 - 2 * scipy.linalg.sqrtm(cov1 @ cov2).real)
    got = fid_kid(x, y, Flatten())
    assert got["fid"] == pytest.approx(expected, rel=1e-8)
    # rank-deficient covariances (fewer samples than dimensions) stay finite and non-negative
    few = torch.randn(5, 16, dtype=torch.float64)
    assert 0 <= fid_from_features(few, few + 0.01) < 1


@pytest.mark.filterwarnings("ignore:Metric `Kernel Inception Distance` will save")
def test_matches_torchmetrics():
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 8, generator=g, dtype=torch.float64)
    y = 0.8 * torch.randn(200, 8, generator=g, dtype=torch.float64) + 0.3
    ident = Flatten()
    ident.num_features = 8
    fid_tm = FrechetInceptionDistance(feature=ident)
    fid_tm.update(x, real=True)
    fid_tm.update(y, real=False)
    kid_tm = KernelInceptionDistance(feature=ident, subsets=1, subset_size=200)
    kid_tm.update(x[:200], real=True)
    kid_tm.update(y, real=False)
    # a subset as large as the set is the whole set, so no randomness remains in either implementation
    assert fid_from_features(x, y) == pytest.approx(float(fid_tm.compute()), rel=1e-6)
    assert kid_from_features(x[:200], y, subsets=1)[0] == pytest.approx(float(kid_tm.compute()[0]), rel=1e-6)


def test_accepts_batches_tuples_and_dicts(digits, extractor):
    x = digits["test"][0][:100]
    ref = extract_features(x, extractor)
    # batches of 32 vs one of 100 may take different (equally exact) conv kernels: equal up to float rounding
    for batches in (list(x.split(32)), [(b, None) for b in x.split(32)], [{"image": b} for b in x.split(32)]):
        got = extract_features(batches, extractor)
        assert got.shape == ref.shape and torch.allclose(got, ref, rtol=1e-4, atol=1e-5)


def test_class_accuracy_true_vs_shuffled(digits, classifier):
    x, y = digits["test"]
    shuffled = y[torch.randperm(len(y), generator=torch.Generator().manual_seed(0))]
    assert class_accuracy(x, y, classifier) >= 0.97
    assert class_accuracy(x, shuffled, classifier) < 0.3
    per_class = per_class_accuracy(x, y, classifier)
    assert sorted(per_class) == list(range(10)) and min(per_class.values()) >= 0.9
    with pytest.raises(DataError):
        class_accuracy(x, y[:-1], classifier)


def test_get_feature_extractor():
    ex = get_feature_extractor("auto", dataset="digits")
    assert isinstance(ex, ClassifierFeatures) and ex.name == "digits-classifier" and ex.dim == 128
    with pytest.raises(ConfigError):
        get_feature_extractor("bogus")


def test_inception_without_weights_names_every_place(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv(INCEPTION_ENV, str(tmp_path / "env.pth"))
    with pytest.raises(WeightsNotFoundError) as e:
        get_feature_extractor("auto", dataset="faces")
    msg = str(e.value)
    assert str(tmp_path / "env.pth") in msg and INCEPTION_ENV in msg
    for name in INCEPTION_FILENAMES:
        assert str(tmp_path / "torch" / "hub" / "checkpoints" / name) in msg
    if importlib.util.find_spec("torch_fidelity") is None:
        assert "pip install torch-fidelity" in msg

    monkeypatch.delenv(INCEPTION_ENV)
    with pytest.raises(WeightsNotFoundError, match="not set"):
        InceptionFeatures()
    with pytest.raises(WeightsNotFoundError, match="given.pth"):
        InceptionFeatures(weights_path=tmp_path / "given.pth")


@pytest.mark.skipif(importlib.util.find_spec("torch_fidelity") is not None, reason="torch-fidelity is installed")
def test_inception_weights_without_torch_fidelity(tmp_path, monkeypatch):
    weights = tmp_path / INCEPTION_FILENAMES[0]
    weights.write_bytes(b"not really weights")
    monkeypatch.setenv(INCEPTION_ENV, str(weights))
    with pytest.raises(MissingDependencyError, match="pip install torch-fidelity"):
        get_feature_extractor("inception")


def test_inception_wiring_with_a_stub_torch_fidelity(tmp_path, monkeypatch):
    """Without the real net, check what InceptionFeatures hands torch-fidelity: uint8 RGB, unresized, our path."""
    import importlib.machinery
    import sys
    import types

    seen = {}

    class StubInception(torch.nn.Module):
        def __init__(self, name, features_list, feature_extractor_weights_path=None):
            super().__init__()
            seen.update(name=name, features=features_list, path=feature_extractor_weights_path)
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x):
            seen.update(dtype=x.dtype, shape=tuple(x.shape), lo=int(x.min()), hi=int(x.max()))
            return (x.float().mean((2, 3)).repeat(1, 683)[:, :2048],)

    pkg = types.ModuleType("torch_fidelity")
    pkg.__spec__ = importlib.machinery.ModuleSpec("torch_fidelity", None)
    sub = types.ModuleType("torch_fidelity.feature_extractor_inceptionv3")
    sub.FeatureExtractorInceptionV3 = StubInception
    monkeypatch.setitem(sys.modules, "torch_fidelity", pkg)
    monkeypatch.setitem(sys.modules, "torch_fidelity.feature_extractor_inceptionv3", sub)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv(INCEPTION_ENV, raising=False)
    weights = tmp_path / "hub" / "checkpoints" / INCEPTION_FILENAMES[1]
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"stub")

    with pytest.warns(UserWarning, match="not the standard FID Inception file"):
        ex = get_feature_extractor("auto", dataset="faces")
    assert seen["path"] == str(weights) and seen["features"] == ["2048"]
    feats = ex(torch.linspace(-1, 1, 2 * 25 * 25).reshape(2, 1, 25, 25))
    assert feats.shape == (2, 2048) and ex.name == "inception-v3" and ex.dim == 2048
    assert seen["dtype"] == torch.uint8 and seen["shape"] == (2, 3, 25, 25) and (seen["lo"], seen["hi"]) == (0, 255)
