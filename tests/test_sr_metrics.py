"""Tests for condgen.metrics.sr: BT.601 luma, PSNR/SSIM on Y with the border cropped, the bicubic baseline, and
evaluate_sr over an SR dataset."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from image_helpers import save_array as _save
from PIL import Image
from skimage.metrics import structural_similarity
from torch.nn import functional as F

from condgen.data import load_sr
from condgen.errors import DataError, ModelError
from condgen.metrics import sr as m


def _rand(*shape, seed=0):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 2 - 1


def _smooth(h: int, w: int) -> np.ndarray:
    """A smooth uint8 RGB image: low-frequency waves, different per channel."""
    y, x = np.mgrid[0:h, 0:w] / np.array([h, w]).reshape(2, 1, 1)
    chans = [np.sin(2 * np.pi * (1.3 * x + 0.4 * y)), np.cos(2 * np.pi * (0.7 * x - 1.1 * y)),
             np.sin(2 * np.pi * (0.5 * x + 0.9 * y) + 1.0)]
    return np.rint(127.5 + 100 * np.stack(chans, axis=-1)).astype(np.uint8)


def test_rgb_to_y_hand_numbers():
    colours = torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0],
                            [0.5, 0.25, 0.75]], dtype=torch.float64)
    y = m.rgb_to_y(colours.T.reshape(3, 1, 6))
    expect = [235, 16, 16 + 65.481, 16 + 128.553, 16 + 24.966, 16 + (65.481 * 0.5 + 128.553 * 0.25 + 24.966 * 0.75)]
    assert y.shape == (1, 1, 6)
    assert torch.allclose(y.flatten() * 255, torch.tensor(expect, dtype=torch.float64))
    batch = _rand(2, 3, 4, 5)
    assert m.rgb_to_y(batch).shape == (2, 1, 4, 5)
    grey = _rand(2, 1, 4, 5)
    assert m.rgb_to_y(grey) is grey  # grey is used as is
    with pytest.raises(DataError, match="C = 1 or 3"):
        m.rgb_to_y(torch.zeros(2, 4, 3, 3))


def test_psnr_identical_and_known_mse():
    x = _rand(2, 3, 20, 20)
    assert torch.equal(m.psnr_y(x, x), torch.full((2,), m.PSNR_CAP, dtype=torch.float64))  # capped, not inf
    # grey images: Y is the image itself in [0, 1]; an error of 0.1 (0.2 in [-1, 1]) everywhere is MSE 0.01
    g = _rand(1, 1, 16, 16, seed=1) * 0.5
    assert m.psnr_y(g + 0.2, g).item() == pytest.approx(20.0)
    noise = _rand(1, 1, 16, 16, seed=2) * 0.1
    mse = float(((noise / 2) ** 2).mean())
    assert m.psnr_y(g + noise, g).item() == pytest.approx(10 * math.log10(1 / mse))
    # RGB: the same shift d on every channel shifts Y by d x 219/255
    rgb = _rand(1, 3, 16, 16, seed=3) * 0.5
    d = 0.1
    assert m.psnr_y(rgb + 2 * d, rgb).item() == pytest.approx(10 * math.log10(1 / (d * 219 / 255) ** 2))
    assert m.psnr_y(rgb[0] + 2 * d, rgb[0]).shape == (1,)  # C x H x W is one image
    with pytest.raises(DataError, match="differ in shape"):
        m.psnr_y(rgb, rgb[..., :8])
    with pytest.raises(DataError, match="cannot crop 8 border pixels from 16x16"):
        m.psnr_y(rgb, rgb, crop=8)


def test_ssim_is_wangs_gaussian_ssim():
    a = _rand(2, 3, 40, 48, seed=4)
    b = (a + 0.3 * _rand(2, 3, 40, 48, seed=5)).clamp(-1, 1)
    ours = m.ssim_y(a, b, crop=4)
    ya = m.rgb_to_y((a + 1) / 2)[:, 0, 4:-4, 4:-4].numpy()
    yb = m.rgb_to_y((b + 1) / 2)[:, 0, 4:-4, 4:-4].numpy()
    for i in range(2):  # scikit-image with Wang et al.'s settings: Gaussian sigma 1.5 (11 x 11), population stats
        ref = structural_similarity(ya[i], yb[i], gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                    data_range=1.0)
        assert ours[i].item() == pytest.approx(ref, abs=1e-9)
    assert torch.allclose(m.ssim_y(a, a), torch.ones(2, dtype=torch.float64))
    assert 0 < ours.min() and ours.max() < 0.99
    with pytest.raises(DataError, match="at least 11x11 pixels after cropping 4"):
        m.ssim_y(a[..., :18, :18], b[..., :18, :18], crop=4)


def test_border_is_excluded():
    hr = _rand(1, 3, 32, 32, seed=6)
    sr = hr.clone()
    s = 4
    sr[..., :s, :] = -1.0
    sr[..., -s:, :] = 1.0
    sr[..., :, :s] = 0.3
    sr[..., :, -s:] = -0.7  # errors only in the s-pixel border
    scores = m.sr_scores(sr, hr, s)
    assert set(scores) == {"psnr_y", "ssim_y"}
    assert scores["psnr_y"].item() == m.PSNR_CAP and scores["ssim_y"].item() == pytest.approx(1.0)
    assert m.psnr_y(sr, hr, crop=s - 1).item() < 30 and m.ssim_y(sr, hr, crop=s - 1).item() < 1


def test_bicubic_upscale_is_the_degradations_cubic():
    lr = _smooth(12, 10)
    t = torch.from_numpy(lr).permute(2, 0, 1).double() / 127.5 - 1
    up = m.bicubic_upscale(t, 4)
    assert up.shape == (3, 48, 40) and up.dtype == torch.float32 and up.abs().max() <= 1
    # PIL's bicubic (Keys a = -0.5, as the degradation) on float images gives the same numbers
    for c in range(3):
        pil = Image.fromarray(lr[..., c].astype(np.float32), mode="F").resize((40, 48), Image.Resampling.BICUBIC)
        ours = (up[c].double() + 1) * 127.5
        assert np.abs(np.asarray(pil) - ours.numpy()).max() < 1e-3
    plain = F.interpolate(t[None], scale_factor=4, mode="bicubic", align_corners=False)[0]
    assert (plain - up).abs().max() > 1e-3  # torch's default cubic (a = -0.75) is another kernel
    assert m.bicubic_upscale(t[None], 2).shape == (1, 3, 24, 20)


def test_bicubic_beats_nearest_on_a_smooth_image(tmp_path):
    _save(_smooth(96, 80), tmp_path / "test" / "smooth.png")
    _save(_smooth(64, 64)[::-1].copy(), tmp_path / "test" / "smooth2.png")
    data = load_sr(tmp_path, split="test", scale=4, hr_crop=0)

    def nearest(lr):
        return F.interpolate(lr, scale_factor=4, mode="nearest")

    res = m.evaluate_sr(nearest, data)
    assert res["scale"] == 4 and res["n"] == 2 and len(res["per_image"]) == 2
    row = res["per_image"][0]
    assert set(row) == {"path", "psnr_y", "ssim_y", "bicubic_psnr_y", "bicubic_ssim_y"}
    assert row["path"].endswith("smooth.png")
    assert res["bicubic"]["psnr_y"] > res["mean"]["psnr_y"] + 3
    assert res["bicubic"]["ssim_y"] > res["mean"]["ssim_y"]
    assert res["mean"]["psnr_y"] == pytest.approx(np.mean([r["psnr_y"] for r in res["per_image"]]))
    assert res["bicubic"]["psnr_y"] > 30  # a smooth image is easy for bicubic

    def oracle(lr):
        return torch.stack([data[i]["hr"] for i in range(len(data)) if data[i]["lr"].shape == lr.shape[1:]])

    perfect = m.evaluate_sr(oracle, data, limit=1)
    assert perfect["n"] == 1 and perfect["mean"] == {"psnr_y": m.PSNR_CAP, "ssim_y": pytest.approx(1.0)}
    with pytest.raises(ModelError, match="returned 48x40 for a 24x20 LR image whose HR image is 96x80; it must "
                                         "upscale by exactly 4"):
        m.evaluate_sr(lambda lr: F.interpolate(lr, scale_factor=2), data)
    with pytest.raises(DataError, match="needs the scale"):
        m.evaluate_sr(nearest, [data[0]])
