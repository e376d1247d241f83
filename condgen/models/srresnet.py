"""SRResNet (Ledig et al., CVPR 2017, "Photo-Realistic Single Image Super-Resolution Using a Generative
Adversarial Network"): the 16-block residual generator trained by regression (pixel MSE) to upscale a
low-resolution image 4x. SRGAN (condgen/models/srgan.py) starts from this network."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from condgen import losses
from condgen.config import option
from condgen.errors import ConfigError
from condgen.exportspec import image_spec
from condgen.imaging import translate_tensor, triplets
from condgen.models.base import GenerativeModel, adam, eval_mode
from condgen.nn.srresnet import G_NORMS, SCALES, SRResNetGenerator


@dataclass
class SRResNetConfig:
    """SRResNet hyper-parameters; defaults are the paper's (sec. 2.1, 3.2 and Figure 4)."""

    scale: int = option(4, choices=SCALES, help="upscaling factor: one x2 sub-pixel block per factor 2 (paper: 4)")
    n_blocks: int = option(16, min=1, help="residual blocks B (paper sec. 3.2: B = 16)")
    ngf: int = option(64, min=1, help="feature maps of every conv (paper, Figure 4: 64)")
    channels: int = option(3, choices=(1, 3), help="image channels (paper: RGB)")
    norm: str = option("batch", choices=G_NORMS,
                       help="batch norm in the residual blocks (paper); none = the BN-free generator of later "
                            "toolkits (EDSR, MSRResNet, ESRGAN)")
    loss: str = option("mse", choices=losses.PIXEL_LOSSES,
                       help="pixel loss on [-1, 1] images (paper eq. 4: MSE); l1 only for the modified recipe")
    lr: float = option(1e-4, min=0.0, help="Adam learning rate (paper sec. 3.2: 10^-4)")
    beta1: float = option(0.9, min=0.0, max=1.0, help="paper sec. 3.2: 'Adam with beta1 = 0.9'")
    beta2: float = option(0.999, min=0.0, max=1.0, help="not stated in the paper: Adam's default")
    tile_size: int = option(128, min=0, help="upscale larger LR images in overlapping tiles of this many LR "
                                             "pixels (0: never)")


