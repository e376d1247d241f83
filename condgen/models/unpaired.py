"""What the unpaired translators (CycleGAN, UNIT, MUNIT) share: the trainA/trainB data, both directions,
translation of any image size, and the sample grid. Each model is still one file; this is its base class."""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from condgen.errors import ConfigError
from condgen.exportspec import image_spec
from condgen.imaging import translate_tensor
from condgen.models.base import GenerativeModel, adam
from condgen.nn.init import init_kaiming, init_normal_02

DIRECTIONS = ("AtoB", "BtoA")

#: UNIT's and MUNIT's schedule in their authors' 2018 code (the UNIT paper gives none; MUNIT appendix B): batch 1,
#: LR halved every 100k of 1M iterations; short side resized to 256, random 256 x 256 crop, mirroring (condgen's
#: closest mode is scale_width_and_crop: identical for square and portrait images; landscape images are
#: squeezed to a height of 256 instead of cropped along their width).
LATENT_TRAIN_DEFAULTS = {"data": {"batch_size": 1, "preprocess": "scale_width_and_crop", "load_size": 256,
                                  "crop_size": 256, "flip": True},
                         "train": {"steps": 1_000_000, "lr_schedule": "step", "lr_step_size": 100_000,
                                   "lr_gamma": 0.5}}


def check_direction(direction: str) -> str:
    """``direction`` if it is AtoB or BtoA, else a ConfigError that suggests the right spelling."""
    if direction in DIRECTIONS:
        return direction
    folded = str(direction).replace("_", "").replace("-", "").replace("2", "to").lower()
    hint = next((f" Did you mean {d}?" for d in DIRECTIONS if d.lower() == folded), "")
    raise ConfigError(f"direction must be AtoB (domain A -> B) or BtoA (B -> A), got {direction!r}.{hint}")


