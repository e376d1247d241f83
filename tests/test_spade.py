"""SPADE: the label contract, the spatially-adaptive norm, the paper's networks, losses and update order, and
synthesis from label maps of any size. Data batches are mocked (the semantic loader is tested with the data)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

import condgen
from condgen.errors import ConfigError, DataError, ModelError, WeightsNotFoundError
from condgen.losses import kl_divergence as kld
from condgen.models.spade import SPADE, SPADEConfig, label_ids
from condgen.nn.labels import (
    IGNORE_ID,
    colorize,
    from_dontcare_first,
    from_dontcare_last,
    instance_edges,
    label_palette,
    semantic_channels,
    semantic_input,
    to_dontcare_first,
    to_dontcare_last,
)
from condgen.nn.norms import SpatiallyAdaptiveNorm, SyncBatchNorm2d
from condgen.nn.spade import (
    ConvEncoder,
    PatchFeatureDiscriminator,
    SPADEDiscriminator,
    SPADEGenerator,
    SPADEResBlock,
)

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny convolutions: thread hand-offs cost more than they save
NC = 5
# tiny: 32 px crops, narrow nets, one D scale of 2 layers... kept at the paper's 2 scales where it matters
SMALL = {"label_nc": NC, "ngf": 2, "ndf": 4, "spade_hidden": 8, "crop_size": 32, "num_D": 2, "n_layers_D": 3,
         "lambda_vgg": 0.0, "use_instances": "false", "param_free_norm": "batch"}


def _model(**over) -> SPADE:
    torch.manual_seed(0)
    return SPADE(SPADEConfig(**{**SMALL, **over}))


def _labels(n=2, size=32, nc=NC, seed=0, block=8):
    """Blocky random label maps with some don't-care pixels."""
    g = torch.Generator().manual_seed(seed)
    k = size // block
    lab = torch.randint(0, nc, (n, k, k), generator=g).repeat_interleave(block, 1).repeat_interleave(block, 2)
    lab[:, :2, :2] = IGNORE_ID
    return lab


def _batch(n=2, size=32, seed=0, instance=False):
    g = torch.Generator().manual_seed(seed + 1)
    b = {"segmap": _labels(n, size, seed=seed), "image": torch.rand(n, 3, size, size, generator=g) * 2 - 1}
    if instance:
        b["instance"] = torch.arange(size * size).reshape(1, size, size).div(size * 4, rounding_mode="floor") \
            .expand(n, -1, -1).clone()
    return b


def _nparams(m):
    return sum(p.numel() for p in m.parameters())


def _meta_params(cls, *args, **kw):
    """Parameters of a full-size network built on the meta device (no memory, no init time), without the spectral
    norm parametrisation (slow on meta; it adds buffers, not parameters: see test_resblock_shortcut_rules)."""
    with torch.device("meta"):
        return _nparams(cls(*args, spectral_norm=False, **kw))


# ----- the label contract ----------------------------------------------------------------------------------------
def test_semantic_input_one_hot_dontcare_and_boundaries():
    lab = torch.tensor([[[0, 1, 2], [2, IGNORE_ID, 1]]])
    x = semantic_input(lab, 3)
    assert x.shape == (1, 3, 2, 3) and x.dtype == torch.float32
    assert torch.equal(x.argmax(1)[0, 0], torch.tensor([0, 1, 2]))
    assert x[0, :, 1, 1].sum() == 0  # don't care: all zero, never silently a class
    assert torch.equal(x.sum(1)[0], torch.tensor([[1.0, 1, 1], [1, 0, 1]]))
    y = semantic_input(lab, 3, dontcare_as_class=True)
    assert y.shape[1] == 4 and y[0, 3, 1, 1] == 1 and y[0, 3].sum() == 1 and torch.equal(y[:, :3].sum(1), x.sum(1))
    # instance boundaries: both pixels of a 4-neighbour pair with different ids are marked
    inst = torch.tensor([[[1, 1, 1, 1], [1, 1, 2, 2], [1, 1, 2, 2]]])
    e = instance_edges(inst)[0, 0]
    assert torch.equal(e, torch.tensor([[0.0, 0, 1, 1], [0, 1, 1, 1], [0, 1, 1, 0]]))
    z = semantic_input(torch.zeros(1, 3, 4, dtype=torch.long), 3, instance=inst)
    assert z.shape[1] == semantic_channels(3, False, True) == 4 and torch.equal(z[0, 3], e)
    assert semantic_input(lab[:, None], 3).shape == x.shape  # N x 1 x H x W works too


