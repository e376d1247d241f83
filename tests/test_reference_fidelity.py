"""Fidelity to the authors' code (issue 19, defects 1-6; facts in shared/reference/parity.md).

Each test compares condgen with the reference's behaviour: reference-layout checkpoints (the fixtures of
test_import_weights.py), independent re-implementations of the reference forward passes written here from the
documented layer orders, or the reference's parameter counts. Tiny widths, CPU, one thread.
"""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch
from cli_helpers import run_cli
from test_import_weights import RefResnet, RefUnet, one_thread, randomized  # noqa: F401 (autouse fixture)
from torch import nn
from torch.nn import functional as F

import condgen
from condgen.config import load_yaml
from condgen.models import get_model_class
from condgen.runs import build_config, config_from_dict, preset_path


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.float() - b.float()).abs().max().item()


# ----- 1. pix2pix import: dropout -------------------------------------------------------------------------------
def _unet_without_dropout() -> nn.Module:
    """A reference U-Net trained with --no_dropout: the same keys (dropout has no parameters), no Dropout."""
    ref = randomized(RefUnet(3, 3, 7, ngf=4), seed=5)
    for m in ref.modules():
        if isinstance(m, nn.Sequential):
            for i, layer in enumerate(m):
                if isinstance(layer, nn.Dropout):
                    m[i] = nn.Identity()
    return ref


def test_unet_import_with_no_dropout_matches_paper_test_mode(tmp_path, capsys):
    ref = _unet_without_dropout()
    torch.save(ref.state_dict(), tmp_path / "g.pth")
    code, out, err = run_cli(capsys, "import-weights", tmp_path / "g.pth", "--no-dropout", "--out", tmp_path / "run")
    assert code == 0, err
    model = condgen.load(tmp_path / "run")
    assert model.cfg.dropout == 0.0 and not model.cfg.eval_mode
    x = torch.randn(2, 3, 128, 128)
    with torch.no_grad():
        expected = ref.train()(x.clone())  # the reference's test.py without --eval: train-mode layers
    assert _max_diff(model.translate(x), expected) <= 1e-5
    # without the option the reference's default (dropout 0.5) is assumed, and is what the run says
    assert run_cli(capsys, "import-weights", tmp_path / "g.pth", "--out", tmp_path / "run2")[0] == 0
    assert condgen.load(tmp_path / "run2").cfg.dropout == 0.5


def test_resnet_import_keeps_the_dropout_its_keys_show(tmp_path, capsys):
    ref = randomized(RefResnet(3, 3, ngf=4, n_blocks=6, norm="batch", dropout=True), seed=6)
    torch.save(ref.state_dict(), tmp_path / "g.pth")
    code, out, err = run_cli(capsys, "import-weights", tmp_path / "g.pth", "--out", tmp_path / "run")
    assert code == 0, err
    assert "dropout 0.5" in out
    model = condgen.load(tmp_path / "run")
    assert any(isinstance(m, nn.Dropout) for m in model.net("G").modules())
    x = torch.randn(2, 3, 32, 32)
    torch.manual_seed(11)
    with torch.no_grad():
        expected = ref.train()(x.clone())
    torch.manual_seed(11)  # the same dropout masks: same layers, same order
    assert _max_diff(model.translate(x), expected) <= 1e-5
    # the keys decide for a ResNet: a contradicting --no-dropout is refused with a message
    code, _, err = run_cli(capsys, "import-weights", tmp_path / "g.pth", "--no-dropout", "--out", tmp_path / "r2")
    assert code != 0 and "with dropout" in err and "Traceback" not in err


# ----- 2. paper test mode leaves the running statistics alone -----------------------------------------------------
def test_paper_test_mode_does_not_drift_the_batch_norm_statistics(tmp_path, capsys):
    ref = randomized(RefUnet(3, 3, 7, ngf=4), seed=7)
    torch.save(ref.state_dict(), tmp_path / "g.pth")
    assert run_cli(capsys, "import-weights", tmp_path / "g.pth", "--out", tmp_path / "run")[0] == 0
    model = condgen.load(tmp_path / "run")
    G = model.net("G")
    before = copy.deepcopy(G.state_dict())
    x = torch.randn(2, 3, 128, 128)
    eval_before = model.translate(x, eval_mode=True)
    for _ in range(2):
        model.translate(x)  # paper mode: dropout and batch statistics
    assert all(torch.equal(v, before[k]) for k, v in G.state_dict().items())  # running stats and counters
    assert not any(m.training for m in G.modules())  # modes restored
    assert _max_diff(model.translate(x, eval_mode=True), eval_before) == 0.0


