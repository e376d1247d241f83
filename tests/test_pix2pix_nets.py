"""Pix2Pix/CycleGAN networks: exact reference parameter counts, shapes, dropout placement, receptive fields."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from condgen.errors import ConfigError, ModelError
from condgen.nn.norms import norm_layer, uses_bias
from condgen.nn.patchgan import PatchDiscriminator, PixelDiscriminator, receptive_field
from condgen.nn.resnet import ResnetGenerator
from condgen.nn.unet import UNetGenerator, min_size


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny convs: thread hand-offs cost more than they save on a shared machine (10x here), so use one."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def count(make) -> int:
    # built on the meta device: exact counts of the full-size nets without allocating 200 MB
    with torch.device("meta"):
        net = make()
    return sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize("make, expected", [
    (lambda: UNetGenerator(), 54_413_955),
    (lambda: UNetGenerator(norm="instance"), 54_409_603),
    (lambda: UNetGenerator(num_downs=7), 41_828_995),
    (lambda: ResnetGenerator(), 11_378_179),
    (lambda: ResnetGenerator(norm="batch"), 11_383_427),
    (lambda: ResnetGenerator(n_blocks=6), 7_837_699),
    (lambda: PatchDiscriminator(), 2_768_705),
    (lambda: PatchDiscriminator(3, norm="instance"), 2_764_737),
    (lambda: PixelDiscriminator(), 9_024),
    (lambda: PixelDiscriminator(3, norm="instance"), 8_705),
])
def test_parameter_counts_match_reference(make, expected):
    assert count(make) == expected


@pytest.mark.parametrize("n_layers, expected", zip(range(1, 6), [139_585, 666_433, 2_768_705, 6_964_033, 11_159_361]))
def test_n_layers_counts(n_layers, expected):
    assert count(lambda: PatchDiscriminator(n_layers=n_layers)) == expected


def test_unet_128_shape_and_bottleneck():
    torch.manual_seed(0)
    net = UNetGenerator(num_downs=7, ngf=8).eval()
    seen = []
    net.encoder[-1].register_forward_hook(lambda m, i, o: seen.append(o.shape))
    with torch.no_grad():
        y = net(torch.randn(1, 3, 128, 128))
    assert y.shape == (1, 3, 128, 128) and y.abs().max() <= 1
    assert seen == [(1, 64, 1, 1)]  # down to 1x1 at 8*ngf


def test_unet_256_rejects_128_with_clear_error():
    net = UNetGenerator(ngf=2).eval()
    assert min_size(8) == 256 and min_size(7) == 128
    with pytest.raises(ModelError, match="multiple of 256.*condgen translate"):
        net(torch.zeros(1, 3, 128, 128))


def test_unet_dropout_placement():
    drops = lambda net: [n for n, m in net.named_modules() if isinstance(m, nn.Dropout)]  # noqa: E731
    assert drops(UNetGenerator(ngf=2)) == ["decoder.4.dropout", "decoder.5.dropout", "decoder.6.dropout"]
    assert len(drops(UNetGenerator(num_downs=7, ngf=2))) == 2
    assert drops(UNetGenerator(ngf=2, dropout=0.0)) == []
    for net in (UNetGenerator(ngf=2), ResnetGenerator(ngf=2, n_blocks=1, dropout=0.5)):
        assert all(d.p == 0.5 for d in net.modules() if isinstance(d, nn.Dropout))


def test_unet_norm_none_runs():
    net = UNetGenerator(num_downs=5, ngf=4, norm="none")
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d)) for m in net.modules())
    assert net(torch.randn(2, 1 + 2, 32, 32)).shape == (2, 3, 32, 32)


@pytest.mark.parametrize("padding", ["reflect", "replicate", "zero"])
def test_resnet_shapes(padding):
    net = ResnetGenerator(in_channels=1, out_channels=2, ngf=4, n_blocks=2, padding=padding)
    assert net(torch.randn(2, 1, 20, 36)).shape == (2, 2, 20, 36)


def test_resnet_errors_and_dropout_keeps_keys():
    with pytest.raises(ModelError, match="multiples of 4"):
        ResnetGenerator(ngf=2, n_blocks=1)(torch.zeros(1, 3, 30, 32))
    with pytest.raises(ConfigError, match="reflect, replicate, zero"):
        ResnetGenerator(padding="circular")
    a, b = ResnetGenerator(ngf=2, n_blocks=2), ResnetGenerator(ngf=2, n_blocks=2, dropout=0.5)
    assert list(a.state_dict()) == list(b.state_dict())


def test_patchgan_map_sizes():
    torch.manual_seed(0)
    with torch.no_grad():
        assert PatchDiscriminator(ndf=8).eval()(torch.randn(1, 6, 256, 256)).shape == (1, 1, 30, 30)
        for n, side in zip(range(1, 6), [126, 62, 30, 14, 6]):
            assert PatchDiscriminator(ndf=2, n_layers=n).eval()(torch.randn(1, 6, 256, 256)).shape[-1] == side
        assert PixelDiscriminator(ndf=4)(torch.randn(2, 6, 10, 12)).shape == (2, 1, 10, 12)
    with pytest.raises(ConfigError, match="1 to 5"):
        PatchDiscriminator(n_layers=6)


def test_receptive_field_table():
    assert [receptive_field(n) for n in range(1, 6)] == [16, 34, 70, 142, 286]


@pytest.mark.parametrize("n_layers", [1, 2, 3])
def test_receptive_field_measured(n_layers):
    torch.manual_seed(0)
    net = PatchDiscriminator(in_channels=1, ndf=4, n_layers=n_layers).eval()
    x = torch.randn(1, 1, 128, 128, requires_grad=True)
    out = net(x)
    i, j = out.shape[2] // 2, out.shape[3] // 2
    out[0, 0, i, j].backward()
    rows = x.grad[0, 0].abs().sum(1).nonzero().flatten()
    cols = x.grad[0, 0].abs().sum(0).nonzero().flatten()
    assert rows[0] > 0 and rows[-1] < 127  # the field lies inside the image, so padding does not clip it
    assert rows[-1] - rows[0] + 1 == receptive_field(n_layers) == cols[-1] - cols[0] + 1


def test_norm_choices():
    bn, inn = norm_layer("batch", 4), norm_layer("instance", 4)
    assert isinstance(bn, nn.BatchNorm2d) and bn.affine and bn.track_running_stats
    assert isinstance(inn, nn.InstanceNorm2d) and not inn.affine and not inn.track_running_stats
    assert isinstance(norm_layer("none", 4), nn.Identity)
    assert [uses_bias(k) for k in ("batch", "instance", "none")] == [False, True, False]
    with pytest.raises(ConfigError, match="batch, instance, none"):
        norm_layer("sync_batch", 4)
    with pytest.raises(ConfigError, match="batch, instance, none"):
        UNetGenerator(norm="layer")
