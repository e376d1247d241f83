"""Pix2Pix: the paper's losses and update order, test-time behaviour, any-size translate, the CLI."""

from __future__ import annotations

import json
import os
import signal

import pytest
import torch
from cli_helpers import run_cli
from PIL import Image

from condgen import losses
from condgen.errors import ModelError
from condgen.models import get_model_class
from condgen.runs import build_config, load_model_data, load_run_config

SMALL = {"netG": "unet_64", "ngf": 4, "ndf": 4}


@pytest.fixture(autouse=True)
def one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _model(**over):
    cfg = build_config("pix2pix", {"model": {**SMALL, **over}})
    torch.manual_seed(0)
    return get_model_class("pix2pix")(cfg.model)


def test_paper_defaults():
    cfg = build_config("pix2pix", {})
    m = cfg.model
    assert (m.netG, m.netD, m.norm, m.dropout, m.gan_loss, m.lambda_l1, m.lr, m.beta1) == (
        "unet_256", "basic", "batch", 0.5, "vanilla", 100.0, 2e-4, 0.5)
    assert (cfg.data.batch_size, cfg.data.load_size, cfg.data.crop_size, cfg.data.flip) == (1, 286, 256, True)
    assert (cfg.train.epochs, cfg.train.lr_schedule, cfg.train.lr_decay_start) == (200, "linear", 0.5)


def test_discriminator_sees_input_and_output():
    model = _model()
    first = next(p for p in model.nets["D"].parameters() if p.dim() == 4)
    assert first.shape[1] == 6  # cat(A, B)


def test_losses_match_the_paper():
    """D's loss is halved; G's is cGAN + 100 * L1, computed on the same fake."""
    model = _model()
    a, b = torch.rand(2, 3, 64, 64) * 2 - 1, torch.rand(2, 3, 64, 64) * 2 - 1
    torch.manual_seed(1)
    G, D = model.nets["G"], model.nets["D"]
    state = {k: {n: t.clone() for n, t in net.state_dict().items()} for k, net in model.nets.items()}
    fake = G(a)
    pr, pf = D(torch.cat([a, b], 1)), D(torch.cat([a, fake.detach()], 1))
    expect_d = 0.5 * losses.d_loss("vanilla", pr, pf)
    for k, net in model.nets.items():
        net.load_state_dict(state[k])
    torch.manual_seed(1)
    out = model.training_step({"A": a, "B": b})
    assert torch.allclose(out["loss/D"], expect_d.detach(), atol=1e-5)
    assert set(out) == {"loss/D", "loss/G_gan", "loss/G_L1"}


def test_l1_only_ablation_skips_d():
    model = _model(gan_weight=0.0)
    before = [p.clone() for p in model.nets["D"].parameters()]
    out = model.training_step({"A": torch.rand(2, 3, 64, 64), "B": torch.rand(2, 3, 64, 64)})
    assert set(out) == {"loss/G_L1"}
    assert all(torch.equal(p, q) for p, q in zip(before, model.nets["D"].parameters()))


def test_test_time_dropout_is_on_by_default_and_eval_switch_turns_it_off():
    model = _model()
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    torch.manual_seed(0)
    a = model.translate(x)
    torch.manual_seed(1)
    b = model.translate(x)
    assert not torch.allclose(a, b)  # dropout noise at test time (the paper)
    c, d = model.translate(x, eval_mode=True), model.translate(x, eval_mode=True)
    assert torch.equal(c, d)


@pytest.mark.parametrize("size", [(64, 64), (70, 99), (130, 64)])
def test_translate_any_size_pads_and_crops_back(size):
    model = _model(eval_mode=True)
    img = Image.new("RGB", (size[1], size[0]), (200, 30, 30))
    out = model.translate(img)
    assert isinstance(out, Image.Image) and out.size == img.size
    t = model.translate(torch.zeros(3, *size))
    assert t.shape == (3, *size)


def test_translate_tiles_large_images_consistently():
    """Tiled and untiled outputs agree away from seams (eval mode, fully convolutional ResNet)."""
    model = _model(netG="resnet_6blocks", eval_mode=True, tile_size=64)
    x = torch.rand(1, 3, 96, 160) * 2 - 1
    tiled = model.translate(x)
    model.cfg.tile_size = 0
    whole = model.translate(x)
    assert tiled.shape == whole.shape
    assert (tiled - whole).abs().mean() < 0.05


