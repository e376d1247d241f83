"""OASIS: the generator with explicit 3-D noise (global and per-region), the U-Net segmentation discriminator, the
class-balanced N+1 cross-entropy and LabelMix recomputed by hand, the update order, the EMA generator's batch-norm
re-estimation, and synthesis at any size. Data batches are mocked (the semantic loader is tested with the data)."""

from __future__ import annotations

import copy

import pytest
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

from condgen.config import load_yaml
from condgen.errors import ConfigError, DataError, ModelError
from condgen.losses import n1_cross_entropy
from condgen.models.oasis import OASIS, OASISConfig, class_balance_weights
from condgen.nn.labels import IGNORE_ID, colorize
from condgen.nn.norms import SpatiallyAdaptiveNorm
from condgen.nn.oasis import OASISGenerator, UNetSegDiscriminator, noise_map
from condgen.runs import preset_path

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny convolutions: thread hand-offs cost more than they save
NC = 5
SMALL = {"label_nc": NC, "ngf": 2, "ndf": 2, "spade_hidden": 8, "z_dim": 8, "crop_size": 64,
         "param_free_norm": "batch", "bn_reestimate_batches": 2}


def _model(**over) -> OASIS:
    torch.manual_seed(0)
    return OASIS(OASISConfig(**{**SMALL, **over}))


def _labels(n=2, size=64, nc=NC, seed=0, block=16):
    """Blocky random label maps with a don't-care corner."""
    g = torch.Generator().manual_seed(seed)
    k = size // block
    lab = torch.randint(0, nc, (n, k, k), generator=g).repeat_interleave(block, 1).repeat_interleave(block, 2)
    lab[:, :3, :3] = IGNORE_ID
    return lab


def _batch(n=2, size=64, seed=0):
    g = torch.Generator().manual_seed(seed + 1)
    return {"segmap": _labels(n, size, seed=seed), "image": torch.rand(n, 3, size, size, generator=g) * 2 - 1}


def _nparams(m):
    return sum(p.numel() for p in m.parameters())


# ----- networks ------------------------------------------------------------------------------------------------
def test_generator_channels_shapes_and_explicit_noise():
    torch.manual_seed(0)
    G = OASISGenerator(NC, ngf=2, z_dim=8, param_free="batch", hidden=8).eval()
    assert [(b.fin, b.fout) for b in G.blocks] == [(32, 32), (32, 32), (32, 16), (16, 8), (8, 4), (4, 2)]
    norms = [m for m in G.modules() if isinstance(m, SpatiallyAdaptiveNorm)]
    assert norms and all(m.cond_channels == NC + 8 for m in norms)  # every SPADE layer reads label ⊕ noise
    assert G.fc.in_channels == NC + 8 and G.to_rgb.out_channels == 3
    sem = torch.rand(2, NC, 32, 96)
    z = torch.randn(2, 8)
    state = torch.get_rng_state()
    a = G(sem, z)
    assert torch.equal(torch.get_rng_state(), state)  # nothing is drawn inside forward
    assert a.shape == (2, 3, 32, 96) and a.abs().max() <= 1
    assert torch.equal(a, G(sem, z[:, :, None, None].expand(-1, -1, 32, 96)))  # a vector = its replicated map
    assert not torch.allclose(a, G(sem, torch.randn(2, 8)))
    with pytest.raises(ModelError, match="never drawn inside forward"):
        G(sem)
    with pytest.raises(ModelError, match="multiples of 32"):
        G(torch.rand(1, NC, 40, 32), torch.randn(1, 8))
    G0 = OASISGenerator(NC, ngf=2, z_dim=0, param_free="batch", hidden=8)
    assert G0(sem).shape == (2, 3, 32, 96)  # the paper's no-noise ablation