def test_semantic_input_rejects_out_of_range_ids():
    lab = torch.tensor([[[0, 7, 3, 9]]])
    with pytest.raises(DataError, match=r"label ids 7, 9 .*label_nc=4"):
        semantic_input(lab, 4)
    with pytest.raises(DataError, match="same size"):
        semantic_input(torch.zeros(1, 2, 2, dtype=torch.long), 4, instance=torch.zeros(1, 3, 3, dtype=torch.long))
    with pytest.raises(DataError, match="one-hot or colour"):
        semantic_input(torch.zeros(1, 3, 2, 2), 4)


def test_dontcare_conventions_round_trip():
    lab = torch.tensor([[0, 3, IGNORE_ID, 2]])
    last = to_dontcare_last(lab, 4)
    assert last.tolist() == [[0, 3, 4, 2]] and torch.equal(from_dontcare_last(last, 4), lab)
    first = to_dontcare_first(lab)
    assert first.tolist() == [[1, 4, 0, 3]] and torch.equal(from_dontcare_first(first), lab)
    # SPADE's one-hot with don't care as class label_nc is ours with dontcare_as_class
    spade_style = semantic_input(last[None], 5)
    assert torch.equal(spade_style, semantic_input(lab[None], 4, dontcare_as_class=True))


def test_palette_and_colorize():
    pal = label_palette(200)
    assert len({tuple(c.tolist()) for c in pal}) == 200 and (pal.sum(1) > 0).all()  # distinct, none black
    img = colorize(torch.tensor([[[0, 1], [IGNORE_ID, 1]]]), 3)
    assert img.shape == (1, 3, 2, 2) and img.min() >= -1 and img.max() <= 1
    assert torch.equal(img[0, :, 1, 0], torch.full((3,), -1.0))  # don't care: black
    assert torch.equal(img[0, :, 0, 1], img[0, :, 1, 1]) and not torch.equal(img[0, :, 0, 0], img[0, :, 0, 1])


# ----- the SPADE norm ------------------------------------------------------------------------------------------
def test_spade_norm_is_spatially_local_with_one_plus_gamma():
    torch.manual_seed(0)
    layer = SpatiallyAdaptiveNorm(4, cond_channels=3, param_free="instance", hidden=8)
    assert list(layer.norm.parameters()) == []  # parameter-free
    x = torch.randn(1, 4, 32, 32)
    a = torch.zeros(1, 32, 32, dtype=torch.long)
    b = a.clone()
    b[:, 12:16, 20:24] = 2
    ya, yb = layer(x, semantic_input(a, 3)), layer(x, semantic_input(b, 3))
    changed = (ya - yb).abs().sum(1)[0] > 1e-6
    assert changed[12:16, 20:24].all()
    # two 3x3 convs: the change spreads at most 2 pixels beyond the region
    outside = torch.ones(32, 32, dtype=torch.bool)
    outside[10:18, 18:26] = False
    assert not changed[outside].any()
    # the label map is resized (nearest) to the features' size
    assert layer(torch.randn(1, 4, 8, 8), semantic_input(b, 3)).shape == (1, 4, 8, 8)
    # (1 + gamma) form: zero gamma/beta convs give the plain norm; gamma bias 1 doubles it; beta bias shifts
    with torch.no_grad():
        for conv in (layer.gamma, layer.beta):
            conv.weight.zero_()
            conv.bias.zero_()
    normed = F.instance_norm(x)
    assert torch.allclose(layer(x, semantic_input(a, 3)), normed, atol=1e-5)
    with torch.no_grad():
        layer.gamma.bias.fill_(1.0)
        layer.beta.bias.fill_(0.5)
    assert torch.allclose(layer(x, semantic_input(a, 3)), 2 * normed + 0.5, atol=1e-5)
    with pytest.raises(ConfigError, match="3-channel"):
        layer(x, torch.zeros(1, 5, 32, 32))


