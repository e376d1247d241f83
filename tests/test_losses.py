"""condgen.losses, one test per loss, each against a hand computation of its paper's formula."""

from __future__ import annotations

import pytest
import torch

from condgen import losses
from condgen.errors import DataError
from condgen.losses import gram, kl_divergence, labelmix_loss, labelmix_mask, n1_cross_entropy
from condgen.models.oasis import class_balance_weights
from condgen.nn.labels import IGNORE_ID

NC = 5


def _randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


# ----- adversarial ------------------------------------------------------------------------------------------
def test_losses_are_the_papers():
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    sig = torch.sigmoid
    expect_d = -(torch.log(sig(real)).mean() + torch.log(1 - sig(fake)).mean())
    assert torch.allclose(losses.d_loss("vanilla", real, fake), expect_d, atol=1e-6)
    # non-saturating G: minimise -log D(G(z)), not log(1 - D(G(z)))
    assert torch.allclose(losses.g_loss("vanilla", fake), -torch.log(sig(fake)).mean(), atol=1e-6)
    assert torch.allclose(losses.d_loss("lsgan", real, fake), ((real - 1) ** 2).mean() + (fake ** 2).mean())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert losses.d_loss("vanilla", real.bfloat16(), fake.bfloat16()).dtype == torch.float32


def test_hinge_and_multiscale_lists():
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-0.5, 1.0])
    hinge_d = torch.clamp(1 - real, min=0).mean() + torch.clamp(1 + fake, min=0).mean()
    assert torch.allclose(losses.d_loss("hinge", real, fake), hinge_d)
    assert torch.allclose(losses.g_loss("hinge", fake), -fake.mean())
    assert torch.allclose(losses.g_loss("lsgan", fake), ((fake - 1) ** 2).mean())
    # a multi-scale D's list of logits: the sum over scales
    assert torch.allclose(losses.d_loss("hinge", [real, real], [fake, fake]), 2 * hinge_d)
    with pytest.raises(ValueError, match="unknown adversarial loss"):
        losses.g_loss("wgan", fake)


def test_n1_cross_entropy_by_hand():
    torch.manual_seed(0)
    logits = torch.randn(1, 4, 2, 3)
    seg = torch.tensor([[[0, 0, 0], [1, IGNORE_ID, 2]]])
    w = class_balance_weights(seg, 3)
    logp = logits.log_softmax(1)[0]
    total = 0.0
    for i in range(2):
        for j in range(3):
            c = int(seg[0, i, j])
            if c != IGNORE_ID:
                total += -w[0, i, j] * logp[c + 1, i, j]  # real pixels: class + 1
    assert torch.allclose(n1_cross_entropy(logits, seg, w), total / 6)
    assert torch.allclose(n1_cross_entropy(logits, None), -logp[0].mean())  # fake pixels: class 0


def test_labelmix_mask_and_loss_by_hand():
    # blocky random label maps (16 x 16 blocks) with a don't-care corner
    seg = torch.randint(0, NC, (3, 4, 4), generator=torch.Generator().manual_seed(4))
    seg = seg.repeat_interleave(16, 1).repeat_interleave(16, 2)
    seg[:, :3, :3] = IGNORE_ID
    torch.manual_seed(1)
    m = labelmix_mask(seg, NC)
    assert m.shape == (3, 1, 64, 64) and set(m.unique().tolist()) <= {0.0, 1.0}
    for k in range(3):  # constant inside each class (and the don't-care region) of each image
        for c in seg[k].unique():
            assert m[k, 0][seg[k] == c].unique().numel() == 1
    assert 0 < m.mean() < 1
    torch.manual_seed(2)
    mixed, real, fake = torch.randn(3, 3, NC + 1, 64, 64)
    by_hand = ((mixed - (m * real + (1 - m) * fake)) ** 2).sum() / mixed.numel()
    assert torch.allclose(labelmix_loss(mixed, real, fake, m), by_hand)