def test_batch_statistics_helper_restores_modes_and_buffers():
    from condgen.nn.norms import batch_statistics

    net = nn.Sequential(nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4), nn.Dropout(0.5)).eval()
    net[1].running_mean.fill_(3.0)
    x = torch.randn(3, 2, 8, 8)
    with batch_statistics(net), torch.no_grad():
        assert all(m.training for m in net.modules())
        y = net[1](net[0](x))
    assert torch.allclose(y.mean((0, 2, 3)), torch.zeros(4), atol=1e-5)  # batch statistics were used
    assert torch.equal(net[1].running_mean, torch.full((4,), 3.0)) and int(net[1].num_batches_tracked) == 0
    assert not any(m.training for m in net.modules()) and net[1].track_running_stats


# ----- 3. OASIS discriminator: no spectral norm on the last 1x1 layer ------------------------------------------
def test_oasis_discriminator_head_is_a_plain_conv():
    from condgen.models.oasis import OASIS, OASISConfig

    model = OASIS(OASISConfig(label_nc=4, ngf=1, ndf=2, z_dim=2, spade_hidden=4, param_free_norm="batch"))
    D = model.nets["D"].eval()
    # the reference's layer_up_last: weight and bias, no spectral-norm state
    assert set(D.head.state_dict()) == {"weight", "bias"}
    assert any("parametrizations" in k for k in D.state_dict())  # the other layers keep theirs
    seen = {}
    D.head.register_forward_hook(lambda m, args, out: seen.update(x=args[0]))
    with torch.no_grad():
        out = D(torch.randn(2, 3, 64, 64))
        expected = F.conv2d(seen["x"], D.head.weight, D.head.bias)
    assert out.shape == (2, 5, 64, 64) and _max_diff(out, expected) <= 1e-6
    quick = build_config("oasis", load_yaml(preset_path("oasis_quick")))
    assert quick.model.d_head_spectral_norm  # short runs keep it (documented)


# ----- 4. SEAN region pooling: the label map nearest-downsampled to the encoder's grid ----------------------------
def _reference_pooling(features: torch.Tensor, segmap: torch.Tensor, label_nc: int) -> torch.Tensor:
    """The release's loop: the one-hot label map resized (nearest) to the feature size, then per image and class
    the mean feature over the cells of that class (zero for a class with no cell)."""
    onehot = F.one_hot(segmap, label_nc).permute(0, 3, 1, 2).float()
    onehot = F.interpolate(onehot, size=features.shape[-2:], mode="nearest")
    codes = torch.zeros(features.shape[0], label_nc, features.shape[1])
    for b in range(features.shape[0]):
        for j in range(label_nc):
            mask = onehot[b, j].bool()
            if mask.sum() > 0:
                codes[b, j] = features[b].masked_select(mask).reshape(features.shape[1], -1).mean(1)
    return codes


def test_sean_style_codes_pool_like_the_release():
    from condgen.models.sean import SEAN, SEANConfig

    torch.manual_seed(0)
    model = SEAN.for_inference(SEANConfig(label_nc=4, ngf=1, ndf=2, style_dim=6, encoder_nf=2, spade_hidden=4,
                                          param_free_norm="instance"))
    seg = torch.zeros(2, 32, 32, dtype=torch.long)
    seg[:, :, 5:11] = 1  # edges at odd columns: off the encoder's 2 x 2 grid
    seg[:, 13:, 11:] = 2
    seg[0, 1, 1] = 3  # one pixel the nearest grid never samples
    image = torch.rand(2, 3, 32, 32) * 2 - 1
    codes = model.encode_styles(image, seg)
    with torch.no_grad():
        expected = _reference_pooling(model.nets["E"].style_map(image), seg, 4)
    assert _max_diff(codes, expected) <= 1e-5
    assert not codes[0, 3].any()  # as the release: no code for a class the grid misses


# ----- 5a. UNIT: zero padding, as the 2017 code ------------------------------------------------------------------
def _ref_unit_res(x, block):
    h = F.relu(F.instance_norm(F.conv2d(x, block.conv1.weight, block.conv1.bias, padding=1)))
    return x + F.instance_norm(F.conv2d(h, block.conv2.weight, block.conv2.bias, padding=1))