def test_discriminator_is_a_unet_segmenter():
    D = UNetSegDiscriminator(NC + 1, ndf=2)
    out = D(torch.randn(2, 3, 64, 128))
    assert out.shape == (2, NC + 1, 64, 128)  # N+1 logits per pixel at full resolution
    assert [b.conv2.out_channels for b in D.down] == [4, 4, 8, 8, 16, 16]
    assert [b.conv2.out_channels for b in D.up] == [16, 8, 8, 4, 4, 2]
    assert [b.conv1.in_channels for b in D.up] == [16, 32, 16, 16, 8, 8]  # skips concatenated from the second on
    convs = [m for m in D.modules() if isinstance(m, nn.Conv2d)]
    # spectral norm on every conv but the final 1x1 classifier, as the authors' code
    assert len(convs) == 12 * 2 + 8 + 1 and all(hasattr(c, "parametrizations") for c in convs if c is not D.head)
    assert not hasattr(D.head, "parametrizations")
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d, nn.GroupNorm)) for m in D.modules())
    # the image alone: a change in the top-left corner changes the logits there and not in the far corner
    x = torch.randn(1, 3, 64, 64)
    x2 = x.clone()
    x2[..., :4, :4] += 1
    with torch.no_grad():
        d = (D(x) - D(x2)).abs().sum(1)[0]
    assert d[:4, :4].sum() > 0
    with pytest.raises(ModelError, match="multiples of 64"):
        D(torch.randn(1, 3, 96, 64))


def test_paper_parameter_counts():
    with torch.device("meta"):  # no memory, no init time; spectral norm adds buffers, not parameters
        G = OASISGenerator(151, spectral_norm=False)
        D = UNetSegDiscriminator(152, spectral_norm=False)
        G150 = OASISGenerator(150, spectral_norm=False)
    assert [b.conv2.out_channels for b in D.down] == [128, 128, 256, 256, 512, 512]
    assert [b.conv2.out_channels for b in D.up] == [512, 256, 256, 128, 128, 64]
    # ADE20K with OASIS's 151 semantic channels (0 = "other") + 64-d noise; the reference notes give no count
    assert (_nparams(G), _nparams(D)) == (74_314_691, 22_258_904)
    # every label channel adds a 3x3 conv to 128 in each of the 16 SPADE layers and a 3x3 conv to 1024 at the input
    assert _nparams(G) - _nparams(G150) == 16 * 128 * 9 + 1024 * 9


# ----- noise ---------------------------------------------------------------------------------------------------
def test_seeds_and_explicit_noise():
    model = _model()
    lab = _labels(2)
    state = torch.get_rng_state()
    a = model.generate(lab, seed=1)
    assert torch.equal(torch.get_rng_state(), state)  # seeds never touch the global RNG
    assert torch.equal(a, model.generate(lab, seed=1)) and not torch.allclose(a, model.generate(lab, seed=2))
    z = model.sample_z(2, seed=1)
    assert torch.equal(model.generate(lab, z=z), a) and torch.equal(model.sample_z(1, seed=1), z[:1])
    assert torch.equal(model.generate(lab, z=z[:, :, None, None].expand(-1, -1, 64, 64)), a)  # a full noise map
    assert torch.equal(model.generate(lab[0], seed=1), a[:1])  # an H x W map
    with pytest.raises(ConfigError, match="3 noise vectors for 2"):
        model.generate(lab, z=torch.zeros(3, 8))


def test_local_resampling_changes_only_the_chosen_class():
    model = _model()
    lab = torch.zeros(2, 64, 64, dtype=torch.long)
    lab[:, :, 32:] = 1
    lab[:, 40:, :20] = 2
    lab[:, :2, :2] = IGNORE_ID
    base = model.noise(lab, seed=0)
    new = model.noise(lab, seed=0, resample=[1], resample_seed=5)
    changed = (base != new).any(1)
    assert torch.equal(changed, lab == 1)  # the noise map differs exactly on the class
    assert torch.equal(new[:, :, 0, 40], model.sample_z(2, 5))  # ... where it holds the resample vector
    # a mapping gives each class its own vector; the same (class, seed) reproduces
    both = model.noise(lab, seed=0, resample={1: 5, 2: 6})
    assert torch.equal(both[:, :, 0, 40], new[:, :, 0, 40]) and torch.equal(both[:, :, 50, 5], model.sample_z(2, 6))
    assert torch.equal(noise_map(lab, base[:, :, 0, 0], [(1, model.sample_z(2, 5))]), new)
    # the image: an absent class changes nothing, the present one changes it
    a = model.generate(lab, seed=0)
    assert torch.equal(model.generate(lab, seed=0, resample=[3], resample_seed=5), a)
    b = model.generate(lab, seed=0, resample=[1], resample_seed=5)
    assert not torch.allclose(a, b)
    # receptive-field-limited: the last SPADE layer's gamma/beta (full resolution; two 3x3 convs on label ⊕ noise)
    # change only within 2 pixels of the resampled class
    conds = []
    norm = model.net("G").blocks[-1].norm_1
    h = norm.register_forward_hook(lambda mod, inp, out: conds.append(inp[1]))
    model.generate(lab, seed=0)
    model.generate(lab, seed=0, resample=[1], resample_seed=5)
    h.remove()
    with torch.no_grad():
        (g0, b0), (g1, b1) = norm.modulation(conds[0]), norm.modulation(conds[1])
    diff = ((g0 - g1).abs() + (b0 - b1).abs()).sum(1)
    near = F.max_pool2d((lab == 1).float()[:, None], 5, stride=1, padding=2)[:, 0] > 0
    assert diff[~near].abs().max() == 0 and diff[lab == 1].mean() > 0
    with pytest.raises(ConfigError, match="cannot resample class 7"):
        model.generate(lab, resample=[7])


