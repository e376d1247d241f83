"""CycleGAN: the paper's losses and update order, the image pool, exact resume, translate both ways, the CLI,
and importing the reference's CycleGAN checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from cli_helpers import run_cli
from PIL import Image
from test_import_weights import RefNLayer, RefResnet, randomized
from torch.nn import functional as F

from condgen import losses
from condgen.errors import ConfigError
from condgen.models import get_model_class
from condgen.models.cyclegan import ImagePool
from condgen.runs import build_config

SMALL = {"netG": "resnet_6blocks", "ngf": 4, "ndf": 4}
pytestmark = pytest.mark.usefixtures("one_thread")


def _model(**over):
    cfg = build_config("cyclegan", {"model": {**SMALL, **over}})
    torch.manual_seed(0)
    return get_model_class("cyclegan")(cfg.model)


def _count(net):
    return sum(p.numel() for p in net.parameters())


def test_paper_defaults_and_parameter_counts():
    cfg = build_config("cyclegan", {})
    m = cfg.model
    assert (m.netG, m.norm, m.gan_loss, m.lambda_A, m.lambda_B, m.lambda_identity, m.pool_size, m.lr, m.beta1,
            m.beta2) == ("resnet_9blocks", "instance", "lsgan", 10.0, 10.0, 0.5, 50, 2e-4, 0.5, 0.999)
    assert (cfg.data.batch_size, cfg.data.load_size, cfg.data.crop_size, cfg.data.flip) == (1, 286, 256, True)
    assert (cfg.train.epochs, cfg.train.lr_schedule, cfg.train.lr_decay_start) == (200, "linear", 0.5)
    model = get_model_class("cyclegan")(m)
    # the reference implementation's counts: 11.378 M per ResNet-9 generator, 2.765 M per 3-channel PatchGAN
    assert {k: _count(n) for k, n in model.nets.items()} == {
        "G_A": 11_378_179, "G_B": 11_378_179, "D_A": 2_764_737, "D_B": 2_764_737}
    assert set(model.optimizers) == {"G", "D"}


def test_losses_and_update_order_match_the_paper():
    """G step first (GAN + lambda * cycle + 0.5 lambda * identity, all on the same nets), then D step on the
    fakes from that forward pass (pool not yet full: the current fakes), with each D's loss halved."""
    model = _model()
    a, b = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    n = model.nets
    with torch.no_grad():
        fake_b, fake_a = n["G_A"](a), n["G_B"](b)
        g = (losses.g_loss("lsgan", n["D_A"](fake_b)) + losses.g_loss("lsgan", n["D_B"](fake_a))
             + 10 * F.l1_loss(n["G_B"](fake_b), a) + 10 * F.l1_loss(n["G_A"](fake_a), b)
             + 5 * F.l1_loss(n["G_A"](b), b) + 5 * F.l1_loss(n["G_B"](a), a))
        # D sees the *updated* Ds' inputs but its own pre-step weights (G's optimizer never touches D)
        d_a = 0.5 * losses.d_loss("lsgan", n["D_A"](b), n["D_A"](fake_b))
        d_b = 0.5 * losses.d_loss("lsgan", n["D_B"](a), n["D_B"](fake_a))
    before = {k: [p.clone() for p in net.parameters()] for k, net in n.items()}
    out = model.training_step({"A": a, "B": b})
    total_g = out["loss/G_A"] + out["loss/G_B"] + out["loss/cycle_A"] + out["loss/cycle_B"] + out["loss/idt_A"] + \
        out["loss/idt_B"]
    assert torch.allclose(total_g, g, atol=1e-5)
    assert torch.allclose(out["loss/D_A"], d_a, atol=1e-5) and torch.allclose(out["loss/D_B"], d_b, atol=1e-5)
    for k, net in n.items():  # every network was updated
        assert any(not torch.equal(p, q) for p, q in zip(before[k], net.parameters())), k


def test_without_identity_loss():
    model = _model(lambda_identity=0.0)
    out = model.training_step({"A": torch.rand(1, 3, 32, 32), "B": torch.rand(1, 3, 32, 32)})
    assert "loss/idt_A" not in out and "loss/cycle_A" in out