def _ref_unit_a2b(G, x):
    """COCOResGen.forward_a2b in eval mode (no noise): every conv zero-padded."""
    enc, gen = G.enc["A"], G.gen["B"]
    h = F.leaky_relu(F.conv2d(x, enc.stem[1].weight, enc.stem[1].bias, padding=3), 0.01)
    for down in enc.down:
        h = F.relu(F.instance_norm(F.conv2d(h, down[0].weight, down[0].bias, stride=2, padding=1)))
    for block in (*enc.blocks, *G.enc_shared, *G.gen_shared, *gen.blocks):
        h = _ref_unit_res(h, block.body)
    for up in gen.up:
        h = F.conv_transpose2d(h, up[0].weight, up[0].bias, stride=2, padding=1, output_padding=1)
        h = F.relu(F.instance_norm(h))
    return torch.tanh(F.conv2d(h, gen.head[1].weight, gen.head[1].bias))


def test_unit_translates_like_the_2017_code():
    from condgen.models.unit import UNIT, UNITConfig

    torch.manual_seed(0)
    model = UNIT(UNITConfig(ngf=2, ndf=2, n_res_private=1, n_layers_D=1, num_scales=1))
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        expected = _ref_unit_a2b(model.nets["G"], x)
    got = model.translate(x)
    assert expected.std() > 1e-3 and _max_diff(got, expected) <= 1e-5


# ----- 5b. MUNIT: the release's layer norm and AdaIN parameter layout ---------------------------------------------
def _ref_adain(x, weight, bias):
    """The release's AdaptiveInstanceNorm2d: batch norm over a 1 x (B*C) x H x W view, weight/bias assigned."""
    b, c = x.shape[:2]
    out = F.batch_norm(x.reshape(1, b * c, *x.shape[2:]), torch.zeros(b * c), torch.ones(b * c),
                       weight.reshape(-1), bias.reshape(-1), True, 0.1, 1e-5)
    return out.view_as(x)


def _ref_layer_norm(x, gamma, beta, eps=1e-5):
    flat = x.view(x.shape[0], -1)
    x = (x - flat.mean(1).view(-1, 1, 1, 1)) / (flat.std(1).view(-1, 1, 1, 1) + eps)
    return x * gamma.view(1, -1, 1, 1) + beta.view(1, -1, 1, 1)


def _ref_munit_decode(gen, content, style):
    """AdaINGen.decode: MLP -> per AdaIN layer [mean (bias), std (weight)] in module order -> decoder."""
    p = style
    linears = [m for m in gen.mlp.modules() if isinstance(m, nn.Linear)]
    for i, lin in enumerate(linears):
        p = F.linear(p, lin.weight, lin.bias)
        p = F.relu(p) if i < len(linears) - 1 else p
    h = content
    for block in gen.decoder.blocks:
        c = h.shape[1]
        (b1, g1), (b2, g2) = (p[:, :c], p[:, c:2 * c]), (p[:, 2 * c:3 * c], p[:, 3 * c:4 * c])
        p = p[:, 4 * c:]
        r = F.conv2d(F.pad(h, (1,) * 4, mode="reflect"), block.conv1.weight, block.conv1.bias)
        r = F.relu(_ref_adain(r, g1, b1))
        r = F.conv2d(F.pad(r, (1,) * 4, mode="reflect"), block.conv2.weight, block.conv2.bias)
        h = h + _ref_adain(r, g2, b2)
    for layer in gen.decoder.up:
        if isinstance(layer, nn.Upsample):
            h = F.interpolate(h, scale_factor=2, mode="nearest")
        else:
            h = F.conv2d(F.pad(h, (2,) * 4, mode="reflect"), layer.conv.weight, layer.conv.bias)
            h = F.relu(_ref_layer_norm(h, layer.norm.weight, layer.norm.bias))
    head = gen.decoder.head.conv
    return torch.tanh(F.conv2d(F.pad(h, (3,) * 4, mode="reflect"), head.weight, head.bias))


