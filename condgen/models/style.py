"""Perceptual-loss style transfer (Johnson, Alahi & Fei-Fei, ECCV 2016): a feed-forward network trained with VGG-16
feature (content) and Gram-matrix (style) losses, no adversary.

The image transformation network is condgen.nn.transformer; the losses (``PerceptualLoss``) are shared with the
Gatys et al. 2016 optimisation baseline (condgen.stylize). Scale of the losses: condgen images are in [-1, 1];
``VGGFeatures`` maps them to [0, 1] and applies the ImageNet mean/std, so the feature maps are exactly those of
torchvision's VGG-16 on ImageNet-normalised images, the scale pytorch/examples ``fast_neural_style`` computes its
losses at, to which the common weights content 1e5 and style 1e10 belong. Content loss: the mean squared
difference of the ``content_layer`` maps (paper eq. 2, the 1/CHW-normalised squared distance). Style loss: the sum
over ``style_layers`` of the mean squared difference of Gram matrices F Fᵀ / (C H W) (eq. 3; the paper's eq. 5
uses the squared Frobenius norm, i.e. a sum over the C x C entries, the mean here is the convention of the 1e10
weight). Total variation: the sum of squared differences of neighbouring pixels on the 0-255 scale, per image
(Johnson's code; Mahendran & Vedaldi's TV with beta = 2), weight 1e-6 = the low end of the paper's 1e-6..1e-4.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

from condgen import losses
from condgen.config import option
from condgen.errors import ConfigError, DataError
from condgen.exportspec import image_spec
from condgen.imaging import translate_tensor
from condgen.models.base import GenerativeModel, adam, eval_mode
from condgen.nn.transformer import NORMS, UPSAMPLES, TransformationNet

ARCHS = ("johnson", "fast_neural_style")
VGG_ARCH = "vgg16"
PAPER_STYLE_LAYERS = ["relu1_2", "relu2_2", "relu3_3", "relu4_3"]
#: built-in style images (``builtin:NAME``): scikit-image's shipped images, read offline
BUILTIN_STYLES = {"hubble": "hubble_deep_field", "brick": "brick", "grass": "grass", "gravel": "gravel",
                  "ihc": "immunohistochemistry", "retina": "retina", "colorwheel": "colorwheel"}
BUILTIN_PREFIX = "builtin:"
SMALL_STYLE_FACTOR = 1.5  # upscaling a style image by more than this warns


class StyleImageWarning(UserWarning):
    """The style image is much smaller than the size it is used at and was upscaled (its texture is blurred)."""


@dataclass
class StyleConfig:
    """Perceptual-loss style transfer; defaults are the paper's (sec. 3, 4.1 and the supplementary) or the named
    common practice."""

    style_image: str = option("", help="the style image: a file, or builtin:NAME (hubble, brick, grass, gravel, "
                                       "ihc, retina, colorwheel: scikit-image's images); `train --style` sets it")
    style_size: int = option(256, min=0, help="the style image is resized so its shorter side is this many pixels "
                                              "(Johnson's code: 256, the training size; 0: as it is)")
    arch: str = option("johnson", choices=ARCHS,
                       help="johnson: the paper's network with a scaled tanh output on [-1, 1] images; "
                            "fast_neural_style: pytorch/examples' TransformerNet (0-255 pixels in and out, no tanh, "
                            "nearest upsampling), to load its checkpoints with `condgen import-weights`")
    ngf: int = option(32, min=1, help="filters of the first conv (c9s1-32), doubled twice to 128 (paper: 32)")
    n_blocks: int = option(5, min=0, help="residual blocks (paper: 5)")
    norm: str = option("instance", choices=NORMS, help="instance (Ulyanov et al. 2016; Johnson's released code) or "
                                                       "batch (the ECCV paper's spatial batch norm)")
    upsample: str = option("nearest", choices=UPSAMPLES,
                           help="nearest: nearest-neighbour x2 + conv, free of checkerboard artefacts; transposed: "
                                "the paper's fractionally-strided convolution")
    content_layer: str = option("relu2_2", help="VGG-16 tap of the content loss (paper: relu2_2; relu3_3 keeps "
                                                "more detail)")
    style_layers: list[str] = option(PAPER_STYLE_LAYERS, help="VGG-16 taps of the style loss (paper: relu1_2, "
                                                              "relu2_2, relu3_3, relu4_3)")
    content_weight: float = option(1e5, min=0.0, help="content loss weight (common practice: 1e5, see module doc)")
    style_weight: float = option(1e10, min=0.0, help="style loss weight (common practice: 1e10)")
    tv_weight: float = option(1e-6, min=0.0, help="total-variation weight on 0-255 pixels (paper: 1e-6 to 1e-4 "
                                                  "by cross-validation; Johnson's code default 1e-6; 0: off)")
    vgg_weights: str = option("imagenet", help="VGG-16 weights: imagenet (torchvision's vgg16-397923af.pth in the "
                                               "torch cache; nothing is downloaded), a file path, or random (a "
                                               "baseline for tests, not the paper's loss)")
    lr: float = option(1e-3, min=0.0, help="Adam learning rate (paper sec. 4.1: 1e-3)")
    beta1: float = option(0.9, min=0.0, max=1.0, help="not stated in the paper: Adam's default")
    beta2: float = option(0.999, min=0.0, max=1.0, help="not stated in the paper: Adam's default")
    tile_size: int = option(1024, min=0, help="stylise larger images in overlapping tiles of this many pixels "
                                              "(0: never); instance norm makes tiles differ slightly")

    def validate(self) -> None:
        """Cross-field checks: the VGG taps exist; the fast_neural_style variant is fixed."""
        from condgen.nn.features import layer_index

        if not self.style_layers:
            raise ConfigError("model.style_layers is empty: give at least one VGG-16 tap, e.g. relu1_2,relu2_2,"
                              "relu3_3,relu4_3 (the paper's).")
        for name in [self.content_layer, *self.style_layers]:
            layer_index(VGG_ARCH, name)  # a ConfigError listing the valid names
        if self.arch == "fast_neural_style" and (self.upsample, self.norm) != ("nearest", "instance"):
            raise ConfigError("model.arch=fast_neural_style is pytorch/examples' TransformerNet: it has nearest "
                              "upsampling and instance norm; leave model.upsample and model.norm at their defaults.")
        if self.content_weight == 0 and self.style_weight == 0:
            raise ConfigError("model.content_weight and model.style_weight are both 0: the network would learn "
                              "nothing but total variation.")


def build_network(cfg: StyleConfig) -> TransformationNet:
    """The transformation network of a config."""
    output = "linear255" if cfg.arch == "fast_neural_style" else "tanh"
    return TransformationNet(3, ngf=cfg.ngf, n_blocks=cfg.n_blocks, norm=cfg.norm, upsample=cfg.upsample,
                             output=output)


# ----- the style image ------------------------------------------------------------------------------
def _builtin_style(name: str) -> Image.Image:
    if name not in BUILTIN_STYLES:
        raise ConfigError(f"unknown built-in style {BUILTIN_PREFIX}{name}; built-in styles (scikit-image's images): "
                          f"{', '.join(BUILTIN_PREFIX + n for n in BUILTIN_STYLES)}.")
    import skimage.data

    arr = getattr(skimage.data, BUILTIN_STYLES[name])()
    return Image.fromarray(arr).convert("RGB")


def open_style_image(spec: str | Path) -> Image.Image:
    """The style image ``spec`` (a file or ``builtin:NAME``) as RGB, with a clear error if it is missing or
    unreadable."""
    from condgen.data.images import UnreadableImageError, open_image

    spec = str(spec).strip()
    if not spec:
        raise ConfigError(f"no style image: pass --style FILE (model.style_image), or a built-in style such as "
                          f"{BUILTIN_PREFIX}hubble ({', '.join(BUILTIN_STYLES)}).")
    if spec.startswith(BUILTIN_PREFIX):
        return _builtin_style(spec[len(BUILTIN_PREFIX):])
    path = Path(spec).expanduser()
    if not path.exists():
        raise DataError(f"style image {path} does not exist; pass an image file (model.style_image / --style) or a "
                        f"built-in style such as {BUILTIN_PREFIX}hubble.")
    if path.is_dir():
        raise DataError(f"style image {path} is a folder; pass one image file.")
    try:
        return open_image(path, 3)
    except UnreadableImageError as e:
        raise DataError(f"cannot read the style image {path}: {e.reason}. Pass a PNG/JPEG/... image file.") from None


def load_style_image(spec: str | Path, size: int = 256) -> torch.Tensor:
    """The style image as a 1 x 3 x H x W tensor in [-1, 1], its shorter side resized to ``size`` (0: as it is);
    a StyleImageWarning when that upscales it by more than 1.5x."""
    from condgen.data.images import to_tensor

    img = open_style_image(spec)
    w, h = img.size
    if size and min(w, h) != size:
        f = size / min(w, h)
        if f > SMALL_STYLE_FACTOR:
            warnings.warn(f"the style image {spec} is {w}x{h}, much smaller than the {size} px it is used at "
                          f"(model.style_size, the training crop): upscaled {f:.1f}x, its texture will be blurred. "
                          "Use a larger style image, or lower model.style_size.", StyleImageWarning, stacklevel=2)
        img = img.resize((max(1, round(w * f)), max(1, round(h * f))), Image.Resampling.BICUBIC, reducing_gap=None)
    return to_tensor(img)[None]


class PerceptualLoss(nn.Module):
    """Content (feature) + style (Gram) + total-variation losses on a frozen VGG-16, against one style image.

    ``set_style`` stores the style image's Gram matrices; calling the module on (output, content) returns the
    unweighted terms ``content``, ``style``, ``tv`` and the weighted ``total``.
    """

    def __init__(self, vgg_weights: str = "imagenet", content_layer: str = "relu2_2",
                 style_layers: list[str] | tuple[str, ...] = tuple(PAPER_STYLE_LAYERS), content_weight: float = 1e5,
                 style_weight: float = 1e10, tv_weight: float = 1e-6):
        super().__init__()
        from condgen.nn.features import VGGFeatures, layer_index

        self.content_layer, self.style_layers = content_layer, tuple(style_layers)
        self.weights = {"content": float(content_weight), "style": float(style_weight), "tv": float(tv_weight)}
        self.vgg = VGGFeatures(VGG_ARCH, layers=(content_layer, *self.style_layers), weights=vgg_weights)
        self._content_depth = layer_index(VGG_ARCH, content_layer) + 1

    @classmethod
    def from_config(cls, cfg: StyleConfig) -> PerceptualLoss:
        """The losses a StyleConfig describes."""
        return cls(cfg.vgg_weights, cfg.content_layer, cfg.style_layers, cfg.content_weight, cfg.style_weight,
                   cfg.tv_weight)

    @torch.no_grad()
    def set_style(self, style: torch.Tensor) -> None:
        """Store the Gram matrices (1 x C x C buffers, moved with the module) of a 1 x 3 x H x W style image in
        [-1, 1]."""
        feats = self.vgg(style.to(self.vgg.scale.device))
        for name in self.style_layers:
            self.register_buffer(f"gram_{name}", losses.gram(feats[name]), persistent=False)

    @property
    def grams(self) -> dict[str, torch.Tensor]:
        """{style layer: 1 x C x C Gram matrix of the style image} ({} before ``set_style``)."""
        return {name: getattr(self, f"gram_{name}") for name in self.style_layers if hasattr(self, f"gram_{name}")}

    @torch.no_grad()
    def content_target(self, content: torch.Tensor) -> torch.Tensor:
        """The ``content_layer`` map of content images (VGG run only as deep as that layer)."""
        v = self.vgg
        h = content * v.scale.to(content.dtype) + v.shift.to(content.dtype)
        return v.features[:self._content_depth](h).float()

    def forward(self, y: torch.Tensor, content: torch.Tensor | None = None,
                target: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Loss terms of outputs ``y`` against the content images (or their precomputed ``target`` features)."""
        grams = self.grams
        if not grams:
            raise ConfigError("PerceptualLoss has no style: call set_style(style_image) first.")
        feats = self.vgg(y)
        if target is None:
            target = self.content_target(content)
        layer = self.content_layer
        terms = {"content": losses.perceptual_loss(feats, {layer: target}, (layer,), kind="mse"),
                 "style": losses.style_loss(feats, grams, self.style_layers),
                 "tv": losses.tv_loss(y)}
        terms["total"] = sum(self.weights[k] * terms[k] for k in ("content", "style", "tv") if self.weights[k])
        return terms


