"""Passcode-conditioned, reversible face anonymizer, after Gu, Luo, Ryoo & Lee (ECCV 2020), "Password-conditioned
Anonymization and Deanonymization with Face Identity Transformers".

One generator T(x, c) takes a face x and a code c in {-1, +1}^bits. A passcode p (bits 0/1) gives the code
c = 2p - 1: T(x, c) is the anonymized face, and the *inverse* code -c (every bit flipped) applied to that face
restores the original, T(T(x, c), -c) ~ x. A wrong passcode q gives T(T(x, c), -c_q), yet another face.

Training (the paper's multi-task objective, on condgen's small scale): realism (LSGAN against a patch critic) of
anonymized faces and of wrong restorations; L1 restoration with the right passcode; identity margins — the
anonymized face, the wrong restoration, and a second passcode's anonymization must each be at least as far from
the original (or each other) as another person in the batch is — measured in a fixed random-convolution feature
space (no face-recognition network is available offline); and a low-pass L1 term that keeps pose and lighting, so
the face blends back into its photo. Wrong passcodes are drawn by flipping 1..bits bits of the right one, so near
misses are trained to fail too.

This is a privacy mask, not encryption: 2^bits passcodes can be tried by anyone holding the model. See
docs/anonymize.md.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import torch
from torch.nn import functional as F

from condgen import losses
from condgen.config import option
from condgen.errors import ConfigError
from condgen.exportspec import image_spec
from condgen.imaging import as_image_input, pil_to_tensor, tensor_to_pil
from condgen.models.base import GenerativeModel, adam
from condgen.nn.anonymizer import (
    IdentityEncoder,
    PasscodeGenerator,
    PatchCritic,
    RandomFeatures,
    augment_views,
)
from condgen.nn.init import init_normal_02

GRID_FACES = 8


@dataclass
class AnonymizerConfig:
    """Face anonymizer hyper-parameters. The 16-bit passcode is Gu et al.'s; the image size and network widths are
    condgen's choices for the built-in 25 px faces (the paper works at 128 px)."""

    image_size: int = option(32, min=8, help="faces are resized to this side (a multiple of 4)")
    channels: int = option(1, choices=(1, 3), help="1: grey faces (the built-in faces are grey)")
    bits: int = option(16, min=1, max=64, help="passcode length in bits (Gu et al.: 16)")
    ngf: int = option(32, min=1)
    ndf: int = option(64, min=1)
    n_blocks: int = option(4, min=1, help="code-modulated residual blocks at the 1/4 resolution bottleneck")
    residual: bool = option(True, help="the generator edits its input (tanh(atanh(x) + d)) instead of drawing a "
                                       "new image: restoration is learned much faster")
    norm: str = option("layer", choices=("layer", "instance"),
                       help="generator normalisation; instance norm discards global brightness, which restoration "
                            "needs")
    gan_loss: str = option("lsgan", choices=losses.ADVERSARIAL)
    lambda_adv: float = option(1.0, min=0.0, help="realism of anonymized faces and of wrong restorations")
    lambda_rec: float = option(10.0, min=0.0, help="L1 restoration with the right passcode")
    lambda_id: float = option(2.0, min=0.0, help="identity margins (anonymized, wrong restoration, two passcodes)")
    identity: str = option("random", choices=("random", "learned"),
                           help="space of the identity margins: fixed random conv features, or an encoder trained "
                                "alongside by instance discrimination (invariant to its augmentations)")
    id_margin: float = option(0.6, min=0.0, help="the identity margins as a fraction of the distance between two "
                                                 "people of the batch (who also differ in pose and lighting)")
    lambda_low: float = option(1.0, min=0.0, help="L1 of the 1/low_pool low-pass image: keeps pose and lighting")
    low_pool: int = option(8, min=1, help="average-pool factor of the low-pass term")
    flip: bool = option(True, help="random horizontal flips of training faces")
    channel: bool = option(True, help="restore from the anonymized face after what a photo does to it: resized up "
                                      "(x1..x4, bicubic) and back down, and 8-bit rounding (robust restoration)")
    lr: float = option(2e-4, min=0.0)
    beta1: float = option(0.5, min=0.0, max=1.0)
    beta2: float = option(0.999, min=0.0, max=1.0)

    def validate(self) -> None:
        """Cross-field checks."""
        if self.image_size % 4:
            raise ConfigError(f"model.image_size must be a multiple of 4 (two stride-2 convolutions), got "
                              f"{self.image_size}.")


