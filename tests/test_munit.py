"""MUNIT: the paper's networks, AdaIN, losses and update order, multimodal translation at any size, the CLI."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from cli_helpers import run_cli
from PIL import Image
from torch.nn import functional as F

from condgen import losses
from condgen.errors import ConfigError, ModelError
from condgen.models import get_model_class
from condgen.nn.multiscale import TwoDomainDiscriminators
from condgen.nn.munit import ContentEncoder, Decoder, MUNITGenerators, StyleEncoder
from condgen.nn.norms import AdaIN, LayerNorm2d
from condgen.runs import build_config

# tiny nets: 2 downsamplings as in the paper, one residual block, one 2-layer discriminator scale
SMALL = {"ngf": 4, "ndf": 4, "mlp_dim": 16, "n_res": 1, "num_scales": 1, "n_layers_D": 2}


def _model(**over):
    cfg = build_config("munit", {"model": {**SMALL, **over}})
    torch.manual_seed(0)
    return get_model_class("munit")(cfg.model)


def _images(n=2, c=3, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, c, size, size, generator=g) * 2 - 1


def _nparams(m):
    return sum(p.numel() for p in m.parameters())


def test_paper_defaults():
    cfg = build_config("munit", {})
    m = cfg.model
    assert (m.ngf, m.ndf, m.style_dim, m.n_res, m.n_downsample, m.mlp_dim) == (64, 64, 8, 4, 2, 256)
    assert (m.num_scales, m.n_layers_D, m.gan_loss) == (3, 4, "lsgan")
    assert (m.lambda_gan, m.lambda_x, m.lambda_c, m.lambda_s, m.lambda_cyc) == (1.0, 10.0, 1.0, 1.0, 0.0)
    assert (m.lr, m.beta1, m.beta2, m.weight_decay) == (1e-4, 0.5, 0.999, 1e-4)
    d, t = cfg.data, cfg.train
    assert (d.batch_size, d.preprocess, d.load_size, d.crop_size, d.flip) == (1, "scale_width_and_crop", 256, 256,
                                                                             True)
    assert (t.steps, t.lr_schedule, t.lr_step_size, t.lr_gamma) == (1_000_000, "step", 100_000, 0.5)
    with pytest.raises(ConfigError, match="no loss"):
        build_config("munit", {"model": {"lambda_gan": 0, "lambda_x": 0, "lambda_c": 0, "lambda_s": 0}})


def test_optimizers_and_inits_follow_the_released_code():
    model = _model()
    for name in ("G", "D"):
        group = model.optimizers[name].param_groups[0]
        assert (group["lr"], group["betas"], group["weight_decay"]) == (1e-4, (0.5, 0.999), 1e-4)
    d_convs = [m.weight for m in model.nets["D"].modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(abs(w.std().item() - 0.02) < 0.01 for w in d_convs if w.numel() > 200)  # N(0, 0.02)
    g_stem = model.nets["G"]["A"].content.stem.conv.weight  # kaiming fan-in: std sqrt(2 / fan_in)
    assert abs(g_stem.std().item() - (2 / g_stem[0].numel()) ** 0.5) < 0.3 * (2 / g_stem[0].numel()) ** 0.5


def test_paper_shapes_and_parameter_counts():
    x = _images(2, 3, 32)
    enc = ContentEncoder(3, ngf=64)
    assert enc(x).shape == (2, 256, 8, 8)  # 1/4 size, 256 channels
    assert StyleEncoder(3, ngf=64).forward(x).shape == (2, 8)
    chans = [m.out_channels for m in StyleEncoder(3, ngf=64).modules() if isinstance(m, torch.nn.Conv2d)]
    assert chans == [64, 128, 256, 256, 256, 8]
    assert not any(isinstance(m, (torch.nn.InstanceNorm2d, torch.nn.GroupNorm)) for m in StyleEncoder(3).modules())
    assert Decoder(3, 256).num_params == 4 * 2 * 2 * 256  # (gamma, beta) x 2 norms x 4 blocks x 256 channels
    G, D = MUNITGenerators(3, 3), TwoDomainDiscriminators(3, 3)
    assert (_nparams(G), _nparams(D)) == (30_052_374, 16_542_342)
    mlp = [m for m in G["A"].mlp.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in mlp] == [(8, 256), (256, 256), (256, 4096)]
    assert [t.shape[-1] for t in D(_images(1, 3, 64), _images(1, 3, 64))[0]] == [4, 2, 1]  # 3 scales


def test_adain_normalises_each_instance_then_applies_gamma_beta():
    x = torch.randn(2, 3, 5, 7) * 4 + 2
    gamma, beta = torch.randn(2, 3), torch.randn(2, 3)
    mean = x.mean(dim=(2, 3), keepdim=True)
    var = ((x - mean) ** 2).mean(dim=(2, 3), keepdim=True)
    expect = (x - mean) / torch.sqrt(var + 1e-5) * gamma[:, :, None, None] + beta[:, :, None, None]
    assert torch.allclose(AdaIN(3)(x, gamma, beta), expect, atol=1e-5)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # statistics stay float32
        assert AdaIN(3)(x.bfloat16(), gamma, beta).dtype == torch.float32


def test_decoder_adain_takes_beta_gamma_from_the_style_mlp():
    G = _model().nets["G"]["B"]
    content, style = torch.randn(1, 16, 4, 4), torch.randn(1, 8)
    seen = {}
    G.decoder.blocks[0].norm1.register_forward_hook(lambda m, args, out: seen.update(args=args))
    G.decode(content, style)
    params = G.mlp(style)
    _, gamma, beta = seen["args"]
    # the release's layout: each norm's slice is its shift (beta), then its scale (gamma)
    assert torch.equal(beta, params[:, :16]) and torch.equal(gamma, params[:, 16:32])


def test_layer_norm_normalises_over_channels_and_space():
    x = torch.randn(2, 3, 4, 5)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    for kind in ("munit", "group"):
        ln = LayerNorm2d(3, kind=kind)
        torch.nn.init.normal_(ln.weight)
        torch.nn.init.normal_(ln.bias)
        if kind == "munit":  # the release's: unbiased std, eps added to it
            normed = (x - mean) / (x.std(dim=(1, 2, 3), keepdim=True) + 1e-5)
        else:  # GroupNorm(1): biased variance, eps under the root
            normed = (x - mean) / torch.sqrt(x.var(dim=(1, 2, 3), keepdim=True, unbiased=False) + 1e-5)
        expect = normed * ln.weight[:, None, None] + ln.bias[:, None, None]
        assert torch.allclose(ln(x), expect, atol=1e-5)


def test_decoder_output_depends_on_style_and_content():
    gen = _model().nets["G"]["B"]
    c1, c2 = gen.content(_images(1, 3, 16, seed=1)), gen.content(_images(1, 3, 16, seed=2))
    s1, s2 = torch.randn(1, 8), torch.randn(1, 8)
    base = gen.decode(c1, s1)
    assert base.shape == (1, 3, 16, 16)
    assert (gen.decode(c1, s2) - base).abs().mean() > 1e-3
    assert (gen.decode(c2, s1) - base).abs().mean() > 1e-3


def test_training_step_updates_both_and_freezes_d_in_g_step():
    model = _model(lambda_cyc=10.0)
    before = {k: [p.detach().clone() for p in n.parameters()] for k, n in model.nets.items()}
    D = model.nets["D"]
    real_optimize = model.optimize
    seen = {}

    def optimize(name, loss):
        if name == "G":
            seen["d_requires_grad"] = any(p.requires_grad for p in D.parameters())
            grads = [None if p.grad is None else p.grad.clone() for p in D.parameters()]
            real_optimize(name, loss)
            seen["d_grads_unchanged"] = all((g is None and p.grad is None) or torch.equal(g, p.grad)
                                            for g, p in zip(grads, D.parameters()))
        else:
            real_optimize(name, loss)
        seen.setdefault("order", []).append(name)

    model.optimize = optimize
    out = model.training_step({"A": _images(2, seed=1), "B": _images(2, seed=2)})
    assert seen == {"order": ["D", "G"], "d_requires_grad": False, "d_grads_unchanged": True}
    assert set(out) == {"loss/D", "loss/G", "loss/G_gan", "loss/recon_x", "loss/recon_c", "loss/recon_s",
                        "loss/cycle"}
    assert all(torch.isfinite(v) and v.dim() == 0 and not v.requires_grad for v in out.values())
    for k, net in model.nets.items():
        assert any(not torch.equal(a, p) for a, p in zip(before[k], net.parameters())), f"{k} did not change"
    assert all(p.requires_grad for p in D.parameters())  # unfrozen after the step


@pytest.mark.parametrize("weights", [{}, {"lambda_x": 0.0, "lambda_c": 0.5, "lambda_s": 2.0, "lambda_gan": 0.7,
                                          "lambda_cyc": 3.0}])
def test_losses_match_the_paper(weights):
    """D: LSGAN on real vs translated for both domains, with its own prior styles. G: the lambda-weighted sum of
    eq. 5's terms, recomputed here by hand from the same weights and G's prior styles (drawn after D's)."""
    model = _model(**weights)
    cfg = model.cfg
    a, b = _images(2, seed=3), _images(2, seed=4)
    state = {k: {n: t.clone() for n, t in net.state_dict().items()} for k, net in model.nets.items()}
    G, D = model.nets["G"], model.nets["D"]
    torch.manual_seed(1)
    # as the released trainer, each step draws its own prior styles: D's (A's, for B -> A, first), then G's
    d_a, d_b = torch.randn(2, 8), torch.randn(2, 8)
    s_a, s_b = torch.randn(2, 8), torch.randn(2, 8)
    ga, gb = G["A"], G["B"]
    c_a, sa_enc = ga.encode(a)
    c_b, sb_enc = gb.encode(b)
    ab, ba = gb.decode(c_a, s_b), ga.decode(c_b, s_a)
    (c_ab, s_ab), (c_ba, s_ba) = gb.encode(ab), ga.encode(ba)
    expect = {
        "recon_x": F.l1_loss(ga.decode(c_a, sa_enc), a) + F.l1_loss(gb.decode(c_b, sb_enc), b),
        "recon_c": F.l1_loss(c_ab, c_a) + F.l1_loss(c_ba, c_b),
        "recon_s": F.l1_loss(s_ba, s_a) + F.l1_loss(s_ab, s_b),
    }
    if cfg.lambda_cyc:
        expect["cycle"] = F.l1_loss(ga.decode(c_ab, sa_enc), a) + F.l1_loss(gb.decode(c_ba, sb_enc), b)
    (ra, rb), (fa, fb) = D(a, b), D(ga.decode(c_b, d_a), gb.decode(c_a, d_b))
    expect_d = cfg.lambda_gan * (losses.d_loss("lsgan", ra, fa) + losses.d_loss("lsgan", rb, fb))
    for k, net in model.nets.items():
        net.load_state_dict(state[k])
    torch.manual_seed(1)
    out = model.training_step({"A": a, "B": b})
    assert torch.allclose(out["loss/D"], expect_d.detach(), atol=1e-5)
    for k, v in expect.items():
        assert torch.allclose(out[f"loss/{k}"], v.detach(), atol=1e-5), k
    total = (cfg.lambda_gan * out["loss/G_gan"] + cfg.lambda_x * out["loss/recon_x"]
             + cfg.lambda_c * out["loss/recon_c"] + cfg.lambda_s * out["loss/recon_s"]
             + cfg.lambda_cyc * out.get("loss/cycle", 0.0))
    assert torch.allclose(out["loss/G"], total, atol=1e-5)
    assert ("loss/cycle" in out) == bool(cfg.lambda_cyc)


def test_training_step_under_bf16_autocast_is_finite():
    model = _model()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model.training_step({"A": _images(1, seed=1), "B": _images(1, seed=2)})
    assert all(torch.isfinite(v) for v in out.values())


@pytest.mark.parametrize("direction", ["AtoB", "BtoA"])
def test_translate_any_size_both_directions(direction):
    model = _model(in_channels=1, out_channels=3)
    src_c, dst_c = (1, 3) if direction == "AtoB" else (3, 1)
    t = model.translate(torch.rand(src_c, 37, 53) * 2 - 1, direction=direction)
    assert t.shape == (dst_c, 37, 53) and t.abs().max() <= 1
    img = Image.new("RGB", (53, 37), (200, 30, 30))  # converted to the source domain's channels
    out = model.translate(img, direction=direction)
    assert isinstance(out, Image.Image) and out.size == (53, 37) and out.mode == ("RGB" if dst_c == 3 else "L")
    with pytest.raises(ModelError, match="smaller than"):
        model.translate(torch.zeros(src_c, 5, 40), direction=direction)


def test_seeded_styles_are_reproducible_and_multimodal():
    model = _model()
    x = _images(1, seed=5)[0, :, :28, :36]
    a, b, c = model.translate(x, seed=0), model.translate(x, seed=0), model.translate(x, seed=1)
    assert torch.equal(a, b) and not torch.allclose(a, c)
    many = model.translate(x, num_styles=3, seed=0)
    assert isinstance(many, list) and len(many) == 3
    assert torch.equal(many[0], a)  # style k of seed s is row k of sample_styles(K, s)
    assert not torch.allclose(many[1], many[2])
    assert len(model.translate(x, as_list=True)) == 1
    assert torch.equal(model.sample_styles(4, seed=7), model.sample_styles(4, seed=7))
    code = model.sample_styles(1, seed=3)
    assert torch.equal(model.translate(x, style=code), model.translate(x, seed=3))


def test_every_tile_uses_the_same_style():
    model = _model(tile_size=24)
    styles = []
    real = model.translate_batch

    def spy(x, direction, style=None, **kw):
        styles.append(style)
        return real(x, direction, style=style, **kw)

    model.translate_batch = spy
    out = model.translate(torch.rand(3, 40, 60) * 2 - 1, seed=2)
    assert out.shape == (3, 40, 60) and len(styles) > 1
    assert all(torch.equal(s, styles[0]) for s in styles)


def test_example_guided_translation_uses_the_target_style_encoder():
    model = _model(in_channels=1, out_channels=3)
    x = torch.rand(1, 20, 24) * 2 - 1
    example_b = Image.fromarray(np.random.default_rng(0).integers(0, 255, (30, 40, 3), dtype=np.uint8))
    code = model.encode_style(example_b, "B")
    assert code.shape == (1, 8)
    assert torch.equal(model.translate(x, style_image=example_b), model.translate(x, style=code))
    # B -> A takes A's (grey) style encoder; an RGB example is converted to grey for it
    assert model.encode_style(example_b, "A").shape == (1, 8)
    y = model.translate(torch.rand(3, 20, 24), direction="BtoA", style_image=torch.rand(3, 16, 16) * 2 - 1)
    assert y.shape == (1, 20, 24)
    with pytest.raises(ModelError, match="style encoder needs at least 16x16"):
        model.encode_style(torch.zeros(3, 8, 8), "B")
    with pytest.raises(ConfigError, match="only one of"):
        model.translate(x, num_styles=2, style_image=example_b)
    with pytest.raises(ConfigError, match="Did you mean AtoB"):
        model.translate(x, direction="a2b")


def test_sample_grid_has_fixed_styles():
    model = _model(in_channels=1)
    batch = {"A": _images(2, 1, 16, seed=1), "B": _images(2, 3, 16, seed=2)}
    f1, f2 = model.fixed_inputs(8, 5, batch), model.fixed_inputs(8, 5, batch)
    assert torch.equal(f1["styles_AtoB"], f2["styles_AtoB"]) and f1["styles_AtoB"].shape == (3, 8)
    grid = model.sample_grid(f1)
    assert model.grid_nrow == 8 and grid.shape == (2 * 8, 3, 16, 16)
    assert torch.equal(grid, model.sample_grid(f1))
    assert torch.equal(grid[0], batch["A"][0].expand(3, -1, -1))  # A | A->B x 3 | B | B->A x 3
    assert torch.equal(grid[4], batch["B"][0])


def test_train_translate_cli(capsys, tmp_path, cache_dir):
    rng = np.random.default_rng(0)
    data = tmp_path / "data"
    for d in ("trainA", "trainB"):
        (data / d).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(data / d / f"{i}.png")
    run = tmp_path / "run"
    sets = [f"model.{k}={v}" for k, v in SMALL.items()] + [
        "data.load_size=32", "data.crop_size=32", "data.batch_size=2", "train.precision=fp32",
        "train.tensorboard=false", "train.sample_every=2"]
    code, out, err = run_cli(capsys, "train", "munit", "--data", data, "--out", run, "--steps", "2", "--no-progress",
                             *[a for s in sets for a in ("--set", s)])
    assert code == 0, err
    grid = Image.open(run / "samples" / "step_000002.png")
    assert grid.size[0] > 8 * 32  # 8 columns: A, 3 styles, B, 3 styles
    Image.new("RGB", (45, 38), "white").save(tmp_path / "in.png")
    code, out, err = run_cli(capsys, "translate", run, tmp_path / "in.png", "--out", tmp_path / "o", "--num-styles",
                             "2", "--seed", "3")
    assert code == 0, err
    outs = [Image.open(tmp_path / "o" / f"in_style{k}.png") for k in range(2)]
    assert all(o.size == (45, 38) for o in outs)
    assert not np.array_equal(np.asarray(outs[0]), np.asarray(outs[1]))
    Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(tmp_path / "style.png")
    code, out, err = run_cli(capsys, "translate", run, tmp_path / "in.png", "--out", tmp_path / "o2", "--direction",
                             "BtoA", "--style-image", tmp_path / "style.png")
    assert code == 0, err
    assert Image.open(tmp_path / "o2" / "in.png").size == (45, 38)
