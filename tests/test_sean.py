"""SEAN: region-wise style pooling, the SEAN norm's blend and locality, the generator, reconstruction training in
G-then-D order, per-region style control (API and errors). Data batches are mocked (the loader is SPADE's)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from condgen.cli.images import parse_region_style
from condgen.errors import ConfigError, DataError, ModelError
from condgen.models.sean import SEAN, SEANConfig
from condgen.nn.labels import IGNORE_ID, semantic_input
from condgen.nn.sean import RegionLinear, RegionStyleEncoder, SEANGenerator, SEANNorm, region_average
from condgen.nn.spade import SPADEDiscriminator

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny convolutions: thread hand-offs cost more than they save
NC = 4
SMALL = {"label_nc": NC, "ngf": 2, "ndf": 4, "spade_hidden": 8, "style_dim": 8, "encoder_nf": 4, "crop_size": 32,
         "n_layers_D": 3, "lambda_vgg": 0.0, "use_instances": "false", "param_free_norm": "batch"}


def _model(**over) -> SEAN:
    torch.manual_seed(0)
    return SEAN(SEANConfig(**{**SMALL, **over}))


def _quadrants(n=2, size=32):
    """Class 0 top-left, 1 the right half, 2 bottom-left, 3 a corner of the top-left quadrant."""
    lab = torch.zeros(n, size, size, dtype=torch.long)
    lab[:, :, size // 2:] = 1
    lab[:, size // 2:, :size // 2] = 2
    lab[:, :size // 4, :size // 4] = 3
    return lab


def _batch(n=2, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    lab = _quadrants(n, size)
    lab[:, -2:, -2:] = IGNORE_ID
    return {"segmap": lab, "image": torch.rand(n, 3, size, size, generator=g) * 2 - 1}


# ----- region-wise average pooling ----------------------------------------------------------------------------------
def _pool_by_hand(feat, lab, nc):
    """Loops: mean feature over each class's pixels (features nearest-upsampled to the label map), zero if absent."""
    b, s = feat.shape[:2]
    up = torch.nn.functional.interpolate(feat, size=lab.shape[-2:], mode="nearest")
    out, present = torch.zeros(b, nc, s), torch.zeros(b, nc, dtype=torch.bool)
    for i in range(b):
        for k in range(nc):
            mask = lab[i] == k
            if mask.any():
                out[i, k] = up[i][:, mask].mean(1)
                present[i, k] = True
    return out, present


@pytest.mark.parametrize("nc", [3, 40])
def test_region_average_by_hand(nc):
    lab = torch.tensor([[[0, 0, 1, 1], [0, IGNORE_ID, 1, 2], [2, 2, 2, 2], [IGNORE_ID, 0, 1, 1]],
                        [[1, 1, 1, 1], [1, 1, 1, 1], [0, 0, 1, 1], [0, 0, 1, IGNORE_ID]]])
    if nc == 40:
        lab[1, 0, 0] = 39
    feat = torch.randn(2, 5, 4, 4)
    codes, present = region_average(feat, lab, nc)
    assert codes.shape == (2, nc, 5) and present.shape == (2, nc)
    # class 0 of image 0: pixels (0,0), (0,1), (1,0), (3,1); the don't-care (1,1) is excluded
    assert torch.allclose(codes[0, 0], feat[0][:, [0, 0, 1, 3], [0, 1, 0, 1]].mean(1), atol=1e-6)
    assert not present[1, 2] and torch.equal(codes[1, 2], torch.zeros(5))  # absent class: zero code, flagged
    assert torch.equal(present[0, :3], torch.tensor([True, True, True]))
    if nc == 40:
        assert present[1, 39] and torch.allclose(codes[1, 39], feat[1, :, 0, 0])
        assert not present[:, 3:39].any()
    ref, ref_present = _pool_by_hand(feat, lab, nc)
    assert torch.allclose(codes, ref, atol=1e-6) and torch.equal(present, ref_present)
    # a style map at half the label map's size (the encoder's output), pooling "area": area-weighted, same as
    # upsampling it (the release's "nearest" pooling: tests/test_reference_fidelity.py)
    small = torch.randn(2, 5, 2, 2)
    codes, present = region_average(small, lab, nc, pooling="area")
    ref, ref_present = _pool_by_hand(small, lab, nc)
    assert torch.allclose(codes, ref, atol=1e-6) and torch.equal(present, ref_present)
    odd = torch.randn(2, 5, 3, 3)  # not a divisor: upsampled (nearest)
    assert torch.allclose(region_average(odd, lab, nc, pooling="area")[0], _pool_by_hand(odd, lab, nc)[0], atol=1e-6)
    with pytest.raises(DataError, match="out of range"):
        region_average(feat, torch.full((1, 4, 4), nc), nc)