def test_discriminator_norm_follows_norm_unless_set():
    """norm_D "same" is the paper code's (D and G share --norm); otherwise D gets its own norm and G keeps its."""
    norms = lambda net: {type(m).__name__ for m in net.modules() if "Norm" in type(m).__name__}  # noqa: E731
    same = _model(norm="batch")
    assert norms(same.nets["D_A"]) == norms(same.nets["G_A"]) == {"BatchNorm2d"}
    free = _model(norm="batch", norm_D="none")
    assert norms(free.nets["D_A"]) == norms(free.nets["D_B"]) == set()
    assert norms(free.nets["G_A"]) == norms(free.nets["G_B"]) == {"BatchNorm2d"}
    assert norms(_model(norm_D="batch").nets["D_B"]) == {"BatchNorm2d"}
    assert norms(_model().nets["D_B"]) == {"InstanceNorm2d"}  # the paper's default


def test_batch_norm_statistics_come_from_translating_real_images():
    """With norm: batch each generator runs three times a step (translation of real images, the cycle's
    reconstruction of fakes, the identity loss on the other domain); only the first may set the running statistics
    used at test time, so after a step they equal one pass of the pre-step generator on its own real batch. The
    losses are unchanged: every pass still normalises with its own batch."""
    import copy

    model = _model(norm="batch", norm_D="none")
    a, b = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 0.6 - 0.1  # two colour distributions
    expect = {"G_A": copy.deepcopy(model.nets["G_A"]), "G_B": copy.deepcopy(model.nets["G_B"])}
    with torch.no_grad():
        expect["G_A"](a), expect["G_B"](b)
    model.training_step({"A": a, "B": b})
    for name, ref in expect.items():
        got = dict(model.nets[name].named_buffers())
        for key, want in ref.named_buffers():
            assert torch.allclose(got[key].float(), want.float(), atol=1e-6), (name, key)
    # the check can fail: one more pass, on the other domain, moves the statistics
    first_mean = lambda net: next(v for k, v in net.named_buffers() if k.endswith("running_mean"))  # noqa: E731
    before = first_mean(expect["G_A"]).clone()
    with torch.no_grad():
        expect["G_A"](b)
    assert not torch.allclose(first_mean(expect["G_A"]), before, atol=1e-4)


def test_ema_generators_gather_their_own_batch_norm_statistics():
    """With an EMA and norm: batch, the EMA generators' running statistics come from their own pass over the real
    batch (the live ones belong to other weights; the trainer does not copy them over: ema_copies_norm_stats)."""
    import copy

    model = _model(norm="batch", norm_D="none")
    for name in model.ema_nets:
        model.ema[name] = copy.deepcopy(model.nets[name]).eval().requires_grad_(False)  # as the trainer keeps it
    with torch.no_grad():  # EMA weights that differ from the live ones
        for p in model.ema["G_B"].parameters():
            p.mul_(0.5)
    a, b = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 0.6 - 0.1
    expect = copy.deepcopy(model.ema["G_B"]).train()
    with torch.no_grad():
        expect(b)
    model.training_step({"A": a, "B": b})
    got = dict(model.ema["G_B"].named_buffers())
    for key, want in expect.named_buffers():
        assert torch.allclose(got[key].float(), want.float(), atol=1e-6), key
    assert not model.ema["G_B"].training and not type(model).ema_copies_norm_stats
    live = dict(model.nets["G_B"].named_buffers())
    assert any(not torch.allclose(live[k].float(), v.float()) for k, v in got.items() if k.endswith("running_mean"))


def test_identity_loss_needs_equal_channels():
    with pytest.raises(ConfigError, match="lambda_identity=0"):
        build_config("cyclegan", {"model": {"in_channels": 1}})
    cfg = build_config("cyclegan", {"model": {**SMALL, "in_channels": 1, "lambda_identity": 0}})
    model = get_model_class("cyclegan")(cfg.model)
    model.training_step({"A": torch.rand(1, 1, 32, 32), "B": torch.rand(1, 3, 32, 32)})
    assert model.translate(torch.zeros(1, 24, 24)).shape == (3, 24, 24)
    assert model.translate(torch.zeros(3, 24, 24), direction="BtoA").shape == (1, 24, 24)


