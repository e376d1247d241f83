"""SRGAN (Ledig et al., CVPR 2017, "Photo-Realistic Single Image Super-Resolution Using a Generative Adversarial
Network"): the SRResNet generator trained with the perceptual loss (eq. 3) = a VGG19 content loss + 10^-3 x the
adversarial loss of a VGG-style discriminator, starting from a trained SRResNet (``train.init_from``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from condgen import losses
from condgen.config import option
from condgen.errors import ConfigError
from condgen.models.base import adam
from condgen.models.srresnet import SRResNet, SRResNetConfig
from condgen.nn.srresnet import SRDiscriminator


@dataclass
class SRGANConfig(SRResNetConfig):
    """SRGAN hyper-parameters (SRGAN-VGG54); defaults are the paper's (sec. 2.2, 3.2, 3.4 and Figure 4)."""

    loss: str = option("mse", choices=losses.PIXEL_LOSSES,
                       help="distance on VGG features and on pixels (paper eq. 5: squared euclidean = MSE); l1 "
                            "only for the modified recipe")
    ndf: int = option(64, min=1, help="width of D's first conv, doubled up to 8 x ndf (paper, Figure 4: 64)")
    content_weight: float = option(1.0, min=0.0, help="weight of the VGG content loss (paper eq. 3: 1)")
    vgg_layer: str = option("relu5_4", help="VGG19 tap of the content loss: relu5_4 = VGG54 (paper's SRGAN), "
                                            "relu2_2 = VGG22 (sec. 3.4); conv5_4 = before the ReLU (ESRGAN)")
    vgg_rescale: float = option(1 / 12.75, min=0.0,
                                help="VGG feature maps are multiplied by this before the distance (sec. 3.2: "
                                     "1/12.75, i.e. the MSE x 1/12.75^2 ~ 0.006)")
    vgg_weights: str = option("imagenet", help="VGG19 weights: imagenet (torchvision's file, from the torch cache; "
                                               "nothing is downloaded), a file path, or random (tests only)")
    pixel_weight: float = option(0.0, min=0.0, help="weight of a pixel loss on [-1, 1] (SRGAN-VGG54: 0; "
                                                    "SRGAN-MSE: 1 with content_weight 0)")
    adv_weight: float = option(1e-3, min=0.0, help="weight of the adversarial loss (paper eq. 3: 10^-3)")

    def validate(self) -> None:
        """Cross-field checks."""
        from condgen.nn.features import layer_index

        layer_index("vgg19", self.vgg_layer)  # a ConfigError listing the valid tap names
        if self.content_weight == 0 and self.pixel_weight == 0 and self.adv_weight == 0:
            raise ConfigError("model.content_weight, model.pixel_weight and model.adv_weight are all 0: G would "
                              "have no loss.")


class SRGAN(SRResNet):
    """D step (real HR vs G(LR)), then G step on content + 1e-3 x adversarial with D frozen (k = 1, sec. 3.2)."""

    Config = SRGANConfig
    frozen_modules = ("vgg",)  # moved by GenerativeModel.to
    # Ledig et al. sec. 3.2: 10^5 updates at 10^-4 and 10^5 at 10^-5; batch 16 of 96 x 96 HR crops.
    train_defaults = {"data": {"batch_size": 16, "crop_size": 96},
                      "train": {"steps": 200_000, "lr_schedule": "step", "lr_step_size": 100_000, "lr_gamma": 0.1}}

    def __init__(self, cfg: SRGANConfig, training: bool = True):
        super().__init__(cfg)
        self.nets["D"] = SRDiscriminator(cfg.channels, ndf=cfg.ndf)
        betas = (cfg.beta1, cfg.beta2)
        self.optimizers["D"] = adam(self.nets["D"].parameters(), lr=cfg.lr, betas=betas)
        # Built (and its weights found) here, so a missing VGG19 stops the run before its first step; inference
        # (training=False) never needs it.
        self.vgg = build_vgg(cfg) if training and cfg.content_weight > 0 else None

    @classmethod
    def for_inference(cls, cfg: SRGANConfig) -> SRGAN:
        """Without the VGG: upscaling needs only G."""
        return cls(cfg, training=False)

    # ----- losses -------------------------------------------------------------------------------
    def content_loss(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        """Eq. 5 on the ``vgg_layer`` features, both rescaled by ``vgg_rescale`` (sec. 3.2: "VGG feature maps were
        also rescaled by a factor of 1/12.75 to obtain VGG losses of a scale that is comparable to the MSE loss.
        This is equivalent to multiplying Equation 5 with a rescaling factor of ~ 0.006" = 1/12.75^2)."""
        if self.vgg is None:
            raise ConfigError("this SRGAN was built for inference (training=False): it has no VGG for the content "
                              "loss.")
        cfg = self.cfg  # SRGAN's variant of the perceptual loss: one tap, unweighted, both maps rescaled
        return losses.vgg_loss(self.vgg, sr, hr, (cfg.vgg_layer,), None, cfg.loss, cfg.vgg_rescale)

    # ----- training -----------------------------------------------------------------------------
    def training_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """D: -log D(HR) - log(1 - D(G(LR))); then G: content_weight x VGG content + pixel_weight x pixel loss
        + adv_weight x -log D(G(LR)) (eq. 3 and 6, the non-saturating generator loss)."""
        lr, hr = batch["lr"], batch["hr"]
        G, D, cfg = self.nets["G"], self.nets["D"], self.cfg
        sr = G(lr)
        loss_d = losses.d_loss("vanilla", D(hr), D(sr.detach()))
        self.optimize("D", loss_d)
        out: dict[str, torch.Tensor] = {"loss/D": loss_d.detach()}
        with self.frozen("D"):
            loss_adv = losses.g_loss("vanilla", D(sr))
            loss_g = cfg.adv_weight * loss_adv
            out["loss/G_adv"] = loss_adv.detach()
            if cfg.content_weight > 0:
                loss_content = self.content_loss(sr, hr)
                loss_g = loss_g + cfg.content_weight * loss_content
                out["loss/G_content"] = loss_content.detach()
            if cfg.pixel_weight > 0:
                loss_pixel = losses.pixel_loss(cfg.loss, sr, hr)
                loss_g = loss_g + cfg.pixel_weight * loss_pixel
                out[f"loss/G_{cfg.loss.upper()}"] = loss_pixel.detach()
            self.optimize("G", loss_g)
        return out


def build_vgg(cfg: SRGANConfig) -> torch.nn.Module:
    """The frozen VGG19 feature extractor of the content loss (WeightsNotFoundError if its weights are missing)."""
    from condgen.nn.features import VGGFeatures

    return VGGFeatures("vgg19", layers=(cfg.vgg_layer,), weights=cfg.vgg_weights, input_range=(-1.0, 1.0))


__all__ = ["SRGAN", "SRGANConfig", "build_vgg"]