def test_feature_matching_by_hand():
    # 2 scales, each: two feature maps then the logits (which are not matched)
    fake = [[_randn(2, 3, 4, 4, seed=s), _randn(2, 5, 2, 2, seed=s + 1), _randn(2, 1, 2, 2, seed=s + 2)]
            for s in (0, 10)]
    real = [[_randn(*f.shape, seed=100 + i) for i, f in enumerate(scale)] for scale in fake]
    by_hand = sum((f - r).abs().mean() for fs, rs in zip(fake, real) for f, r in zip(fs[:-1], rs[:-1])) / 2
    assert torch.allclose(losses.feature_matching(fake, real), by_hand)
    # real features are targets: no gradient reaches them
    real[0][0].requires_grad_(True)
    fake[0][0].requires_grad_(True)
    losses.feature_matching(fake, real).backward()
    assert real[0][0].grad is None and fake[0][0].grad is not None


# ----- pixel distances and reconstruction ------------------------------------------------------------------------
def test_pixel_l1_cycle_and_identity():
    a, b = _randn(2, 3, 4, 4, seed=1), _randn(2, 3, 4, 4, seed=2)
    mae, mse = (a - b).abs().mean(), ((a - b) ** 2).mean()
    assert torch.allclose(losses.pixel_loss("mse", a, b), mse)
    assert torch.allclose(losses.pixel_loss("l1", a, b), mae)
    for fn in (losses.l1, losses.cycle_loss, losses.identity_loss):
        assert torch.allclose(fn(a, b), mae)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert losses.l1(a.bfloat16(), b.bfloat16()).dtype == torch.float32


# ----- perceptual --------------------------------------------------------------------------------------------
class _Taps(torch.nn.Module):
    """A stand-in feature extractor: image -> {layer name: a fixed function of the image}."""

    def __init__(self, layers):
        super().__init__()
        self.layers = layers

    def forward(self, x):
        return {name: (x * (i + 1)).float() + i for i, name in enumerate(self.layers)}


def test_vgg_perceptual_loss_variants():
    fake, real = _randn(2, 3, 8, 8, seed=3), _randn(2, 3, 8, 8, seed=4)
    vgg = _Taps(losses.VGG_LAYERS)
    # SPADE / OASIS / SEAN: Σ_i w_i L1 over relu1_1 .. relu5_1, weights 1/32 .. 1
    fy, fr = vgg(fake), vgg(real)
    spade = sum(w * (fy[k] - fr[k]).abs().mean() for k, w in zip(losses.VGG_LAYERS, (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1)))
    assert torch.allclose(losses.vgg_loss(vgg, fake, real), spade)
    # SRGAN: MSE on one tap, both maps rescaled by 1/12.75 (= MSE / 12.75^2), unweighted
    s = 1 / 12.75
    srgan = ((fy["relu3_1"] - fr["relu3_1"]) ** 2).mean() * s * s
    got = losses.vgg_loss(vgg, fake, real, ("relu3_1",), None, "mse", s)
    assert torch.allclose(got, srgan, rtol=1e-5)
    # Johnson's feature reconstruction: MSE of precomputed features
    assert torch.allclose(losses.perceptual_loss(fy, fr, ("relu2_1",), kind="mse"),
                          ((fy["relu2_1"] - fr["relu2_1"]) ** 2).mean())
    # the real image's features get no gradient
    fake.requires_grad_(True), real.requires_grad_(True)
    losses.vgg_loss(vgg, fake, real).backward()
    assert fake.grad is not None and real.grad is None


def test_gram_normalisation():
    f = torch.randn(2, 3, 4, 5)
    expected = torch.einsum("nchw,ndhw->ncd", f, f) / (3 * 4 * 5)
    assert torch.allclose(gram(f), expected, atol=1e-6)
    # / (C H W): the same texture tiled over a 2x2 larger map has the same Gram matrix
    assert torch.allclose(gram(f.repeat(1, 1, 2, 2)), gram(f), atol=1e-6)
    ones = torch.ones(1, 2, 3, 3)
    assert torch.allclose(gram(ones), torch.full((1, 2, 2), 1 / 2))  # 9 / (2 * 3 * 3)


