"""Latent walks (slerp) and vector arithmetic, through the API and the CLI."""

from __future__ import annotations

import math

import pytest
import torch
from cli_helpers import run_cli
from PIL import Image

from condgen import latent
from condgen.cli import resolve_config
from condgen.train import train


def test_slerp_endpoints_and_norm():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(100, generator=g), torch.randn(100, generator=g)
    out = latent.slerp(a, b, torch.tensor([0.0, 0.5, 1.0]))
    assert torch.allclose(out[0], a, atol=1e-5) and torch.allclose(out[2], b, atol=1e-5)
    # equal-norm endpoints: slerp stays on the sphere, lerp's midpoint falls inside it
    b = b / b.norm() * a.norm()
    mid = latent.slerp(a, b, 0.5)[0]
    assert math.isclose(mid.norm().item(), a.norm().item(), rel_tol=1e-4)
    assert ((a + b) / 2).norm() < 0.9 * a.norm()


def test_interpolation_codes_and_arithmetic():
    keys = [torch.randn(10) for _ in range(3)]
    codes = latent.interpolation_codes(keys, frames=4)
    assert codes.shape == (9, 10) and torch.allclose(codes[4], keys[1], atol=1e-5)
    terms = latent.parse_arithmetic("0,1 - 2 + 3,4,5")
    assert terms == [(1, [0, 1]), (-1, [2]), (1, [3, 4, 5])]
    z = torch.arange(60.0).view(6, 10)
    expected = z[[0, 1]].mean(0) - z[2] + z[[3, 4, 5]].mean(0)
    assert torch.allclose(latent.arithmetic_code(z, terms), expected)
    for bad in ["- 1 + 2", "1", "1 * 2"]:
        with pytest.raises(ValueError):
            latent.parse_arithmetic(bad)


@pytest.fixture(scope="module")
def dcgan_run(tmp_path_factory, cache_dir):
    run = tmp_path_factory.mktemp("lat") / "run"
    cfg = resolve_config("dcgan", "digits", None, None, [
        "model.image_size=16", "model.channels=1", "model.ngf=8", "model.ndf=8", "data.batch_size=16",
        "train.steps=3", "train.progress=false", "train.tensorboard=false"])
    train(cfg, run)
    return run


def test_cli_interpolate_writes_grid_and_gif(capsys, dcgan_run, tmp_path):
    out = tmp_path / "walk.png"
    code, stdout, err = run_cli(capsys, "sample", dcgan_run, "--n", "8", "--interpolate", "1,5,2", "--frames", "4",
                                "--out", out)
    assert code == 0, err
    gif = Image.open(out.with_suffix(".gif"))
    assert gif.n_frames == 9  # 2 segments x 4 steps + the last key
    import condgen

    model = condgen.load(dcgan_run)
    codes = latent.codes_for_seed(model, 0, 8)
    # frame 4 is exactly sample 5 of `condgen sample --seed 0 --n 8`
    frame4 = model.generate(z=latent.interpolation_codes([codes[1], codes[5], codes[2]], 4)[4:5])
    assert torch.allclose(frame4, model.generate(z=codes[5:6]), atol=1e-5)


def test_cli_arithmetic_and_numbered_grid(capsys, dcgan_run, tmp_path):
    code, _, err = run_cli(capsys, "sample", dcgan_run, "--n", "16", "--numbered", "--out", tmp_path / "g.png")
    assert code == 0, err and (tmp_path / "g.png").is_file()
    code, out, err = run_cli(capsys, "sample", dcgan_run, "--n", "16", "--arithmetic", "0,1,2 - 3,4 + 5",
                             "--out", tmp_path / "a.png")
    assert code == 0, err
    assert Image.open(tmp_path / "a.png").size[0] > 0
    assert (tmp_path / "a_group0.png").is_file() and (tmp_path / "a_group2.png").is_file()
