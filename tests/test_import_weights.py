"""Loading junyanz/pytorch-CycleGAN-and-pix2pix checkpoints.

The reference-layout nets below are test fixtures written from the documented key layout
(/work/shared/reference/pix2pix_cyclegan.md, sec. 6): modules sit at the reference's attribute names and
Sequential indices so their state dicts carry its key names, and they compute what its forward computes
(including the in-place LeakyReLU that puts activated features on the U-Net skips). Loading their
random weights into condgen's nets must reproduce their outputs exactly.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from condgen.errors import CheckpointError, ConfigError, WeightsNotFoundError
from condgen.importers import build_net, convert_state_dict, detect_arch, load_reference_weights


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny convs: thread hand-offs cost more than they save on a shared machine (10x here), so use one."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _norm(kind, c):
    return {"batch": lambda: nn.BatchNorm2d(c), "instance": lambda: nn.InstanceNorm2d(c),
            "none": nn.Identity}[kind]()


class RefUnetLevel(nn.Module):
    """One level of the reference's recursive U-Net, at its Sequential indices."""

    def __init__(self, outer, inner, sub=None, in_nc=None, outermost=False, norm="batch", dropout=False):
        super().__init__()
        bias = norm == "instance"
        down = nn.Conv2d(in_nc or outer, inner, 4, 2, 1, bias=bias)
        self.outermost = outermost
        if outermost:
            layers = [down, sub, nn.ReLU(True), nn.ConvTranspose2d(2 * inner, outer, 4, 2, 1), nn.Tanh()]
        elif sub is None:
            layers = [nn.LeakyReLU(0.2, True), down, nn.ReLU(True),
                      nn.ConvTranspose2d(inner, outer, 4, 2, 1, bias=bias), _norm(norm, outer)]
        else:
            layers = [nn.LeakyReLU(0.2, True), down, _norm(norm, inner), sub, nn.ReLU(True),
                      nn.ConvTranspose2d(2 * inner, outer, 4, 2, 1, bias=bias), _norm(norm, outer)]
            layers += [nn.Dropout(0.5)] if dropout else []
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        y = self.model(x)  # the in-place LeakyReLU at model[0] has already overwritten x
        return y if self.outermost else torch.cat([x, y], 1)


class RefUnet(nn.Module):
    def __init__(self, in_nc, out_nc, num_downs, ngf, norm="batch"):
        super().__init__()
        w = [ngf * min(2 ** k, 8) for k in range(num_downs)]
        level = RefUnetLevel(w[-2], w[-1], norm=norm)
        for k in range(num_downs - 2, 0, -1):
            level = RefUnetLevel(w[k - 1], w[k], level, norm=norm, dropout=4 <= k)
        self.model = RefUnetLevel(out_nc, ngf, level, in_nc=in_nc, outermost=True, norm=norm)

    def forward(self, x):
        return self.model(x)


class RefResBlock(nn.Module):
    def __init__(self, c, norm, dropout):
        super().__init__()
        bias = norm == "instance"
        layers = [nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3, bias=bias), _norm(norm, c), nn.ReLU(True)]
        layers += [nn.Dropout(0.5)] if dropout else []
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3, bias=bias), _norm(norm, c)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv_block(x)


