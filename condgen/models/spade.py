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

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F

from condgen import losses
from condgen.config import option
from condgen.errors import ConfigError, DataError, WeightsNotFoundError
from condgen.models.base import GenerativeModel, adam
from condgen.nn.labels import IGNORE_ID, colorize, semantic_channels, semantic_input
from condgen.nn.norms import PARAM_FREE_NORMS
from condgen.nn.spade import (
    UPSAMPLINGS,
    ConvEncoder,
    SPADEDiscriminator,
    SPADEGenerator,
    init_xavier,
    reparameterize,
)


@dataclass
class SPADEConfig:
    """SPADE hyper-parameters; defaults are the paper's (sec. 4, appendix A) and the authors' released options."""

    label_nc: int = option(0, min=0, help="number of classes (ids 0..label_nc-1; 255 = don't care); 0 = from the "
                                          "data")
    dontcare_as_class: bool = option(False, help="feed don't-care pixels (255) as an extra class channel (the "
                                                 "authors' --contain_dontcare_label, COCO-Stuff); default: all-zero")
    use_instances: str = option("auto", choices=("auto", "true", "false"),
                                help="add the instance-boundary channel (paper sec. 4: on when the data has "
                                     "instance maps); auto = whenever the data has them")
    ngf: int = option(64, min=1, help="generator width: 16 x ngf channels at the start, ngf at the end (64)")
    ndf: int = option(64, min=1, help="discriminator (and encoder) width of the first layer (64)")
    num_upsampling_layers: str = option("normal", choices=tuple(UPSAMPLINGS),
                                        help="normal: 5 x2 upsamplings (output = 32 x the first map); more: 6 "
                                             "(the authors' Cityscapes setting); most: 7")
    crop_size: int = option(256, min=1, help="training image width (filled from the data); the VAE generator's "
                                             "first map is crop_size / 2^5")
    aspect_ratio: float = option(1.0, min=0.01, help="training width / height (VAE generator only)")
    param_free_norm: str = option("syncbatch", choices=PARAM_FREE_NORMS,
                                  help="SPADE's parameter-free norm (authors: synchronised batch norm; plain batch "
                                       "norm on one device or CPU; instance for batch 1)")
    spade_hidden: int = option(128, min=1, help="channels of the shared SPADE conv (authors: 128, hard-coded)")
    use_vae: bool = option(False, help="train the image encoder and feed its style code z to G (sec. 3.3, "
                                       "multimodal and guided synthesis)")
    z_dim: int = option(256, min=1, help="length of the style code z (256)")
    encoder_size: int = option(256, min=128, help="images are resized to this before the encoder (authors: 256)")
    num_D: int = option(2, min=1, max=4, help="discriminator scales (2)")
    n_layers_D: int = option(4, min=1, max=6, help="conv layers per discriminator scale (4)")
    gan_loss: str = option("hinge", choices=losses.ADVERSARIAL, help="adversarial objective (paper: hinge)")
    lambda_feat: float = option(10.0, min=0.0, help="feature-matching weight (pix2pixHD's, used in SPADE: 10)")
    lambda_vgg: float = option(10.0, min=0.0, help="VGG19 perceptual-loss weight (10); 0 trains without VGG")
    lambda_kld: float = option(0.05, min=0.0, help="KL weight of the VAE (0.05)")
    vgg_weights: str = option("imagenet", help="VGG19 weights: imagenet (torchvision's vgg19-dcbb9e9d.pth in the "
                                               "torch cache; nothing is downloaded), a file path, or random")
    lr_G: float = option(1e-4, min=0.0, help="generator (and encoder) learning rate (TTUR, sec. 4: 0.0001)")
    lr_D: float = option(4e-4, min=0.0, help="discriminator learning rate (TTUR, sec. 4: 0.0004)")
    # The paper writes beta2 = 0.999; the released code uses 0.9, which the authors confirm is what they ran
    # (NVlabs/SPADE issue #88, quoting #50).
    beta1: float = option(0.0, min=0.0, max=1.0, help="Adam beta1 (0)")
    beta2: float = option(0.9, min=0.0, max=1.0, help="Adam beta2 (authors' code and issue #88: 0.9; paper: 0.999)")
    init_gain: float = option(0.02, min=0.0, help="Xavier-normal init gain (authors: init_variance 0.02)")
    norm_conv_bias: bool = option(False, help="biases on the D and encoder convs that instance norm follows (the "
                                              "authors' code removes them: the norm cancels them)")
    tile_size: int = option(1024, min=0, help="translate larger label maps in overlapping tiles (0: never)")

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