def test_munit_decodes_like_the_release():
    from condgen.models.munit import MUNIT, MUNITConfig

    torch.manual_seed(0)
    model = MUNIT(MUNITConfig(ngf=4, ndf=2, n_res=2, mlp_dim=8, n_layers_D=1, num_scales=1))
    gen = model.nets["G"]["B"]
    norms = [m.norm for m in gen.decoder.up if hasattr(m, "norm")]
    # the release's LayerNorm init: gamma ~ U[0, 1], beta 0
    assert all(((n.weight >= 0) & (n.weight <= 1)).all() and not torch.equal(n.weight, torch.ones_like(n.weight))
               and not n.bias.any() for n in norms)
    content, style = torch.randn(2, 16, 4, 4), torch.randn(2, 8)
    with torch.no_grad():
        got, expected = gen.decode(content, style), _ref_munit_decode(gen, content, style)
    assert expected.std() > 1e-3 and _max_diff(got, expected) <= 1e-5


# ----- 6. presets and parameter counts -----------------------------------------------------------------------------
def test_spade_cityscapes_preset_is_the_authors_setting():
    from condgen.nn.spade import SPADEGenerator

    cfg = build_config("spade", load_yaml(preset_path("spade_cityscapes")))
    m = cfg.model
    assert (m.num_upsampling_layers, m.label_nc, m.use_instances, m.aspect_ratio) == ("more", 35, "true", 2.0)
    assert cfg.data.batch_size == 16
    with torch.device("meta"):  # 35 ids + the instance-edge channel; 512 x 256 starts from 8 x 4
        G = SPADEGenerator(36, num_upsampling_layers=m.num_upsampling_layers)
    assert G.start_size(256, 512) == (4, 8)
    assert sum(p.numel() for p in G.parameters()) == 93_048_003  # parity.md: SPADE G at 36 input channels


def test_sean_default_generator_has_the_releases_parameter_count():
    from condgen.models.sean import SEANConfig
    from condgen.nn.sean import SEANGenerator, SEANNorm

    c = SEANConfig()
    with torch.device("meta"):  # CelebAMask-HQ: 19 classes, no instance maps
        G = SEANGenerator(19, 19, spectral_norm=False, spade_last_block=c.spade_last_block, noise=c.noise)
    # the release: 265,338,791, of which 3 x 2 blending scalars of its last block are never used (not built here)
    assert sum(p.numel() for p in G.parameters()) == 265_338_791 - 6
    last = [m for m in G.ups[-1].modules() if isinstance(m, SEANNorm)]
    assert len(last) == 3 and all(not n.region_styles and n.noise_scale is not None for n in last)


def _spade_d_reference_count(in_channels: int, ndf: int = 64, n_layers: int = 4, num_d: int = 2) -> int:
    """The release's NLayerDiscriminator: first and last conv with bias; the spectral-instance ones without."""
    chans = [ndf * min(2 ** i, 8) for i in range(n_layers)]
    per = in_channels * ndf * 16 + ndf + chans[-1] * 16 + 1
    per += sum(a * b * 16 for a, b in zip(chans[:-1], chans[1:]))
    return num_d * per


def test_spade_discriminator_and_encoder_have_no_bias_before_instance_norm():
    from condgen.models.sean import SEANConfig
    from condgen.models.spade import SPADEConfig
    from condgen.nn.spade import ConvEncoder, SPADEDiscriminator

    assert not SPADEConfig().norm_conv_bias and not SEANConfig().norm_conv_bias
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    with torch.device("meta"):
        D, E = SPADEDiscriminator(36 + 3), ConvEncoder()
    assert count(D) == _spade_d_reference_count(39)
    chans = [3, 64, 128, 256, 512, 512, 512]
    assert count(E) == sum(a * b * 9 for a, b in zip(chans[:-1], chans[1:])) + 2 * (512 * 16 * 256 + 256)


# ----- old runs keep computing what they computed ----------------------------------------------------------------
@pytest.mark.parametrize("name", ["pix2pix", "oasis", "sean", "spade", "unit", "munit"])
def test_configs_saved_before_a_key_existed_keep_the_old_behaviour(name):
    cls = get_model_class(name)
    before = cls.Config.saved_before
    saved = build_config(name, {}).to_dict()
    for key in before:
        saved["model"].pop(key)
    old = config_from_dict(saved)
    assert {k: getattr(old.model, k) for k in before} == before
    new = build_config(name, {})
    assert all(getattr(new.model, k) != v for k, v in before.items())  # new runs: the reference's behaviour
    assert dataclasses.asdict(config_from_dict(new.to_dict()).model) == dataclasses.asdict(new.model)