def test_style_encoder_and_running_means():
    E = RegionStyleEncoder(NC, style_dim=6, nf=2)
    b = _batch()
    assert E.style_map(b["image"]).shape == (2, 6, 16, 16)  # half resolution, as the paper's encoder
    codes, present = E(b["image"], b["segmap"])
    assert codes.shape == (2, NC, 6) and present.all()
    E.update_means(codes, present, momentum=0.5)  # first sighting: the batch mean
    assert torch.allclose(E.mean_codes, codes.mean(0), atol=1e-6) and E.code_seen.all()
    only0 = present.clone()
    only0[:, 1:] = False
    before = E.mean_codes.clone()
    E.update_means(torch.zeros_like(codes), only0, momentum=0.5)
    assert torch.allclose(E.mean_codes[0], before[0] / 2) and torch.equal(E.mean_codes[1:], before[1:])
    with pytest.raises(ModelError, match="same size"):
        E(b["image"], b["segmap"][:, :16])


# ----- the SEAN norm ------------------------------------------------------------------------------------------------
def test_sean_norm_blend_formula_and_noise():
    torch.manual_seed(0)
    norm = SEANNorm(3, label_nc=NC, semantic_nc=NC, style_dim=5, param_free="instance", hidden=4)
    with torch.no_grad():
        norm.blend_gamma.fill_(0.7)
        norm.blend_beta.fill_(-1.2)
    x = torch.randn(2, 3, 8, 8)
    sem = semantic_input(_quadrants(2, 8), NC)
    st = torch.randn(2, NC, 5)
    a_g, a_b = torch.sigmoid(torch.tensor(0.7)), torch.sigmoid(torch.tensor(-1.2))
    assert torch.allclose(torch.stack(norm.alphas()), torch.stack([a_g, a_b]))
    # by hand: per-class projection + ReLU, broadcast on the pixels, convs; SPADE path; convex blend
    proj = torch.relu(torch.stack([st[:, k] @ norm.style_proj.weight[k].T + norm.style_proj.bias[k]
                                   for k in range(NC)], 1))
    smap = (proj[:, :, :, None, None] * sem[:, :, None]).sum(1)
    gamma_o, beta_o = norm.spade.modulation(sem)
    gamma = a_g * norm.conv_gamma(smap) + (1 - a_g) * gamma_o
    beta = a_b * norm.conv_beta(smap) + (1 - a_b) * beta_o
    expected = nn.functional.instance_norm(x) * (1 + gamma) + beta
    assert torch.allclose(norm(x, sem, st), expected, atol=1e-5)
    assert SEANNorm.blend(torch.tensor(0.25), torch.tensor(4.0), torch.tensor(8.0)) == 7.0
    # noise: zero scale at init (no effect), then a per-pixel map from the generator passed in, never hidden
    g = torch.Generator().manual_seed(1)
    assert torch.equal(norm(x, sem, st, g), norm(x, sem, st))
    with torch.no_grad():
        norm.noise_scale.fill_(0.5)
    y1 = norm(x, sem, st, torch.Generator().manual_seed(1))
    assert torch.equal(y1, norm(x, sem, st, torch.Generator().manual_seed(1)))
    assert not torch.allclose(y1, norm(x, sem, st, torch.Generator().manual_seed(2)))
    with pytest.raises(ModelError, match="style matrix"):
        norm(x, sem, torch.randn(2, NC, 4))
    lin = RegionLinear(NC, 5, 7)
    assert lin(st).shape == (2, NC, 7)


