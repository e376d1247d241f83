"""Tests for condgen.nn.features: VGG taps and truncation, the frozen network, input normalisation, weight files
(both key styles, the torch-cache ImageNet file, wrong or corrupt files), random weights. (The Gram matrix:
test_losses.py.)"""

from __future__ import annotations

import pickle
import warnings

import pytest
import torch
from torch import nn
from torchvision.models import vgg as tv_vgg

from condgen.errors import CheckpointError, ConfigError, DataError, WeightsNotFoundError
from condgen.nn import features as vf
from condgen.nn.features import VGGFeatures, layer_index, layer_names

pytestmark = pytest.mark.usefixtures("one_thread")
_TV_CFG = {"vgg16": "D", "vgg19": "E"}  # torchvision's names for the layer lists of vgg16() and vgg19()


def _random(arch="vgg19", layers=("relu5_4",), **kw) -> VGGFeatures:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return VGGFeatures(arch, layers, weights="random", **kw)


def _torchvision_features(arch: str) -> nn.Sequential:
    """Exactly ``<arch>().features`` (torchvision builds it with make_layers), without the big classifier."""
    return tv_vgg.make_layers(tv_vgg.cfgs[_TV_CFG[arch]])


def _uninitialised(arch: str) -> nn.Sequential:
    """``<arch>().features`` with arbitrary values, for tests about key names and shapes only (no init cost)."""
    with torch.device("meta"):
        net = _torchvision_features(arch)
    return net.to_empty(device="cpu")