# ----- the objective by hand -------------------------------------------------------------------------------------
def test_class_balance_weights_by_hand():
    seg = torch.tensor([[[0, 0, 0], [1, IGNORE_ID, 2]]])
    w = class_balance_weights(seg, 4)
    # 6 pixels (don't care counted), 3 classes present: w_c = 6 / (3 count_c); class 3 absent; don't care 0
    expect = torch.tensor([[[6 / 9, 6 / 9, 6 / 9], [2.0, 0.0, 2.0]]])
    assert torch.allclose(w, expect)
    assert torch.equal(class_balance_weights(seg, 4, balance=False), torch.tensor([[[1.0, 1, 1], [1, 0, 1]]]))
    # two images: the frequencies are the batch's
    seg2 = torch.tensor([[[0, 0]], [[0, 1]]])
    assert torch.allclose(class_balance_weights(seg2, 2), torch.tensor([[[4 / 6, 4 / 6]], [[4 / 6, 2.0]]]))


def test_g_step_then_d_step_with_hand_computed_losses():
    model = _model()
    batch = _batch()
    seg, n = batch["segmap"], 2
    calls, d_io, frozen_ok = [], [], []
    model.nets["D"].register_forward_hook(lambda mod, inp, out: d_io.append((inp[0].detach(), out.detach())))
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
    (x_g, o_g), (x_d, o_d) = d_io
    assert x_g.shape[0] == n and x_d.shape[0] == 3 * n  # G step: fakes; D step: fake | real | mixed in one call
    fake, real, mixed = x_d[:n], x_d[n:2 * n], x_d[2 * n:]
    assert torch.equal(real, batch["image"]) and not torch.allclose(fake, x_g)  # a fresh fake, new noise
    is_real, is_fake = (mixed == real).all(1), (mixed == fake).all(1)
    assert (is_real | is_fake).all() and is_real.any() and is_fake.any()
    mask = is_real[:, None].float()
    w = class_balance_weights(seg, NC)
    g_adv = n1_cross_entropy(o_g, seg, w)
    d_fake, d_real = n1_cross_entropy(o_d[:n], None), n1_cross_entropy(o_d[n:2 * n], seg, w)
    lm = ((o_d[2 * n:] - (mask * o_d[n:2 * n] + (1 - mask) * o_d[:n])) ** 2).mean()
    assert torch.allclose(out["loss/G_adv"], g_adv, atol=1e-6) and torch.allclose(out["loss/G"], g_adv, atol=1e-6)
    assert torch.allclose(out["loss/D_fake"], d_fake, atol=1e-6)
    assert torch.allclose(out["loss/D_real"], d_real, atol=1e-6)
    assert torch.allclose(out["loss/D_labelmix"], lm, atol=1e-6)
    assert torch.allclose(out["loss/D"], d_fake + d_real + 10 * lm, atol=1e-5)