def test_sean_norm_region_style_is_local():
    """Changing class k's code changes the norm's output only on class-k pixels and their 1-pixel border (the 3x3
    style convs): exactly zero elsewhere — with batch norm in eval mode the layer is otherwise pixel-wise."""
    torch.manual_seed(0)
    norm = SEANNorm(3, label_nc=NC, semantic_nc=NC, style_dim=5, param_free="batch", hidden=4).eval()
    lab = _quadrants(1, 16)
    sem = semantic_input(lab, NC)
    x, st = torch.randn(1, 3, 16, 16), torch.randn(1, NC, 5)
    for k in range(NC):
        st2 = st.clone()
        st2[:, k] = torch.randn(5)
        d = (norm(x, sem, st2) - norm(x, sem, st)).abs().sum(1)[0]
        mine = lab[0] == k
        near = nn.functional.max_pool2d(mine.float()[None, None], 3, 1, 1)[0, 0] > 0
        assert d[mine].min() > 0 and d[~near].max() == 0


# ----- the generator ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [64, 128])
def test_generator_shapes(size):
    torch.manual_seed(0)
    G = SEANGenerator(NC, NC + 1, ngf=1, style_dim=4, hidden=4, param_free="instance")
    lab = _quadrants(2, size)
    sem = torch.cat([semantic_input(lab, NC), torch.zeros(2, 1, size, size)], 1)  # + an instance-edge channel
    y = G(sem, torch.randn(2, NC, 4), torch.Generator().manual_seed(0))
    assert y.shape == (2, 3, size, size) and y.abs().max() <= 1
    assert sum(isinstance(m, SEANNorm) for m in G.modules()) == 18  # 2 + 2 + 2 + 4 x 3 (learned shortcuts)
    last = SEANGenerator(NC, NC, ngf=1, style_dim=4, hidden=4, param_free="instance", spade_last_block=True)
    assert sum(isinstance(m, SEANNorm) and m.region_styles for m in last.modules()) == 15
    assert last(semantic_input(lab, NC), torch.randn(2, NC, 4)).shape == (2, 3, size, size)
    with pytest.raises(ModelError, match="multiples of 32"):
        G(torch.zeros(1, NC + 1, 48, 40), torch.zeros(1, NC, 4))
    with pytest.raises(ModelError, match="style matrices"):
        G(sem, torch.zeros(1, NC, 4))


def test_paper_parameter_counts():
    # CelebAMask-HQ as the authors train it: 19 classes, no instance maps, 512-d codes, ngf 64
    with torch.device("meta"):
        G = SEANGenerator(19, 19, spectral_norm=False)
        E = RegionStyleEncoder(19)
        D = SPADEDiscriminator(19 + 3, spectral_norm=False)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    norms = [m for m in G.modules() if isinstance(m, SEANNorm)]
    # D: no conv bias before instance norm
    assert count(G) == 283_259_943 and count(E) == 1_568_576 and count(D) == 5_568_386 - 1_792
    assert sum(count(n.style_proj) for n in norms) == 18 * 19 * (512 * 512 + 512)  # 19 x 512 x 512 per norm
    with torch.device("meta"):  # the release's last block: SPADE's modulation + the noise inputs, no region styles
        # (the release's 265,338,791 also counts that block's 3 x 2 unused blending scalars)
        assert count(SEANGenerator(19, 19, spectral_norm=False, spade_last_block=True)) == 265_338_791 - 6