class SPADE(GenerativeModel):
    """Label map -> image. One iteration, in the authors' order: the G step (adversarial + feature matching + VGG
    (+ KL), D frozen), then the D step on real vs a fresh, detached fake; fake and real go through D in one call."""

    Config = SPADEConfig
    frozen_modules = ("vgg",)  # moved by GenerativeModel.to
    data_kind = "semantic"
    task = "synthesize"
    translate_options = frozenset({"seed", "style_image", "instance", "z"})
    ema_nets = ("G",)
    grid_nrow = 3  # rows of colourised label | generated | real
    grid_columns = ("label", "generated", "real")
    # Park et al. sec. 4: batch 32 (on 8 GPUs with synchronised BN); the released code resizes to 286 and takes
    # random 256 crops with flips (COCO, ADE20K and custom data). Length: 200 epochs for ADE20K / Cityscapes
    # (100 for COCO-Stuff, issue #51; the repo's reference notes mark the 200 unverified) with the LR decayed
    # linearly to 0 over the second half (the code's --niter / --niter_decay mechanism).
    train_defaults = {"data": {"batch_size": 32, "preprocess": "resize_and_crop", "load_size": 286,
                               "crop_size": 256, "flip": True},
                      "train": {"epochs": 200, "lr_schedule": "linear", "lr_decay_start": 0.5}}

    def __init__(self, cfg: SPADEConfig, training: bool = True):
        super().__init__(cfg)
        if cfg.label_nc < 1:
            raise ConfigError("model.label_nc is 0: set the number of classes, or train on data (it fills it in).")
        self.semantic_nc = semantic_channels(cfg.label_nc, cfg.dontcare_as_class, self.uses_instances)
        G = SPADEGenerator(self.semantic_nc, ngf=cfg.ngf, num_upsampling_layers=cfg.num_upsampling_layers,
                           use_vae=cfg.use_vae, z_dim=cfg.z_dim, crop_size=cfg.crop_size, aspect_ratio=cfg.aspect_ratio,
                           param_free=cfg.param_free_norm, hidden=cfg.spade_hidden)
        D = SPADEDiscriminator(self.semantic_nc + 3, ndf=cfg.ndf, n_layers=cfg.n_layers_D, num_D=cfg.num_D,
                               conv_bias=cfg.norm_conv_bias)
        self.nets = {"G": G, "D": D}
        if cfg.use_vae:
            self.nets["E"] = ConvEncoder(3, ndf=cfg.ndf, z_dim=cfg.z_dim, input_size=cfg.encoder_size,
                                         conv_bias=cfg.norm_conv_bias)
        for net in self.nets.values():
            init_xavier(net, cfg.init_gain)
        betas = (cfg.beta1, cfg.beta2)
        # the encoder is trained with the generator's optimizer and loss (the authors' code)
        g_params = [p for k in ("G", "E") if k in self.nets for p in self.nets[k].parameters()]
        self.optimizers = {"G": adam(g_params, lr=cfg.lr_G, betas=betas),
                           "D": adam(D.parameters(), lr=cfg.lr_D, betas=betas)}
        # Built here, so missing VGG weights stop a run before its first step; inference never needs it.
        self.vgg = build_vgg(cfg) if training and cfg.lambda_vgg > 0 else None

    @classmethod
    def for_inference(cls, cfg: SPADEConfig) -> SPADE:
        """Without the VGG: synthesis needs only G (and E for style images)."""
        return cls(cfg, training=False)

    @property
    def uses_instances(self) -> bool:
        """Whether the semantic input has the instance-boundary channel ("auto" before data: no)."""
        return self.cfg.use_instances == "true"

    # ----- data ---------------------------------------------------------------------------------
    @classmethod
    def load_data(cls, run_cfg: Any, split: str = "train", train: bool = True):
        """Label maps + images (+ instance maps): ``images/`` + ``labels/`` (+ ``instances/``) or built-in ``scenes``.
        Batches hold ``image`` (N x 3 x H x W in [-1, 1]), ``segmap`` (N x H x W ids, 255 = don't care) and, when the
        data has them, ``instance`` (N x H x W ids)."""
        from condgen.data import load_dataset

        d, m = run_cfg.data, run_cfg.model
        return load_dataset(d.path, kind="semantic", split=split, image_size=d.crop_size, bad_images=d.bad_images,
                            dontcare_id=d.dontcare_id,
                            label_nc=m.label_nc, instances=m.use_instances, preprocess=d.preprocess,
                            load_size=d.load_size, flip=d.flip, train=train, seed=run_cfg.seed,
                            multiple=2 ** UPSAMPLINGS[m.num_upsampling_layers])

    @classmethod
    def data_requirements(cls, cfg: SPADEConfig) -> dict[str, Any]:
        """Semantic data (RGB images with label maps)."""
        return {"kind": "semantic", "channels": 3, "image_size": None}

    @classmethod
    def fill_from_data(cls, cfg: SPADEConfig, info: dict[str, Any]) -> None:
        """label_nc (when 0), use_instances (when auto) and crop_size from the dataset; DataError when the data
        has more classes than label_nc, or no instance maps while use_instances is true."""
        data_nc = int(info.get("label_nc") or 0)
        if cfg.label_nc == 0:
            if data_nc < 1:
                raise DataError("the dataset does not say how many classes it has; set model.label_nc.")
            cfg.label_nc = data_nc
        elif data_nc > cfg.label_nc:
            raise DataError(f"the data has {data_nc} classes but model.label_nc is {cfg.label_nc}; raise "
                            "model.label_nc or set it to 0 to take it from the data.")
        has_inst = bool(info.get("has_instances"))
        if cfg.use_instances == "auto":
            cfg.use_instances = "true" if has_inst else "false"
        elif cfg.use_instances == "true" and not has_inst:
            raise DataError("model.use_instances is true but the dataset has no instance maps (an instances/ "
                            "folder); add them or set model.use_instances=false.")
        if info.get("image_size"):
            cfg.crop_size = int(info["image_size"])

    # ----- pieces of the objective --------------------------------------------------------------
    def semantic(self, label: torch.Tensor, instance: torch.Tensor | None = None) -> torch.Tensor:
        """The network input of a label map: one-hot (+ don't-care channel) (+ instance boundaries)."""
        cfg = self.cfg
        if self.uses_instances and instance is None:
            instance = label  # no instance map: class boundaries stand in for instance boundaries
        return semantic_input(label.to(self.device), cfg.label_nc,
                              instance.to(self.device) if self.uses_instances else None,
                              dontcare_as_class=cfg.dontcare_as_class)

    def discriminate(self, semantic: torch.Tensor, fake: torch.Tensor, real: torch.Tensor):
        """D's outputs for (semantic, fake) and (semantic, real), from ONE call on both halves concatenated along
        the batch (the authors' ``discriminate``: one pass, shared statistics). Each: per scale, every layer."""
        n = fake.shape[0]
        pairs = torch.cat([torch.cat([semantic, fake.to(semantic.dtype)], 1),
                           torch.cat([semantic, real.to(semantic.dtype)], 1)], 0)
        outs = self.nets["D"](pairs)
        return [[f[:n] for f in scale] for scale in outs], [[f[n:] for f in scale] for scale in outs]

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
        num_d = cfg.num_D
        terms: dict[str, torch.Tensor] = {}

        with self.frozen("D"):
            z = None
            if cfg.use_vae:
                z, mu, logvar = self.encode(real)
                terms["KLD"] = losses.kl_divergence(mu, logvar)
            fake = G(sem, z)
            pred_fake, pred_real = self.discriminate(sem, fake, real)
            # the loss of each scale's logits, averaged over the scales (the code's GANLoss on a list)
            terms["G_gan"] = losses.g_loss(cfg.gan_loss, [p[-1] for p in pred_fake]) / num_d
            if cfg.lambda_feat > 0:
                terms["G_feat"] = losses.feature_matching(pred_fake, pred_real)
            if cfg.lambda_vgg > 0:
                if self.vgg is None:
                    raise ConfigError("this SPADE was built for inference: it has no VGG for the perceptual loss.")
                terms["G_vgg"] = losses.vgg_loss(self.vgg, fake, real)
            weights = {"G_gan": 1.0, "G_feat": cfg.lambda_feat, "G_vgg": cfg.lambda_vgg, "KLD": cfg.lambda_kld}
            loss_g = sum(weights[k] * v for k, v in terms.items())
            self.optimize("G", loss_g)

        with torch.no_grad():  # a fresh fake from the updated G, as the authors' D step
            z = self.encode(real)[0] if cfg.use_vae else None
            fake = G(sem, z)
        pred_fake, pred_real = self.discriminate(sem, fake.detach(), real)
        loss_d = losses.d_loss(cfg.gan_loss, [p[-1] for p in pred_real], [p[-1] for p in pred_fake]) / num_d
        self.optimize("D", loss_d)
        return {"loss/D": loss_d.detach(), "loss/G": loss_g.detach(),
                **{f"loss/{k}": v.detach() for k, v in terms.items()}}

    # ----- inference ----------------------------------------------------------------------------
    def multiple(self) -> int:
        """Sides of a generated image are multiples of this (2^number of upsamplings)."""
        return 2 ** UPSAMPLINGS[self.cfg.num_upsampling_layers]

    def training_size(self) -> tuple[int, int]:
        """(height, width) of the training images: the only size a VAE generator makes."""
        m = self.multiple()
        sw = self.cfg.crop_size // m
        return max(1, round(sw / self.cfg.aspect_ratio)) * m, sw * m

    def sample_z(self, n: int, seed: int = 0) -> torch.Tensor:
        """``n`` style codes (n x z_dim) from N(0, I), a pure function of ``seed``; code k is the same whatever
        ``n`` (drawn one at a time)."""
        g = torch.Generator().manual_seed(int(seed))
        return torch.stack([torch.randn(self.cfg.z_dim, generator=g) for _ in range(n)]).to(self.device)

    @torch.no_grad()
    def encode_style(self, image) -> torch.Tensor:
        """The style code (posterior mean, N x z_dim) of a style image: PIL, or a 3 x H x W / N x 3 x H x W tensor in
        [-1, 1] of any size (the encoder resizes it). Needs a model trained with use_vae."""
        from condgen.models.munit import as_batch

        if not self.cfg.use_vae:
            raise ConfigError("style images need a SPADE trained with the image encoder (model.use_vae=true); this "
                              "one maps each label map to one image.")
        E = self.net("E")
        was = E.training
        E.eval()
        try:
            return E(as_batch(image, 3).to(self.device))[0].float()
        finally:
            E.train(was)

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
        was = G.training
        G.eval()
        try:
            return G(sem, z).float()
        finally:
            G.train(was)

    def export_spec(self, size: int | None = None, direction: str = "AtoB"):
        """G in eval mode on the network input ``semantic`` (N x C x H x W: the one-hot label map, its don't-care and
        instance-boundary channels, as ``condgen.nn.labels.semantic_input`` makes them) and, with a VAE, the style
        code ``z`` (N x z_dim). H and W dynamic multiples of 32, except with a VAE (its training size)."""
        from condgen.export import image_spec

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

    def open_input(self, path) -> Image.Image:
        """A label-map file read as ids, with the run's ``data.dontcare_id`` convention (``condgen translate``)."""
        from condgen.data.semantic import open_label_map

        run = getattr(self, "run_config", None)
        return open_label_map(path, run.data.dontcare_id if run is not None else IGNORE_ID)

    @torch.no_grad()
    def translate(self, labels, seed: int = 0, style_image=None, instance=None, z: torch.Tensor | None = None):
        """Synthesise from a label map of any size: a PIL image of class ids (mode L or P, or I; returns an RGB PIL
        image) or an integer tensor H x W / N x H x W / N x 1 x H x W (returns N x 3 x H x W, or 3 x H x W for
        H x W). ``instance``: an instance-id map of the same size (same kinds).

        Sizes: without a VAE the map is padded by reflection to a multiple of ``multiple()`` (32) and the image
        cropped back, and maps larger than ``tile_size`` go through overlapping tiles (condgen.translate). A VAE
        generator makes its training size only, so the map is resized (nearest) to it and the image resized back
        (bilinear). Style (VAE models): the code of ``style_image`` (its posterior mean), explicit codes ``z``, or
        N(0, I) codes drawn from ``seed`` (the same seed, the same image; every tile shares the code)."""
        from condgen.translate import tensor_to_pil, translate_tensor

        as_pil = isinstance(labels, Image.Image)
        ids, squeeze = label_ids(labels)
        inst = None if instance is None else label_ids(instance, "instance")[0]
        if inst is not None and inst.shape != ids.shape:
            raise DataError(f"the instance map is {tuple(inst.shape[-2:])} (H, W) but the label map is "
                            f"{tuple(ids.shape[-2:])}; they must be the same size.")
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
                # translate_tensor pads and tiles float maps: ids (and instance ids) ride along as channels;
                # reflection padding copies ids, it never invents new ones
                packed = ids[:, None].float() if inst is None else torch.stack([ids, inst], 1).float()
                y = translate_tensor(_PackedLabels(self), packed, in_channels=packed.shape[1],
                                     multiple=self.multiple(), min_size=1, tile=self.cfg.tile_size)
        if as_pil:
            return tensor_to_pil(y)
        return y[0] if squeeze else y

    def fixed_inputs(self, n: int, seed: int, batch: dict[str, Any] | None = None) -> dict[str, Any]:
        """The first few training label maps and images (at most 8), and fixed style codes for a VAE model."""
        if batch is None:
            return {}
        k = min(8, n, batch["segmap"].shape[0])
        fixed = {"segmap": batch["segmap"][:k], "image": batch["image"][:k]}
        if batch.get("instance") is not None:
            fixed["instance"] = batch["instance"][:k]
        if getattr(self.cfg, "use_vae", False):  # SEAN (a subclass) has no VAE
            fixed["z"] = self.sample_z(k, seed)
        return fixed

    @torch.no_grad()
    def sample_grid(self, fixed: dict[str, Any]) -> torch.Tensor:
        """Rows of colourised label | generated | real."""
        fake = self.generate(fixed["segmap"], fixed.get("instance"), z=fixed.get("z")).float().cpu()
        lab = colorize(fixed["segmap"], self.cfg.label_nc)
        return torch.stack([lab, fake, fixed["image"].float().cpu()], dim=1).flatten(0, 1)