def parse_passcode(passcode: Any, bits: int) -> torch.Tensor:
    """A passcode as a float tensor of ``bits`` zeros and ones. Accepts a string of 0/1 digits of exactly that
    length ("0110..."), a hex string "0x..." of bits/4 digits, or a sequence/tensor of 0/1 values."""
    if isinstance(passcode, str):
        text = passcode.strip().replace("_", "").replace(" ", "")
        if text.lower().startswith("0x"):
            digits = text[2:]
            if bits % 4 or len(digits) != bits // 4 or any(ch not in "0123456789abcdefABCDEF" for ch in digits):
                raise ConfigError(f"a hex passcode for this model has {bits // 4} hex digits after 0x ({bits} bits)"
                                  f"{'' if bits % 4 == 0 else ' — this model has a bit count not divisible by 4'}"
                                  f"; got {passcode!r} ({len(digits)} digits).")
            text = bin(int(digits, 16))[2:].zfill(bits)
        if len(text) != bits or set(text) - {"0", "1"}:
            what = "characters other than 0 and 1" if set(text) - {"0", "1"} else f"{len(text)} digits"
            raise ConfigError(f"the passcode must be exactly {bits} binary digits (0/1), e.g. "
                              f"{'01' * (bits // 2)}{'0' * (bits % 2)}; got {what}.")
        return torch.tensor([float(ch) for ch in text])
    t = torch.as_tensor(passcode, dtype=torch.float32).flatten()
    if t.numel() != bits or not bool(((t == 0) | (t == 1)).all()):
        raise ConfigError(f"the passcode must be {bits} values of 0 or 1, got {t.numel()} values.")
    return t


def format_passcode(bits01: torch.Tensor) -> str:
    """The 0/1 string of a passcode tensor."""
    return "".join(str(int(b)) for b in bits01.flatten().tolist())


def random_passcode(bits: int) -> str:
    """A passcode drawn from the operating system's secure random source."""
    return format(secrets.randbits(bits), f"0{bits}b")