def _normalised(x01: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(vf.IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(vf.IMAGENET_STD).view(1, 3, 1, 1)
    return (x01 - mean) / std


def _images(n=2, size=32, seed=0) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


# ---------------------------------------------------------------- taps


@pytest.mark.parametrize("arch", ["vgg16", "vgg19"])
def test_tap_names_follow_torchvision(arch):
    names = layer_names(arch)
    assert vf._CFGS[arch] == tuple(tv_vgg.cfgs[_TV_CFG[arch]])
    modules = list(_torchvision_features(arch))
    assert len(names) == len(modules)
    kinds = {"conv": nn.Conv2d, "relu": nn.ReLU, "pool": nn.MaxPool2d}
    for k, (name, module) in enumerate(zip(names, modules)):
        assert isinstance(module, kinds[name[:4]]), name
        assert layer_index(arch, name) == k
    last = {"vgg16": ["relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3"],
            "vgg19": ["relu1_2", "relu2_2", "relu3_4", "relu4_4", "relu5_4"]}[arch]
    for b, name in enumerate(last, 1):  # the last activation of each block sits just before its pool
        assert names[names.index(name) + 1] == f"pool{b}"


def test_vgg54_is_features_up_to_35():
    """SRGAN's VGG54 (4th conv of block 5, after its ReLU) = relu5_4 = vgg19().features[:36]."""
    assert layer_index("vgg19", "relu5_4") == 35 and layer_index("vgg19", "conv5_4") == 34
    assert layer_index("vgg19", "relu2_2") == 8  # VGG22
    v = _random()
    assert len(v.features) == 36
    reference = _torchvision_features("vgg19")[:36]
    reference.load_state_dict(v.features.state_dict())
    x = _images()
    assert torch.allclose(v(x)["relu5_4"], reference(_normalised((x + 1) / 2)), atol=1e-5)


def test_taps_and_shapes():
    v = _random("vgg16", ("relu4_3", "relu1_2", "pool2", "relu3_3", "relu2_2", "relu1_2"))
    assert len(v.features) == 23  # truncated after relu4_3
    out = v(_images(2, 32))
    assert list(out) == ["relu4_3", "relu1_2", "pool2", "relu3_3", "relu2_2"]  # requested order, no duplicates
    shapes = {k: tuple(t.shape) for k, t in out.items()}
    assert shapes == {"relu1_2": (2, 64, 32, 32), "relu2_2": (2, 128, 16, 16), "pool2": (2, 128, 8, 8),
                      "relu3_3": (2, 256, 8, 8), "relu4_3": (2, 512, 4, 4)}
    both = _random("vgg19", ("conv5_4", "relu5_4"))(_images())
    # conv and relu taps of one layer: the ReLU must not overwrite the conv output in place
    assert (both["conv5_4"] < 0).any() and torch.equal(both["relu5_4"], both["conv5_4"].clamp_min(0))
    assert set(_random("vgg19", "relu2_2")(_images())) == {"relu2_2"}  # one name as a plain string


def test_bad_names_and_options():
    with pytest.raises(ConfigError, match=r"vgg19 has no layer 'relu5_5'\. Did you mean 'relu5_4'.*Valid names: "
                                          r"conv1_1, relu1_1, .*pool5"):
        layer_index("vgg19", "relu5_5")
    with pytest.raises(ConfigError, match="vgg16 has no layer 'relu3_4'"):
        VGGFeatures("vgg16", ("relu3_4",), weights="random")
    with pytest.raises(ConfigError, match="unknown VGG architecture 'vgg11'; valid: vgg16, vgg19"):
        layer_index("vgg11", "relu1_1")
    with pytest.raises(ConfigError, match="input_range"):
        VGGFeatures(input_range=(1.0, 1.0), weights="random")
    with pytest.raises(ConfigError, match="at least one layer"):
        VGGFeatures(layers=(), weights="random")
    with pytest.raises(DataError, match=r"N x 1\|3 x H x W"):
        _random("vgg19", "relu1_1")(torch.zeros(1, 4, 8, 8))


# ---------------------------------------------------------------- frozen, normalisation


def test_frozen_but_input_gradients_flow():
    v = _random("vgg19", ("relu2_2",))
    assert not v.training and not any(p.requires_grad for p in v.parameters())
    v.train()
    assert not v.training and not any(m.training for m in v.modules())
    x = _images().requires_grad_(True)
    v(x)["relu2_2"].pow(2).mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in v.parameters())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert v(_images())["relu2_2"].dtype == torch.float32  # cast back for the loss


def test_input_range_and_imagenet_normalisation():
    v = _random("vgg19", ("relu1_2", "relu3_1"))
    v01 = _random("vgg19", ("relu1_2", "relu3_1"), input_range=(0.0, 1.0))
    v255 = _random("vgg19", ("relu1_2", "relu3_1"), input_range=(0, 255))
    x = _images()
    x01 = (x + 1) / 2
    ref = v.features[:3](_normalised(x01))  # conv1_1, relu1_1, conv1_2 on the ImageNet-normalised [0, 1] image
    for out in (v(x), v01(x01), v255(x01 * 255)):
        assert torch.allclose(out["relu1_2"], ref.clamp_min(0), atol=1e-5)
    assert torch.allclose(v(x)["relu3_1"], v01(x01)["relu3_1"], atol=1e-4)
    grey = x[:, :1]
    assert torch.allclose(v(grey)["relu3_1"], v(grey.expand(-1, 3, -1, -1))["relu3_1"])


# ---------------------------------------------------------------- weights


def test_random_weights_warn_and_are_fixed():
    state = torch.random.get_rng_state()
    with pytest.warns(UserWarning, match="random weights.*baseline, not the paper's loss"):
        a = VGGFeatures("vgg16", ("relu2_2",), weights="random")
    assert torch.equal(torch.random.get_rng_state(), state)  # the global RNG is untouched
    b = _random("vgg16", ("relu2_2",))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    w = a.features[2].weight  # torchvision's init: Kaiming normal, fan out, zero bias
    assert abs(float(w.std()) - (2 / (64 * 9)) ** 0.5) < 0.005 and not a.features[2].bias.any()


@pytest.mark.parametrize("style", ["torchvision", "features", "legacy"])
def test_weights_file_gives_identical_outputs(tmp_path, style):
    torch.manual_seed(3)
    net = _torchvision_features("vgg16")  # a randomly initialised torchvision VGG16 ...
    x = _images()
    expected = net[:16](_normalised((x + 1) / 2))  # ... up to relu3_3
    state = net.state_dict()
    if style != "features":
        # torchvision's whole-model keys: features.N.* plus the classifier head, which is ignored
        state = {**{f"features.{k}": v for k, v in state.items()}, "classifier.0.weight": torch.zeros(2, 3),
                 "classifier.0.bias": torch.zeros(2)}
    path = tmp_path / "weights.pth"
    # torchvision's real ImageNet files predate the zip format; the legacy format must load too
    torch.save(state, path, _use_new_zipfile_serialization=style != "legacy")
    v = VGGFeatures("vgg16", ("relu3_3",), weights=str(path))
    assert v.weights == str(path)
    assert torch.allclose(v(x)["relu3_3"], expected, atol=1e-5)


def test_imagenet_file_from_the_torch_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    assert vf.imagenet_file_name("vgg16") == "vgg16-397923af.pth"
    assert vf.imagenet_file_name("vgg19") == "vgg19-dcbb9e9d.pth"
    folder = tmp_path / "hub" / "checkpoints"
    with pytest.raises(WeightsNotFoundError) as err:
        VGGFeatures("vgg19", weights="imagenet")
    msg = str(err.value)
    assert "vgg19-dcbb9e9d.pth" in msg and f"is not in {folder}" in msg and "nothing is downloaded" in msg
    assert "put vgg19-dcbb9e9d.pth there" in msg and "path of a copy" in msg and "'random'" in msg
    assert "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth" in msg
    # the file where torchvision keeps it is found and used
    net = _torchvision_features("vgg16")
    folder.mkdir(parents=True)
    torch.save({f"features.{k}": v for k, v in net.state_dict().items()}, folder / "vgg16-397923af.pth")
    v = VGGFeatures("vgg16", ("relu1_2",), weights="imagenet")
    assert torch.equal(v.features[0].weight, net[0].weight)


def test_missing_wrong_and_corrupt_files(tmp_path):
    with pytest.raises(WeightsNotFoundError, match=r"VGG weights '.*nope\.pth' does not exist: weights must be "
                                                   r"'imagenet'.*'random'.*state dict"):
        VGGFeatures("vgg19", weights=str(tmp_path / "nope.pth"))
    # another architecture: vgg16 weights for vgg19 name the keys that differ
    wrong = tmp_path / "vgg16.pth"
    torch.save(_uninitialised("vgg16").state_dict(), wrong)
    with pytest.raises(CheckpointError, match=r"does not hold vgg19 features .*(missing keys|unexpected keys|"
                                              r"shapes differ).*17\.weight.*another network") as err:
        VGGFeatures("vgg19", ("relu5_4",), weights=str(wrong))
    assert "shapes differ: 19.weight: (512, 512, 3, 3) in the file vs (512, 256, 3, 3) expected" in str(err.value)
    with pytest.raises(CheckpointError, match=r"shapes differ: 19\.weight: \(512, 256, 3, 3\) in the file vs "
                                              r"\(512, 512, 3, 3\) expected"):
        VGGFeatures("vgg16", ("relu5_3",), weights=str(_save(tmp_path / "v19.pth", "vgg19")))
    partial = tmp_path / "partial.pth"
    torch.save({k: v for k, v in _uninitialised("vgg19").state_dict().items() if not k.startswith("7.")}, partial)
    with pytest.raises(CheckpointError, match=r"missing keys: 7\.weight, 7\.bias"):
        VGGFeatures("vgg19", ("relu2_2",), weights=str(partial))
    VGGFeatures("vgg19", ("relu1_2",), weights=str(partial))  # the layers kept are all there
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="not a PyTorch weights file"):
        VGGFeatures("vgg19", weights=str(corrupt))
    truncated = tmp_path / "truncated.pth"
    torch.save(_uninitialised("vgg16").state_dict(), truncated)
    truncated.write_bytes(truncated.read_bytes()[:100_000])
    with pytest.raises(CheckpointError, match="unreadable or truncated"):
        VGGFeatures("vgg16", ("relu1_1",), weights=str(truncated))
    code = tmp_path / "code.pth"
    with open(code, "wb") as f:
        pickle.dump({"x": _Evil()}, f, protocol=2)
    with pytest.raises(CheckpointError, match="refused to load .*objects other than tensors"):
        VGGFeatures("vgg19", weights=str(code))
    torch.save([1, 2], tmp_path / "list.pth")
    with pytest.raises(CheckpointError, match="not a VGG state dict"):
        VGGFeatures("vgg19", weights=str(tmp_path / "list.pth"))


def _save(path, arch):
    torch.save(_uninitialised(arch).state_dict(), path)
    return path


class _Evil:
    def __reduce__(self):
        return (print, ("this must never run",))
