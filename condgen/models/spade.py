"""SPADE / GauGAN (Park, Liu, Wang & Zhu, CVPR 2019, "Semantic Image Synthesis with Spatially-Adaptive
Normalization"): a semantic label map in, a photo out. Every normalisation layer of the generator modulates its
activations with a per-pixel scale and shift predicted from the label map, so the layout is not washed out.

Training (sec. 4 and appendix A): a multi-scale PatchGAN on label ⊕ image with the hinge loss, feature matching
on its features (lambda 10) and a VGG19 perceptual loss (lambda 10); optionally a VAE image encoder whose style
code replaces the downsampled label map at the generator's input (KL weight 0.05). TTUR: G lr 1e-4, D lr 4e-4,
Adam betas (0, 0.9). Where the paper and the authors' released code differ, the comments say which is followed.

Training without the VGG weights (nothing is downloaded): set ``model.lambda_vgg=0`` (the authors'
``--no_vgg_loss``), or point ``model.vgg_weights`` at a local copy of torchvision's vgg19-dcbb9e9d.pth.

Noise is always explicit: ``generate(label, instance, z=..., seed=...)`` draws the VAE code from ``seed`` when no
``z`` is given, and the generator's ``forward`` never draws anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from condgen import losses
from condgen.config import option
from condgen.errors import ConfigError
from condgen.exportspec import image_spec
from condgen.imaging import as_batch
from condgen.models.base import eval_mode
from condgen.models.semantic import SemanticConfig, SemanticSynthesizer
from condgen.nn.labels import colorize, label_ids
from condgen.nn.spade import UPSAMPLINGS, ConvEncoder, SPADEDiscriminator, SPADEGenerator, reparameterize


@dataclass
class SPADEConfig(SemanticConfig):
    """SPADE hyper-parameters; defaults are the paper's (sec. 4, appendix A) and the authors' released options. The
    fields the three semantic models share (label_nc, widths, TTUR, VGG, ...) are ``SemanticConfig``'s, SPADE's."""

    use_instances: str = option("auto", choices=("auto", "true", "false"),
                                help="add the instance-boundary channel (paper sec. 4: on when the data has "
                                     "instance maps); auto = whenever the data has them")
    num_upsampling_layers: str = option("normal", choices=tuple(UPSAMPLINGS),
                                        help="normal: 5 x2 upsamplings (output = 32 x the first map); more: 6 "
                                             "(the authors' Cityscapes setting); most: 7")
    aspect_ratio: float = option(1.0, min=0.01, help="training width / height (VAE generator only)")
    use_vae: bool = option(False, help="train the image encoder and feed its style code z to G (sec. 3.3, "
                                       "multimodal and guided synthesis)")
    z_dim: int = option(256, min=1, help="length of the style code z (256)")
    encoder_size: int = option(256, min=128, help="images are resized to this before the encoder (authors: 256)")
    num_D: int = option(2, min=1, max=4, help="discriminator scales (2)")
    n_layers_D: int = option(4, min=1, max=6, help="conv layers per discriminator scale (4)")
    gan_loss: str = option("hinge", choices=losses.ADVERSARIAL, help="adversarial objective (paper: hinge)")
    lambda_feat: float = option(10.0, min=0.0, help="feature-matching weight (pix2pixHD's, used in SPADE: 10)")
    lambda_kld: float = option(0.05, min=0.0, help="KL weight of the VAE (0.05)")
    norm_conv_bias: bool = option(False, help="biases on the D and encoder convs that instance norm follows (the "
                                              "authors' code removes them: the norm cancels them)")

    #: runs saved before a key existed computed this (runs.config_from_dict fills it in)
    saved_before: ClassVar[dict[str, Any]] = {"norm_conv_bias": True}

    def validate(self) -> None:
        """Cross-field checks."""
        m = 2 ** UPSAMPLINGS[self.num_upsampling_layers]
        if self.use_vae and self.crop_size % m:
            raise ConfigError(f"model.crop_size {self.crop_size} must be a multiple of {m} with use_vae (the "
                              f"generator's first map is crop_size / {m}).")
        if self.use_vae and self.encoder_size % 64:
            raise ConfigError(f"model.encoder_size must be a multiple of 64, got {self.encoder_size}.")


class SPADE(SemanticSynthesizer):
    """Label map -> image. One iteration, in the authors' order: the G step (adversarial + feature matching + VGG
    (+ KL), D frozen), then the D step on real vs a fresh, detached fake; fake and real go through D in one call."""

    Config = SPADEConfig
    translate_options = frozenset({"seed", "style_image", "instance", "z"})
    vgg_hint = "Or train SPADE without the perceptual loss: --set model.lambda_vgg=0 (the authors' --no_vgg_loss)."
    grid_nrow = 3  # rows of colourised label | generated | real
    grid_columns = ("label", "generated", "real")
    # Park et al. sec. 4: batch 32 (on 8 GPUs with synchronised BN); the released code resizes to 286 and takes
    # random 256 crops with flips (COCO, ADE20K and custom data). Length: 200 epochs for ADE20K / Cityscapes
    # (100 for COCO-Stuff, issue #51; the repo's reference notes mark the 200 unverified) with the LR decayed
    # linearly to 0 over the second half (the code's --niter / --niter_decay mechanism).
    train_defaults = {"data": {"batch_size": 32, "preprocess": "resize_and_crop", "load_size": 286,
                               "crop_size": 256, "flip": True},
                      "train": {"epochs": 200, "lr_schedule": "linear", "lr_decay_start": 0.5}}

    def build_nets(self, cfg: SPADEConfig) -> dict[str, nn.Module]:
        """SPADE's generator and multi-scale discriminator, and with use_vae the image encoder."""
        G = SPADEGenerator(self.semantic_nc, ngf=cfg.ngf, num_upsampling_layers=cfg.num_upsampling_layers,
                           use_vae=cfg.use_vae, z_dim=cfg.z_dim, crop_size=cfg.crop_size, aspect_ratio=cfg.aspect_ratio,
                           param_free=cfg.param_free_norm, hidden=cfg.spade_hidden)
        D = SPADEDiscriminator(self.semantic_nc + 3, ndf=cfg.ndf, n_layers=cfg.n_layers_D, num_D=cfg.num_D,
                               conv_bias=cfg.norm_conv_bias)
        nets = {"G": G, "D": D}
        if cfg.use_vae:
            nets["E"] = ConvEncoder(3, ndf=cfg.ndf, z_dim=cfg.z_dim, input_size=cfg.encoder_size,
                                    conv_bias=cfg.norm_conv_bias)
        return nets

    @classmethod
    def size_multiple(cls, cfg: SPADEConfig, train: bool = False) -> int:
        """Sides of generated images and training crops are multiples of this (2^number of upsamplings)."""
        return 2 ** UPSAMPLINGS[cfg.num_upsampling_layers]

    # ----- pieces of the objective --------------------------------------------------------------
    def encode(self, real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(z, mu, logvar) of images through the encoder, z reparameterised with noise from the global RNG."""
        mu, logvar = self.nets["E"](real)
        mu, logvar = mu.float(), logvar.float()
        return reparameterize(mu, logvar, torch.randn_like(mu)), mu, logvar

    # ----- training -----------------------------------------------------------------------------
    def training_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """G step then D step (the authors' trainer: run_generator_one_step, then run_discriminator_one_step)."""
        cfg, G = self.cfg, self.nets["G"]
        real = batch["image"]
        sem = self.semantic(batch["segmap"], batch.get("instance"))
        terms: dict[str, torch.Tensor] = {}

        with self.frozen("D"):
            z = None
            if cfg.use_vae:
                z, mu, logvar = self.encode(real)
                terms["KLD"] = losses.kl_divergence(mu, logvar)
            fake = G(sem, z)
            # the adversarial loss of each scale's logits, averaged over the scales, and feature matching
            terms.update(self.adversarial_terms(sem, fake, real))
            if cfg.lambda_vgg > 0:
                terms["G_vgg"] = self.vgg_loss(fake, real)
            weights = {"G_gan": 1.0, "G_feat": cfg.lambda_feat, "G_vgg": cfg.lambda_vgg, "KLD": cfg.lambda_kld}
            loss_g = sum(weights[k] * v for k, v in terms.items())
            self.optimize("G", loss_g)

        with torch.no_grad():  # a fresh fake from the updated G, as the authors' D step
            z = self.encode(real)[0] if cfg.use_vae else None
            fake = G(sem, z)
        loss_d = self.discriminator_loss(sem, fake, real)  # real vs the detached fake, one D call for both
        self.optimize("D", loss_d)
        return {"loss/D": loss_d.detach(), "loss/G": loss_g.detach(),
                **{f"loss/{k}": v.detach() for k, v in terms.items()}}

    # ----- inference ----------------------------------------------------------------------------
    def training_size(self) -> tuple[int, int]:
        """(height, width) of the training images: the only size a VAE generator makes."""
        m = self.multiple()
        sw = self.cfg.crop_size // m
        return max(1, round(sw / self.cfg.aspect_ratio)) * m, sw * m

    @torch.no_grad()
    def encode_style(self, image) -> torch.Tensor:
        """The style code (posterior mean, N x z_dim) of a style image: PIL, or a 3 x H x W / N x 3 x H x W tensor in
        [-1, 1] of any size (the encoder resizes it). Needs a model trained with use_vae."""
        if not self.cfg.use_vae:
            raise ConfigError("style images need a SPADE trained with the image encoder (model.use_vae=true); this "
                              "one maps each label map to one image.")
        E = self.net("E")
        with eval_mode(E):
            return E(as_batch(image, 3).to(self.device))[0].float()

    @torch.no_grad()
    def generate(self, label: torch.Tensor | None = None, instance: torch.Tensor | None = None,
                 z: torch.Tensor | None = None, seed: int = 0, **_: Any) -> torch.Tensor:
        """Images (N x 3 x H x W in [-1, 1]) for label maps (N x H x W ids, sides multiples of ``multiple()``, the
        training size for a VAE model; ``translate`` takes any size). With use_vae, ``z`` (N or 1 x z_dim), or
        codes drawn from ``seed`` when z is None. Eval mode (running BN statistics), as the authors' test."""
        if label is None:
            raise ConfigError("spade synthesises from a label map: pass label (N x H x W class ids).")
        if label.dim() == 2:
            label = label[None]
        sem = self.semantic(label, instance)
        if self.cfg.use_vae:
            z = self.sample_z(sem.shape[0], seed) if z is None else torch.as_tensor(z).float().to(self.device)
            z = z.reshape(-1, self.cfg.z_dim)
            if z.shape[0] == 1:
                z = z.expand(sem.shape[0], -1)
            if z.shape[0] != sem.shape[0]:
                raise ConfigError(f"{z.shape[0]} style codes for {sem.shape[0]} label maps: give one, or one each.")
        G = self.net("G")
        with eval_mode(G):
            return G(sem, z).float()

    def export_spec(self, size: int | None = None, direction: str = "AtoB"):
        """G in eval mode on the network input ``semantic`` (N x C x H x W: the one-hot label map, its don't-care and
        instance-boundary channels, as ``condgen.nn.labels.semantic_input`` makes them) and, with a VAE, the style
        code ``z`` (N x z_dim). H and W dynamic multiples of 32, except with a VAE (its training size)."""
        G = self.net("G").eval()
        size = size or (self.training_size()[0] if self.cfg.use_vae else 256)
        channels = self.semantic(torch.zeros(1, 32, 32, dtype=torch.long)).shape[1]
        if self.cfg.use_vae:
            z = torch.randn(1, self.cfg.z_dim, generator=torch.Generator().manual_seed(0))
            spec = image_spec(lambda sem, z: G(sem, z), {"G": G}, channels, size, self.multiple(), name="semantic",
                              extra=(("z", z),), spatial=False)
        else:
            spec = image_spec(lambda sem: G(sem), {"G": G}, channels, size, self.multiple(), name="semantic")
        spec.note = f"semantic: one-hot label map ({channels} channels, condgen.nn.labels.semantic_input)"
        return spec

    @torch.no_grad()
    def translate(self, labels, seed: int = 0, style_image=None, instance=None, z: torch.Tensor | None = None):
        """Synthesise from a label map of any size: a PIL image of class ids (mode L or P, or I; returns an RGB PIL
        image) or an integer tensor H x W / N x H x W / N x 1 x H x W (returns N x 3 x H x W, or 3 x H x W for
        H x W). ``instance``: an instance-id map of the same size (same kinds).

        Sizes: without a VAE the map is padded by reflection to a multiple of ``multiple()`` (32) and the image
        cropped back, and maps larger than ``tile_size`` go through overlapping tiles (condgen.imaging). A VAE
        generator makes its training size only, so the map is resized (nearest) to it and the image resized back
        (bilinear). Style (VAE models): the code of ``style_image`` (its posterior mean), explicit codes ``z``, or
        N(0, I) codes drawn from ``seed`` (the same seed, the same image; every tile shares the code)."""
        ids, inst, single = self.label_maps(labels, instance)
        if style_image is not None:
            if z is not None:
                raise ConfigError("give either a style image or style codes z, not both.")
            z = self.encode_style(style_image)
        elif self.cfg.use_vae and z is None:
            z = self.sample_z(ids.shape[0], seed)
        elif z is not None and not self.cfg.use_vae:
            raise ConfigError("style codes need a SPADE trained with model.use_vae=true.")
        h, w = ids.shape[-2:]
        with self.inference():
            if self.cfg.use_vae:
                th, tw = self.training_size()
                small = F.interpolate(ids[:, None].float(), size=(th, tw), mode="nearest")[:, 0].long()
                small_inst = None if inst is None else F.interpolate(
                    inst[:, None].float(), size=(th, tw), mode="nearest")[:, 0].long()
                y = self.generate(small, small_inst, z=z).cpu()
                if (th, tw) != (h, w):
                    y = F.interpolate(y, size=(h, w), mode="bilinear", align_corners=False).clamp(-1, 1)
            else:
                y = self.synthesize_any_size(ids, inst)
        return self.translated(y, labels, single)

    def fixed_inputs(self, n: int, seed: int, batch: dict[str, Any] | None = None) -> dict[str, Any]:
        """The first few training label maps and images (at most 8), and fixed style codes for a VAE model."""
        fixed = super().fixed_inputs(n, seed, batch)
        if fixed and self.cfg.use_vae:
            fixed["z"] = self.sample_z(fixed["segmap"].shape[0], seed)
        return fixed

    @torch.no_grad()
    def sample_grid(self, fixed: dict[str, Any]) -> torch.Tensor:
        """Rows of colourised label | generated | real."""
        fake = self.generate(fixed["segmap"], fixed.get("instance"), z=fixed.get("z")).float().cpu()
        lab = colorize(fixed["segmap"], self.cfg.label_nc)
        return torch.stack([lab, fake, fixed["image"].float().cpu()], dim=1).flatten(0, 1)


#: the builder of the perceptual loss's VGG19, with SPADE's hint
build_vgg = SPADE.build_vgg

__all__ = ["SPADE", "SPADEConfig", "build_vgg", "label_ids"]
