"""SRGAN: the paper's defaults and discriminator, the perceptual loss (VGG54 content with the 1/12.75 rescale +
1e-3 x adversarial) recomputed by hand, the D-then-G order with D frozen, and missing VGG weights."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import condgen
from condgen import losses
from condgen.errors import ConfigError, WeightsNotFoundError
from condgen.models import get_model_class
from condgen.nn.srresnet import SRDiscriminator
from condgen.runs import build_config

SMALL = {"n_blocks": 2, "ngf": 8, "ndf": 4, "vgg_weights": "random"}
pytestmark = [pytest.mark.usefixtures("one_thread"),
              pytest.mark.filterwarnings("ignore:VGGFeatures.*random weights:UserWarning")]


def _model(**over):
    cfg = build_config("srgan", {"model": {**SMALL, **over}})
    torch.manual_seed(0)
    return get_model_class("srgan")(cfg.model)


def _batch(n=2, lr_size=8, scale=4):
    torch.manual_seed(1)
    hr = torch.rand(n, 3, lr_size * scale, lr_size * scale) * 2 - 1
    return {"lr": F.avg_pool2d(hr, scale), "hr": hr}


def test_paper_defaults():
    cfg = build_config("srgan", {})
    m = cfg.model
    assert (m.scale, m.n_blocks, m.ngf, m.ndf, m.norm, m.loss) == (4, 16, 64, 64, "batch", "mse")
    assert (m.content_weight, m.vgg_layer, m.pixel_weight, m.adv_weight, m.vgg_weights) == (
        1.0, "relu5_4", 0.0, 1e-3, "imagenet")
    assert m.vgg_rescale == pytest.approx(1 / 12.75) and m.vgg_rescale ** 2 == pytest.approx(0.00615, abs=1e-5)
    assert (m.lr, m.beta1) == (1e-4, 0.9)
    assert (cfg.data.batch_size, cfg.data.crop_size) == (16, 96)
    t = cfg.train  # 10^5 updates at 1e-4, then 10^5 at 1e-5
    assert (t.steps, t.lr_schedule, t.lr_step_size, t.lr_gamma) == (200_000, "step", 100_000, 0.1)


def test_generator_is_srresnets_and_named_g():
    """train.init_from matches networks by name: SRGAN's G must load an SRResNet's G as it is."""
    gan, reg = _model(), build_config("srresnet", {"model": {"n_blocks": 2, "ngf": 8}})
    G = get_model_class("srresnet")(reg.model).nets["G"]
    assert set(_model().nets) == {"G", "D"}
    assert {k: v.shape for k, v in gan.nets["G"].state_dict().items()} == {
        k: v.shape for k, v in G.state_dict().items()}
    gan.nets["G"].load_state_dict(G.state_dict())
    assert gan.vgg is not None and not any(p.requires_grad for p in gan.vgg.parameters())


def test_paper_discriminator():
    """Figure 4: k3n64s1 + LReLU, 7 x (conv, BN, LReLU) with widths 64-512 and strides 2/1, dense 1024, dense 1."""
    D = SRDiscriminator()
    convs = [m for m in D.features if isinstance(m, nn.Conv2d)]
    assert [(c.out_channels, c.stride[0], c.kernel_size[0]) for c in convs] == [
        (64, 1, 3), (64, 2, 3), (128, 1, 3), (128, 2, 3), (256, 1, 3), (256, 2, 3), (512, 1, 3), (512, 2, 3)]
    norms = [m for m in D.features if isinstance(m, nn.BatchNorm2d)]
    assert len(norms) == 7 and all(m.eps == 1e-5 for m in norms)
    assert isinstance(D.features[1], nn.LeakyReLU) and D.features[1].negative_slope == 0.2  # no BN on conv0
    assert all(m.negative_slope == 0.2 for m in D.modules() if isinstance(m, nn.LeakyReLU))
    fc1, fc2 = D.classifier.fc1, D.classifier.fc2
    assert (fc1.in_features, fc1.out_features, fc2.out_features) == (512 * 6 * 6, 1024, 1)
    assert not any(isinstance(m, nn.Sigmoid) for m in D.modules())  # logits: BCE-with-logits in the loss
    assert D.features(torch.zeros(1, 3, 96, 96)).shape == (1, 512, 6, 6)  # the paper's crop: no pooling needed
    expected = (3 * 64 * 9 + 64 + sum(cin * cout * 9 + cout + 2 * cout for cin, cout in [
        (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 512), (512, 512)])
        + 512 * 36 * 1024 + 1024 + 1024 + 1)
    assert sum(p.numel() for p in D.parameters()) == expected == 23_565_505
    assert D(torch.zeros(2, 3, 40, 56)).shape == (2, 1)  # other sizes: pooled to 6 x 6


def test_perceptual_loss_matches_a_manual_recomputation():
    """D: BCE(D(HR), 1) + BCE(D(G(LR)), 0). G: MSE(phi(SR)/12.75, phi(HR)/12.75) with phi = VGG19 relu5_4
    (= the feature MSE x 1/12.75^2) + 1e-3 x BCE(D'(G(LR)), 1), D' = D after its step."""
    model = _model()
    batch = _batch()
    G0, D0 = copy.deepcopy(model.nets["G"]), copy.deepcopy(model.nets["D"])
    out = model.training_step(batch)
    with torch.no_grad():
        sr = G0(batch["lr"])
        expect_d = (F.binary_cross_entropy_with_logits(D0(batch["hr"]), torch.ones(2, 1))
                    + F.binary_cross_entropy_with_logits(D0(sr), torch.zeros(2, 1)))
        expect_adv = F.binary_cross_entropy_with_logits(model.nets["D"](sr), torch.ones(2, 1))
        f_sr, f_hr = model.vgg(sr)["relu5_4"], model.vgg(batch["hr"])["relu5_4"]
        expect_content = ((f_sr - f_hr) ** 2).mean() / 12.75 ** 2
    assert set(out) == {"loss/D", "loss/G_content", "loss/G_adv"}
    assert torch.allclose(out["loss/D"], expect_d, rtol=1e-5)
    assert torch.allclose(out["loss/G_adv"], expect_adv, rtol=1e-5)
    assert torch.allclose(out["loss/G_adv"], losses.g_loss("vanilla", model.nets["D"](sr)), rtol=1e-5)
    assert torch.allclose(out["loss/G_content"], expect_content, rtol=1e-4)
    assert torch.allclose(out["loss/G_content"], F.mse_loss(f_sr / 12.75, f_hr / 12.75), rtol=1e-4)


def test_g_step_gradient_is_content_plus_1e3_adversarial():
    """The loss G minimises is exactly content + 1e-3 x adversarial: G's gradients (left in .grad by its step)
    equal those of the hand-assembled loss after the same D step."""
    model, twin = _model(), _model()
    batch = _batch()
    model.training_step(batch)
    G, D = twin.nets["G"], twin.nets["D"]
    sr = G(batch["lr"])
    twin.optimize("D", losses.d_loss("vanilla", D(batch["hr"]), D(sr.detach())))
    f_sr, f_hr = twin.vgg(sr)["relu5_4"], twin.vgg(batch["hr"])["relu5_4"].detach()
    total = F.mse_loss(f_sr, f_hr) / 12.75 ** 2 + 1e-3 * losses.g_loss("vanilla", D(sr))
    grads = torch.autograd.grad(total, list(G.parameters()))
    for (k, p), g in zip(model.nets["G"].named_parameters(), grads):
        assert torch.allclose(p.grad, g, rtol=1e-4, atol=1e-9), k


def test_d_is_frozen_during_the_g_step_and_updated_in_its_own():
    model = _model()
    seen = {}
    real = model.optimize

    def spy(name, loss):
        seen[name] = [p.requires_grad for p in model.nets["D"].parameters()]
        order.append(name)
        real(name, loss)

    order: list[str] = []
    model.optimize = spy
    before = [p.clone() for p in model.nets["D"].parameters()]
    model.training_step(_batch())
    assert order == ["D", "G"]  # D step first, then G (k = 1, sec. 3.2)
    assert all(seen["D"]) and not any(seen["G"])
    assert all(p.requires_grad for p in model.nets["D"].parameters())  # restored after
    assert any(not torch.equal(a, b) for a, b in zip(before, model.nets["D"].parameters()))


def test_variants_mse_content_and_modified_recipe():
    mse = _model(content_weight=0.0, pixel_weight=1.0)  # SRGAN-MSE (sec. 3.4): no VGG needed
    assert mse.vgg is None
    assert set(mse.training_step(_batch())) == {"loss/D", "loss/G_adv", "loss/G_MSE"}
    modified = build_config("srgan", {"model": {**SMALL}}, {"model": {"norm": "none", "loss": "l1",
                                                                       "vgg_layer": "conv5_4", "vgg_rescale": 1.0,
                                                                       "pixel_weight": 0.01, "adv_weight": 0.005}})
    model = get_model_class("srgan")(modified.model)
    assert set(model.training_step(_batch())) == {"loss/D", "loss/G_adv", "loss/G_content", "loss/G_L1"}
    with pytest.raises(ConfigError, match="all 0"):
        build_config("srgan", {"model": {"content_weight": 0, "adv_weight": 0}})


def test_missing_imagenet_vgg_fails_at_construction(tmp_path, monkeypatch):
    """No download: constructing SRGAN (before any step) names the file it needs."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    try:
        cfg = build_config("srgan", {"model": {"n_blocks": 1, "ngf": 4, "ndf": 4}})
        assert cfg.model.vgg_weights == "imagenet"
        with pytest.raises(WeightsNotFoundError):
            get_model_class("srgan")(cfg.model)
        model = get_model_class("srgan")(cfg.model, training=False)  # inference needs no VGG
        assert model.upscale(torch.zeros(3, 5, 6)).shape == (3, 20, 24)
    finally:
        torch.hub.set_dir(old)


def test_upscale_uses_the_generator():
    model = _model(scale=2)
    x = torch.rand(3, 37, 53) * 2 - 1
    assert model.upscale(x).shape == (3, 74, 106)
    assert torch.allclose(model.upscale(x)[None], model.generate(lr=x[None]), atol=1e-6)


def test_train_from_an_srresnet_run_cli(capsys, tmp_path, monkeypatch):
    """SRResNet for 2 steps, then SRGAN initialised from it (train.init_from matches G by name); without the
    ImageNet VGG the SRGAN run stops before its first step with the missing-weights message and leaves no run folder;
    condgen.load of the SRGAN run builds no VGG."""
    from cli_helpers import run_cli
    from test_srresnet import photo_folder

    from condgen.train.checkpoint import load_checkpoint

    data = photo_folder(tmp_path / "photos", n_test=0)
    common = ["--no-progress", "--set", "model.n_blocks=2", "--set", "model.ngf=8", "--set", "data.crop_size=32",
              "--set", "data.batch_size=2", "--set", "train.tensorboard=false"]
    code, _, err = run_cli(capsys, "train", "srresnet", "--data", data, "--out", tmp_path / "pre", "--steps", "2",
                           *common)
    assert code == 0, err
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "empty" / "hub"))
    try:
        code, _, err = run_cli(capsys, "train", "srgan", "--data", data, "--out", tmp_path / "missing", "--steps", "2",
                               *common, "--set", "model.ndf=4")
    finally:
        torch.hub.set_dir(old)
    assert code != 0 and "ImageNet VGG19 weights were not found" in err
    assert not (tmp_path / "missing").exists()  # no half-made run: the same command works once the file is there
    code, out, err = run_cli(capsys, "train", "srgan", "--data", data, "--out", tmp_path / "gan", "--steps", "2",
                             *common, "--set", "model.ndf=4", "--set", "model.vgg_weights=random",
                             "--set", f"train.init_from={tmp_path / 'pre'}")
    assert code == 0, err
    assert "initialised G from" in out + err
    state = load_checkpoint(tmp_path / "gan" / "checkpoints" / "last.pt")
    assert set(state["nets"]) == {"G", "D"} and state["step"] == 2
    model = condgen.load(tmp_path / "gan")
    assert model.vgg is None and model.upscale(torch.zeros(3, 8, 8)).shape == (3, 32, 32)


def test_presets():
    """Quick SRGAN starts from a quick SRResNet run, so their generators must match; the modified recipe is a preset,
    not the default. A VGG tap that does not exist is a config error naming the valid ones."""
    from condgen.cli import resolve_config

    quick = {m: resolve_config(m, None, None, "quick", []).model for m in ("srresnet", "srgan")}
    assert all(getattr(quick["srgan"], k) == getattr(quick["srresnet"], k)
               for k in ("scale", "n_blocks", "ngf", "channels", "norm"))
    paper = resolve_config("srgan", None, None, "paper", []).model
    assert paper == build_config("srgan", {}).model
    modified = resolve_config("srgan", None, None, "modified", []).model
    assert (modified.norm, modified.loss, modified.vgg_layer, modified.vgg_rescale, modified.pixel_weight,
            modified.adv_weight) == ("none", "l1", "conv5_4", 1.0, 0.01, 0.005)
    with pytest.raises(ConfigError, match="relu5_4"):
        build_config("srgan", {"model": {"vgg_layer": "relu5_5"}})
