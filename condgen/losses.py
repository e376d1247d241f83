"""Every loss of the models, in one place, each with its paper: adversarial objectives (logits in, autocast-safe),
pixel and reconstruction distances (L1/MSE, cycle, identity), feature matching, VGG perceptual / content losses,
Gram-matrix style loss, total variation, the anonymizer's contrastive (NT-Xent) loss, KL divergences of the VAE
encoders, and OASIS's (N+1)-class cross-entropy and LabelMix. The frozen VGG that feeds the perceptual terms is a
building block (``condgen.nn.features.VGGFeatures``); only the formulas live here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch.nn import functional as F

from condgen.errors import DataError
from condgen.nn.labels import IGNORE_ID

ADVERSARIAL = ("vanilla", "lsgan", "hinge")
PIXEL_LOSSES = ("mse", "l1")

#: VGG19 taps of the SPADE / pix2pixHD perceptual loss and their weights (the authors' VGGLoss: relu1_1 .. relu5_1,
#: 1/32 .. 1); also OASIS's and SEAN's
VGG_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
VGG_WEIGHTS = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)


# ----- adversarial ---------------------------------------------------------------------------------
def _target(logits: torch.Tensor, value: float) -> torch.Tensor:
    return torch.full_like(logits, value)


def d_loss(kind: str, real, fake) -> torch.Tensor:
    """Discriminator loss on real and fake logits (tensors, or lists of them from a multi-scale D: summed).

    vanilla: Goodfellow et al. 2014, D maximises log D(x) + log(1 - D(G(z))) (BCE with logits);
    lsgan: Mao et al. 2017, (D(x) - 1)^2 + D(G(z))^2; hinge: Lim & Ye 2017.
    """
    if isinstance(real, (list, tuple)):
        return sum(d_loss(kind, r, f) for r, f in zip(real, fake, strict=True))
    real, fake = real.float(), fake.float()
    if kind == "vanilla":
        return (F.binary_cross_entropy_with_logits(real, _target(real, 1.0))
                + F.binary_cross_entropy_with_logits(fake, _target(fake, 0.0)))
    if kind == "lsgan":
        return F.mse_loss(real, _target(real, 1.0)) + F.mse_loss(fake, _target(fake, 0.0))
    if kind == "hinge":
        return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()
    raise ValueError(f"unknown adversarial loss {kind!r}; choose from {ADVERSARIAL}")


def g_loss(kind: str, fake) -> torch.Tensor:
    """Generator loss on fake logits (or a list of them, summed). vanilla = the non-saturating loss, maximise
    log D(G(z)) (Goodfellow, sec. 3)."""
    if isinstance(fake, (list, tuple)):
        return sum(g_loss(kind, f) for f in fake)
    fake = fake.float()
    if kind == "vanilla":
        return F.binary_cross_entropy_with_logits(fake, _target(fake, 1.0))
    if kind == "lsgan":
        return F.mse_loss(fake, _target(fake, 1.0))
    if kind == "hinge":
        return -fake.mean()
    raise ValueError(f"unknown adversarial loss {kind!r}; choose from {ADVERSARIAL}")


def n1_cross_entropy(logits: torch.Tensor, segmap: torch.Tensor | None, weights: torch.Tensor | None = None
                     ) -> torch.Tensor:
    """OASIS's adversarial loss (Schönfeld, Sushko et al., ICLR 2021, eq. 2 and 3): the (N+1)-class per-pixel
    cross-entropy of D's logits (N x (label_nc + 1) x H x W), averaged over all pixels: against class 0 (fake)
    when ``segmap`` is None, else against each pixel's class + 1, multiplied by ``weights`` (N x H x W;
    don't-care pixels must weigh 0, their target is arbitrary)."""
    logits = logits.float()
    if segmap is None:
        target = torch.zeros(logits.shape[0], *logits.shape[2:], dtype=torch.long, device=logits.device)
        return F.cross_entropy(logits, target)
    target = torch.where(segmap == IGNORE_ID, torch.zeros_like(segmap), segmap + 1)
    ce = F.cross_entropy(logits, target, reduction="none")
    return (ce if weights is None else ce * weights).mean()