def test_param_free_norms_and_sync_batch_fallback():
    x = torch.randn(4, 3, 5, 5)
    sync, plain = SyncBatchNorm2d(3, affine=False), nn.BatchNorm2d(3, affine=False)
    assert list(sync.parameters()) == [] and set(sync.state_dict()) == set(plain.state_dict())
    assert torch.allclose(sync(x), plain(x), atol=1e-6)  # one CPU process: plain batch norm, no error
    assert torch.allclose(sync.running_mean, plain.running_mean)
    layer = SpatiallyAdaptiveNorm(3, 2, param_free="batch")
    assert isinstance(layer.norm, nn.BatchNorm2d) and not layer.norm.affine
    with pytest.raises(ConfigError, match="parameter-free norm"):
        SpatiallyAdaptiveNorm(3, 2, param_free="group")


# ----- networks ------------------------------------------------------------------------------------------------
def test_resblock_shortcut_rules():
    same = SPADEResBlock(8, 8, cond_channels=3, hidden=4)
    assert not same.learned_shortcut and not hasattr(same, "conv_s")
    x, m = torch.randn(2, 8, 8, 8), torch.rand(2, 3, 8, 8)
    assert same.shortcut(x, m) is x
    down = SPADEResBlock(8, 4, cond_channels=3, hidden=4)
    assert down.learned_shortcut and down.conv_s.kernel_size == (1, 1) and down.conv_s.bias is None
    assert isinstance(down.norm_s, SpatiallyAdaptiveNorm) and down.norm_s.channels == 8
    assert (down.conv_0.out_channels, down.conv_1.in_channels) == (4, 4)  # fmiddle = min(fin, fout)
    assert SPADEResBlock(4, 8, cond_channels=3, hidden=4).conv_0.out_channels == 4
    assert all(hasattr(c, "parametrizations") for c in (down.conv_0, down.conv_1, down.conv_s))  # spectral norm
    assert _nparams(down) == _nparams(SPADEResBlock(8, 4, cond_channels=3, hidden=4, spectral_norm=False))
    assert down(x, m).shape == (2, 4, 8, 8)
    # any norm with the signature norm(x, *cond): e.g. a plain instance norm ignoring the condition
    class Plain(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.n = nn.InstanceNorm2d(c)

        def forward(self, x, *cond):
            return self.n(x)
    assert SPADEResBlock(8, 4, norm=Plain)(x, m).shape == (2, 4, 8, 8)


@pytest.mark.parametrize("size", [64, 128, 256])
def test_generator_shapes(size):
    torch.manual_seed(0)
    G = SPADEGenerator(4, ngf=1, hidden=4, param_free="instance")
    sem = semantic_input(_labels(1, size, nc=4, block=16), 4)
    y = G(sem)
    assert y.shape == (1, 3, size, size) and y.abs().max() <= 1
    assert G.start_size(size, 2 * size) == (size // 32, size // 16)  # non-square works too


def test_generator_size_and_z_rules():
    G = SPADEGenerator(4, ngf=1, hidden=4, param_free="instance")
    with pytest.raises(ModelError, match="multiples of 32"):
        G(torch.zeros(1, 4, 48, 40))
    V = SPADEGenerator(4, ngf=1, hidden=4, use_vae=True, z_dim=8, crop_size=64, param_free="instance")
    sem = torch.zeros(2, 4, 64, 64)
    with pytest.raises(ModelError, match="pass the style code z"):
        V(sem)
    assert V(sem, torch.randn(2, 8)).shape == (2, 3, 64, 64)
    with pytest.raises(ModelError, match="training size"):
        V(torch.zeros(1, 4, 32, 32), torch.randn(1, 8))
    assert SPADEGenerator(4, ngf=2, hidden=4, num_upsampling_layers="more").multiple == 64
    assert SPADEGenerator(4, ngf=2, hidden=4, num_upsampling_layers="most").to_rgb.in_channels == 1


def test_paper_parameter_counts():
    # COCO-Stuff as the authors configure it: 182 classes + the don't-care channel + instance edges = 184
    nc = semantic_channels(182, dontcare_as_class=True, instances=True)
    assert nc == 184
    assert _meta_params(SPADEGenerator, nc) == 97_480_899
    # every label channel adds a 3x3 conv to 128 in each of the 18 SPADE layers and a 3x3 conv to 1024 at the input
    assert _meta_params(SPADEGenerator, 2) - _meta_params(SPADEGenerator, 1) == 18 * 128 * 9 + 1024 * 9
    assert _meta_params(SPADEGenerator, nc, use_vae=True) == 112_626_883  # fc: 256 -> 1024 x 8 x 8
    assert _meta_params(ConvEncoder) == 10_465_408 - 1_984  # (fc_mu, fc_logvar: 8192 -> 256 each); no conv bias
    assert _meta_params(SPADEDiscriminator, nc + 3) == 5_906_306 - 1_792  # no conv bias before instance norm
    # the "92.1M" the authors' log prints for a custom dataset (issue #163) is 3..6 semantic channels
    assert [round(_meta_params(SPADEGenerator, c) / 1e5) / 10 for c in (2, 3, 6, 7)] == [92.0, 92.1, 92.1, 92.2]


def test_discriminator_features():
    D = SPADEDiscriminator(4 + 3, ndf=8, n_layers=4, num_D=2)
    outs = D(torch.randn(2, 7, 64, 64))
    assert len(outs) == 2 and all(len(o) == 5 for o in outs)  # 4 layers + logits per scale
    assert [f.shape[1] for f in outs[0]] == [8, 16, 32, 64, 1]
    assert outs[1][0].shape[-1] < outs[0][0].shape[-1]  # the second scale sees the input downsampled
    one = PatchFeatureDiscriminator(7, ndf=8, n_layers=4)
    strides = [m.stride[0] for m in one.modules() if isinstance(m, nn.Conv2d)]
    assert strides == [2, 2, 2, 1, 1]
    assert sum(isinstance(m, nn.InstanceNorm2d) for m in one.modules()) == 3  # not on the first layer
    assert not hasattr(one.layers[0][0], "parametrizations") and hasattr(one.layers[1][0], "parametrizations")


# ----- the model ---------------------------------------------------------------------------------------------------
def test_config_defaults_are_the_papers():
    c = SPADEConfig()
    assert (c.ngf, c.ndf, c.z_dim, c.use_vae, c.spade_hidden, c.num_D, c.n_layers_D) == (64, 64, 256, False, 128, 2, 4)
    assert (c.gan_loss, c.lambda_feat, c.lambda_vgg, c.lambda_kld) == ("hinge", 10.0, 10.0, 0.05)
    assert (c.lr_G, c.lr_D, c.beta1, c.beta2) == (1e-4, 4e-4, 0.0, 0.9)
    assert (c.label_nc, c.dontcare_as_class, c.use_instances, c.param_free_norm) == (0, False, "auto", "syncbatch")
    assert SPADE.train_defaults["data"]["batch_size"] == 32
    with pytest.raises(ConfigError, match="label_nc is 0"):
        SPADE(SPADEConfig())
    m = _model()
    assert m.optimizers["G"].param_groups[0]["betas"] == (0.0, 0.9)
    assert (m.optimizers["G"].param_groups[0]["lr"], m.optimizers["D"].param_groups[0]["lr"]) == (1e-4, 4e-4)


def test_fill_from_data():
    cfg = SPADEConfig()
    SPADE.fill_from_data(cfg, {"label_nc": 7, "has_instances": True, "has_dontcare": True, "image_size": 64})
    assert (cfg.label_nc, cfg.use_instances, cfg.crop_size) == (7, "true", 64)
    assert SPADE(SPADEConfig(**{**SMALL, "use_instances": "true"})).semantic_nc == NC + 1
    with pytest.raises(DataError, match="data has 9 classes"):
        SPADE.fill_from_data(SPADEConfig(label_nc=4), {"label_nc": 9})
    with pytest.raises(DataError, match="no instance maps"):
        SPADE.fill_from_data(SPADEConfig(label_nc=4, use_instances="true"), {"label_nc": 4, "has_instances": False})


def test_g_step_then_d_step_with_hand_computed_losses():
    model = _model()
    batch = _batch()
    calls, d_outputs, frozen_ok = [], [], []
    model.nets["D"].register_forward_hook(lambda mod, inp, out: d_outputs.append((inp[0].detach(), out)))
    optimize = model.optimize

    def spy(name, loss):
        calls.append(name)
        if name == "G":
            frozen_ok.append(not any(p.requires_grad for p in model.nets["D"].parameters()))
        optimize(name, loss)
        if name == "G":
            frozen_ok.append(all(p.grad is None for p in model.nets["D"].parameters()))

    model.optimize = spy
    out = model.training_step(batch)
    assert calls == ["G", "D"] and frozen_ok == [True, True]
    assert len(d_outputs) == 2  # one D call per step: fake and real concatenated along the batch
    n = batch["image"].shape[0]
    (x_g, outs_g), (x_d, outs_d) = d_outputs
    assert x_g.shape[0] == 2 * n and torch.equal(x_g[n:, -3:], batch["image"])  # fake first, then real
    assert torch.equal(x_g[:, :NC], x_d[:, :NC])  # both halves see the label map
    num_d = 2
    g_gan = sum(-o[-1][:n].mean() for o in outs_g) / num_d
    feat = sum(F.l1_loss(f[:n], f[n:]) for o in outs_g for f in o[:-1]) / num_d
    d_hinge = sum(F.relu(1 - o[-1][n:]).mean() + F.relu(1 + o[-1][:n]).mean() for o in outs_d) / num_d
    assert torch.allclose(out["loss/G_gan"], g_gan, atol=1e-6)
    assert torch.allclose(out["loss/G_feat"], feat, atol=1e-6)
    assert torch.allclose(out["loss/G"], g_gan + 10 * feat, atol=1e-5)
    assert torch.allclose(out["loss/D"], d_hinge, atol=1e-6)


def test_vae_kld_and_training_steps():
    mu, logvar = torch.tensor([[0.0, 1.0], [2.0, 0.0]]), torch.tensor([[0.0, 0.0], [0.5, -1.0]])
    by_hand = sum(-0.5 * (1 + lv - m ** 2 - torch.exp(lv)) for m, lv in zip(mu.flatten(), logvar.flatten()))
    assert torch.allclose(kld(mu, logvar), by_hand) and kld(torch.zeros(3, 4), torch.zeros(3, 4)) == 0
    model = _model(use_vae=True, z_dim=8, encoder_size=128)
    assert "E" in model.nets
    g_ids = {id(p) for p in model.optimizers["G"].param_groups[0]["params"]}
    assert all(id(p) in g_ids for p in model.nets["E"].parameters())  # E is trained with G's optimizer
    before = {k: [p.detach().clone() for p in n.parameters()] for k, n in model.nets.items()}
    for s in range(2):
        out = model.training_step(_batch(seed=s))
        assert all(torch.isfinite(v) for v in out.values())
    assert out["loss/KLD"] > 0
    assert torch.allclose(out["loss/G"], out["loss/G_gan"] + 10 * out["loss/G_feat"] + 0.05 * out["loss/KLD"],
                          atol=1e-4)
    for k, n in model.nets.items():  # every network was updated
        assert any(not torch.equal(a, b) for a, b in zip(before[k], n.parameters())), k


def test_training_with_instances_and_dontcare_class():
    model = _model(use_instances="true", dontcare_as_class=True, param_free_norm="syncbatch")
    assert model.semantic_nc == NC + 2
    out = model.training_step(_batch(instance=True))
    assert all(torch.isfinite(v) for v in out.values())
    with pytest.raises(DataError, match="out of range"):
        bad = _batch()
        bad["segmap"][0, 5, 5] = NC
        model.training_step(bad)


@pytest.mark.filterwarnings("ignore:VGGFeatures.*random weights:UserWarning")
def test_vgg_loss_and_inference_without_vgg(tmp_path):
    model = _model(lambda_vgg=10.0, vgg_weights="random")
    assert model.vgg is not None and model.vgg.layers == ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    out = model.training_step(_batch())
    assert out["loss/G_vgg"] > 0
    assert torch.allclose(out["loss/G"], out["loss/G_gan"] + 10 * out["loss/G_feat"] + 10 * out["loss/G_vgg"],
                          atol=1e-4)
    assert SPADE.for_inference(model.cfg).vgg is None
    with pytest.raises(WeightsNotFoundError, match="lambda_vgg=0"):
        _model(lambda_vgg=10.0, vgg_weights=str(tmp_path / "missing.pth"))


def test_generate_sample_grid_and_seeds():
    model = _model()
    fixed = model.fixed_inputs(16, seed=3, batch=_batch(3))
    grid = model.sample_grid(fixed)
    assert grid.shape == (9, 3, 32, 32) and model.grid_nrow == 3
    assert torch.equal(grid[0], colorize(fixed["segmap"][:1], NC)[0]) and torch.equal(grid[2], fixed["image"][0])
    assert model.nets["G"].training  # generate ran in eval mode and restored train mode
    vae = _model(use_vae=True, z_dim=8, encoder_size=128)
    lab = _labels(2)
    a, b = vae.generate(lab, seed=1), vae.generate(lab, seed=2)
    assert torch.equal(a, vae.generate(lab, seed=1)) and not torch.allclose(a, b)
    z = vae.sample_z(2, seed=1)
    assert torch.equal(vae.generate(lab, z=z), a) and torch.equal(vae.sample_z(1, seed=1), z[:1])


def test_translate_any_size():
    model = _model()
    ids = (torch.arange(37 * 45).reshape(37, 45) // 300) % NC
    img = Image.fromarray(ids.numpy().astype("uint8"), mode="L")
    out = model.translate(img)
    assert isinstance(out, Image.Image) and out.size == (45, 37) and out.mode == "RGB"
    t = model.translate(ids)
    assert t.shape == (3, 37, 45)
    assert torch.allclose(t, model.translate(ids[None])[0])
    # the visible part of a padded map is the same as the map padded by hand
    padded = F.pad(ids[None, None].float(), (0, 64 - 45, 0, 64 - 37), mode="reflect")[:, 0].long()
    assert torch.allclose(t, model.generate(padded)[0, :, :37, :45], atol=1e-6)
    # larger than the tile size: overlapping tiles, still the input's size
    model.cfg.tile_size = 64
    assert model.translate(ids.repeat(1, 2)[:, :80]).shape == (3, 37, 80)
    with pytest.raises(DataError, match="colour-coded"):
        model.translate(Image.new("RGB", (40, 40)))
    with pytest.raises(ConfigError, match="use_vae"):
        model.translate(ids, style_image=torch.zeros(3, 32, 32))
    vae = _model(use_vae=True, z_dim=8, encoder_size=128)
    y1, y2 = vae.translate(ids, seed=1), vae.translate(ids, seed=2)
    assert y1.shape == (3, 37, 45) and torch.equal(y1, vae.translate(ids, seed=1)) and not torch.allclose(y1, y2)
    assert vae.translate(img, style_image=Image.new("RGB", (50, 30), (200, 30, 30))).size == (45, 37)


def test_label_ids_inputs():
    pal = Image.fromarray(torch.tensor([[0, 3], [255, 1]], dtype=torch.uint8).numpy(), mode="L").convert("P")
    ids, single = label_ids(pal)
    assert single and ids.tolist() == [[[0, 3], [255, 1]]]
    assert label_ids(torch.zeros(2, 1, 4, 4))[0].shape == (2, 4, 4)
    with pytest.raises(DataError, match="non-integer"):
        label_ids(torch.full((4, 4), 0.5))



def test_translate_cli_reads_label_ids_and_checks_flags(capsys, tmp_path, cache_dir, one_thread):
    """`condgen translate` on a spade run: a palette label PNG is read as ids (not as colours), the output has its
    size; flags of other models are refused by name."""
    from cli_helpers import run_cli

    run = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", "spade", "--data", "scenes64", "--out", run, "--steps", "1",
                           "--no-progress", "--set", "model.ngf=2", "--set", "model.ndf=2",
                           "--set", "model.spade_hidden=4", "--set", "model.lambda_vgg=0",
                           "--set", "data.batch_size=1", "--set", "data.load_size=64", "--set", "data.crop_size=64",
                           "--set", "train.tensorboard=false", "--set", "train.precision=fp32")
    assert code == 0, err
    ids = np.zeros((40, 70), dtype=np.uint8)
    ids[20:, :] = 4
    ids[5:15, 30:50] = 7
    lab = Image.fromarray(ids, mode="P")
    lab.putpalette([0, 0, 0] * 8 + [200, 10, 10] * 248)  # colours unrelated to the ids
    lab.save(tmp_path / "map.png")
    code, out, err = run_cli(capsys, "translate", run, tmp_path / "map.png", "--out", tmp_path / "o", "--seed", "3")
    assert code == 0, err
    img = Image.open(tmp_path / "o" / "map.png")
    assert img.size == (70, 40) and img.mode == "RGB"
    model = condgen.load(run)
    assert np.array_equal(np.asarray(model.open_input(tmp_path / "map.png")), ids)
    assert np.array_equal(np.asarray(img), np.asarray(model.translate(Image.fromarray(ids, mode="L"))))
    code, _, err = run_cli(capsys, "translate", run, tmp_path / "map.png", "--out", tmp_path / "o",
                           "--direction", "BtoA")
    assert code != 0 and "one way only" in err
    code, _, err = run_cli(capsys, "translate", run, tmp_path / "map.png", "--out", tmp_path / "o",
                           "--region-style", "4=x.png")
    assert code != 0 and "sean option" in err