def test_gram_matches_a_hand_computation():
    f = torch.randn(2, 3, 4, 5, generator=torch.Generator().manual_seed(1))
    g = gram(f)
    assert g.shape == (2, 3, 3)
    for b in range(2):
        for i in range(3):
            for j in range(3):
                expect = sum(float(f[b, i, y, x]) * float(f[b, j, y, x]) for y in range(4) for x in range(5))
                assert float(g[b, i, j]) == pytest.approx(expect / (3 * 4 * 5), rel=1e-5, abs=1e-7)
    assert torch.allclose(g, g.transpose(1, 2))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert gram(f.bfloat16()).dtype == torch.float32
    with pytest.raises(DataError, match="N x C x H x W"):
        gram(f[0])


def test_style_loss_by_hand():
    feats = {"a": _randn(2, 3, 4, 4, seed=5), "b": _randn(2, 4, 2, 2, seed=6)}
    style = {"a": _randn(1, 3, 4, 4, seed=7), "b": _randn(1, 4, 2, 2, seed=8)}
    grams = {k: gram(v) for k, v in style.items()}
    by_hand = sum(((gram(feats[k]) - grams[k]) ** 2).mean() for k in ("a", "b"))  # the style's Gram broadcast
    assert torch.allclose(losses.style_loss(feats, grams, ("a", "b")), by_hand)
    assert losses.style_loss(style, grams, ("a", "b")) == 0


def test_tv_loss_by_hand():
    y = _randn(2, 3, 5, 6, seed=9)
    y255 = y * 127.5  # differences on the 0-255 scale, summed, per image
    by_hand = (((y255[:, :, 1:] - y255[:, :, :-1]) ** 2).sum() + ((y255[..., 1:] - y255[..., :-1]) ** 2).sum()) / 2
    assert torch.allclose(losses.tv_loss(y), by_hand)
    assert losses.tv_loss(torch.zeros(1, 3, 8, 8)) == 0


def test_contrastive_nt_xent_by_hand():
    torch.manual_seed(0)
    e = torch.nn.functional.normalize(torch.randn(8, 16), dim=1)
    assert losses.contrastive_loss(e, e) < losses.contrastive_loss(e, e.roll(1, 0))  # matching views score better
    e1, e2 = (torch.nn.functional.normalize(_randn(3, 4, seed=s), dim=1) for s in (1, 2))
    z, t = torch.cat([e1, e2]), 0.2
    by_hand = 0.0
    for i in range(6):  # -log softmax of the positive (the other view) among the 5 others
        pos = (i + 3) % 6
        others = torch.stack([z[i] @ z[j] / t for j in range(6) if j != i])
        by_hand += -(z[i] @ z[pos] / t - torch.logsumexp(others, 0)) / 6
    assert torch.allclose(losses.contrastive_loss(e1, e2, t), by_hand, atol=1e-6)


# ----- latent -----------------------------------------------------------------------------------------------
def test_kl_divergence_variants():
    # SPADE's encoder: a learnt variance, summed
    mu, logvar = torch.tensor([[0.0, 1.0], [2.0, 0.0]]), torch.tensor([[0.0, 0.0], [0.5, -1.0]])
    by_hand = sum(-0.5 * (1 + lv - m ** 2 - torch.exp(lv)) for m, lv in zip(mu.flatten(), logvar.flatten()))
    assert torch.allclose(kl_divergence(mu, logvar), by_hand)
    assert torch.allclose(kl_divergence(mu, logvar, reduction="mean"), by_hand / 4)
    # UNIT: the variance fixed at 1, averaged = 1/2 mean(mu^2), the closed form KL(N(mu, 1) || N(0, 1))
    mu = torch.randn(2, 8, 5, 5)
    assert torch.allclose(kl_divergence(mu, reduction="mean"), torch.tensor(0.5 * (mu ** 2).sum().item() / mu.numel()))
    closed = torch.distributions.kl_divergence(torch.distributions.Normal(mu, 1.0),
                                               torch.distributions.Normal(0.0, 1.0)).mean()
    assert torch.allclose(kl_divergence(mu, reduction="mean"), closed)
    with pytest.raises(ValueError, match="reduction"):
        kl_divergence(mu, reduction="none")