def labelmix_mask(segmap: torch.Tensor, label_nc: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """LabelMix's binary mask (OASIS, sec. 3.2), N x 1 x H x W: for each image, each class (don't care counts as
    one more region) is drawn real (1) or fake (0) with probability 1/2, so the mask follows the label map's
    boundaries."""
    n = segmap.shape[0]
    bits = torch.randint(0, 2, (n, label_nc + 1), generator=generator, device="cpu").to(segmap.device)
    ids = torch.where(segmap == IGNORE_ID, torch.full_like(segmap, label_nc), segmap)
    return bits.gather(1, ids.flatten(1)).view_as(segmap)[:, None].float()


def labelmix_loss(d_mixed: torch.Tensor, d_real: torch.Tensor, d_fake: torch.Tensor, mask: torch.Tensor
                  ) -> torch.Tensor:
    """LabelMix consistency (OASIS, eq. 4): || D(M x + (1-M) x̂) - (M D(x) + (1-M) D(x̂)) ||², on the logits,
    averaged over every element (the authors' MSE). Gradients reach all three outputs."""
    target = mask * d_real.float() + (1 - mask) * d_fake.float()
    return F.mse_loss(d_mixed.float(), target)


def feature_matching(feats_fake, feats_real) -> torch.Tensor:
    """Discriminator feature matching (pix2pixHD, Wang et al. CVPR 2018, eq. 4; used by SPADE and SEAN): Σ over
    scales and intermediate layers of L1(fake, real.detach()), divided by the number of scales (as the SPADE code
    weights it: lambda_feat / num_D). Each scale's list ends with its logits, which are not features."""
    total = feats_fake[0][0].new_zeros((), dtype=torch.float32)
    for fake, real in zip(feats_fake, feats_real, strict=True):
        for f, r in zip(fake[:-1], real[:-1], strict=True):
            total = total + F.l1_loss(f.float(), r.detach().float())
    return total / len(feats_fake)


# ----- pixel distances and reconstruction --------------------------------------------------------------
def pixel_loss(kind: str, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared (``mse``, SRResNet: Ledig et al. 2017, eq. 4) or absolute (``l1``) error, in float32 also
    under autocast."""
    pred, target = pred.float(), target.float()
    return F.mse_loss(pred, target) if kind == "mse" else F.l1_loss(pred, target)


def l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error in float32: pix2pix's L1 term (Isola et al. CVPR 2017, eq. 3), UNIT's and MUNIT's
    within-domain and latent reconstructions (Liu et al. 2017, eq. 2; Huang et al. 2018, eq. 1-3), SEAN's L1."""
    return pixel_loss("l1", pred, target)


def cycle_loss(reconstructed: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Cycle consistency, ||F(G(x)) - x||_1 as a mean (CycleGAN: Zhu et al. ICCV 2017, eq. 2; UNIT's and MUNIT's
    cycle terms)."""
    return l1(reconstructed, real)


def identity_loss(mapped: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Identity mapping loss, ||G(y) - y||_1 as a mean (Taigman et al. ICLR 2017; CycleGAN sec. 5.2): a
    generator fed an image of its target domain should leave it unchanged."""
    return l1(mapped, real)


# ----- perceptual ------------------------------------------------------------------------------------
def perceptual_loss(feats: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor], layers: Sequence[str],
                    weights: Sequence[float] | None = None, kind: str = "l1", rescale: float = 1.0) -> torch.Tensor:
    """Σ_i w_i d(s φ_i(output), s φ_i(target)) over feature maps ``layers`` (dicts of feature name -> map), with
    d the ``kind`` distance (mean L1 or MSE) and s = ``rescale``.

    The variants, each the paper's (or its code's): SPADE / OASIS / SEAN (Wang et al. 2018, pix2pixHD sec. 3.3;
    Park et al. 2019): L1 over VGG19 relu1_1 .. relu5_1 weighted ``VGG_WEIGHTS``; SRGAN's content loss (Ledig et
    al. 2017, eq. 5): MSE on one VGG19 tap, both maps rescaled by 1/12.75 (sec. 3.2); Johnson et al. 2016's
    feature reconstruction loss (eq. 2): MSE on relu2_2. ``weights`` None = no weighting (unit weights)."""
    def dist(k: str) -> torch.Tensor:
        a, b = feats[k], target[k]
        if rescale != 1.0:
            a, b = a * rescale, b * rescale
        return pixel_loss(kind, a, b)

    if weights is None:
        return sum(dist(k) for k in layers)
    return sum(w * dist(k) for k, w in zip(layers, weights, strict=True))


def vgg_loss(vgg, fake: torch.Tensor, real: torch.Tensor, layers: Sequence[str] = VGG_LAYERS,
             weights: Sequence[float] | None = VGG_WEIGHTS, kind: str = "l1", rescale: float = 1.0) -> torch.Tensor:
    """``perceptual_loss`` of images through a frozen feature extractor ``vgg`` (image -> {layer: map}); the real
    images' features are computed without gradients. The defaults are SPADE's VGGLoss (see ``perceptual_loss``)."""
    with torch.no_grad():
        target = vgg(real)
    return perceptual_loss(vgg(fake), target, layers, weights, kind, rescale)


def gram(features: torch.Tensor) -> torch.Tensor:
    """The Gram matrix of an N x C x H x W feature map, N x C x C: F Fᵀ / (C H W) (Johnson et al. 2016, eq. 3),
    computed in float32 (also under autocast)."""
    if features.dim() != 4:
        raise DataError(f"gram takes an N x C x H x W feature map, got shape {tuple(features.shape)}.")
    n, c, h, w = features.shape
    f = features.float().reshape(n, c, h * w)
    with torch.autocast(device_type=f.device.type, enabled=False):
        return torch.bmm(f, f.transpose(1, 2)) / (c * h * w)


def style_loss(feats: Mapping[str, torch.Tensor], grams: Mapping[str, torch.Tensor], layers: Sequence[str]
               ) -> torch.Tensor:
    """Style reconstruction loss (Gatys et al. 2016; Johnson et al. 2016, eq. 4 as their code computes it): Σ over
    ``layers`` of the mean squared difference between each output's Gram matrix and the style image's
    (``grams``: {layer: 1 x C x C}, broadcast over the batch)."""
    return sum(F.mse_loss(gram(feats[name]), grams[name].expand(feats[name].shape[0], -1, -1)) for name in layers)


def tv_loss(y: torch.Tensor) -> torch.Tensor:
    """Total variation regulariser (Johnson et al. 2016, sec. 3.3; after Mahendran & Vedaldi 2015) of [-1, 1]
    images: squared neighbour differences on the 0-255 scale, summed per image and averaged over the batch
    (Johnson's code)."""
    y = y.float() * 127.5  # differences on the 0-255 scale
    dh = (y[..., 1:, :] - y[..., :-1, :]).pow(2).sum()
    dw = (y[..., :, 1:] - y[..., :, :-1]).pow(2).sum()
    return (dh + dw) / y.shape[0]


# ----- representation ---------------------------------------------------------------------------------------
def contrastive_loss(e1: torch.Tensor, e2: torch.Tensor, temperature: float = 0.2) -> torch.Tensor:
    """NT-Xent (SimCLR: Chen et al., ICML 2020, eq. 1) over 2N unit embeddings of two views of N images: each
    view's positive is the other view of the same image, the other 2N - 2 are negatives; the anonymizer's identity
    encoder (temperature 0.2)."""
    z = torch.cat([e1, e2])
    n = e1.shape[0]
    sim = z @ z.t() / temperature
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(sim, target)


# ----- latent -------------------------------------------------------------------------------------------------
def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor | None = None, reduction: str = "sum") -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) of a VAE encoder's code (Kingma & Welling 2014, appendix B):
    -1/2 Σ(1 + logvar - mu² - e^logvar), reduced by ``reduction`` ("sum" or "mean" over every element).

    The two variants: SPADE's encoder (Park et al. 2019, sec. 3.3) learns the variance and its code sums (a sum,
    not a mean; weighted by lambda_kld = 0.05): ``kl_divergence(mu, logvar)``. UNIT (Liu et al. 2017, sec. 3)
    fixes the variance at 1, so KL = 1/2 mu² averaged over elements: ``kl_divergence(mu, reduction="mean")``."""
    if reduction not in ("sum", "mean"):
        raise ValueError(f"unknown reduction {reduction!r}; choose sum or mean")
    reduce = torch.sum if reduction == "sum" else torch.mean
    if logvar is None:
        return 0.5 * reduce(mu.float().pow(2))
    mu, logvar = mu.float(), logvar.float()
    return -0.5 * reduce(1 + logvar - mu.pow(2) - logvar.exp())


__all__ = ["ADVERSARIAL", "PIXEL_LOSSES", "VGG_LAYERS", "VGG_WEIGHTS", "contrastive_loss", "cycle_loss", "d_loss",
           "feature_matching", "g_loss", "gram", "identity_loss", "kl_divergence", "l1", "labelmix_loss",
           "labelmix_mask", "n1_cross_entropy", "perceptual_loss", "pixel_loss", "style_loss", "tv_loss", "vgg_loss"]
