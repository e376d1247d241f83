"""OASIS (Schönfeld, Sushko, Zhang, Gall, Schiele & Khoreva, ICLR 2021, "You Only Need Adversarial Supervision for
Semantic Image Synthesis"): a semantic label map (and 3-D noise) in, a photo out, trained with adversarial
supervision only.

- Generator: SPADE's, every norm conditioned on the one-hot label map concatenated with 64-d noise; the noise is
  one vector replicated over the map (global) or different vectors in chosen classes (local re-sampling).
- Discriminator: a U-Net that segments the image into N + 1 classes (class 0 = fake). D's loss is a per-pixel
  (N+1)-class cross-entropy: real pixels against their class + 1, weighted per class by the inverse of its pixel
  frequency in the batch (don't care: weight 0), fake pixels against class 0; plus LabelMix consistency
  (lambda 10). G's loss is D's class-balanced cross-entropy on its fakes against their true classes.
- No perceptual loss (``lambda_vgg`` 0; the paper's optional VGG term). Adam betas (0, 0.999), G 1e-4 / D 4e-4;
  an EMA generator (decay 0.9999) whose batch-norm statistics are re-estimated before sampling.

Noise and seeds are explicit: ``generate(segmap, z=None, seed=0, resample=None)`` and
``translate(labels, seed=0, resample_classes=(...), resample_seed=1)``; the networks never draw noise.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from condgen import losses
from condgen.config import option
from condgen.errors import ConfigError, DataError
from condgen.exportspec import image_spec
from condgen.models.base import eval_mode
from condgen.models.semantic import SemanticConfig, SemanticSynthesizer
from condgen.nn.labels import IGNORE_ID, check_label_ids, colorize, label_ids
from condgen.nn.norms import PARAM_FREE_NORMS
from condgen.nn.oasis import OASISGenerator, UNetSegDiscriminator, noise_map


@dataclass
class OASISConfig(SemanticConfig):
    """OASIS hyper-parameters; defaults are the paper's (sec. 3-4, appendix) and the authors' released options. The
    fields shared with SPADE and SEAN are ``SemanticConfig``'s; those OASIS sets or describes otherwise follow."""

    dontcare_as_class: bool = option(False, help="feed don't-care pixels to G as an extra one-hot channel (the "
                                                 "authors do for ADE20K / COCO); default: all-zero. D never "
                                                 "trains on them either way (weight 0)")
    ndf: int = option(64, min=1, help="discriminator width: encoder 2, 2, 4, 4, 8, 8 x ndf (64)")
    z_dim: int = option(64, min=0, help="3-D noise channels concatenated to the label map (64; 0 = no noise, "
                                        "the paper's ablation)")
    crop_size: int = option(256, min=1, help="training image width (filled from the data)")
    param_free_norm: str = option("syncbatch", choices=PARAM_FREE_NORMS,
                                  help="SPADE's parameter-free norm (authors: synchronised batch norm; plain batch "
                                       "norm on one device or CPU)")
    spade_hidden: int = option(128, min=1, help="channels of the shared SPADE conv (128)")
    class_balancing: bool = option(True, help="weight the real-class cross-entropy by inverse class frequency "
                                              "in the batch (paper eq. 2; the authors' --no_balancing_inloss "
                                              "turns it off)")
    lambda_labelmix: float = option(10.0, min=0.0, help="LabelMix consistency weight (sec. 3.2: 10; Cityscapes 5; "
                                                        "0 = off)")
    lambda_vgg: float = option(0.0, min=0.0, help="optional VGG19 perceptual loss weight (paper: none; the "
                                                  "authors' --add_vgg_loss uses 10)")
    vgg_weights: str = option("imagenet", help="VGG19 weights when lambda_vgg > 0: imagenet (torchvision's "
                                               "vgg19-dcbb9e9d.pth in the torch cache; nothing is downloaded), a "
                                               "file path, or random")
    lr_G: float = option(1e-4, min=0.0, help="generator learning rate (1e-4; Cityscapes 4e-4)")
    lr_D: float = option(4e-4, min=0.0, help="discriminator learning rate (4e-4)")
    beta2: float = option(0.999, min=0.0, max=1.0, help="Adam beta2 (0.999; the authors explain why not 0.9 in "
                                                        "issue #28)")
    init_gain: float = option(0.02, min=0.0, help="Xavier-normal init gain of G and D (authors: 0.02)")
    d_head_spectral_norm: bool = option(False, help="spectral norm on D's final 1x1 classifier too (the authors' "
                                                    "code: none there; the quick preset turns it on, where D must "
                                                    "learn within a few hundred steps)")
    bn_reestimate_batches: int = option(50, min=0, help="forward passes that re-estimate the EMA generator's "
                                                        "batch-norm statistics before each sample grid (authors: "
                                                        "~50 training batches; 0 = off)")

    #: runs saved before a key existed computed this (runs.config_from_dict fills it in)
    saved_before: ClassVar[dict[str, Any]] = {"d_head_spectral_norm": True}

    def validate(self) -> None:
        """Cross-field checks."""
        if self.label_nc > IGNORE_ID:
            raise ConfigError(f"model.label_nc must be at most {IGNORE_ID} (id {IGNORE_ID} is don't care), got "
                              f"{self.label_nc}.")