class UnpairedTranslator(GenerativeModel):
    """Base of two-domain unpaired translators. Subclasses build ``nets``/``optimizers``, implement
    ``training_step`` and ``translate_batch(x, direction, **options)``; the config has ``in_channels`` (domain A),
    ``out_channels`` (domain B) and ``tile_size``."""

    data_kind = "unpaired"
    task = "translate"
    two_way = True
    translate_options = frozenset({"direction"})
    grid_nrow = 4  # A | A->B | B | B->A
    grid_columns = ("A", "A->B", "B", "B->A")
    #: stride-2 downsamplings of the generators: inputs are padded to a multiple of 2**downsamplings
    downsamplings: ClassVar[int] = 2
    #: whether ``translate`` takes style codes / style images (MUNIT)
    supports_styles: ClassVar[bool] = False

    def set_networks(self, G: torch.nn.Module, D: torch.nn.Module) -> None:
        """Install generator ``G`` and discriminator ``D`` as UNIT's and MUNIT's authors do: He (kaiming, fan-in)
        init for G, N(0, 0.02) for D, one Adam each with the config's lr, betas and (L2) weight decay."""
        cfg = self.cfg
        init_kaiming(G)
        init_normal_02(D)
        self.nets = {"G": G, "D": D}
        self.optimizers = {k: adam(n.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2),
                                   weight_decay=cfg.weight_decay) for k, n in self.nets.items()}

    # ----- data ---------------------------------------------------------------------------------
    @classmethod
    def data_options(cls, run_cfg: Any, split: str = "train", train: bool = True) -> dict[str, Any]:
        """Unpaired data: ``trainA/`` and ``trainB/`` folders (or a built-in unpaired set), each domain in its
        channels, crops a multiple of the generators' downsampling."""
        d, m = run_cfg.data, run_cfg.model
        return {"image_size": d.crop_size, "channels_A": m.in_channels, "channels_B": m.out_channels,
                "preprocess": d.preprocess, "load_size": d.load_size, "flip": d.flip, "train": train,
                "seed": run_cfg.seed, "bad_images": d.bad_images, "pairing": d.pairing,
                "multiple": 2 ** cls.generator_downsamplings(m)}

    @classmethod
    def generator_downsamplings(cls, cfg: Any) -> int:
        """Stride-2 downsamplings of the generators under ``cfg`` (the class's ``downsamplings`` by default)."""
        return cls.downsamplings

    def input_channels(self, direction: str) -> int:
        """Channels of the images this direction reads (domain A's for AtoB)."""
        return self.cfg.in_channels if check_direction(direction) == "AtoB" else self.cfg.out_channels

    # ----- inference ----------------------------------------------------------------------------
    def translate_batch(self, x: torch.Tensor, direction: str, **options: Any) -> torch.Tensor:
        """Translate a batch (size a multiple of ``multiple()``) in ``direction``; in [-1, 1]."""
        raise NotImplementedError

    def multiple(self) -> int:
        """H and W of a generator input must be multiples of this."""
        return 2 ** self.generator_downsamplings(self.cfg)

    def min_size(self) -> int:
        """Smallest input side the generators accept (reflection padding needs 2 px at the bottleneck)."""
        return 2 * self.multiple()

    def min_size_reason(self) -> str:
        """Why: the encoders' downsamplings in words (for the too-small-input message)."""
        return (f"its encoders halve the image {self.generator_downsamplings(self.cfg)} times and pad by reflection "
                f"at the bottleneck, which needs 2 px there, so it needs {self.min_size()} px")

    @torch.no_grad()
    def generate(self, A: torch.Tensor | None = None, direction: str = "AtoB", **options: Any) -> torch.Tensor:
        """``A`` (N x C x H x W in [-1, 1], a multiple of ``multiple()``) translated in ``direction``."""
        if A is None:
            raise ConfigError(f"{type(self).__name__} translates an input image: pass A (N x C x H x W in [-1, 1]).")
        return self.translate_batch(A.to(self.device), check_direction(direction), **options).float()

    @torch.no_grad()
    def translate(self, image, direction: str = "AtoB", **options: Any):
        """Translate one image of any size: a PIL image (returns PIL) or a C x H x W / N x C x H x W tensor in
        [-1, 1] (returns the same shape). Pads by reflection to the multiple and crops back; tiles large images."""
        check_direction(direction)
        if options and not self.supports_styles:
            raise ConfigError(f"{type(self).__name__} has no style codes; {', '.join(sorted(options))} apply to "
                              "munit only.")
        return translate_tensor(self, image, in_channels=self.input_channels(direction), multiple=self.multiple(),
                                min_size=self.min_size(), tile=self.cfg.tile_size, direction=direction, **options)

    def export_spec(self, size: int | None = None, direction: str = "AtoB"):
        """One direction's translation; H and W dynamic multiples of ``multiple()`` (default size 256). Models
        with style codes take them as a second input ``style`` (N x style_dim, from N(0, I) or a style encoder)."""
        direction = check_direction(direction)
        nets = {k: self.net(k).eval() for k in self.nets if not k.startswith("D")}
        channels, size = self.input_channels(direction), size or 256
        if self.supports_styles:
            style = torch.randn(1, self.cfg.style_dim, generator=torch.Generator().manual_seed(0))
            spec = image_spec(lambda x, s: self.translate_batch(x, direction, style=s), nets, channels, size,
                              self.multiple(), extra=(("style", style),))
        else:
            spec = image_spec(lambda x: self.translate_batch(x, direction), nets, channels, size, self.multiple())
        spec.note = f"{direction}; H, W multiples of {self.multiple()}"
        return spec

    def fixed_inputs(self, n: int, seed: int, batch: dict[str, Any] | None = None) -> dict[str, Any]:
        """The first few training images of each domain (at most 8)."""
        if batch is None:
            return {}
        k = min(8, n, batch["A"].shape[0], batch["B"].shape[0])
        return {"A": batch["A"][:k], "B": batch["B"][:k]}

    @torch.no_grad()
    def sample_grid(self, fixed: dict[str, Any]) -> torch.Tensor:
        """Rows of A | A->B | B | B->A (grey expanded to RGB when the domains differ)."""
        a, b = fixed["A"], fixed["B"]
        ab, ba = self.generate(A=a, direction="AtoB"), self.generate(A=b, direction="BtoA")
        cols = [t.float().cpu() for t in (a, ab, b, ba)]
        c = max(t.shape[1] for t in cols)
        cols = [t.expand(-1, c, -1, -1) if t.shape[1] != c else t for t in cols]
        return torch.stack(cols, dim=1).flatten(0, 1)