def test_training_steps_are_finite_and_update_both_nets():
    model = _model()
    before = {k: [p.detach().clone() for p in n.parameters()] for k, n in model.nets.items()}
    for s in range(2):
        out = model.training_step(_batch(seed=s))
        assert all(torch.isfinite(v) for v in out.values())
    for k, n in model.nets.items():
        assert any(not torch.equal(a, b) for a, b in zip(before[k], n.parameters())), k
    other = _model(dontcare_as_class=True, lambda_labelmix=0.0, class_balancing=False, z_dim=0,
                   param_free_norm="syncbatch")
    assert other.semantic_nc == NC + 1
    out = other.training_step(_batch())
    assert "loss/D_labelmix" not in out and all(torch.isfinite(v) for v in out.values())
    bad = _batch()
    bad["segmap"][0, 5, 5] = NC
    with pytest.raises(DataError, match="out of range"):
        model.training_step(bad)


# ----- EMA + batch-norm re-estimation ----------------------------------------------------------------------------
def test_reestimate_bn_cumulative_on_the_ema_generator():
    model = _model()
    model.training_step(_batch())
    model.ema["G"] = copy.deepcopy(model.nets["G"]).eval().requires_grad_(False)  # as the trainer keeps it
    ema = model.ema["G"]
    bn = ema.blocks[0].norm_0.norm
    sn_u = [b.clone() for name, b in ema.named_buffers() if name.endswith("_u")]
    old = bn.running_mean.clone()
    means = []
    h = bn.register_forward_hook(lambda mod, inp, out: means.append(inp[0].mean((0, 2, 3))))
    used = model.reestimate_bn([_labels(2, seed=1), {"segmap": _labels(3, seed=2)}], seed=0)
    h.remove()
    assert used == 2 and int(bn.num_batches_tracked) == 2
    assert not torch.allclose(bn.running_mean, old)
    assert torch.allclose(bn.running_mean, (means[0] + means[1]) / 2, atol=1e-5)  # cumulative, not momentum
    assert bn.momentum == 0.1 and not ema.training and not bn.training  # restored
    assert all(torch.equal(a, b) for a, b in zip(sn_u, [b for n_, b in ema.named_buffers() if n_.endswith("_u")]))
    live = model.nets["G"].blocks[0].norm_0.norm
    assert not torch.allclose(live.running_mean, bn.running_mean)  # only the EMA copy
    # the sample grid re-estimates first: label | fake (noise a) | fake (noise b) | real
    fixed = model.fixed_inputs(16, seed=3, batch=_batch(3))
    ema.blocks[0].norm_0.norm.reset_running_stats()
    grid = model.sample_grid(fixed)
    assert grid.shape == (12, 3, 64, 64) and model.grid_nrow == 4
    assert int(bn.num_batches_tracked) == model.cfg.bn_reestimate_batches
    assert torch.equal(grid[0], colorize(fixed["segmap"][:1], NC)[0]) and torch.equal(grid[3], fixed["image"][0])
    assert not torch.allclose(grid[1], grid[2])  # two noise draws