# ----- the objective ---------------------------------------------------------------------------------------
def class_balance_weights(segmap: torch.Tensor, label_nc: int, balance: bool = True) -> torch.Tensor:
    """Per-pixel weights (N x H x W) of the real-class cross-entropy (paper eq. 2): class c weighs
    P / (K · count_c), with P the batch's pixels (don't care included), count_c the pixels of class c in the batch
    and K the number of classes present, so the weights average 1 over labelled pixels of a batch without don't
    care. Don't-care pixels (and everything, when ``balance`` is off, except them) weigh 0 (resp. 1)."""
    valid = segmap != IGNORE_ID
    if not balance:
        return valid.float()
    ids = torch.where(valid, segmap, torch.zeros_like(segmap))
    counts = torch.bincount(ids[valid].flatten(), minlength=label_nc).float()
    present = int((counts > 0).sum())
    w = torch.where(counts > 0, segmap.numel() / (max(present, 1) * counts.clamp(min=1)), torch.zeros_like(counts))
    return w[ids] * valid


class OASIS(SemanticSynthesizer):
    """Label map (+ 3-D noise) -> image. One iteration in the authors' order: the G step (class-balanced N+1 CE of
    D on G's fakes; D frozen), then the D step on real, a fresh detached fake (new noise) and their LabelMix."""

    Config = OASISConfig
    translate_options = frozenset({"seed", "resample_classes", "resample_seed", "z"})
    reads_instances = False
    vgg_hint = "Or train OASIS without it (the paper's default): model.lambda_vgg=0."
    ema_copies_norm_stats = False  # the EMA G's BN statistics are re-estimated (reestimate_bn), not copied
    grid_nrow = 4  # rows of colourised label | generated (noise a) | generated (noise b) | real
    grid_columns = ("label", "noise a", "noise b", "real")
    # Schönfeld et al. sec. 4 / appendix and the authors' scripts: batch 32 for ADE20K and COCO-Stuff (20 for
    # Cityscapes) on 4 GPUs; 200 epochs (COCO-Stuff 100); no LR decay; EMA of G with decay 0.9999 (Cityscapes
    # 0.999); data as SPADE's: resize to 286, random 256 crops, flips (ADE20K). The repo's reference notes
    # (shared/reference/semantic_synthesis.md, sec. 2.3) record these; the 200 epochs are not marked unverified.
    train_defaults = {"data": {"batch_size": 32, "preprocess": "resize_and_crop", "load_size": 286,
                               "crop_size": 256, "flip": True},
                      "train": {"epochs": 200, "lr_schedule": "constant", "ema_decay": 0.9999}}

    def build_nets(self, cfg: OASISConfig) -> dict[str, nn.Module]:
        """SPADE's generator reading the label map and 3-D noise, and the U-Net segmenter D (N + 1 classes)."""
        cfg.validate()
        G = OASISGenerator(self.semantic_nc, ngf=cfg.ngf, z_dim=cfg.z_dim, param_free=cfg.param_free_norm,
                           hidden=cfg.spade_hidden)
        D = UNetSegDiscriminator(cfg.label_nc + 1, ndf=cfg.ndf, head_spectral_norm=cfg.d_head_spectral_norm)
        return {"G": G, "D": D}

    @classmethod
    def size_multiple(cls, cfg: OASISConfig, train: bool = False) -> int:
        """Sides of generated images are multiples of 32 (2^5 upsamplings); training crops of 64 (the U-Net
        discriminator's 6 poolings). OASIS reads no instance maps."""
        return 64 if train else 32

    # ----- pieces -----------------------------------------------------------------------------------
    def training_noise(self, n: int) -> torch.Tensor | None:
        """N(0, I) noise vectors (n x z_dim) from the training RNG, replicated over the map by G (the paper's
        training samples one vector per image)."""
        return torch.randn(n, self.cfg.z_dim, device=self.device) if self.cfg.z_dim else None

    # ----- training -----------------------------------------------------------------------------------
    def training_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """G step then D step (the authors' train.py: generator update, then discriminator update)."""
        cfg, G, D = self.cfg, self.nets["G"], self.nets["D"]
        real, seg = batch["image"], batch["segmap"].to(self.device)
        sem = self.semantic(seg)  # (checks the ids)
        n = real.shape[0]
        weights = class_balance_weights(seg, cfg.label_nc, cfg.class_balancing)
        terms: dict[str, torch.Tensor] = {}

        with self.frozen("D"):
            fake = G(sem, self.training_noise(n))
            terms["G_adv"] = losses.n1_cross_entropy(D(fake), seg, weights)
            if cfg.lambda_vgg > 0:
                terms["G_vgg"] = self.vgg_loss(fake, real)
            loss_g = terms["G_adv"] + cfg.lambda_vgg * terms.get("G_vgg", 0.0)
            self.optimize("G", loss_g)

        with torch.no_grad():  # a fresh fake from the updated G with new noise, as the authors' D step
            fake = G(sem, self.training_noise(n)).to(real.dtype)
        parts = [fake, real]
        if cfg.lambda_labelmix > 0:
            mask = losses.labelmix_mask(seg, cfg.label_nc).to(real.dtype)
            parts.append(mask * real + (1 - mask) * fake)
        # one D call on fake | real (| mixed): D has no batch statistics, so this equals separate calls
        out = D(torch.cat(parts, 0))
        d_fake, d_real = out[:n], out[n:2 * n]
        d_terms = {"D_fake": losses.n1_cross_entropy(d_fake, None),
                   "D_real": losses.n1_cross_entropy(d_real, seg, weights)}
        if cfg.lambda_labelmix > 0:
            d_terms["D_labelmix"] = losses.labelmix_loss(out[2 * n:], d_real, d_fake, mask)
        loss_d = d_terms["D_fake"] + d_terms["D_real"] + cfg.lambda_labelmix * d_terms.get("D_labelmix", 0.0)
        self.optimize("D", loss_d)
        return {"loss/D": loss_d.detach(), "loss/G": loss_g.detach(),
                **{f"loss/{k}": v.detach() for k, v in {**terms, **d_terms}.items()}}

    # ----- EMA batch-norm statistics ------------------------------------------------------------------
    @torch.no_grad()
    def reestimate_bn(self, batches: Iterable[Any], seed: int = 0, net: torch.nn.Module | None = None) -> int:
        """Re-estimate the batch-norm running statistics of the inference generator (the EMA copy when there is
        one) from scratch: its BN layers in train mode with cumulative averaging (momentum None), everything else
        (spectral norm's power iteration) in eval mode, over ``batches`` — label maps (N x H x W ids) or batch dicts
        with "segmap" — each with fresh N(0, I) noise drawn from ``seed``. The weights of an EMA generator are an
        average of past weights, so the statistics the trainer copies from the live G do not fit them (the
        authors re-estimate before every FID, sample and checkpoint). Returns the number of batches used."""
        G = self.net("G") if net is None else net
        bns = [m for m in G.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]
        if not bns:
            return 0
        was, saved = G.training, [(m.momentum, m.training) for m in bns]
        gen = torch.Generator().manual_seed(int(seed))
        G.eval()
        for m in bns:
            m.reset_running_stats()
            m.momentum = None
            m.train()
        used = 0
        try:
            for b in batches:
                seg = b["segmap"] if isinstance(b, Mapping) else b
                seg = label_ids(seg)[0].to(self.device)
                z = torch.randn(seg.shape[0], self.cfg.z_dim, generator=gen).to(self.device) if self.cfg.z_dim \
                    else None
                G(self.semantic(seg), z)
                used += 1
        finally:
            for m, (mom, tr) in zip(bns, saved):
                m.momentum = mom
                m.train(tr)
            G.train(was)
        return used

    def _bn_batches(self, segmaps: torch.Tensor, chunk: int = 16):
        """``bn_reestimate_batches`` chunks of ``segmaps``, cycling over them (each pass gets fresh noise)."""
        k = max(1, -(-segmaps.shape[0] // chunk))
        for i in range(self.cfg.bn_reestimate_batches):
            j = i % k
            yield segmaps[j * chunk:(j + 1) * chunk]

    # ----- inference ----------------------------------------------------------------------------------
    def _vectors(self, v, n: int) -> torch.Tensor:
        """n x z_dim vectors from an int seed, a z_dim vector or an n x z_dim tensor."""
        if isinstance(v, int):
            return self.sample_z(n, v)
        v = torch.as_tensor(v, dtype=torch.float32).to(self.device).reshape(-1, self.cfg.z_dim)
        if v.shape[0] == 1:
            v = v.expand(n, -1)
        if v.shape[0] != n:
            raise ConfigError(f"{v.shape[0]} noise vectors for {n} label maps: give one, or one each.")
        return v

    def noise(self, segmap: torch.Tensor, z=None, seed: int = 0, resample=None,
              resample_seed: int | None = None) -> torch.Tensor | None:
        """The 3-D noise (N x z_dim x H x W) G reads for label maps ``segmap`` (N x H x W ids).

        ``z``: an N x z_dim x H x W noise map (used as is), N x z_dim or z_dim vectors, or None to draw vector k
        from ``seed``. ``resample`` (local re-sampling, paper sec. 3.3): a mapping {class id: seed or vector(s)}
        giving each class its own vector, or a list of class ids that together take one new vector drawn from
        ``resample_seed`` (default seed + 1). Pixels of other classes keep ``z``."""
        if not self.cfg.z_dim:
            return None
        n = segmap.shape[0]
        if z is not None and torch.as_tensor(z).dim() == 4:
            if resample:
                raise ConfigError("resample works on noise vectors; with a full noise map edit the map itself.")
            return torch.as_tensor(z).float().to(self.device)
        z = self.sample_z(n, seed) if z is None else self._vectors(z, n)
        regions: list[tuple[int, torch.Tensor]] = []
        if resample is not None:
            if isinstance(resample, Mapping):
                items = list(resample.items())
            else:
                classes = [resample] if isinstance(resample, int) else list(resample)
                v = self.sample_z(n, seed + 1 if resample_seed is None else resample_seed)
                items = [(c, v) for c in classes]
            for c, v in items:
                c = int(c)
                if not 0 <= c < self.cfg.label_nc:
                    raise ConfigError(f"cannot resample class {c}: this model has classes 0..{self.cfg.label_nc - 1}.")
                regions.append((c, self._vectors(v, n)))
        return noise_map(segmap.to(self.device), z, regions)

    @torch.no_grad()
    def generate(self, segmap: torch.Tensor | None = None, z=None, seed: int = 0, resample=None,
                 resample_seed: int | None = None, label: torch.Tensor | None = None, **_: Any) -> torch.Tensor:
        """Images (N x 3 x H x W in [-1, 1]) for label maps (N x H x W or H x W ids, sides multiples of 32;
        ``translate`` takes any size). Noise as in ``noise``: ``z`` explicit, else drawn from ``seed``; ``resample``
        re-draws it inside chosen classes. Eval mode (running BN statistics)."""
        segmap = label if segmap is None else segmap
        if segmap is None:
            raise ConfigError("oasis synthesises from a label map: pass segmap (N x H x W class ids).")
        segmap = label_ids(segmap)[0].to(self.device)
        sem = self.semantic(segmap)
        noise = self.noise(segmap, z, seed, resample, resample_seed)
        G = self.net("G")
        with eval_mode(G):
            return G(sem, noise).float()

    def export_spec(self, size: int | None = None, direction: str = "AtoB"):
        """G in eval mode on ``semantic`` (N x C x H x W one-hot label map, ``condgen.nn.labels.semantic_input``)
        and ``noise`` (N x z_dim, one vector per image spread over the map; local resampling is done by the caller
        with a full noise map in PyTorch). H and W dynamic multiples of the generator's multiple."""
        G = self.net("G").eval()
        m = G.multiple
        channels = self.semantic(torch.zeros(1, m, m, dtype=torch.long)).shape[1]
        noise = torch.randn(1, self.cfg.z_dim, generator=torch.Generator().manual_seed(0))
        spec = image_spec(lambda sem, z: G(sem, z), {"G": G}, channels, size or 256, m, name="semantic",
                          extra=(("noise", noise),))
        spec.note = f"semantic: one-hot label map ({channels} channels); noise: N x {self.cfg.z_dim}"
        return spec

    @torch.no_grad()
    def translate(self, labels, seed: int = 0, resample_classes: Iterable[int] = (), resample_seed: int = 1,
                  z: torch.Tensor | None = None):
        """Synthesise from a label map of any size: a PIL image of class ids (mode L or P, or I; returns an RGB PIL
        image) or an integer tensor H x W / N x H x W / N x 1 x H x W (returns N x 3 x H x W, or 3 x H x W).

        Noise: vector k of ``seed`` (or explicit vectors ``z``, N x z_dim or z_dim) over the whole map, except the
        pixels of ``resample_classes``, which take one vector drawn from ``resample_seed``: the same seed gives the
        same image, and changing only ``resample_seed`` re-draws those regions. The map is padded by reflection to
        a multiple of 32 and the image cropped back; maps larger than ``tile_size`` go through overlapping tiles,
        which share the vectors (the noise is a function of each pixel's class)."""
        ids, _, single = self.label_maps(labels)
        check_label_ids(ids, self.cfg.label_nc)
        n = ids.shape[0]
        classes = [int(c) for c in resample_classes]
        present = set(torch.unique(ids).tolist())
        missing = [c for c in classes if c not in present]
        if missing:
            shown = ", ".join(str(c) for c in sorted(present - {IGNORE_ID}))
            raise DataError(f"cannot resample class(es) {', '.join(map(str, missing))}: not in this label map (its "
                            f"classes: {shown}).")
        kwargs: dict[str, Any] = {}
        if self.cfg.z_dim:
            vecs = self.sample_z(n, seed) if z is None else self._vectors(z, n)
            kwargs = {"z": vecs, "resample": {c: self.sample_z(n, resample_seed) for c in classes} or None}
        with self.inference():
            y = self.synthesize_any_size(ids, **kwargs)
        return self.translated(y, labels, single)

    # ----- sample grids -------------------------------------------------------------------------------
    def fixed_inputs(self, n: int, seed: int, batch: dict[str, Any] | None = None) -> dict[str, Any]:
        """The first few training label maps and images (at most 8), two fixed noise draws per map, and all the
        label maps of the trainer's first batch for the BN re-estimation."""
        fixed = super().fixed_inputs(n, seed, batch)
        if not fixed:
            return fixed
        fixed.update(bn_segmap=batch["segmap"], bn_seed=seed)
        if self.cfg.z_dim:
            k = fixed["segmap"].shape[0]
            fixed["z"] = [self.sample_z(k, seed), self.sample_z(k, seed + 1)]
        return fixed

    @torch.no_grad()
    def sample_grid(self, fixed: dict[str, Any]) -> torch.Tensor:
        """Rows of colourised label | generated (noise a) | generated (noise b) | real, after re-estimating the EMA
        generator's BN statistics on the first batch's label maps (when the trainer keeps an EMA)."""
        if "G" in self.ema and self.cfg.bn_reestimate_batches > 0 and "bn_segmap" in fixed:
            self.reestimate_bn(self._bn_batches(fixed["bn_segmap"]), seed=fixed.get("bn_seed", 0))
        zs = fixed.get("z") or [None, None]
        fakes = [self.generate(fixed["segmap"], z=z).float().cpu() for z in zs]
        lab = colorize(fixed["segmap"], self.cfg.label_nc)
        return torch.stack([lab, *fakes, fixed["image"].float().cpu()], dim=1).flatten(0, 1)


__all__ = ["OASIS", "OASISConfig", "class_balance_weights"]