# ----- the model ------------------------------------------------------------------------------------
class StyleTransfer(GenerativeModel):
    """One Adam step per batch of content crops on content_weight x content + style_weight x style + tv_weight x TV
    of the network's output; the style image is fixed per model."""

    Config = StyleConfig
    frozen_modules = ("loss",)  # moved by GenerativeModel.to
    data_kind = "content"
    task = "stylize"
    ema_nets = ("G",)
    val_splits = ("test", "val")
    grid_nrow = val_grid_nrow = 4  # two (content | stylised) pairs per row
    grid_columns = ("content", "stylised", "content", "stylised")
    # Johnson et al. sec. 4.1: COCO images resized to 256 x 256, batch 4, 40,000 iterations (~2 epochs), Adam 1e-3.
    train_defaults = {"data": {"batch_size": 4, "crop_size": 256, "load_size": 256},
                      "train": {"steps": 40_000, "lr_schedule": "constant"}}

    def __init__(self, cfg: StyleConfig, training: bool = True):
        super().__init__(cfg)
        self.nets = {"G": build_network(cfg)}
        self.optimizers = {"G": adam(self.nets["G"].parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))}
        self.loss: PerceptualLoss | None = None
        if training:
            # Both checked here, before the first step: a missing style image or VGG file stops a new run at once
            # (and the trainer removes its folder).
            style = load_style_image(cfg.style_image, cfg.style_size)
            self.loss = PerceptualLoss.from_config(cfg)
            self.loss.set_style(style)

    @classmethod
    def for_inference(cls, cfg: StyleConfig) -> StyleTransfer:
        """Without the VGG and the style image: stylising needs only the network."""
        return cls(cfg, training=False)

    # ----- data ---------------------------------------------------------------------------------
    @classmethod
    def data_options(cls, run_cfg: Any, split: str = "train", train: bool = True) -> dict[str, Any]:
        """RGB (VGG is an RGB network) content crops (condgen.data.content) of ``data.crop_size`` from images
        resized to ``data.load_size``."""
        d = run_cfg.data
        return {"image_size": d.crop_size, "load_size": d.load_size, "channels": 3, "train": train,
                "seed": run_cfg.seed, "bad_images": d.bad_images}

    # ----- training -----------------------------------------------------------------------------
    def _losses(self, y: torch.Tensor, content: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.loss is None:
            raise ConfigError("this style model was built for inference (training=False): it has no VGG or style "
                              "image for the losses.")
        return self.loss(y, content)

    def training_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """One Adam step on the weighted sum; logs the weighted total and the unweighted terms."""
        x = batch["image"]
        terms = self._losses(self.nets["G"](x), x)
        self.optimize("G", terms["total"])
        return {"loss/G": terms["total"].detach(), "loss/content": terms["content"].detach(),
                "loss/style": terms["style"].detach(), "loss/tv": terms["tv"].detach()}

    # ----- inference ----------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, A: torch.Tensor | None = None, image: torch.Tensor | None = None, **_: Any) -> torch.Tensor:
        """The stylised N x 3 x H x W batch (``A=`` or ``image=``, in [-1, 1]; sides multiples of 4), float32."""
        x = A if A is not None else image
        if x is None:
            raise ConfigError("the style network stylises an image: pass A (N x 3 x H x W in [-1, 1]).")
        x = x.to(self.device).float()
        h, w = x.shape[-2:]
        # reflection padding needs a few pixels at the 1/4 scale; tiny images are padded (edge pixels) and cropped
        ph, pw = max(0, 16 - h), max(0, 16 - w)
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        G = self.net("G")
        with eval_mode(G):
            return G(x)[..., :h, :w].float()

    @torch.no_grad()
    def stylize(self, image):
        """Stylise one image of any size: a PIL image (returns PIL) or a 3 x H x W / N x 3 x H x W tensor in
        [-1, 1] (returns the same shape). Images larger than ``tile_size`` go through overlapping tiles blended
        with a smooth window."""
        return translate_tensor(self, image, in_channels=3, multiple=4, min_size=1, tile=self.cfg.tile_size)

    #: ``condgen translate`` / ``translate_files`` call ``translate``
    translate = stylize

    def export_spec(self, size: int | None = None, direction: str = "AtoB"):
        """The transformation network in eval mode; H and W dynamic multiples of 4 (default size 256)."""
        G = self.net("G").eval()
        spec = image_spec(G, {"G": G}, 3, size or 256, 4)
        spec.note = "content image in [-1, 1] -> stylised image; H, W multiples of 4"
        return spec

    def fixed_inputs(self, n: int, seed: int, batch: dict[str, Any] | None = None) -> dict[str, Any]:
        """The first training crops (at most 8)."""
        return {} if batch is None else {"content": batch["image"][:min(8, n)]}

    @torch.no_grad()
    def sample_grid(self, fixed: dict[str, Any]) -> torch.Tensor:
        """Content | stylised pairs."""
        x = fixed["content"]
        return torch.stack([x.float().cpu(), self.generate(A=x).cpu()], dim=1).flatten(0, 1)

    @torch.no_grad()
    def validate(self, batches) -> tuple[dict[str, float], torch.Tensor | None]:
        """Unweighted content and style losses of the stylised held-out crops, and the style loss of the crops
        themselves (the baseline the network should beat); a content | stylised grid."""
        n, sums, grid = 0, {"content": 0.0, "style": 0.0, "input_style": 0.0}, None
        for batch in batches:
            x = batch["image"].float()
            y = self.generate(A=x)
            terms, base = self._losses(y, x), self._losses(x, x)
            k = x.shape[0]
            sums["content"] += terms["content"].item() * k
            sums["style"] += terms["style"].item() * k
            sums["input_style"] += base["style"].item() * k
            if grid is None:
                grid = torch.stack([x[:4].cpu(), y[:4].cpu()], dim=1).flatten(0, 1)
            n += k
        return {key: v / max(n, 1) for key, v in sums.items()}, grid


__all__ = ["ARCHS", "BUILTIN_STYLES", "PerceptualLoss", "StyleConfig", "StyleImageWarning", "StyleTransfer",
           "build_network", "load_style_image", "open_style_image"]