class Anonymizer(GenerativeModel):
    """Face x + passcode -> another face; the inverse code on that face restores x."""

    Config = AnonymizerConfig
    data_kind = "images"
    task = "anonymize"
    translate_options = frozenset({"restore"})
    translate_requires = ("passcode",)
    ema_nets = ("G",)
    frozen_modules = ("features",)
    val_splits = ("test",)
    grid_nrow = val_grid_nrow = 5  # original | anonymized | restored | wrong passcode | second passcode
    grid_columns = ("original", "anonymized", "restored", "wrong code", "2nd code")
    train_defaults = {"data": {"batch_size": 16}, "train": {"steps": 3000}}

    def __init__(self, cfg: AnonymizerConfig):
        super().__init__(cfg)
        self.nets = {"G": PasscodeGenerator(cfg.channels, cfg.bits, cfg.ngf, cfg.n_blocks, cfg.norm, cfg.residual),
                     "D": PatchCritic(cfg.channels, cfg.ndf)}
        if cfg.identity == "learned":
            self.nets["E"] = IdentityEncoder(cfg.channels)
        for net in self.nets.values():
            init_normal_02(net)
        betas = (cfg.beta1, cfg.beta2)
        self.optimizers = {k: adam(n.parameters(), lr=cfg.lr, betas=betas) for k, n in self.nets.items()}
        self.features = RandomFeatures(cfg.channels)

    # ----- codes --------------------------------------------------------------------------------
    def code(self, passcode: Any, restore: bool = False) -> torch.Tensor:
        """The generator's 1 x bits code of a passcode: 2p - 1 to anonymize, its negation to restore."""
        c = 2 * parse_passcode(passcode, self.cfg.bits) - 1
        return (-c if restore else c)[None].to(self.device)

    def _random_bits(self, n: int, gen: torch.Generator | None = None) -> torch.Tensor:
        return torch.randint(0, 2, (n, self.cfg.bits), generator=gen).float()

    def _wrong_bits(self, p: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
        """``p`` with k in 1..bits randomly chosen bits flipped (per row): wrong passcodes, near misses included."""
        n, bits = p.shape
        k = torch.randint(1, bits + 1, (n, 1), generator=gen)
        ranks = torch.rand(n, bits, generator=gen).argsort(1).argsort(1)
        return torch.where(ranks < k, 1 - p, p)

    # ----- training -----------------------------------------------------------------------------
    def training_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """D on real faces vs anonymized faces and wrong restorations; then G on realism + restoration + identity
        margins + low-pass."""
        x = batch["image"]
        cfg, G, D = self.cfg, self.nets["G"], self.nets["D"]
        n = x.shape[0]
        if cfg.flip:
            flip = torch.rand(n, device=x.device) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        p = self._random_bits(n).to(x.device)
        p2 = self._random_bits(n).to(x.device)
        wrong = self._wrong_bits(p.cpu()).to(x.device)
        c, c2, cw = 2 * p - 1, 2 * p2 - 1, 2 * wrong - 1
        anon = G(x, c)
        seen = self._channel(anon) if cfg.channel else anon
        restored = G(seen, -c)
        wrong_restored = G(seen, -cw)
        anon2 = G(x, c2)

        out_e: dict[str, torch.Tensor] = {}
        if "E" in self.nets:  # the identity encoder learns on real faces only
            loss_e = losses.contrastive_loss(self.nets["E"](augment_views(x)), self.nets["E"](augment_views(x)))
            self.optimize("E", loss_e)
            out_e["loss/E"] = loss_e.detach()

        fakes = torch.cat([anon, wrong_restored]).detach()
        loss_d = 0.5 * losses.d_loss(cfg.gan_loss, D(x), D(fakes))
        self.optimize("D", loss_d)

        with self.frozen(*[k for k in ("D", "E") if k in self.nets]):
            adv = losses.g_loss(cfg.gan_loss, D(torch.cat([anon, wrong_restored])))
            rec = losses.l1(restored, x)
            feats = self.nets["E"] if "E" in self.nets else self.features
            other = feats.distance(x, x.roll(1, 0)).detach().mean() if n > 1 else torch.tensor(0.8)
            margin = cfg.id_margin * other
            differ = (p != p2).any(1).float()
            ident = (F.relu(1 - feats.distance(anon, x) / margin).mean()
                     + F.relu(1 - feats.distance(wrong_restored, x) / margin).mean()
                     + (differ * F.relu(1 - feats.distance(anon, anon2) / margin)).mean())
            low = losses.l1(F.avg_pool2d(anon.float(), cfg.low_pool), F.avg_pool2d(x.float(), cfg.low_pool))
            loss_g = cfg.lambda_adv * adv + cfg.lambda_rec * rec + cfg.lambda_id * ident + cfg.lambda_low * low
            self.optimize("G", loss_g)
        return {"loss/D": loss_d.detach(), "loss/G_adv": adv.detach(), "loss/G_rec": rec.detach(),
                "loss/G_id": ident.detach(), "loss/G_low": low.detach(), **out_e}

    def _channel(self, face: torch.Tensor) -> torch.Tensor:
        """What pasting into a photo does to an anonymized face before it is restored: resized to a random size
        1..4 x larger (bicubic, as ``translate`` does) and back down (antialiased bilinear), then 8-bit rounding
        (as uniform noise of one grey level, which keeps the gradient)."""
        s = face.shape[-1]
        size = int(s * float(torch.empty(()).uniform_(1.0, 4.0)))
        if size > s:
            up = F.interpolate(face, size=(size, size), mode="bicubic", align_corners=False)
            face = F.interpolate(up, size=face.shape[-2:], mode="bilinear", align_corners=False, antialias=True)
        return face + (torch.rand_like(face) - 0.5) / 127.5

    # ----- inference ----------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, x: torch.Tensor | None = None, code: torch.Tensor | None = None, **_: Any) -> torch.Tensor:
        """T(x, code) for N x C x S x S faces (S = image_size) and N (or 1) x bits codes in {-1, +1}."""
        if x is None or code is None:
            raise ConfigError("the anonymizer transforms faces: pass x (N x C x H x W in [-1, 1]) and a code.")
        x = x.to(self.device).float()
        code = torch.as_tensor(code, dtype=torch.float32, device=self.device).reshape(-1, self.cfg.bits)
        if code.shape[0] == 1:
            code = code.expand(x.shape[0], -1)
        if code.shape[0] != x.shape[0]:
            raise ConfigError(f"{code.shape[0]} codes for {x.shape[0]} faces: give one code, or one per face.")
        return self.net("G")(x, code).float()

    @torch.no_grad()
    def translate(self, image, passcode: Any, restore: bool = False):
        """Anonymize (or, with ``restore``, de-anonymize) a face crop of any size: a path or PIL image (returns
        PIL), a uint8 array (returns one), or a C x H x W / N x C x H x W tensor in [-1, 1] (same shape). The
        crop is resized to ``image_size``, transformed and resized back; colour crops are transformed on their
        luminance when the model is grey (colour is kept)."""
        code = self.code(passcode, restore)
        image, kind = as_image_input(image, self.cfg.channels)
        if kind == "tensor":
            x = torch.as_tensor(image).float()
            squeeze = x.dim() == 3
            x = x[None] if squeeze else x
            y = self._run_any_size(x, code)
            return y[0] if squeeze else y
        import numpy as np
        from PIL import Image

        rgb = image.convert("RGB") if self.cfg.channels == 1 and image.mode not in ("L", "1", "I", "F") else None
        if rgb is not None:  # grey model on a colour face: transform Y, keep Cb and Cr
            y_chan, cb, cr = rgb.convert("YCbCr").split()
            out = tensor_to_pil(self._run_any_size(pil_to_tensor(y_chan, 1), code))
            result = Image.merge("YCbCr", (out, cb, cr)).convert("RGB")
        else:
            result = tensor_to_pil(self._run_any_size(pil_to_tensor(image, self.cfg.channels), code))
        return np.asarray(result) if kind == "array" else result

    def _run_any_size(self, x: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        s = self.cfg.image_size
        h, w = x.shape[-2:]
        if x.shape[1] != self.cfg.channels:
            if x.shape[1] == 3 and self.cfg.channels == 1:
                x = x.mean(1, keepdim=True)
            elif x.shape[1] == 1 and self.cfg.channels == 3:
                x = x.expand(-1, 3, -1, -1)
            else:
                raise ConfigError(f"the anonymizer takes {self.cfg.channels}-channel faces, got {x.shape[1]}.")
        if (h, w) != (s, s):
            x = F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False, antialias=True)
        y = self.generate(x, code).cpu()
        if (h, w) != (s, s):
            y = F.interpolate(y, size=(h, w), mode="bicubic", align_corners=False).clamp(-1, 1)
        return y

    def export_spec(self, size: int | None = None, direction: str = "AtoB"):
        """T(face, code): inputs ``face`` (N x C x H x W in [-1, 1], H and W multiples of 4; trained at
        image_size) and ``code`` (N x bits: 2 * passcode - 1 to anonymize, its negation to restore)."""
        G = self.net("G").eval()
        code = 2 * self._random_bits(1, torch.Generator().manual_seed(0)) - 1
        spec = image_spec(lambda x, c: G(x, c), {"G": G}, self.cfg.channels, size or self.cfg.image_size, 4,
                          name="face", extra=(("code", code),))
        spec.note = (f"inputs: face N x {self.cfg.channels} x H x W in [-1, 1] (trained at {self.cfg.image_size} px), "
                     f"code N x {self.cfg.bits} = 2 * passcode bits - 1 (restore: its negation)")
        return spec

    def anonymize(self, image, passcode: Any):
        """``translate(image, passcode)``."""
        return self.translate(image, passcode)

    def restore(self, image, passcode: Any):
        """``translate(image, passcode, restore=True)``: the original face back with the right passcode."""
        return self.translate(image, passcode, restore=True)

    # ----- grids and validation -----------------------------------------------------------------
    def fixed_inputs(self, n: int, seed: int, batch: dict[str, Any] | None = None) -> dict[str, Any]:
        """The first training faces with fixed passcodes (right, wrong and a second one)."""
        if batch is None:
            return {}
        k = min(GRID_FACES, n, batch["image"].shape[0])
        gen = torch.Generator().manual_seed(seed)
        p = self._random_bits(k, gen)
        return {"x": batch["image"][:k], "p": p, "wrong": self._wrong_bits(p, gen), "p2": self._random_bits(k, gen)}

    @torch.no_grad()
    def _outputs(self, x: torch.Tensor, p: torch.Tensor, wrong: torch.Tensor, p2: torch.Tensor):
        x = x.to(self.device).float()
        c, cw, c2 = (2 * t.to(self.device) - 1 for t in (p, wrong, p2))
        anon = self.generate(x, c)
        return x, anon, self.generate(anon, -c), self.generate(anon, -cw), self.generate(x, c2)

    @torch.no_grad()
    def sample_grid(self, fixed: dict[str, Any]) -> torch.Tensor:
        """One row per face: original | anonymized | restored (right passcode) | wrong passcode | second passcode."""
        cols = self._outputs(fixed["x"], fixed["p"], fixed["wrong"], fixed["p2"])
        return torch.stack(cols, 1).flatten(0, 1)

    @torch.no_grad()
    def validate(self, batches) -> tuple[dict[str, float], torch.Tensor | None]:
        """On held-out faces (fixed passcodes, seed 0): restoration L1 with the right passcode, a random wrong one
        and a one-bit-off one; how far anonymized faces are from the originals (pixel L1, random-feature
        distance) relative to another person (the next face of the batch)."""
        gen = torch.Generator().manual_seed(0)
        sums: dict[str, float] = {}
        n, n_other, grid, prev = 0, 0, None, None
        for batch in batches:
            x = batch["image"].float()
            k = x.shape[0]
            p = self._random_bits(k, gen)
            one_off = p.clone()
            idx = torch.randint(0, self.cfg.bits, (k,), generator=gen)
            one_off[torch.arange(k), idx] = 1 - one_off[torch.arange(k), idx]
            x, anon, restored, wrong, anon2 = self._outputs(x, p, self._wrong_bits(p, gen), self._random_bits(k, gen))
            one = self.generate(anon, -(2 * one_off.to(self.device) - 1))
            dist = self.features.distance
            vals = {"restore_L1_right": (restored - x).abs().mean((1, 2, 3)),
                    "restore_L1_wrong": (wrong - x).abs().mean((1, 2, 3)),
                    "restore_L1_one_bit_off": (one - x).abs().mean((1, 2, 3)),
                    "anon_L1": (anon - x).abs().mean((1, 2, 3)),
                    "anon_feature_dist": dist(anon, x),
                    }
            for key, v in vals.items():
                sums[key] = sums.get(key, 0.0) + float(v.sum())
            # another person: the previous face (of this batch, or the last one of the previous batch)
            others = torch.cat([prev, x]) if prev is not None else x
            if others.shape[0] > 1:
                d = dist(others[:-1], others[1:])
                sums["other_person_feature_dist"] = sums.get("other_person_feature_dist", 0.0) + float(d.sum())
                n_other += d.shape[0]
            n += k
            prev = x[-1:]
            if grid is None:
                grid = torch.stack([x, anon, restored, wrong, anon2], 1).flatten(0, 1)[:5 * GRID_FACES].cpu()
        out = {key: v / max(n, 1) for key, v in sums.items() if key != "other_person_feature_dist"}
        if n_other:
            out["other_person_feature_dist"] = sums["other_person_feature_dist"] / n_other
        return out, grid
