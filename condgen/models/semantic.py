"""The base of the semantic image synthesis models (a label map in, a photo out): SPADE, OASIS and SEAN.

What the three share lives here once: the config fields they have in common, the label contract on the model side
(``label_nc`` from the data, don't care, optional instance maps), data loading, Xavier init and the TTUR Adam pair,
the frozen VGG19 of the perceptual loss, the call of a discriminator on label ⊕ image and its hinge / feature-matching
terms (SPADE's, which SEAN keeps), and synthesis from label maps of any size. Each model's file keeps its paper: its
networks (``build_nets``), its ``training_step`` in the paper's order, and its inference options.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from PIL import Image
from torch import nn

from condgen import losses
from condgen.config import option
from condgen.errors import ConfigError, DataError, WeightsNotFoundError
from condgen.imaging import tensor_to_pil, translate_tensor
from condgen.models.base import GenerativeModel, adam
from condgen.nn.labels import IGNORE_ID, label_ids, semantic_channels, semantic_input
from condgen.nn.norms import PARAM_FREE_NORMS
from condgen.nn.spade import init_xavier


@dataclass
class SemanticConfig:
    """The hyper-parameters SPADE, OASIS and SEAN share, as SPADE (the first of the three) sets and describes them
    (Park et al. sec. 4, appendix A, and the authors' released options). OASIS and SEAN restate the fields their
    papers set differently or describe in their own terms."""

    label_nc: int = option(0, min=0, help="number of classes (ids 0..label_nc-1; 255 = don't care); 0 = from the "
                                          "data")
    dontcare_as_class: bool = option(False, help="feed don't-care pixels (255) as an extra class channel (the "
                                                 "authors' --contain_dontcare_label, COCO-Stuff); default: all-zero")
    ngf: int = option(64, min=1, help="generator width: 16 x ngf channels at the start, ngf at the end (64)")
    ndf: int = option(64, min=1, help="discriminator (and encoder) width of the first layer (64)")
    crop_size: int = option(256, min=1, help="training image width (filled from the data); the VAE generator's "
                                             "first map is crop_size / 2^5")
    param_free_norm: str = option("syncbatch", choices=PARAM_FREE_NORMS,
                                  help="SPADE's parameter-free norm (authors: synchronised batch norm; plain batch "
                                       "norm on one device or CPU; instance for batch 1)")
    spade_hidden: int = option(128, min=1, help="channels of the shared SPADE conv (authors: 128, hard-coded)")
    lambda_vgg: float = option(10.0, min=0.0, help="VGG19 perceptual-loss weight (10); 0 trains without VGG")
    vgg_weights: str = option("imagenet", help="VGG19 weights: imagenet (torchvision's vgg19-dcbb9e9d.pth in the "
                                               "torch cache; nothing is downloaded), a file path, or random")
    lr_G: float = option(1e-4, min=0.0, help="generator (and encoder) learning rate (TTUR, sec. 4: 0.0001)")
    lr_D: float = option(4e-4, min=0.0, help="discriminator learning rate (TTUR, sec. 4: 0.0004)")
    # SPADE: the paper writes beta2 = 0.999; the released code uses 0.9, which the authors confirm is what they ran
    # (NVlabs/SPADE issue #88, quoting #50).
    beta1: float = option(0.0, min=0.0, max=1.0, help="Adam beta1 (0)")
    beta2: float = option(0.9, min=0.0, max=1.0, help="Adam beta2 (authors' code and issue #88: 0.9; paper: 0.999)")
    init_gain: float = option(0.02, min=0.0, help="Xavier-normal init gain (authors: init_variance 0.02)")
    tile_size: int = option(1024, min=0, help="translate larger label maps in overlapping tiles (0: never)")

    def validate(self) -> None:
        """Cross-field checks (none beyond the per-field bounds)."""


class SemanticSynthesizer(GenerativeModel):
    """Label map -> image. A subclass sets ``Config``, builds its networks in ``build_nets`` (``G`` and ``D``, and
    an encoder ``E`` that G's optimizer trains with it), says which size its images are multiples of
    (``size_multiple``) and writes its paper's ``training_step``, ``generate``, ``translate`` and ``export_spec``."""

    frozen_modules = ("vgg",)  # moved by GenerativeModel.to
    data_kind = "semantic"
    task = "synthesize"
    ema_nets = ("G",)
    #: whether the model reads instance maps (an instance-boundary channel when ``cfg.use_instances``)
    reads_instances: ClassVar[bool] = True
    #: how to train without the VGG weights, added to their WeightsNotFoundError
    vgg_hint: ClassVar[str] = ""
    #: the init of every network (Xavier-normal with ``init_gain``, the authors' ``init_type xavier``)
    init_weights = staticmethod(init_xavier)

    def __init__(self, cfg: SemanticConfig, training: bool = True):
        super().__init__(cfg)
        if cfg.label_nc < 1:
            raise ConfigError("model.label_nc is 0: set the number of classes, or train on data (it fills it in).")
        self.semantic_nc = semantic_channels(cfg.label_nc, cfg.dontcare_as_class, self.uses_instances)
        self.nets = self.build_nets(cfg)
        for net in self.nets.values():
            self.init_weights(net, cfg.init_gain)
        betas = (cfg.beta1, cfg.beta2)
        # TTUR: G and D learn at their own rates; an encoder is trained with G's optimizer and loss (the authors')
        g_params = [p for k in ("G", "E") if k in self.nets for p in self.nets[k].parameters()]
        self.optimizers = {"G": adam(g_params, lr=cfg.lr_G, betas=betas),
                           "D": adam(self.nets["D"].parameters(), lr=cfg.lr_D, betas=betas)}
        # Built here, so missing VGG weights stop a run before its first step; inference never needs it.
        self.vgg = self.build_vgg(cfg) if training and cfg.lambda_vgg > 0 else None

    def build_nets(self, cfg: Any) -> dict[str, nn.Module]:
        """The model's networks by name (``self.semantic_nc`` is set): G and D, and E when there is an encoder."""
        raise NotImplementedError

    @classmethod
    def for_inference(cls, cfg: Any) -> SemanticSynthesizer:
        """Without the VGG: synthesis needs only G (and E for style images)."""
        return cls(cfg, training=False)

    @classmethod
    def build_vgg(cls, cfg: Any) -> nn.Module:
        """The frozen VGG19 of the perceptual loss (relu1_1 .. relu5_1); a WeightsNotFoundError that also names the
        way to train without it."""
        from condgen.nn.features import VGGFeatures

        try:
            return VGGFeatures("vgg19", layers=losses.VGG_LAYERS, weights=cfg.vgg_weights, input_range=(-1.0, 1.0))
        except WeightsNotFoundError as e:
            raise WeightsNotFoundError(f"{e} {cls.vgg_hint}") from None

    @property
    def uses_instances(self) -> bool:
        """Whether the semantic input has the instance-boundary channel ("auto" before data: no)."""
        return self.reads_instances and self.cfg.use_instances == "true"

    @classmethod
    def size_multiple(cls, cfg: Any, train: bool = False) -> int:
        """Sides of generated images are multiples of this (``train``: of training crops, which the discriminator
        may need coarser)."""
        raise NotImplementedError

    def multiple(self) -> int:
        """Sides of a generated image are multiples of this."""
        return self.size_multiple(self.cfg)

    # ----- data ---------------------------------------------------------------------------------
    @classmethod
    def data_options(cls, run_cfg: Any, split: str = "train", train: bool = True) -> dict[str, Any]:
        """Label maps + images (+ instance maps): ``images/`` + ``labels/`` (+ ``instances/``) or built-in ``scenes``.
        Batches hold ``image`` (N x 3 x H x W in [-1, 1]), ``segmap`` (N x H x W ids, 255 = don't care) and, when the
        model reads them and the data has them, ``instance`` (N x H x W ids). Crops are multiples of
        ``size_multiple``."""
        d, m = run_cfg.data, run_cfg.model
        return {"image_size": d.crop_size, "bad_images": d.bad_images, "dontcare_id": d.dontcare_id,
                "label_nc": m.label_nc, "instances": m.use_instances if cls.reads_instances else "false",
                "preprocess": d.preprocess, "load_size": d.load_size, "flip": d.flip, "train": train,
                "seed": run_cfg.seed, "multiple": cls.size_multiple(m, train)}

    @classmethod
    def fill_from_data(cls, cfg: Any, info: dict[str, Any]) -> None:
        """label_nc (when 0), use_instances (when auto, for models that read instance maps) and crop_size from the
        dataset; DataError when the data has more classes than label_nc, or no instance maps while use_instances
        is true."""
        data_nc = int(info.get("label_nc") or 0)
        if cfg.label_nc == 0:
            if data_nc < 1:
                raise DataError("the dataset does not say how many classes it has; set model.label_nc.")
            cfg.label_nc = data_nc
        elif data_nc > cfg.label_nc:
            raise DataError(f"the data has {data_nc} classes but model.label_nc is {cfg.label_nc}; raise "
                            "model.label_nc or set it to 0 to take it from the data.")
        if cls.reads_instances:
            has_inst = bool(info.get("has_instances"))
            if cfg.use_instances == "auto":
                cfg.use_instances = "true" if has_inst else "false"
            elif cfg.use_instances == "true" and not has_inst:
                raise DataError("model.use_instances is true but the dataset has no instance maps (an instances/ "
                                "folder); add them or set model.use_instances=false.")
        if info.get("image_size"):
            cfg.crop_size = int(info["image_size"])

    def open_input(self, path) -> Image.Image:
        """A label-map file read as ids, with the run's ``data.dontcare_id`` convention (``condgen translate``)."""
        from condgen.data.semantic import open_label_map

        run = getattr(self, "run_config", None)
        return open_label_map(path, run.data.dontcare_id if run is not None else IGNORE_ID)

    # ----- pieces of the objectives ---------------------------------------------------------------
    def semantic(self, label: torch.Tensor, instance: torch.Tensor | None = None) -> torch.Tensor:
        """The network input of a label map: one-hot (+ don't-care channel) (+ instance boundaries)."""
        cfg = self.cfg
        if self.uses_instances and instance is None:
            instance = label  # no instance map: class boundaries stand in for instance boundaries
        return semantic_input(label.to(self.device), cfg.label_nc,
                              instance.to(self.device) if self.uses_instances else None,
                              dontcare_as_class=cfg.dontcare_as_class)

    def vgg_loss(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """The perceptual loss (SPADE's weighted L1 of VGG19 features, ``condgen.losses.vgg_loss``)."""
        if self.vgg is None:
            raise ConfigError(f"this {type(self).__name__} was built for inference: it has no VGG for the perceptual "
                              "loss.")
        return losses.vgg_loss(self.vgg, fake, real)

    def discriminate(self, semantic: torch.Tensor, fake: torch.Tensor, real: torch.Tensor):
        """D's outputs for (semantic, fake) and (semantic, real), from ONE call on both halves concatenated along
        the batch (the authors' ``discriminate``: one pass, shared statistics). Each: per scale, every layer. For
        SPADE's multi-scale discriminator on label ⊕ image (SPADE, SEAN)."""
        n = fake.shape[0]
        pairs = torch.cat([torch.cat([semantic, fake.to(semantic.dtype)], 1),
                           torch.cat([semantic, real.to(semantic.dtype)], 1)], 0)
        outs = self.nets["D"](pairs)
        return [[f[:n] for f in scale] for scale in outs], [[f[n:] for f in scale] for scale in outs]

    def adversarial_terms(self, semantic: torch.Tensor, fake: torch.Tensor,
                          real: torch.Tensor) -> dict[str, torch.Tensor]:
        """G's terms against the multi-scale D: ``G_gan``, the loss (``cfg.gan_loss``) of each scale's logits
        averaged over the scales (the authors' GANLoss on a list), and ``G_feat``, feature matching on D's features
        (pix2pixHD's, when ``lambda_feat`` > 0)."""
        cfg = self.cfg
        pred_fake, pred_real = self.discriminate(semantic, fake, real)
        terms = {"G_gan": losses.g_loss(cfg.gan_loss, [p[-1] for p in pred_fake]) / cfg.num_D}
        if cfg.lambda_feat > 0:
            terms["G_feat"] = losses.feature_matching(pred_fake, pred_real)
        return terms

    def discriminator_loss(self, semantic: torch.Tensor, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """D's loss on real vs the detached ``fake``, averaged over the scales."""
        pred_fake, pred_real = self.discriminate(semantic, fake.detach(), real)
        return losses.d_loss(self.cfg.gan_loss, [p[-1] for p in pred_real], [p[-1] for p in pred_fake]) / \
            self.cfg.num_D

    # ----- inference ----------------------------------------------------------------------------
    def sample_z(self, n: int, seed: int = 0) -> torch.Tensor:
        """``n`` codes (n x z_dim: SPADE's style codes, OASIS's noise vectors) from N(0, I), a pure function of
        ``seed``; code k is the same whatever ``n`` (drawn one at a time)."""
        g = torch.Generator().manual_seed(int(seed))
        return torch.stack([torch.randn(self.cfg.z_dim, generator=g) for _ in range(n)]).to(self.device)

    def label_maps(self, labels, instance=None) -> tuple[torch.Tensor, torch.Tensor | None, bool]:
        """``translate``'s inputs as (N x H x W label ids, N x H x W instance ids or None, whether the label map was
        a single map): PIL images of ids or integer tensors (``condgen.nn.labels.label_ids``); a DataError when the
        two maps differ in size."""
        ids, single = label_ids(labels)
        inst = None if instance is None else label_ids(instance, "instance")[0]
        if inst is not None and inst.shape != ids.shape:
            raise DataError(f"the instance map is {tuple(inst.shape[-2:])} (H, W) but the label map is "
                            f"{tuple(ids.shape[-2:])}; they must be the same size.")
        return ids, inst, single

    def synthesize_any_size(self, ids: torch.Tensor, inst: torch.Tensor | None = None, **kwargs: Any) -> torch.Tensor:
        """``generate`` (with ``kwargs``) on label maps of any size: padded by reflection to a multiple of
        ``multiple()`` and cropped back, maps larger than ``tile_size`` through overlapping tiles
        (condgen.imaging.translate_tensor). The ids (and instance ids) ride along as float channels; reflection
        padding copies ids, it never invents new ones."""
        packed = ids[:, None].float() if inst is None else torch.stack([ids, inst], 1).float()
        return translate_tensor(_PackedLabels(self), packed, in_channels=packed.shape[1], multiple=self.multiple(),
                                min_size=1, tile=self.cfg.tile_size, **kwargs)

    @staticmethod
    def translated(y: torch.Tensor, labels, single: bool):
        """``translate``'s result: an RGB PIL image for a PIL label map, 3 x H x W for a single H x W map, else
        N x 3 x H x W."""
        if isinstance(labels, Image.Image):
            return tensor_to_pil(y)
        return y[0] if single else y

    # ----- sample grids -------------------------------------------------------------------------
    def fixed_inputs(self, n: int, seed: int, batch: dict[str, Any] | None = None) -> dict[str, Any]:
        """The first few training label maps and images (at most 8), with their instance maps."""
        if batch is None:
            return {}
        k = min(8, n, batch["segmap"].shape[0])
        fixed = {"segmap": batch["segmap"][:k], "image": batch["image"][:k]}
        if self.reads_instances and batch.get("instance") is not None:
            fixed["instance"] = batch["instance"][:k]
        return fixed


class _PackedLabels:
    """Adapter for condgen.imaging.translate_tensor: ``generate(A=...)`` of a float map whose channel 0 holds label
    ids (and channel 1 instance ids)."""

    def __init__(self, model: SemanticSynthesizer):
        self.model = model

    def generate(self, A: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        """The model's images for the packed map."""
        ids = A.round().long()
        if ids.shape[1] > 1:
            kwargs["instance"] = ids[:, 1]
        return self.model.generate(ids[:, 0], **kwargs)


__all__ = ["SemanticConfig", "SemanticSynthesizer"]