class SRResNet(GenerativeModel):
    """Single-image super-resolution by regression: one G step on the pixel MSE per batch of (LR, HR) crops."""

    Config = SRResNetConfig
    data_kind = "sr"
    task = "upscale"
    ema_nets = ("G",)
    val_splits = ("val", "test")
    grid_nrow = val_grid_nrow = 3  # rows of bicubic | SR | HR
    grid_columns = ("bicubic", "SR", "HR")
    # Ledig et al. sec. 3.2: "16 random 96 x 96 HR sub images" per mini-batch; SRResNet: 10^6 updates at 10^-4.
    train_defaults = {"data": {"batch_size": 16, "crop_size": 96},
                      "train": {"steps": 1_000_000, "lr_schedule": "constant"}}

    def __init__(self, cfg: SRResNetConfig):
        super().__init__(cfg)
        # named "G" in SRResNet and SRGAN alike, so train.init_from can start SRGAN from a trained SRResNet
        self.nets = {"G": build_generator(cfg)}
        self.optimizers = {"G": adam(self.nets["G"].parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))}

    # ----- data ---------------------------------------------------------------------------------
    @classmethod
    def data_options(cls, run_cfg: Any, split: str = "train", train: bool = True) -> dict[str, Any]:
        """(LR, HR) pairs: HR crops of ``data.crop_size`` and their bicubic downscalings (condgen.data.sr)."""
        d, m = run_cfg.data, run_cfg.model
        return {"image_size": d.crop_size, "channels": m.channels, "scale": m.scale, "train": train,
                "seed": run_cfg.seed, "bad_images": d.bad_images}

    @classmethod
    def eval_data_options(cls, run_cfg: Any, split: str) -> dict[str, Any]:
        """Whole held-out images, cropped to a multiple of ``scale`` ("modcrop", the SR benchmarks' protocol)."""
        return {**cls.data_options(run_cfg, split, train=False), "image_size": 0}

    # ----- training -----------------------------------------------------------------------------
    def training_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """G(LR) against HR by the pixel loss, on [-1, 1] images (sec. 3.2: "The MSE loss was thus calculated
        on images of intensity range [-1, 1]")."""
        loss = losses.pixel_loss(self.cfg.loss, self.nets["G"](batch["lr"]), batch["hr"])
        self.optimize("G", loss)
        return {f"loss/G_{self.cfg.loss.upper()}": loss.detach()}

    # ----- inference ----------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, lr: torch.Tensor | None = None, A: torch.Tensor | None = None, **_: Any) -> torch.Tensor:
        """G(LR) for an N x C x h x w batch in [-1, 1] (``lr=`` or ``A=``), N x C x (scale h) x (scale w).
        Always with BN's running statistics (sec. 3.2: "During test time we turn batch-normalization update
        off to obtain an output that deterministically depends only on the input")."""
        x = lr if lr is not None else A
        if x is None:
            raise ConfigError(f"{type(self).__name__} upscales a low-resolution image: pass lr (N x C x h x w in "
                              f"[-1, 1]).")
        G = self.net("G")
        with eval_mode(G):
            return G(x.to(self.device)).float()

    @torch.no_grad()
    def upscale(self, image):
        """Upscale one image of any size by ``scale``: a PIL image (returns PIL) or a C x h x w / N x C x h x w
        tensor in [-1, 1] (returns C x sh x sw / N x C x sh x sw). LR images larger than ``tile_size`` go through
        overlapping tiles blended with a smooth window."""
        return translate_tensor(self, image, in_channels=self.cfg.channels, multiple=1, min_size=1,
                                tile=self.cfg.tile_size, scale=self.cfg.scale)

    def export_spec(self, size: int | None = None, direction: str = "AtoB"):
        """G in eval mode on an LR image (default 64 x 64); H and W dynamic; output ``scale`` times larger."""
        G = self.net("G").eval()
        spec = image_spec(G, {"G": G}, self.cfg.channels, size or 64, 1)
        spec.note = f"LR in [-1, 1] -> x{self.cfg.scale} output"
        return spec

    #: ``condgen translate`` and ``translate_files`` call ``translate``: for SR models it is ``upscale``
    translate = upscale

    def fixed_inputs(self, n: int, seed: int, batch: dict[str, Any] | None = None) -> dict[str, Any]:
        """The first few training pairs (at most 8)."""
        return {} if batch is None else {key: batch[key][:min(8, n)] for key in ("lr", "hr")}

    @torch.no_grad()
    def sample_grid(self, fixed: dict[str, Any]) -> torch.Tensor:
        """Rows of bicubic-upscaled LR | SR | HR."""
        from condgen.metrics.sr import bicubic_upscale

        lr = fixed["lr"]
        return triplets(bicubic_upscale(lr.cpu(), self.cfg.scale), self.generate(lr=lr), fixed["hr"])

    @torch.no_grad()
    def validate(self, batches) -> tuple[dict[str, float], torch.Tensor | None]:
        """PSNR and SSIM on Y with ``scale`` border pixels cropped (condgen.metrics.sr, the SR papers' protocol), of
        SR and of the bicubic baseline, averaged over held-out pairs; and a bicubic | SR | HR grid."""
        from condgen.metrics.sr import bicubic_upscale, sr_scores

        n, sums, grid = 0, {}, None
        for batch in batches:
            lr, hr = batch["lr"].float().cpu(), batch["hr"].float().cpu()
            sr, base = self.upscale(lr).clamp(-1, 1), bicubic_upscale(lr, self.cfg.scale)
            for prefix, pred in (("", sr), ("bicubic_", base)):
                for key, per_image in sr_scores(pred, hr, self.cfg.scale).items():  # psnr_y, ssim_y
                    sums[prefix + key] = sums.get(prefix + key, 0.0) + per_image.sum().item()
            if grid is None:
                grid = triplets(base[:4], sr[:4], hr[:4])
            n += lr.shape[0]
        return {k: v / max(n, 1) for k, v in sums.items()}, grid


def build_generator(cfg: SRResNetConfig) -> SRResNetGenerator:
    """The SRResNet generator of a config (shared by SRResNet and SRGAN)."""
    return SRResNetGenerator(cfg.channels, ngf=cfg.ngf, n_blocks=cfg.n_blocks, scale=cfg.scale, norm=cfg.norm)


__all__ = ["SRResNet", "SRResNetConfig", "build_generator"]