class RefResnet(nn.Module):
    def __init__(self, in_nc, out_nc, ngf, n_blocks, norm="instance", dropout=False):
        super().__init__()
        b = norm == "instance"
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(in_nc, ngf, 7, bias=b), _norm(norm, ngf), nn.ReLU(True)]
        for m in (1, 2):
            layers += [nn.Conv2d(ngf * m, ngf * m * 2, 3, 2, 1, bias=b), _norm(norm, ngf * m * 2), nn.ReLU(True)]
        layers += [RefResBlock(ngf * 4, norm, dropout) for _ in range(n_blocks)]
        for m in (4, 2):
            layers += [nn.ConvTranspose2d(ngf * m, ngf * m // 2, 3, 2, 1, output_padding=1, bias=b),
                       _norm(norm, ngf * m // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


class RefNLayer(nn.Module):
    def __init__(self, in_nc, ndf, n_layers, norm="batch"):
        super().__init__()
        b = norm == "instance"
        layers = [nn.Conv2d(in_nc, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        for j in range(1, n_layers + 1):
            cin, cout = ndf * min(2 ** (j - 1), 8), ndf * min(2 ** j, 8)
            layers += [nn.Conv2d(cin, cout, 4, 2 if j < n_layers else 1, 1, bias=b), _norm(norm, cout),
                       nn.LeakyReLU(0.2, True)]
        layers += [nn.Conv2d(ndf * min(2 ** n_layers, 8), 1, 4, 1, 1)]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


class RefPixel(nn.Module):
    def __init__(self, in_nc, ndf, norm="batch"):
        super().__init__()
        b = norm == "instance"
        self.net = nn.Sequential(nn.Conv2d(in_nc, ndf, 1), nn.LeakyReLU(0.2, True),
                                 nn.Conv2d(ndf, 2 * ndf, 1, bias=b), _norm(norm, 2 * ndf),
                                 nn.LeakyReLU(0.2, True), nn.Conv2d(2 * ndf, 1, 1, bias=b))

    def forward(self, x):
        return self.net(x)


def randomized(net: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights and BatchNorm statistics, in eval mode."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                m.weight.normal_(0, (2 / m.weight[0].numel()) ** 0.5, generator=g)
                if m.bias is not None:
                    m.bias.normal_(0, 0.1, generator=g)
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5, generator=g)
                m.bias.normal_(0, 0.1, generator=g)
                m.running_mean.normal_(0, 0.1, generator=g)
                m.running_var.uniform_(0.5, 1.5, generator=g)
                m.num_batches_tracked.fill_(7)
    return net.eval()


def roundtrip(tmp_path, ref, arch, kind, x, sd=None, **kwargs):
    """Save ``ref``'s (or the given) state dict, load it through condgen, compare outputs on ``x``."""
    path = tmp_path / "latest_net.pth"
    torch.save(sd if sd is not None else ref.state_dict(), path)
    net = load_reference_weights(path, arch, kind, **kwargs).eval()
    with torch.no_grad():
        expected, got = ref(x.clone()), net(x.clone())
    assert expected.std() > 0.01  # not a saturated, constant output
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)
    return net


def test_reference_key_layout_at_full_size():
    # meta device: the real 54 M parameter layout, checked against the documented keys without allocating it
    with torch.device("meta"):
        sd = RefUnet(3, 3, 8, 64).state_dict()
        assert len(sd) == 82 and len(RefUnet(3, 3, 8, 64, "instance").state_dict()) == 32
        assert sd["model.model.1.model.5.weight"].shape == (256, 64, 4, 4)
        assert sd["model.model.3.weight"].shape == (128, 3, 4, 4)
        inner = "model.model.1" + ".model.3" * 6 + ".model"
        assert sd[f"{inner}.1.weight"].shape == sd[f"{inner}.3.weight"].shape == (512, 512, 4, 4)
        assert f"{inner}.4.running_var" in sd
        state, own = convert_state_dict(sd, "unet_256", "G"), build_net("unet_256").state_dict()
        assert {k: v.shape for k, v in state.items()} == {k: v.shape for k, v in own.items()}
        rn = RefResnet(3, 3, 64, 9).state_dict()
        assert len(rn) == 48 and rn["model.26.weight"].shape == (3, 64, 7, 7)
        assert "model.18.conv_block.5.bias" in rn and len(RefResnet(3, 3, 64, 9, "batch").state_dict()) == 140
        d = RefNLayer(6, 64, 3).state_dict()
        assert len(d) == 22 and d["model.11.weight"].shape == (1, 512, 4, 4)


@pytest.mark.parametrize("prefix", ["", "module."])
def test_unet_256(tmp_path, prefix):
    torch.manual_seed(0)
    ref = randomized(RefUnet(3, 3, 8, ngf=4))
    sd = {prefix + k: v for k, v in ref.state_dict().items()}
    net = roundtrip(tmp_path, ref, "unet_256", "G", torch.randn(1, 3, 256, 256), sd, ngf=4)
    assert len(net.state_dict()) == 82


def test_unet_128_instance_autodetect(tmp_path):
    torch.manual_seed(0)
    ref = randomized(RefUnet(1, 2, 7, ngf=4, norm="instance"))
    # a batch of 2: instance norm on the 1x1 bottleneck is degenerate but defined, as in the reference
    roundtrip(tmp_path, ref, None, None, torch.randn(2, 1, 128, 128))


@pytest.mark.parametrize("prefix", ["", "module."])
def test_resnet_9blocks_with_stale_instance_norm_stats(tmp_path, prefix):
    torch.manual_seed(0)
    ref = randomized(RefResnet(3, 3, ngf=4, n_blocks=9))
    sd = ref.state_dict()
    for name, m in ref.named_modules():  # what pre-0.4 InstanceNorm saved (reference issue #461)
        if isinstance(m, nn.InstanceNorm2d):
            sd.update({f"{name}.running_mean": torch.randn(m.num_features),
                       f"{name}.running_var": torch.rand(m.num_features) + 1,
                       f"{name}.num_batches_tracked": torch.tensor(3)})
    assert len(sd) == 48 + 3 * 23
    sd = {prefix + k: v for k, v in sd.items()}
    roundtrip(tmp_path, ref, "resnet_9blocks", "G", torch.randn(1, 3, 32, 32), sd)


def test_resnet_6blocks_batch_dropout(tmp_path):
    torch.manual_seed(0)
    ref = randomized(RefResnet(3, 3, ngf=4, n_blocks=6, norm="batch", dropout=True))
    assert "model.15.conv_block.7.running_mean" in ref.state_dict()  # dropout shifted the second conv and norm
    net = roundtrip(tmp_path, ref, "resnet_6blocks", "G", torch.randn(1, 3, 24, 24))
    assert any(isinstance(m, nn.Dropout) for m in net.modules())


@pytest.mark.parametrize("prefix", ["", "module."])
def test_basic_patchgan_without_num_batches_tracked(tmp_path, prefix):
    torch.manual_seed(0)
    ref = randomized(RefNLayer(6, 8, 3))
    sd = {prefix + k: v for k, v in ref.state_dict().items() if not k.endswith("num_batches_tracked")}
    assert len(sd) == 22 - 3
    net = roundtrip(tmp_path, ref, "basic", "D", torch.randn(1, 6, 64, 64), sd)
    assert int(net.blocks[1].norm.num_batches_tracked) == 0


def test_n_layers_and_pixel(tmp_path):
    torch.manual_seed(0)
    roundtrip(tmp_path, randomized(RefNLayer(3, 4, 2, "instance")), "n_layers", "D", torch.randn(2, 3, 40, 40))
    roundtrip(tmp_path, randomized(RefPixel(6, 8)), "pixel", "D", torch.randn(2, 6, 8, 8))
    roundtrip(tmp_path, randomized(RefPixel(3, 8, "instance")), None, None, torch.randn(2, 3, 8, 8))


def test_detect_arch():
    with torch.device("meta"):
        g = detect_arch({"module." + k: v for k, v in RefUnet(3, 3, 8, 64).state_dict().items()})
        assert (g.arch, g.kind, g.norm, g.kwargs) == ("unet_256", "G", "batch",
                                                      dict(in_channels=3, out_channels=3, ngf=64))
        assert detect_arch(RefUnet(3, 3, 7, 8, "none").state_dict()).arch == "unet_128"
        assert detect_arch(RefUnet(3, 3, 7, 8, "none").state_dict()).norm == "none"
        g = detect_arch(RefResnet(3, 3, 64, 9).state_dict())
        assert (g.arch, g.norm, g.kwargs["dropout"]) == ("resnet_9blocks", "instance", 0.0)
        g = detect_arch(RefResnet(3, 3, 16, 6, "batch", dropout=True).state_dict())
        assert (g.arch, g.norm, g.kwargs["dropout"], g.kwargs["ngf"]) == ("resnet_6blocks", "batch", 0.5, 16)
        assert detect_arch(RefNLayer(6, 64, 3).state_dict()).arch == "basic"
        g = detect_arch(RefNLayer(3, 64, 4, "none").state_dict())
        assert (g.arch, g.kind, g.norm, g.kwargs["n_layers"]) == ("n_layers", "D", "none", 4)
        assert detect_arch(RefPixel(6, 64).state_dict()).arch == "pixel"
    with pytest.raises(CheckpointError, match="not a recognisable"):
        detect_arch({"fc.weight": torch.zeros(2, 2)})


def test_wrong_architecture_lists_differences(tmp_path):
    path = tmp_path / "latest_net_G.pth"
    torch.save(RefResnet(3, 3, 4, 9).state_dict(), path)
    with pytest.raises(CheckpointError, match="different architecture than unet_256") as e:
        load_reference_weights(path, "unet_256", "G", ngf=4)
    msg = str(e.value)
    assert "missing keys: encoder.0.conv.weight" in msg and "unexpected keys: model.1.weight" in msg
    assert "resnet_9blocks" in msg  # says what the file looks like
    with pytest.raises(CheckpointError, match="unexpected keys: model.16.conv_block"):
        load_reference_weights(path, "resnet_6blocks", "G")
    torch.save(RefNLayer(6, 8, 3).state_dict(), path)
    with pytest.raises(CheckpointError, match=r"shapes differ: blocks.0.conv.weight: \(8, 6, 4, 4\) in the file"):
        load_reference_weights(path, "basic", "D", in_channels=3)
    torch.save(RefNLayer(6, 8, 4).state_dict(), path)
    with pytest.raises(CheckpointError, match="unexpected keys"):
        load_reference_weights(path, "basic", "D")
    assert isinstance(load_reference_weights(path, "n_layers", "D"), nn.Module)


def test_bad_inputs(tmp_path):
    with pytest.raises(WeightsNotFoundError, match="no checkpoint"):
        load_reference_weights(tmp_path / "nope.pth", "unet_256")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read"):
        load_reference_weights(bad, "unet_256")
    torch.save(RefPixel(6, 4).state_dict(), bad)
    with pytest.raises(ConfigError, match="discriminator"):
        load_reference_weights(bad, "pixel", "G")
    with pytest.raises(ConfigError, match="unet_256, unet_128"):
        load_reference_weights(bad, "unet_512x")


def test_cli_import_weights_then_translate_matches_reference(tmp_path, capsys):
    """`condgen import-weights` + `condgen translate --eval` reproduce the reference generator's output."""
    import numpy as np
    from cli_helpers import run_cli
    from PIL import Image

    ref = randomized(RefUnet(3, 3, 7, 4), seed=3)
    torch.save(ref.state_dict(), tmp_path / "latest_net_G.pth")
    torch.save(randomized(RefNLayer(6, 4, 3), seed=4).state_dict(), tmp_path / "latest_net_D.pth")
    code, out, err = run_cli(capsys, "import-weights", tmp_path / "latest_net_G.pth", "--netD",
                             tmp_path / "latest_net_D.pth", "--out", tmp_path / "run")
    assert code == 0, err
    assert "unet_128" in out
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (128, 128, 3), dtype=np.uint8)).save(tmp_path / "x.png")
    code, out, err = run_cli(capsys, "translate", tmp_path / "run", tmp_path / "x.png", "--out", tmp_path / "o",
                             "--eval")
    assert code == 0, err
    x = torch.from_numpy(np.array(Image.open(tmp_path / "x.png"))).permute(2, 0, 1)[None].float() / 127.5 - 1
    with torch.no_grad():
        expected = ((ref(x)[0].clamp(-1, 1) + 1) * 127.5).round().permute(1, 2, 0).numpy()
    got = np.asarray(Image.open(tmp_path / "o" / "x.png")).astype(np.float64)
    assert np.abs(got - expected).max() <= 1.0  # same up to 8-bit rounding
    # a file for another architecture: the message names the differing keys
    torch.save(randomized(RefNLayer(6, 4, 3)).state_dict(), tmp_path / "d_as_g.pth")
    code, _, err = run_cli(capsys, "import-weights", tmp_path / "d_as_g.pth", "--arch", "unet_256",
                           "--out", tmp_path / "run2")
    assert code != 0 and "Traceback" not in err and "key" in err


def test_translate_with_a_checkpoint_of_another_architecture(tmp_path, capsys):
    """A run whose checkpoint does not fit its config: `translate` names the differing keys; corrupt inputs are
    skipped, counted and reported with a non-zero exit."""
    import yaml
    from cli_helpers import run_cli
    from PIL import Image

    torch.save(randomized(RefUnet(3, 3, 7, 4)).state_dict(), tmp_path / "g.pth")
    assert run_cli(capsys, "import-weights", tmp_path / "g.pth", "--out", tmp_path / "run")[0] == 0
    Image.new("RGB", (128, 128), "white").save(tmp_path / "ok.png")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    code, out, err = run_cli(capsys, "translate", tmp_path / "run", tmp_path / "ok.png", tmp_path / "bad.png",
                             "--out", tmp_path / "o")
    assert code != 0 and "1 input(s) could not be read" in err and "bad.png" in err
    assert (tmp_path / "o" / "ok.png").is_file()  # the good one was still written
    cfg_path = tmp_path / "run" / "config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["model"]["netG"] = "unet_256"
    cfg_path.write_text(yaml.safe_dump(cfg))
    code, _, err = run_cli(capsys, "translate", tmp_path / "run", tmp_path / "ok.png", "--out", tmp_path / "o2")
    assert code != 0 and "Traceback" not in err and "does not fit" in err and "key" in err.lower()