# ----- synthesis ---------------------------------------------------------------------------------------------------
def test_translate_any_size_with_resampling():
    model = _model()
    model.reestimate_bn([_labels(2)])  # fresh BN statistics (mean 0, var 1) saturate tanh: images would all be ±1
    ids = (torch.arange(37 * 45).reshape(37, 45) // 300) % NC
    img = Image.fromarray(ids.numpy().astype("uint8"), mode="L")
    out = model.translate(img)
    assert isinstance(out, Image.Image) and out.size == (45, 37) and out.mode == "RGB"
    t = model.translate(ids, seed=3)
    assert t.shape == (3, 37, 45) and torch.equal(t, model.translate(ids, seed=3))
    assert not torch.allclose(t, model.translate(ids, seed=4))
    # the visible part of a padded map is the same as the map padded by hand, with the same noise vector
    padded = F.pad(ids[None, None].float(), (0, 64 - 45, 0, 64 - 37), mode="reflect")[:, 0].long()
    assert torch.allclose(t, model.generate(padded, z=model.sample_z(1, 3))[0, :, :37, :45], atol=1e-6)
    r = model.translate(ids, seed=3, resample_classes=[1], resample_seed=7)
    assert not torch.allclose(r, t) and torch.equal(r, model.translate(ids, seed=3, resample_classes=[1],
                                                                       resample_seed=7))
    model.cfg.tile_size = 64  # overlapping tiles share the noise vectors; still the input's size
    assert model.translate(ids.repeat(1, 2)[:, :80], resample_classes=[2]).shape == (3, 37, 80)
    with pytest.raises(DataError, match="not in this label map"):
        model.translate(torch.zeros(40, 40, dtype=torch.long), resample_classes=[3])
    with pytest.raises(DataError, match="colour-coded"):
        model.translate(Image.new("RGB", (40, 40)))


# ----- config and data -------------------------------------------------------------------------------------------
def test_config_defaults_presets_and_fill_from_data():
    c = OASISConfig()
    assert (c.ngf, c.ndf, c.z_dim, c.spade_hidden, c.param_free_norm) == (64, 64, 64, 128, "syncbatch")
    assert (c.lambda_labelmix, c.lambda_vgg, c.class_balancing) == (10.0, 0.0, True)
    assert (c.lr_G, c.lr_D, c.beta1, c.beta2) == (1e-4, 4e-4, 0.0, 0.999)
    td = OASIS.train_defaults
    assert td["train"]["ema_decay"] == 0.9999 and td["data"]["batch_size"] == 32 and td["train"]["epochs"] == 200
    with pytest.raises(ConfigError, match="label_nc is 0"):
        OASIS(OASISConfig())
    m = _model()
    assert m.optimizers["G"].param_groups[0]["betas"] == (0.0, 0.999) and m.vgg is None
    assert (m.optimizers["G"].param_groups[0]["lr"], m.optimizers["D"].param_groups[0]["lr"]) == (1e-4, 4e-4)
    paper = load_yaml(preset_path("oasis_paper"))
    for k, v in paper["model"].items():
        assert k == "name" or getattr(c, k) == v, k  # the paper preset restates the defaults
    quick = load_yaml(preset_path("oasis_quick"))
    assert quick["data"]["path"] == "scenes64" and quick["data"]["crop_size"] % 64 == 0
    cfg = OASISConfig()
    OASIS.fill_from_data(cfg, {"label_nc": 7, "has_instances": True, "image_size": 64})
    assert (cfg.label_nc, cfg.crop_size) == (7, 64)
    with pytest.raises(DataError, match="data has 9 classes"):
        OASIS.fill_from_data(OASISConfig(label_nc=4), {"label_nc": 9})
    with pytest.raises(DataError, match="how many classes"):
        OASIS.fill_from_data(OASISConfig(), {})


def test_translate_cli_with_local_resampling(capsys, tmp_path, cache_dir, one_thread):
    """`condgen translate RUN map.png --resample CLASS`: label ids read from the file, the output's size kept, the
    image differs from the one without resampling; the EMA G keeps its own (re-estimated) BN statistics."""
    import numpy as np
    from cli_helpers import run_cli
    from PIL import Image

    run = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", "oasis", "--data", "scenes64", "--out", run, "--steps", "1",
                           "--no-progress", "--set", "model.ngf=2", "--set", "model.ndf=2",
                           "--set", "model.spade_hidden=4", "--set", "model.z_dim=4",
                           "--set", "model.bn_reestimate_batches=2", "--set", "data.batch_size=1",
                           "--set", "data.load_size=64", "--set", "data.crop_size=64",
                           "--set", "train.tensorboard=false", "--set", "train.precision=fp32")
    assert code == 0, err
    ids = np.zeros((48, 80), dtype=np.uint8)
    ids[24:] = 4
    Image.fromarray(ids, mode="L").save(tmp_path / "map.png")
    for extra, folder in (([], "a"), (["--resample", "4"], "b")):
        code, _, err = run_cli(capsys, "translate", run, tmp_path / "map.png", "--out", tmp_path / folder, *extra)
        assert code == 0, err
    a, b = (np.asarray(Image.open(tmp_path / f / "map.png")) for f in ("a", "b"))
    assert a.shape == (48, 80, 3) and not np.array_equal(a, b)
    code, _, err = run_cli(capsys, "translate", run, tmp_path / "map.png", "--out", tmp_path / "c",
                           "--style-image", tmp_path / "map.png")
    assert code != 0 and "style codes" in err