def test_image_pool():
    torch.manual_seed(0)
    pool = ImagePool(4)
    first = torch.arange(4.0).view(4, 1, 1, 1)
    assert torch.equal(pool.query(first), first)  # filling: passed through
    new = -1.0 - torch.arange(200.0).view(200, 1, 1, 1)
    out = pool.query(new)
    from_pool = (out != new).flatten()
    assert 0.35 < from_pool.float().mean() < 0.65  # half the time an older fake is shown instead
    assert (out[from_pool].flatten()[:, None] < new.flatten()[from_pool][:, None] - 0).sum() == 0  # from the past
    shown = set(out.flatten().tolist())
    assert {0.0, 1.0, 2.0, 3.0} & shown and len(shown) == 200  # each fake is shown at most once
    assert len(pool.images) == 4
    state = pool.state()
    other = ImagePool(4)
    other.load(state, torch.device("cpu"), torch.contiguous_format)
    assert all(torch.equal(x, y) for x, y in zip(pool.images, other.images))
    assert torch.equal(ImagePool(0).query(new), new)


@pytest.mark.parametrize("size", [(32, 32), (37, 53)])
def test_translate_any_size_both_directions(size):
    model = _model()
    model.train_mode(False)
    img = Image.new("RGB", (size[1], size[0]), (10, 200, 30))
    for d in ("AtoB", "BtoA"):
        out = model.translate(img, direction=d)
        assert isinstance(out, Image.Image) and out.size == img.size
    x = torch.rand(3, *size) * 2 - 1
    assert not torch.equal(model.translate(x, direction="AtoB"), model.translate(x, direction="BtoA"))
    with pytest.raises(ConfigError, match="Did you mean BtoA"):
        model.translate(x, direction="btoa")
    with pytest.raises(ConfigError, match="munit only"):
        model.translate(x, num_styles=3)


def _unpaired_folder(root, n_a=5, n_b=3, size=32):
    rng = np.random.default_rng(0)
    for dom, n in (("A", n_a), ("B", n_b)):
        for split in ("train", "test"):
            d = root / f"{split}{dom}"
            d.mkdir(parents=True)
            for i in range(n):
                arr = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
                if dom == "B":
                    arr = arr // 2 + 100  # a different "domain": low contrast, bright
                Image.fromarray(arr).save(d / f"{i}.png")
    return root


def _tiny_cfg(data, **train):
    return build_config("cyclegan", {
        "model": {**SMALL, "pool_size": 4}, "seed": 3,
        "data": {"path": str(data), "batch_size": 2, "load_size": 36, "crop_size": 32, "num_workers": 0},
        "train": {"precision": "fp32", "progress": False, "tensorboard": False, "sample_every": 1000,
                  "checkpoint_every": 1000, "val_every": 0, "lr_schedule": "constant", **train}})


def test_resume_is_bit_exact_with_the_image_pool(tmp_path):
    """The pool's past fakes and the random swaps are state: a run stopped at step 3 and resumed to 6 matches
    an uninterrupted 6-step run exactly (a pool of 4 < the 12 fakes, so swaps happen)."""
    from condgen.train.trainer import Trainer

    data = _unpaired_folder(tmp_path / "data")
    full = Trainer(_tiny_cfg(data, steps=6), tmp_path / "full").fit()
    part = tmp_path / "part"
    Trainer(_tiny_cfg(data, steps=3), part).fit()
    resumed = Trainer(_tiny_cfg(data, steps=6), part, resume=True)
    assert len(resumed.model.pools["A"].images) == 4  # full after 3 steps x batch 2: restored
    resumed.fit()
    a = torch.load(full.run_dir / "checkpoints" / "last.pt", weights_only=True)
    b = torch.load(part / "checkpoints" / "last.pt", weights_only=True)
    for name in a["nets"]:
        for k in a["nets"][name]:
            assert torch.equal(a["nets"][name][k], b["nets"][name][k]), (name, k)
    assert torch.equal(a["model_state"][0]["pool_B"], b["model_state"][0]["pool_B"])