class _PackedLabels:
    """Adapter for condgen.translate.translate_tensor: ``generate(A=...)`` of a float map whose channel 0 holds
    label ids (and channel 1 instance ids)."""

    def __init__(self, model: SPADE):
        self.model = model

    def generate(self, A: torch.Tensor, **_: Any) -> torch.Tensor:
        """The model's images for the packed map."""
        ids = A.round().long()
        return self.model.generate(ids[:, 0], ids[:, 1] if ids.shape[1] > 1 else None)


def label_ids(labels, what: str = "label") -> tuple[torch.Tensor, bool]:
    """(N x H x W int64 ids, whether the input was a single H x W map) from a PIL image of ids (modes 1, L, P, I,
    I;16) or an integer(-valued) tensor H x W / N x H x W / N x 1 x H x W. DataError for colour images."""
    if isinstance(labels, Image.Image):
        if labels.mode not in ("1", "L", "P", "I", "I;16", "I;16B", "I;16L"):
            raise DataError(f"a {what} map is a single-channel image of class ids (PNG mode L or P); got mode "
                            f"{labels.mode} (a colour-coded map?). Convert each colour to its class id and save it as "
                            "a grey (L) or palette (P) PNG.")
        return torch.from_numpy(np.asarray(labels).astype(np.int64))[None], True
    x = torch.as_tensor(labels)
    squeeze = x.dim() == 2
    if squeeze:
        x = x[None]
    if x.dim() == 4 and x.shape[1] == 1:
        x = x[:, 0]
    if x.dim() != 3:
        raise DataError(f"a {what} map is an H x W, N x H x W or N x 1 x H x W tensor of ids; got shape "
                        f"{tuple(x.shape)}.")
    if x.is_floating_point():
        if not torch.equal(x, x.round()):
            raise DataError(f"the {what} map holds non-integer values; it must hold class ids.")
    return x.long(), squeeze


def build_vgg(cfg: SPADEConfig) -> torch.nn.Module:
    """The frozen VGG19 of the perceptual loss (relu1_1 .. relu5_1); a WeightsNotFoundError that also names the
    way to train without it."""
    from condgen.nn.features import VGGFeatures

    try:
        return VGGFeatures("vgg19", layers=losses.VGG_LAYERS, weights=cfg.vgg_weights, input_range=(-1.0, 1.0))
    except WeightsNotFoundError as e:
        raise WeightsNotFoundError(f"{e} Or train SPADE without the perceptual loss: --set model.lambda_vgg=0 (the "
                                   "authors' --no_vgg_loss).") from None


__all__ = ["SPADE", "SPADEConfig", "build_vgg", "label_ids"]
