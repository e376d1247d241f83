"""UNIT: paper defaults, weight sharing as the shared latent space, the VAE/GAN/cycle losses and update order,
deterministic translation of any size both ways, and the CLI."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from cli_helpers import run_cli
from PIL import Image
from torch.nn import functional as F

import condgen
from condgen.errors import ConfigError
from condgen.models import get_model_class
from condgen.models.unit import UNIT
from condgen.runs import build_config

SMALL = {"ngf": 4, "ndf": 4, "n_res_private": 1, "num_scales": 2, "n_layers_D": 3}


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    """Tiny nets run faster on one intra-op thread (no thread sync, none oversubscribed on a busy machine)."""
    old, _ = torch.get_num_threads(), torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _model(**over) -> UNIT:
    """A tiny UNIT with fixed initial weights."""
    torch.manual_seed(0)
    return UNIT(build_config("unit", {"model": {**SMALL, **over}}).model)


def _count(net) -> int:
    return sum(p.numel() for p in net.parameters())


def _images(n=2, size=32, channels=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, channels, size, size, generator=g) * 2 - 1


def test_paper_defaults_and_parameter_counts():
    cfg = build_config("unit", {})
    m = cfg.model
    assert (m.ngf, m.ndf, m.n_res_private, m.n_res_shared, m.head_kernel, m.num_scales, m.n_layers_D,
            m.gan_loss) == (64, 64, 3, 1, 1, 3, 4, "lsgan")
    assert (m.lambda_gan, m.lambda_kl, m.lambda_recon, m.lambda_kl_cycle, m.lambda_cycle) == (10, 0.1, 100, 0.1, 100)
    assert (m.lr, m.beta1, m.beta2, m.weight_decay) == (1e-4, 0.5, 0.999, 1e-4)
    assert (cfg.data.batch_size, cfg.data.preprocess, cfg.data.load_size, cfg.data.crop_size) == (
        1, "scale_width_and_crop", 256, 256)
    assert (cfg.train.lr_schedule, cfg.train.lr_step_size, cfg.train.lr_gamma) == ("step", 100_000, 0.5)
    assert get_model_class("unit") is UNIT
    model = UNIT(m)
    G, D = model.nets["G"], model.nets["D"]
    # per domain: private encoder 3.92 M + shared 1.18 M, shared 1.18 M + private generator 3.91 M
    assert (_count(G.enc["A"]), _count(G.enc_shared), _count(G.gen_shared), _count(G.gen["A"])) == (
        3_918_976, 1_180_160, 1_180_160, 3_909_507)
    assert (_count(G), _count(D)) == (18_017_286, 16_542_342)
    assert set(model.optimizers) == {"G", "D"}
    assert model.optimizers["G"].param_groups[0]["weight_decay"] == 1e-4


def test_weight_sharing_is_the_same_modules_and_both_domains_train_them():
    """The last encoder block and the first generator block are one set of parameters for both domains, held
    once in G (one DDP wrapper sees each exactly once); losses of either domain reach them."""
    G = _model().nets["G"]
    ea, eb, ga, gb = G.encoder("A"), G.encoder("B"), G.generator("A"), G.generator("B")
    assert ea[-1] is eb[-1] and ga[0] is gb[0]
    assert all(p is q for p, q in zip(ea[-1].parameters(), eb[-1].parameters(), strict=True))
    assert all(p is q for p, q in zip(ga[0].parameters(), gb[0].parameters(), strict=True))
    assert not {id(p) for p in ea[0].parameters()} & {id(p) for p in eb[0].parameters()}
    params = list(G.parameters())
    assert len(params) == len({id(p) for p in params}) == len(G.state_dict())
    assert _count(G) == sum(_count(m) for m in (G.enc["A"], G.enc["B"], G.enc_shared, G.gen_shared,
                                                 G.gen["A"], G.gen["B"]))

    x = _images(1)
    for domain in ("A", "B"):
        G.zero_grad(set_to_none=True)
        G.decode(G.encode(x, domain), domain).square().mean().backward()
        other = "B" if domain == "A" else "A"
        for shared in (G.enc_shared, G.gen_shared):
            assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in shared.parameters())
        assert all(p.grad is None for p in G.enc[other].parameters())
        assert all(p.grad is None for p in G.gen[other].parameters())


def test_shapes_and_channels_per_domain():
    model = _model(in_channels=1, out_channels=3)
    G, D = model.nets["G"], model.nets["D"]
    a, b = _images(2, 32, 1), _images(2, 32, 3, seed=1)
    out = G(a, b)
    assert out["mu_a"].shape == out["mu_ab"].shape == (2, 16, 8, 8)  # 4 * ngf channels at 1/4 size
    for k, c in {"x_aa": 1, "x_ba": 1, "x_aba": 1, "x_bb": 3, "x_ab": 3, "x_bab": 3}.items():
        assert out[k].shape == (2, c, 32, 32), k
        assert out[k].abs().max() <= 1
    logits_a, logits_b = D(out["x_ba"], out["x_ab"])
    assert [t.shape for t in logits_a] == [(2, 1, 4, 4), (2, 1, 2, 2)]  # 2 scales x 3 stride-2 layers
    assert len(logits_b) == 2



def test_losses_match_the_paper():
    """Recomputed by hand from the same weights and noise: D step (lambda_0 * LSGAN of real vs the detached
    cross-domain translations, over every scale of both Ds), then E/G step on lambda_0 GAN + lambda_2 recon +
    (lambda_1 + lambda_3) KL + lambda_3 KL of re-encoded translations + lambda_4 cycle, z = mu + N(0, I)."""
    a, b = _images(2, 32, 3, seed=0), _images(2, 32, 3, seed=1)
    manual = _model()
    G, D = manual.nets["G"], manual.nets["D"]
    torch.manual_seed(1)
    mu_a, mu_b = G.encode(a, "A"), G.encode(b, "B")
    z_a = mu_a + torch.randn_like(mu_a)
    z_b = mu_b + torch.randn_like(mu_b)
    x_aa, x_ab, x_bb, x_ba = G.decode(z_a, "A"), G.decode(z_a, "B"), G.decode(z_b, "B"), G.decode(z_b, "A")
    mu_ab, mu_ba = G.encode(x_ab, "B"), G.encode(x_ba, "A")
    x_aba = G.decode(mu_ab + torch.randn_like(mu_ab), "A")
    x_bab = G.decode(mu_ba + torch.randn_like(mu_ba), "B")

    def lsgan_d(disc, real, fake):
        return sum(((r - 1) ** 2).mean() + (f ** 2).mean() for r, f in zip(disc(real), disc(fake)))

    loss_d = lsgan_d(D.disc["A"], a, x_ba.detach()) + lsgan_d(D.disc["B"], b, x_ab.detach())
    manual.optimize("D", 10 * loss_d)  # G's GAN term sees the updated D
    with torch.no_grad():
        gan = sum(((p - 1) ** 2).mean() for p in D.disc["A"](x_ba) + D.disc["B"](x_ab))
    recon = F.l1_loss(x_aa, a) + F.l1_loss(x_bb, b)
    cycle = F.l1_loss(x_aba, a) + F.l1_loss(x_bab, b)
    kl = 0.5 * (mu_a ** 2).mean() + 0.5 * (mu_b ** 2).mean()
    kl_cycle = 0.5 * (mu_ab ** 2).mean() + 0.5 * (mu_ba ** 2).mean()
    total_g = 10 * gan + 100 * recon + (0.1 + 0.1) * kl + 0.1 * kl_cycle + 100 * cycle

    model = _model()
    stepped: dict[str, torch.Tensor] = {}
    real_optimize = model.optimize

    def record(name, loss):
        stepped[name] = loss.detach()
        real_optimize(name, loss)

    model.optimize = record
    torch.manual_seed(1)
    out = model.training_step({"A": a, "B": b})
    assert set(out) == {"loss/D", "loss/G_gan", "loss/recon", "loss/kl", "loss/cycle", "loss/kl_cycle"}
    expect = {"loss/D": loss_d, "loss/G_gan": gan, "loss/recon": recon, "loss/kl": kl, "loss/cycle": cycle,
              "loss/kl_cycle": kl_cycle}
    for k, v in expect.items():
        assert torch.allclose(out[k], v.detach(), rtol=1e-5, atol=1e-6), k
    assert torch.allclose(stepped["D"], 10 * loss_d.detach(), rtol=1e-5)
    assert torch.allclose(stepped["G"], total_g.detach(), rtol=1e-5)
    assert list(stepped) == ["D", "G"]


def test_a_step_updates_G_and_D_and_D_gets_no_gradient_in_the_G_step():
    model = _model()
    G, D = model.nets["G"], model.nets["D"]
    before = {k: [p.detach().clone() for p in n.parameters()] for k, n in model.nets.items()}
    real_optimize = model.optimize
    seen = {}

    def check(name, loss):
        if name == "G":
            seen["frozen"] = not any(p.requires_grad for p in D.parameters())
            seen["d_grads"] = [p.grad.clone() for p in D.parameters()]  # left over from the D step
        real_optimize(name, loss)
        if name == "G":
            seen["d_grads_after"] = [p.grad for p in D.parameters()]

    model.optimize = check
    model.training_step({"A": _images(1), "B": _images(1, seed=1)})
    assert seen["frozen"] and all(p.requires_grad for p in D.parameters())
    assert all(torch.equal(g0, g1) for g0, g1 in zip(seen["d_grads"], seen["d_grads_after"], strict=True))
    for k, net in (("G", G), ("D", D)):
        assert all(not torch.equal(p0, p) for p0, p in zip(before[k], net.parameters())), k


@pytest.mark.parametrize("size", [(32, 32), (37, 53)])
def test_translate_any_size_both_directions_deterministically(size):
    model = _model(in_channels=1, out_channels=3)
    model.train_mode(True)  # test-time z = mu even while the nets are in train mode
    grey = torch.rand(1, *size) * 2 - 1
    ab = model.translate(grey, direction="AtoB")
    assert ab.shape == (3, *size) and torch.equal(ab, model.translate(grey, direction="AtoB"))
    ba = model.translate(ab, direction="BtoA")
    assert ba.shape == (1, *size) and torch.equal(ba, model.translate(ab, direction="BtoA"))
    img = Image.new("L", (size[1], size[0]), 90)
    out = model.translate(img, direction="AtoB")
    assert isinstance(out, Image.Image) and out.size == img.size
    # translate = the other domain's generator on the mean code
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    assert torch.allclose(model.generate(A=x, direction="BtoA"), model.decode(model.encode(x, "B"), "A"))
    with pytest.raises(ConfigError, match="Did you mean BtoA"):
        model.translate(grey, direction="btoa")
    with pytest.raises(ConfigError, match="domain must be 'A' or 'B'"):
        model.encode(x, "C")


def _unpaired_folder(root, n=3, size=32):
    rng = np.random.default_rng(0)
    for dom in ("A", "B"):
        d = root / f"train{dom}"
        d.mkdir(parents=True)
        for i in range(n):
            arr = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
            Image.fromarray(arr // 2 + (100 if dom == "B" else 0)).save(d / f"{i}.png")
    return root


def test_train_translate_cli(capsys, tmp_path):
    data = _unpaired_folder(tmp_path / "data")
    run = tmp_path / "run"
    sets = [f"model.{k}={v}" for k, v in SMALL.items()] + [
        "data.load_size=36", "data.crop_size=32", "data.num_workers=0", "train.tensorboard=false"]
    code, out, err = run_cli(capsys, "train", "unit", "--data", data, "--out", run, "--steps", "3", "--no-progress",
                             *[x for s in sets for x in ("--set", s)])
    assert code == 0, err
    assert (run / "samples" / "step_000003.png").is_file()
    assert '"loss/kl_cycle"' in (run / "metrics.jsonl").read_text()
    src = tmp_path / "inputs"
    src.mkdir()
    Image.new("RGB", (45, 31), (200, 40, 90)).save(src / "x.png")
    outputs = {}
    for d in ("BtoA", "AtoB"):
        code, _, err = run_cli(capsys, "translate", run, src, "--out", tmp_path / d, "--direction", d)
        assert code == 0, err
        outputs[d] = np.asarray(Image.open(tmp_path / d / "x.png"))
    assert outputs["BtoA"].shape == (31, 45, 3) and not np.array_equal(outputs["BtoA"], outputs["AtoB"])
    # the CLI's result is the library's deterministic translation (z = mu)
    want = condgen.load(run).translate(Image.open(src / "x.png"), direction="BtoA")
    assert np.array_equal(outputs["BtoA"], np.asarray(want))