def test_train_translate_cli(capsys, tmp_path):
    data = _unpaired_folder(tmp_path / "data")
    run = tmp_path / "run"
    code, out, err = run_cli(capsys, "train", "cyclegan", "--data", data, "--out", run, "--steps", "2",
                             "--no-progress", "--set", "model.netG=resnet_6blocks", "--set", "model.ngf=4",
                             "--set", "model.ndf=4", "--set", "data.load_size=36", "--set", "data.crop_size=32",
                             "--set", "train.tensorboard=false")
    assert code == 0, err
    grid = Image.open(run / "samples" / "step_000002.png")
    # 5 training pairs as rows of A | A->B | B | B->A, under a 14 px band of column titles
    assert grid.size == (4 * 34 + 2, 5 * 34 + 2 + 14)
    Image.new("RGB", (45, 31), "white").save(tmp_path / "in.png")
    for d in ("AtoB", "BtoA"):
        code, out, err = run_cli(capsys, "translate", run, tmp_path / "in.png", "--out", tmp_path / d,
                                 "--direction", d)
        assert code == 0, err
        assert Image.open(tmp_path / d / "in.png").size == (45, 31)
    code, _, err = run_cli(capsys, "translate", run, tmp_path / "in.png", "--out", tmp_path / "x",
                           "--direction", "A2B")
    assert code != 0 and "Did you mean AtoB" in err
    code, _, err = run_cli(capsys, "translate", run, tmp_path / "in.png", "--out", tmp_path / "x",
                           "--style-image", tmp_path / "in.png")
    assert code != 0 and "--style-image needs a model with style codes" in err and "cyclegan has none" in err


def test_direction_flag_on_a_one_way_model(capsys, tmp_path):
    from condgen.importers.to_run import import_pix2pix

    torch.save(randomized(RefResnet(3, 3, ngf=4, n_blocks=6)).state_dict(), tmp_path / "g.pth")
    import_pix2pix(tmp_path / "g.pth", tmp_path / "run")
    Image.new("RGB", (32, 32)).save(tmp_path / "in.png")
    code, _, err = run_cli(capsys, "translate", tmp_path / "run", tmp_path / "in.png", "--out", tmp_path / "o",
                           "--direction", "BtoA")
    assert code != 0 and "translates one way only" in err


def test_import_reference_cyclegan_both_directions(capsys, tmp_path):
    """latest_net_G_A/G_B.pth under the reference's key names -> a cyclegan run whose two directions compute
    exactly what the saved generators compute (RefResnet: the reference layout, see test_import_weights)."""
    g_a, g_b = randomized(RefResnet(3, 3, ngf=4, n_blocks=9), 1), randomized(RefResnet(3, 3, ngf=4, n_blocks=9), 2)
    sd_a = g_a.state_dict()
    sd_a["model.2.running_mean"] = torch.zeros(4)  # a stale pre-0.4 InstanceNorm buffer, as old files hold
    torch.save(sd_a, tmp_path / "latest_net_G_A.pth")
    torch.save(g_b.state_dict(), tmp_path / "latest_net_G_B.pth")
    torch.save(randomized(RefNLayer(3, 4, 3, norm="instance"), 3).state_dict(), tmp_path / "latest_net_D_A.pth")
    run = tmp_path / "run"
    code, out, err = run_cli(capsys, "import-weights", tmp_path / "latest_net_G_A.pth", "--netG-B",
                             tmp_path / "latest_net_G_B.pth", "--netD", tmp_path / "latest_net_D_A.pth", "--out", run)
    assert code == 0, err
    assert "cyclegan resnet_9blocks" in out
    import condgen

    model = condgen.load(run)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(model.translate(x, direction="AtoB"), g_a(x), rtol=0, atol=1e-5)
        torch.testing.assert_close(model.translate(x, direction="BtoA"), g_b(x), rtol=0, atol=1e-5)
    torch.save(randomized(RefResnet(3, 3, ngf=4, n_blocks=6)).state_dict(), tmp_path / "g6.pth")
    code, _, err = run_cli(capsys, "import-weights", tmp_path / "latest_net_G_A.pth", "--netG-B",
                           tmp_path / "g6.pth", "--out", tmp_path / "bad")
    assert code != 0 and "not the two generators of one CycleGAN" in err