# ----- the model ----------------------------------------------------------------------------------------------------
def test_config_defaults_and_fill_from_data():
    c = SEANConfig()
    assert (c.ngf, c.ndf, c.style_dim, c.encoder_nf, c.spade_hidden, c.num_D) == (64, 64, 512, 32, 128, 2)
    assert c.noise and c.spade_last_block and c.style_pooling == "nearest"
    assert (c.gan_loss, c.lambda_feat, c.lambda_vgg, c.lambda_l1) == ("hinge", 10.0, 10.0, 0.0)
    assert (c.lr_G, c.lr_D, c.beta1, c.beta2) == (1e-4, 4e-4, 0.0, 0.9)
    assert SEAN.train_defaults["data"]["batch_size"] == 32 and SEAN.train_defaults["train"]["epochs"] == 100
    with pytest.raises(ConfigError, match="label_nc is 0"):
        SEAN(SEANConfig())
    cfg = SEANConfig()
    SEAN.fill_from_data(cfg, {"label_nc": 40, "has_instances": True, "image_size": 64})
    assert (cfg.label_nc, cfg.use_instances, cfg.crop_size) == (40, "true", 64)
    with pytest.raises(DataError, match="data has 9 classes"):
        SEAN.fill_from_data(SEANConfig(label_nc=4), {"label_nc": 9})
    m = _model()
    g_ids = {id(p) for p in m.optimizers["G"].param_groups[0]["params"]}
    assert all(id(p) in g_ids for p in m.nets["E"].parameters())  # E is trained with G's optimizer
    assert m.optimizers["D"].param_groups[0]["lr"] == 4e-4 and SEAN.for_inference(m.cfg).vgg is None


def test_g_step_then_d_step_and_finite_losses():
    model = _model(lambda_l1=1.0)
    calls, frozen_ok, d_inputs = [], [], []
    model.nets["D"].register_forward_hook(lambda mod, inp, out: d_inputs.append(inp[0].detach()))
    optimize = model.optimize

    def spy(name, loss):
        calls.append(name)
        if name == "G":
            frozen_ok.append(not any(p.requires_grad for p in model.nets["D"].parameters()))
            for p in model.nets["D"].parameters():  # D's own step left its gradients: clear them to watch G's step
                p.grad = None
        optimize(name, loss)
        if name == "G":
            frozen_ok.append(all(p.grad is None for p in model.nets["D"].parameters()))
            frozen_ok.append(any(p.grad is not None for p in model.nets["E"].parameters()))

    model.optimize = spy
    before = {k: [p.detach().clone() for p in n.parameters()] for k, n in model.nets.items()}
    for s in range(2):
        batch = _batch(seed=s)
        out = model.training_step(batch)
        assert all(torch.isfinite(v) for v in out.values())
    assert calls == ["G", "D", "G", "D"] and all(frozen_ok)
    assert len(d_inputs) == 4 and torch.equal(d_inputs[-1][2:, -3:], batch["image"])  # fake, then real
    assert torch.allclose(out["loss/G"], out["loss/G_gan"] + 10 * out["loss/G_feat"] + out["loss/G_l1"], atol=1e-4)
    for k, n in model.nets.items():
        assert any(not torch.equal(a, b) for a, b in zip(before[k], n.parameters())), k
    assert model.nets["E"].code_seen.all()  # running mean codes of every class seen


