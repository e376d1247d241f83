"""SEAN (Zhu, Abdal, Qin & Wonka, CVPR 2020, "SEAN: Image Synthesis with Semantic Region-Adaptive Normalization"):
label map + one style code per region -> photo. A style encoder turns an image into a style matrix (one code per
class, region-wise average pooling); every normalisation layer of a SPADE-like generator blends a per-pixel
scale/shift from those region codes with SPADE's from the label map, so each region's style can be set on its own.

Training (sec. 4; the reference notes, sec. 3.3): reconstruction. The style matrix is encoded from the real image
itself and G reconstructs it; SPADE's multi-scale PatchGAN on label ⊕ image with the hinge loss, feature matching
(lambda 10) and the VGG19 perceptual loss (lambda 10); no KL, no pixel loss (``lambda_l1`` is an opt-in extra).
The style encoder is trained with G's optimizer. TTUR lr G 1e-4 / D 4e-4, Adam betas (0, 0.9) (the authors'
release forces them; reference notes 3.3). G step, then D step on a fresh detached fake (as SPADE).

Without the VGG weights (nothing is downloaded): ``model.lambda_vgg=0``, or ``model.vgg_weights=PATH``.

Per-region style control: ``encode_styles(image, segmap)`` -> [B, label_nc, style_dim];
``translate(labels, style_image=..., region_styles={class_id: image or (image, segmap)})``. A region no style image
provides takes the running mean code of its class (kept during training, like the authors' mean style codes).
Noise is explicit: ``seed`` drives the per-pixel noise inputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

from condgen import losses
from condgen.config import option
from condgen.errors import ConfigError, DataError
from condgen.exportspec import image_spec
from condgen.imaging import as_batch
from condgen.models.base import eval_mode, unwrap
from condgen.models.semantic import SemanticConfig, SemanticSynthesizer
from condgen.nn.labels import colorize, label_ids
from condgen.nn.norms import PARAM_FREE_NORMS
from condgen.nn.sean import POOLINGS, RegionStyleEncoder, SEANGenerator, init_sean
from condgen.nn.spade import UPSAMPLINGS, SPADEDiscriminator


@dataclass
class SEANConfig(SemanticConfig):
    """SEAN hyper-parameters; defaults are the paper's (sec. 3-4) and, where it is silent, the authors' release as
    the reference notes describe it (sec. 3). The fields shared with SPADE and OASIS are ``SemanticConfig``'s; those
    SEAN describes in its own terms follow."""

    label_nc: int = option(0, min=0, help="number of classes (ids 0..label_nc-1; 255 = don't care); 0 = from the "
                                          "data. Any number (the authors' code is fixed to 19)")
    dontcare_as_class: bool = option(False, help="feed don't-care pixels as an extra channel to the SPADE path "
                                                 "(they never get a region style)")
    use_instances: str = option("auto", choices=("auto", "true", "false"),
                                help="instance-boundary channel for the SPADE path (authors' README: off); auto = "
                                     "whenever the data has instance maps")
    ndf: int = option(64, min=1, help="discriminator width of the first layer (64)")
    style_dim: int = option(512, min=1, help="length of each region's style code (paper: 512)")
    encoder_nf: int = option(32, min=1, help="style encoder width: nf, 2nf, 4nf, 8nf channels (authors: 32)")
    num_upsampling_layers: str = option("normal", choices=tuple(UPSAMPLINGS),
                                        help="normal: 5 x2 upsamplings, as SPADE (the authors' 'most' is disabled)")
    crop_size: int = option(256, min=1, help="training image size (filled from the data; paper: 256)")
    param_free_norm: str = option("syncbatch", choices=PARAM_FREE_NORMS,
                                  help="parameter-free norm (authors: synchronised batch norm; plain batch norm on "
                                       "one device)")
    spade_hidden: int = option(128, min=1, help="channels of the SPADE path's shared conv (128)")
    noise: bool = option(True, help="per-pixel noise inputs with learned per-channel scales (fig. 4B)")
    spade_last_block: bool = option(True, help="the last ResBlk modulates from the labels only, no region styles "
                                               "(the authors' release; the paper's figure: SEAN throughout)")
    style_pooling: str = option("nearest", choices=POOLINGS,
                                help="region pooling of the style map: nearest = the label map resized (nearest) to "
                                     "the encoder's grid (the authors' release); area = each cell weighted by the "
                                     "fraction of it a class covers (every class in the label map gets a code)")
    norm_conv_bias: bool = option(False, help="biases on D's convs that instance norm follows (the authors' code "
                                              "removes them: the norm cancels them)")
    num_D: int = option(2, min=1, max=4, help="discriminator scales (SPADE's: 2)")
    n_layers_D: int = option(4, min=1, max=6, help="conv layers per scale (SPADE's discriminator: 4; the authors' "
                                                   "SEAN release: 3, all stride 2)")
    gan_loss: str = option("hinge", choices=losses.ADVERSARIAL, help="adversarial objective (hinge)")
    lambda_feat: float = option(10.0, min=0.0, help="feature-matching weight (10)")
    lambda_l1: float = option(0.0, min=0.0, help="L1 reconstruction weight (not in the paper: 0)")
    lr_G: float = option(1e-4, min=0.0, help="generator + style encoder learning rate (TTUR: 0.0001)")
    lr_D: float = option(4e-4, min=0.0, help="discriminator learning rate (TTUR: 0.0004)")
    beta2: float = option(0.9, min=0.0, max=1.0, help="Adam beta2 (the authors' release forces 0.9)")
    style_mean_momentum: float = option(0.01, min=0.0, max=1.0,
                                        help="rate of the running per-class mean codes (the default region styles)")

    #: runs saved before a key existed computed this (runs.config_from_dict fills it in)
    saved_before: ClassVar[dict[str, Any]] = {"style_pooling": "area", "norm_conv_bias": True}


class SEAN(SemanticSynthesizer):
    """Label map + region styles -> image. Shares the semantic base's data handling, label contract, SPADE's
    discriminator, feature matching and VGG loss; its own generator (SEAN ResBlks), style encoder ``E`` and
    reconstruction training."""

    Config = SEANConfig
    translate_options = frozenset({"style_image", "region_styles", "seed", "instance", "style_segmap",
                                   "style_matrix"})
    ema_nets = ("G", "E")
    vgg_hint = "Or train SEAN without the perceptual loss: --set model.lambda_vgg=0."
    init_weights = staticmethod(init_sean)  # init_xavier, and the style encoder's per-class linear layers
    grid_nrow = 4  # colourised label | reconstruction | with the next image's styles | real
    grid_columns = ("label", "own styles", "next styles", "real")
    # Reference notes sec. 3.3: batch 32 on 4 x V100 at 256 x 256; 50 epochs + 50 with the LR decayed linearly to 0
    # (niter 50, niter_decay 50). CelebAMask-HQ images are 512 px: resized to 256 (load = crop = 256), with flips.
    train_defaults = {"data": {"batch_size": 32, "preprocess": "resize_and_crop", "load_size": 256,
                               "crop_size": 256, "flip": True},
                      "train": {"epochs": 100, "lr_schedule": "linear", "lr_decay_start": 0.5}}

    def build_nets(self, cfg: SEANConfig) -> dict[str, nn.Module]:
        """SEAN's generator and region style encoder (part of the authors' netG: trained with G's optimizer and
        loss), and SPADE's multi-scale discriminator."""
        G = SEANGenerator(cfg.label_nc, self.semantic_nc, ngf=cfg.ngf, style_dim=cfg.style_dim,
                          num_upsampling_layers=cfg.num_upsampling_layers, param_free=cfg.param_free_norm,
                          hidden=cfg.spade_hidden, noise=cfg.noise, spade_last_block=cfg.spade_last_block)
        E = RegionStyleEncoder(cfg.label_nc, style_dim=cfg.style_dim, nf=cfg.encoder_nf, pooling=cfg.style_pooling)
        D = SPADEDiscriminator(self.semantic_nc + 3, ndf=cfg.ndf, n_layers=cfg.n_layers_D, num_D=cfg.num_D,
                               conv_bias=cfg.norm_conv_bias)
        return {"G": G, "E": E, "D": D}

    @classmethod
    def size_multiple(cls, cfg: SEANConfig, train: bool = False) -> int:
        """Sides of generated images and training crops are multiples of this (2^number of upsamplings)."""
        return 2 ** UPSAMPLINGS[cfg.num_upsampling_layers]

    # ----- styles --------------------------------------------------------------------------------
    def noise_generator(self, seed: int | None) -> torch.Generator | None:
        """The generator of the noise inputs for ``seed`` (None when the model has no noise or seed is None)."""
        if not self.cfg.noise or seed is None:
            return None
        return torch.Generator(device=self.device).manual_seed(int(seed))

    def _style_input(self, image, segmap, what: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(N x 3 x H x W image, N x H x W ids) on the device from a PIL image / tensor / path and a label map of any
        kind (resized, nearest, to the image when the sizes differ)."""
        from condgen.data.images import open_image

        if isinstance(image, (str, Path)):
            image = open_image(Path(image), 3)
        if isinstance(segmap, (str, Path)):
            with Image.open(segmap) as im:
                segmap = im.copy()
        x = as_batch(image, 3).float().to(self.device)
        ids = label_ids(segmap, f"{what} label")[0].to(self.device)
        if ids.shape[-2:] != x.shape[-2:]:
            ids = F.interpolate(ids[:, None].float(), size=x.shape[-2:], mode="nearest")[:, 0].long()
        if ids.shape[0] != x.shape[0]:
            if ids.shape[0] == 1:
                ids = ids.expand(x.shape[0], -1, -1)
            elif x.shape[0] == 1:
                x = x.expand(ids.shape[0], -1, -1, -1)
            else:
                raise DataError(f"{x.shape[0]} {what} images for {ids.shape[0]} label maps: give one, or one each.")
        return x, ids

    @torch.no_grad()
    def encode_styles(self, image, segmap, return_present: bool = False):
        """The style matrix [B, label_nc, style_dim] of style images (PIL, path, or 3 x H x W / B x 3 x H x W in
        [-1, 1]) pooled over their label maps (ids, 255 = don't care; resized nearest to the image if needed).
        Absent classes get zero codes; with ``return_present`` also the [B, label_nc] bool mask of present ones."""
        x, ids = self._style_input(image, segmap, "style")
        E = self.net("E")
        with eval_mode(E):
            codes, present = E(x, ids)
        codes = codes.float()
        return (codes, present) if return_present else codes

    def default_styles(self, n: int) -> torch.Tensor:
        """[n, label_nc, style_dim] running mean codes of every class (zero for classes never seen in training)."""
        return self.net("E").default_codes(n).float().to(self.device)

    @torch.no_grad()
    def style_matrix(self, n: int, segmap: torch.Tensor | None = None, style_image=None, style_segmap=None,
                     region_styles: dict | None = None) -> torch.Tensor:
        """The style matrix [n, label_nc, style_dim] for synthesis: every class's mean code, replaced by the codes
        of ``style_image`` for the classes present in it (its label map: ``style_segmap``, else the target
        ``segmap``, resized), then by each ``region_styles`` entry {class_id: image or (image, segmap)} for its
        class — a DataError naming the class if it is absent from that image's label map."""
        styles = self.default_styles(n)
        if style_image is not None:
            if isinstance(style_image, tuple):
                style_image, style_segmap = style_image
            seg = style_segmap if style_segmap is not None else segmap
            if seg is None:
                raise ConfigError("a style image needs a label map: pass style_segmap (or the target label map).")
            codes, present = self.encode_styles(style_image, seg, return_present=True)
            codes, present = _match_batch(codes, present, n, "style")
            styles = torch.where(present[..., None], codes, styles)
        for cls, spec in (region_styles or {}).items():
            k = int(cls)
            if not 0 <= k < self.cfg.label_nc:
                raise ConfigError(f"region style for class {k}: this model has classes 0..{self.cfg.label_nc - 1}.")
            own = isinstance(spec, tuple)
            image, seg = spec if own else (spec, segmap)
            if seg is None:
                raise ConfigError(f"the region style for class {k} needs a label map: pass (image, segmap).")
            codes, present = self.encode_styles(image, seg, return_present=True)
            codes, present = _match_batch(codes, present, n, f"class {k} style")
            if not bool(present[:, k].all()):
                src = f" ({image})" if isinstance(image, (str, Path)) else ""
                if not own:
                    raise DataError(f"class {k} does not appear in the label map being translated, which is also the "
                                    f"map its region-style image{src} is read with (no label map of its own): give "
                                    f"the image with its own label map as (image, segmap), or drop class {k}.")
                raise DataError(f"class {k} does not appear in the label map of its region-style image{src}: that "
                                f"image has no class-{k} region to take a style from. Pick an image that shows class "
                                f"{k}, or another label map.")
            styles[:, k] = codes[:, k]
        return styles

    # ----- training -----------------------------------------------------------------------------
    def training_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """G step (style encoder + generator: adversarial + feature matching + VGG (+ L1), D frozen), then the D step
        on a fresh detached reconstruction."""
        cfg, G, E = self.cfg, self.nets["G"], self.nets["E"]
        real, segmap = batch["image"], batch["segmap"].to(self.device)
        sem = self.semantic(segmap, batch.get("instance"))
        # one seed per step from the global RNG (saved in checkpoints): the same noise in G's and D's step
        seed = int(torch.randint(0, 2 ** 62, (1,)).item()) if cfg.noise else None
        terms: dict[str, torch.Tensor] = {}

        with self.frozen("D"):
            styles, present = E(real, segmap)
            fake = G(sem, styles, self.noise_generator(seed))
            terms.update(self.adversarial_terms(sem, fake, real))  # SPADE's: hinge per D scale + feature matching
            if cfg.lambda_vgg > 0:
                terms["G_vgg"] = self.vgg_loss(fake, real)
            if cfg.lambda_l1 > 0:
                terms["G_l1"] = losses.l1(fake, real)
            weights = {"G_gan": 1.0, "G_feat": cfg.lambda_feat, "G_vgg": cfg.lambda_vgg, "G_l1": cfg.lambda_l1}
            loss_g = sum(weights[k] * v for k, v in terms.items())
            self.optimize("G", loss_g)
        unwrap(E).update_means(styles.detach(), present, cfg.style_mean_momentum)

        with torch.no_grad():  # a fresh reconstruction from the updated networks
            fake = G(sem, E(real, segmap)[0], self.noise_generator(seed))
        loss_d = self.discriminator_loss(sem, fake, real)  # real vs the detached reconstruction
        self.optimize("D", loss_d)
        return {"loss/D": loss_d.detach(), "loss/G": loss_g.detach(),
                **{f"loss/{k}": v.detach() for k, v in terms.items()}}

    # ----- inference ----------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, segmap: torch.Tensor | None = None, instance: torch.Tensor | None = None,
                 style_matrix: torch.Tensor | None = None, style_image=None, style_segmap=None,
                 region_styles: dict | None = None, seed: int | None = 0, label: torch.Tensor | None = None,
                 **_: Any) -> torch.Tensor:
        """Images [N, 3, H, W] in [-1, 1] for label maps (N x H x W ids, sides multiples of ``multiple()``;
        ``translate`` takes any size). Styles: an explicit ``style_matrix`` ([N or 1, label_nc, style_dim]), or the
        one ``style_matrix()`` builds from ``style_image`` (pooled over ``style_segmap``, else over ``segmap``:
        reconstruction) and ``region_styles``, every other class taking its mean code. ``seed``: the noise inputs
        (None: no noise). Eval mode (running BN statistics)."""
        segmap = label if segmap is None else segmap
        if segmap is None:
            raise ConfigError("sean synthesises from a label map: pass segmap (N x H x W class ids).")
        if segmap.dim() == 2:
            segmap = segmap[None]
        sem = self.semantic(segmap, instance)
        n = sem.shape[0]
        if style_matrix is None:
            style_matrix = self.style_matrix(n, segmap, style_image, style_segmap, region_styles)
        elif style_image is not None or region_styles:
            raise ConfigError("give either a style matrix or style images, not both.")
        style_matrix = torch.as_tensor(style_matrix).float().to(self.device)
        if style_matrix.dim() == 2:
            style_matrix = style_matrix[None]
        if style_matrix.shape[0] == 1 and n > 1:
            style_matrix = style_matrix.expand(n, -1, -1)
        G = self.net("G")
        with eval_mode(G):
            return G(sem, style_matrix, self.noise_generator(seed)).float()

    def export_spec(self, size: int | None = None, direction: str = "AtoB"):
        """G in eval mode, without noise, on ``semantic`` (N x C x H x W one-hot label map,
        ``condgen.nn.labels.semantic_input``) and ``style_matrix`` (N x label_nc x style_dim: encode_styles or the
        mean codes); H and W dynamic multiples of 32."""
        G = self.net("G").eval()
        channels = self.semantic(torch.zeros(1, 32, 32, dtype=torch.long)).shape[1]
        styles = torch.randn(1, self.cfg.label_nc, self.cfg.style_dim, generator=torch.Generator().manual_seed(0))
        spec = image_spec(lambda sem, st: G(sem, st, None), {"G": G}, channels, size or 256, self.multiple(),
                          name="semantic", extra=(("style_matrix", styles),))
        spec.note = f"semantic: one-hot label map ({channels} channels); style_matrix: N x {self.cfg.label_nc} x " \
                    f"{self.cfg.style_dim}; no noise injection"
        return spec

    @torch.no_grad()
    def translate(self, labels, style_image=None, region_styles: dict | None = None, seed: int | None = 0,
                  instance=None, style_segmap=None, style_matrix: torch.Tensor | None = None):
        """Synthesise from a label map of any size: a PIL image of class ids (returns an RGB PIL image) or an integer
        tensor H x W / N x H x W / N x 1 x H x W (returns N x 3 x H x W, or 3 x H x W for H x W).

        Styles: ``style_image`` (PIL, path or tensor; or an (image, segmap) pair) gives the codes of the classes it
        shows, pooled over its own label map ``style_segmap`` when given, else over this label map resized to it
        (an aligned photo, e.g. reconstruction); ``region_styles`` {class_id: image or (image, segmap)} then sets
        each listed class from its image's region of that class (DataError naming the class when that image has
        none); every other class takes its mean code. The map is padded to a multiple of 32 and cropped back, and
        maps larger than ``tile_size`` go through overlapping tiles that share the style matrix."""
        ids, inst, single = self.label_maps(labels, instance)
        if style_matrix is None:
            style_matrix = self.style_matrix(ids.shape[0], ids, style_image, style_segmap, region_styles)
        elif style_image is not None or region_styles:
            raise ConfigError("give either a style matrix or style images, not both.")
        with self.inference():
            y = self.synthesize_any_size(ids, inst, style_matrix=style_matrix, seed=seed)
        return self.translated(y, labels, single)

    @torch.no_grad()
    def sample_grid(self, fixed: dict[str, Any]) -> torch.Tensor:
        """Rows of colourised label | reconstruction (its own styles) | the next image's styles on this label map
        (classes the next image lacks keep their own) | real."""
        seg, real = fixed["segmap"].to(self.device), fixed["image"].to(self.device)
        inst = fixed.get("instance")
        codes, present = self.encode_styles(real, seg, return_present=True)
        rec = self.generate(seg, inst, style_matrix=codes).float().cpu()
        nxt = torch.where(present.roll(-1, 0)[..., None], codes.roll(-1, 0), codes)
        swap = self.generate(seg, inst, style_matrix=nxt).float().cpu()
        lab = colorize(fixed["segmap"], self.cfg.label_nc)
        return torch.stack([lab, rec, swap, fixed["image"].float().cpu()], dim=1).flatten(0, 1)


def _match_batch(codes: torch.Tensor, present: torch.Tensor, n: int, what: str):
    """Codes/present of one style image broadcast to ``n`` label maps (or n of them kept)."""
    if codes.shape[0] == n:
        return codes, present
    if codes.shape[0] == 1:
        return codes.expand(n, -1, -1), present.expand(n, -1)
    raise DataError(f"{codes.shape[0]} {what} images for {n} label maps: give one, or one each.")


#: the builder of the perceptual loss's VGG19, with SEAN's hint
build_vgg = SEAN.build_vgg

__all__ = ["SEAN", "SEANConfig", "build_vgg"]