def test_input_smaller_than_the_network_minimum():
    model = _model()
    with pytest.raises(ModelError, match="smaller than this generator's minimum of 64x64"):
        model.translate(torch.zeros(3, 40, 80))


def test_train_translate_cli(capsys, tmp_path, cache_dir):
    run = tmp_path / "run"
    code, out, err = run_cli(capsys, "train", "pix2pix", "--data", "edges2photos", "--out", run, "--steps", "3",
                             "--no-progress", "--set", "model.netG=unet_64", "--set", "model.ngf=4",
                             "--set", "model.ndf=4", "--set", "data.load_size=72", "--set", "data.crop_size=64",
                             "--set", "data.batch_size=2", "--set", "train.val_every=3", "--set",
                             "train.val_images=4", "--set", "train.tensorboard=false")
    assert code == 0, err
    assert (run / "samples" / "val_step_000003.png").is_file()
    lines = (run / "metrics.jsonl").read_text()
    assert '"val/PSNR"' in lines and '"val/SSIM"' in lines
    assert "Validation" in (run / "report.html").read_text()
    Image.new("RGB", (100, 80), "white").save(tmp_path / "in.png")
    code, out, err = run_cli(capsys, "translate", run, tmp_path / "in.png", "--out", tmp_path / "o")
    assert code == 0, err
    assert Image.open(tmp_path / "o" / "in.png").size == (100, 80)
    code, out, err = run_cli(capsys, "evaluate", run)  # L1/PSNR/SSIM over the whole held-out split
    assert code == 0, err
    result = json.loads((run / "eval.json").read_text())[-1]
    n_test = len(load_model_data(get_model_class("pix2pix"), load_run_config(run), "test", evaluation=True))
    assert result["n"] == n_test > 4 and 0 < result["SSIM"] < 1 and result["PSNR"] > 0
    code, _, err = run_cli(capsys, "train", "pix2pix", "--data", "edges2photos", "--out", tmp_path / "r2",
                           "--set", "data.direction=AtoC")
    assert code != 0 and "AtoB, BtoA" in err


def test_resume_is_bit_exact_across_epochs_with_augmentation_dropout_and_validation(tmp_path, cache_dir):
    """Per-(epoch, index) crops/flips, test-time dropout in validation and samples: none may break exact resume."""
    import numpy as np

    from condgen.cli import resolve_config
    from condgen.train import Trainer, train
    from condgen.train.checkpoint import load_checkpoint

    data = tmp_path / "pairs" / "train"
    data.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 255, (72, 144, 3), dtype=np.uint8)).save(data / f"{i}.png")
    (tmp_path / "pairs" / "test").mkdir()
    Image.fromarray(rng.integers(0, 255, (64, 128, 3), dtype=np.uint8)).save(tmp_path / "pairs" / "test" / "t.png")
    over = ["model.netG=unet_64", "model.ngf=4", "model.ndf=4", "data.load_size=72", "data.crop_size=64",
            "data.batch_size=2", "train.val_every=3", "train.val_images=1", "train.sample_every=2",
            "train.precision=fp32", "train.progress=false", "train.tensorboard=false", "train.ema_decay=0.5"]

    def cfg(steps):
        return resolve_config("pix2pix", str(tmp_path / "pairs"), None, None, [*over, f"train.steps={steps}"])

    train(cfg(8), tmp_path / "full")
    # the same run stopped by Ctrl-C after step 4 (same config: the linear LR schedule depends on train.steps)
    trainer = Trainer(cfg(8), tmp_path / "half")
    real_step = trainer.model.training_step
    calls = {"n": 0}

    def interrupted(batch):
        calls["n"] += 1
        if calls["n"] == 4:
            os.kill(os.getpid(), signal.SIGINT)
        return real_step(batch)

    trainer.model.training_step = interrupted
    assert trainer.fit().step == 4
    train(cfg(8), tmp_path / "half", resume=True)
    a = load_checkpoint(tmp_path / "full" / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "half" / "checkpoints" / "last.pt")
    assert a["step"] == b["step"] == 8 and a["epoch"] == b["epoch"] == 2
    for group in ("nets", "ema"):
        for name, sd in a[group].items():
            for k, v in sd.items():
                assert torch.equal(v, b[group][name][k]), f"{group} {name}.{k}"
