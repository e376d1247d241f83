"""The papers' architectures, pinned: layer layout, init, parameter counts, update order (losses: test_losses.py)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from condgen.errors import ModelError
from condgen.models import get_model_class
from condgen.nn.dcgan import DCGANDiscriminator, DCGANGenerator
from condgen.nn.mlp import Maxout
from condgen.runs import build_config


def _count(m):
    return sum(p.numel() for p in m.parameters())


def test_dcgan_64_matches_the_canonical_parameter_counts():
    """64 px RGB, ngf = ndf = 64: the counts of the pytorch/examples DCGAN (bias-free convs)."""
    g, d = DCGANGenerator(100, 64, 3, 64), DCGANDiscriminator(64, 3, 64)
    assert _count(g) == 3_576_704 and _count(d) == 2_765_568


@pytest.mark.parametrize("size", [16, 32, 64, 128, 256])
def test_dcgan_layers_follow_the_image_size(size):
    g, d = DCGANGenerator(100, 8, 3, size), DCGANDiscriminator(8, 3, size)
    z = torch.randn(2, 100)
    x = g(z)
    assert x.shape == (2, 3, size, size) and x.abs().max() <= 1
    assert d(x).shape == (2,)
    n_up = sum(isinstance(m, nn.ConvTranspose2d) and m.stride == (2, 2) for m in g.modules())
    n_down = sum(isinstance(m, nn.Conv2d) and m.stride == (2, 2) for m in d.modules())
    assert n_up == n_down == size.bit_length() - 3  # log2(size) - 2


def test_dcgan_architecture_rules():
    """BN everywhere except G's output and D's input layer; ReLU in G, Tanh out; LeakyReLU 0.2 in D; no pooling/FC."""
    g, d = DCGANGenerator(100, 8, 3, 64), DCGANDiscriminator(8, 3, 64)
    gl = list(g.main)
    assert isinstance(gl[-2], nn.ConvTranspose2d) and isinstance(gl[-1], nn.Tanh)
    convs = [i for i, m in enumerate(gl) if isinstance(m, nn.ConvTranspose2d)]
    assert all(isinstance(gl[i + 1], nn.BatchNorm2d) and isinstance(gl[i + 2], nn.ReLU) for i in convs[:-1])
    dl = list(d.features)
    assert isinstance(dl[0], nn.Conv2d) and isinstance(dl[1], nn.LeakyReLU)  # no BN on D's input layer
    assert all(m.negative_slope == 0.2 for m in d.modules() if isinstance(m, nn.LeakyReLU))
    assert sum(isinstance(m, nn.BatchNorm2d) for m in d.modules()) == 3
    for net in (g, d):
        assert not any(isinstance(m, (nn.Linear, nn.MaxPool2d, nn.AvgPool2d)) for m in net.modules())


def test_dcgan_init_and_optimizer_defaults():
    cfg = build_config("dcgan", {})
    m = get_model_class("dcgan")(cfg.model)
    assert (cfg.model.nz, cfg.model.ngf, cfg.model.ndf, cfg.model.image_size) == (100, 64, 64, 64)
    assert cfg.data.batch_size == 128
    for opt in m.optimizers.values():
        assert isinstance(opt, torch.optim.Adam)
        assert opt.param_groups[0]["lr"] == 2e-4 and opt.param_groups[0]["betas"] == (0.5, 0.999)
    w = torch.cat([p.flatten() for mod in m.nets["G"].modules() if isinstance(mod, nn.ConvTranspose2d)
                   for p in [mod.weight]])
    assert abs(w.mean()) < 1e-3 and abs(w.std() - 0.02) < 1e-3
    bn = torch.cat([mod.weight for mod in m.nets["D"].modules() if isinstance(mod, nn.BatchNorm2d)])
    assert abs(bn.mean() - 1) < 0.01 and abs(bn.std() - 0.02) < 0.01


def test_dcgan_rejects_bad_sizes():
    for size in (8, 48, 512):
        with pytest.raises(ModelError, match="power of two"):
            DCGANGenerator(100, 8, 3, size)


def test_gan_paper_networks():
    """Goodfellow et al. MNIST: G 100 -> 1200 -> 1200 ReLU; D maxout 240x5, 240x5 with dropout; SGD momentum."""
    cfg = build_config("gan", {})
    m = get_model_class("gan")(cfg.model)
    lin = [x for x in m.nets["G"].modules() if isinstance(x, nn.Linear)]
    assert [(x.in_features, x.out_features) for x in lin] == [(100, 1200), (1200, 1200), (1200, 784)]
    mx = [x for x in m.nets["D"].modules() if isinstance(x, Maxout)]
    assert [(x.d_out, x.pieces) for x in mx] == [(240, 5), (240, 5)]
    assert any(isinstance(x, nn.Dropout) for x in m.nets["D"].modules())
    opt = m.optimizers["G"]
    assert isinstance(opt, torch.optim.SGD) and opt.param_groups[0]["momentum"] == 0.5
    assert not any(isinstance(x, nn.Sigmoid) for net in m.nets.values() for x in net.modules())  # logits


@pytest.mark.parametrize("name", ["gan", "dcgan", "cgan"])
def test_training_step_updates_d_on_detached_fake_then_g(name):
    """D's step must not touch G; G's step must not touch D (only its own optimizer steps)."""
    over = {"model": {"image_size": 16 if name != "gan" else 8, "channels": 1},
            "train": {"precision": "fp32"}}
    if name == "cgan":
        over["model"]["num_classes"] = 3
    cfg = build_config(name, over)
    torch.manual_seed(0)
    m = get_model_class(name)(cfg.model)
    size = cfg.model.image_size
    batch = {"image": torch.rand(4, 1, size, size) * 2 - 1, "label": torch.tensor([0, 1, 2, 0])}
    order = []
    for key, opt in m.optimizers.items():
        real_step = opt.step

        def spy(*a, _k=key, _s=real_step, **k):
            order.append((_k, {n: [p.grad is not None and p.grad.abs().sum().item() > 0 for p in net.parameters()]
                               for n, net in m.nets.items()}))
            return _s(*a, **k)

        opt.step = spy
    out = m.training_step(batch)
    assert set(out) == {"loss/D", "loss/G"}
    assert [k for k, _ in order] == ["D", "G"]
    grads_at_d_step = order[0][1]
    assert not any(grads_at_d_step["G"]), "G received gradients from D's loss (fake not detached)"
    assert any(grads_at_d_step["D"])


def test_cgan_generates_requested_classes_and_checks_ids():
    cfg = build_config("cgan", {"model": {"image_size": 16, "channels": 1, "num_classes": 4}})
    m = get_model_class("cgan")(cfg.model)
    assert m.generate(labels=torch.tensor([0, 3]), seed=0).shape == (2, 1, 16, 16)
    with pytest.raises(Exception, match=r"class ids must be in 0..3"):
        m.generate(labels=torch.tensor([4]))
    fixed = m.fixed_inputs(8, seed=0)
    assert fixed["labels"].tolist() == [0, 0, 1, 1, 2, 2, 3, 3]


@pytest.mark.parametrize("cond", ["concat", "projection"])
def test_cgan_discriminator_uses_the_label(cond):
    d = DCGANDiscriminator(8, 1, 16, num_classes=5, conditioning=cond)
    nn.init.normal_(d.embed.weight) if cond == "projection" else None
    x = torch.randn(3, 1, 16, 16)
    a, b = d(x, torch.tensor([0, 1, 2])), d(x, torch.tensor([3, 4, 0]))
    assert not torch.allclose(a, b)