def _calibrate_bn(model, batch):
    """Re-estimate the batch-norm statistics on the batch (cumulative average), so eval mode normalises."""
    G, E = model.nets["G"], model.nets["E"]
    bns = [m for m in G.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    with torch.no_grad():
        G.train()
        G(model.semantic(batch["segmap"]), E(batch["image"], batch["segmap"])[0])
    for m in bns:
        m.momentum = 0.1


def test_replacing_one_region_style_changes_mostly_that_region():
    """After 3 reconstruction steps at 64 px with the paper's init, replacing one class's code by a random one
    changes the pixels of that class far more than the others, summed over the 4 classes: ratio > 2 (measured
    3.9-6.9 over seeds 0-3; at init 1.2-1.7, because the 2x2..8x8 layers spread any change over the whole image and
    nothing has yet made the fine layers dominate). Batch norm statistics are re-estimated first so eval-mode
    synthesis is meaningful (otherwise the 0.02-gain init leaves ~1e-7 outputs)."""
    model = _model(crop_size=64)
    batch = {"segmap": _quadrants(2, 64), "image": torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
             * 2 - 1}
    for _ in range(3):
        model.training_step(batch)
    _calibrate_bn(model, batch)
    lab = batch["segmap"]
    codes = model.encode_styles(batch["image"], lab)
    base = model.generate(lab, style_matrix=codes)
    inside, outside = 0.0, 0.0
    for k in range(NC):
        new = codes.clone()
        new[:, k] = torch.rand(new[:, k].shape, generator=torch.Generator().manual_seed(k)) * 2 - 1
        d = (model.generate(lab, style_matrix=new) - base).abs().mean(1)
        inside, outside = inside + d[lab == k].mean(), outside + d[lab != k].mean()
    assert inside / outside > 2


def test_translate_with_region_styles(tmp_path):
    from PIL import Image

    model = _model()
    model.training_step(_batch())
    lab = _quadrants(1, 32)[0]
    y = model.translate(lab)  # every class: its running mean code
    assert y.shape == (3, 32, 32)
    assert model.translate(lab[:30, :27]).shape == (3, 30, 27)  # any size (padded)
    photo = _batch()["image"][:1]
    codes, present = model.encode_styles(photo, lab, return_present=True)
    assert codes.shape == (1, NC, 8) and present.all()
    rec = model.translate(lab, style_image=photo)
    assert torch.allclose(rec, model.generate(lab, style_matrix=codes)[0], atol=1e-6)
    other = torch.rand(1, 3, 32, 32) * 2 - 1
    only2 = torch.full((32, 32), 2)  # an image whose label map is all class 2
    mixed = model.translate(lab, style_image=photo, region_styles={2: (other, only2)})
    expect = codes.clone()
    expect[:, 2] = model.encode_styles(other, only2)[:, 2]
    assert torch.allclose(mixed, model.generate(lab, style_matrix=expect)[0], atol=1e-6)
    assert not torch.equal(mixed, rec)
    # a class absent from the region-style image: an error that names the class
    with pytest.raises(DataError, match="class 1 does not appear"):
        model.translate(lab, style_image=photo, region_styles={1: (other, only2)})
    with pytest.raises(DataError, match="class 3 does not appear in the label map being translated"):
        model.translate(torch.zeros(32, 32, dtype=torch.long), region_styles={3: other})
    with pytest.raises(ConfigError, match="classes 0..3"):
        model.translate(lab, region_styles={7: (other, only2)})
    # files: PIL label maps in, PIL out; CLI-style CLASS=IMAGE[,LABELS]
    Image.fromarray(((other[0].permute(1, 2, 0) + 1) * 127.5).byte().numpy()).save(tmp_path / "s.png")
    Image.fromarray(only2.byte().numpy(), mode="L").save(tmp_path / "s_labels.png")
    cls, spec = parse_region_style(f"2={tmp_path / 's.png'},{tmp_path / 's_labels.png'}")
    assert cls == 2 and spec == (tmp_path / "s.png", tmp_path / "s_labels.png")
    out = model.translate(Image.fromarray(lab.byte().numpy(), mode="L"), region_styles={cls: spec})
    assert isinstance(out, Image.Image) and out.size == (32, 32)
    with pytest.raises(DataError, match=r"class 0 does not appear .*s\.png"):
        model.translate(lab, region_styles={0: spec})
    with pytest.raises(ConfigError, match="CLASS=IMAGE"):
        parse_region_style("sky=photo.png")
    with pytest.raises(DataError, match="does not exist"):
        parse_region_style(f"1={tmp_path / 'missing.png'}")


def test_sample_grid_and_seeded_noise():
    model = _model()
    with torch.no_grad():
        for m in model.nets["G"].modules():
            if isinstance(m, SEANNorm):
                m.noise_scale.fill_(1.0)
    grid = model.sample_grid(model.fixed_inputs(8, 0, _batch(3)))
    assert grid.shape == (12, 3, 32, 32) and model.grid_nrow == 4
    assert model.nets["G"].training  # generate ran in eval mode and restored train mode
    lab = _quadrants(2, 32)
    a = model.generate(lab, seed=1)
    assert torch.equal(a, model.generate(lab, seed=1)) and not torch.equal(a, model.generate(lab, seed=2))
