"""One demo per kind of model, pure (no Gradio): what a tab offers follows the task the model declares
(``demo_for``), never its name; each demo's handlers take the form values and uploads and return images."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from condgen.errors import ConfigError, DataError, ModelError
from condgen.serve.inputs import _int, _Limits

MAX_GRID = 64  # samples per grid
CANVAS_SIDE = 256  # default painting canvas for semantic models

# One model call at a time: the verbs use the global torch RNG (pix2pix dropout) and share the CPU threads.
_LOCK = threading.Lock()


class GeneratorDemo:
    """Noise-driven generators (gan, dcgan, cgan): a grid of samples, a class, a seed, a latent walk."""

    kind = "generator"

    def __init__(self, model, limits: _Limits):
        self.model, self.limits = model, limits
        self.num_classes = int(getattr(model.cfg, "num_classes", 0) or 0)

    def _labels(self, label: Any, n: int) -> torch.Tensor | None:
        if not self.num_classes:
            return None
        k = -1 if label is None or label == "" else _int(label, "class", -1, self.num_classes - 1)
        return torch.arange(n) % self.num_classes if k < 0 else torch.full((n,), k, dtype=torch.long)

    def sample(self, seed: Any = 0, n: Any = 16, label: Any = -1) -> Image.Image:
        """A grid of ``n`` samples (codes drawn with ``seed``; cell i = code i, as ``condgen sample``)."""
        from condgen import latent
        from condgen.train.images import make_grid_image

        seed, n = _int(seed, "seed"), _int(n, "number of samples", 1, MAX_GRID)
        with _LOCK:
            z = latent.codes_for_seed(self.model, seed, n)
            imgs = self.model.generate(z=z, labels=self._labels(label, n)).cpu()
        return make_grid_image(imgs, nrow=int(max(1, round(n ** 0.5))))

    def walk(self, seed_a: Any = 0, seed_b: Any = 1, t: Any = 0.5, label: Any = -1) -> Image.Image:
        """The image at ``t`` in [0, 1] on the slerp path from seed A's code to seed B's code."""
        from condgen import latent
        from condgen.translate import tensor_to_pil

        seed_a, seed_b = _int(seed_a, "seed A"), _int(seed_b, "seed B")
        try:
            t = float(t)
        except (TypeError, ValueError):
            raise ConfigError(f"the walk position must be a number in 0..1, got {t!r}.") from None
        if not 0.0 <= t <= 1.0:
            raise ConfigError(f"the walk position must be in 0..1, got {t}.")
        with _LOCK:
            z0 = latent.codes_for_seed(self.model, seed_a, 1)[0]
            z1 = latent.codes_for_seed(self.model, seed_b, 1)[0]
            z = latent.slerp(z0, z1, t)
            img = self.model.generate(z=z, labels=self._labels(label, 1)).cpu()
        return tensor_to_pil(img)


class TranslatorDemo:
    """Image-to-image models: ``translate`` (pix2pix, cyclegan, unit, munit), ``upscale`` (srresnet, srgan),
    ``stylize`` (style). Any input size: the verbs pad and tile."""

    kind = "translator"

    def __init__(self, model, limits: _Limits):
        self.model, self.limits = model, limits
        self.verb = model.task  # "translate", "upscale" or "stylize": the verb of that name
        self.two_way = bool(getattr(model, "two_way", False))
        self.styles = bool(getattr(model, "supports_styles", False))
        self.scale = int(getattr(model.cfg, "scale", 1) or 1) if self.verb == "upscale" else 1
        self.has_eval_switch = (self.verb == "translate" and not self.two_way
                                and "eval_mode" in getattr(model, "translate_options", ()))

    def channels(self, direction: str = "AtoB") -> int:
        """Channels of the input images (of ``direction``'s source domain)."""
        if self.two_way:
            return self.model.input_channels(direction)
        if self.verb == "stylize":
            return 3
        cfg = self.model.cfg
        return int(getattr(cfg, "in_channels", getattr(cfg, "channels", 3)))

    def run(self, image: Any, direction: str = "AtoB", seed: Any = 0, style_image: Any = None) -> Image.Image:
        """The output for an uploaded image (``direction`` for two-way models; ``seed`` for test-time noise and
        random styles; ``style_image``: take the style from an example of the target domain, munit)."""
        seed = _int(seed, "seed")
        kwargs: dict[str, Any] = {}
        if self.two_way:
            from condgen.models.unpaired import check_direction

            direction = check_direction(direction or "AtoB")
            kwargs["direction"] = direction
        else:
            direction = "AtoB"
        # the input of an upscaler is limited so that its output stays within the pixel limit too
        img = self.limits.open(image, self.channels(direction),
                               max_pixels=max(1, self.limits.max_pixels // (self.scale ** 2)))
        if self.styles:
            kwargs["seed"] = seed
            if style_image not in (None, ""):
                target = "BtoA" if direction == "AtoB" else "AtoB"  # the style image is of the target domain
                kwargs["style_image"] = self.limits.open(style_image, self.model.input_channels(target), "style image")
        with _LOCK:
            torch.manual_seed(seed)
            out = getattr(self.model, self.verb)(img, **kwargs)
        if isinstance(out, list):
            out = out[0]
        return out


class AnonymizerDemo:
    """Passcode-conditioned face anonymizers (models with ``anonymize`` and ``restore``): upload a photo, give a
    passcode, anonymize its detected faces, or restore them (faces detected again: approximate where the detector
    places the box differently; the CLI keeps the boxes for exact restoration)."""

    kind = "anonymizer"

    def __init__(self, model, limits: _Limits):
        self.model, self.limits = model, limits

    def run(self, image: Any, passcode: Any = "", restore: Any = False, whole: Any = False) -> tuple[Image.Image, str]:
        """(output photo, status line) for an uploaded photo; an empty passcode draws a new one (shown)."""
        from condgen.anonymize import anonymize_frame, resolve_passcode
        from condgen.faces import detect_faces

        text, _ = resolve_passcode(passcode, self.model.cfg.bits, bool(restore),
                                   "restoring needs the passcode the faces were anonymized with.")
        img = np.asarray(self.limits.open(image, 3, "photo"))
        with _LOCK:
            boxes = [] if whole else detect_faces(img)
            out = anonymize_frame(self.model, img, text, boxes, bool(restore), bool(whole))
            n = 1 if whole else len(boxes)
        verb = "restored" if restore else "anonymized"
        status = (f"{verb} {n} face(s) with passcode {text}" if n else
                  "no face found: the photo is unchanged (try 'the whole image is one face' for a face crop)")
        return Image.fromarray(out), status


class SemanticDemo:
    """Semantic image synthesis (models with ``cfg.label_nc`` and ``translate(label_map, seed, style_image)``):
    upload a label map of class ids (or one coloured with the class palette), or paint one."""

    kind = "semantic"

    def __init__(self, model, limits: _Limits):
        self.model, self.limits = model, limits
        self.label_nc = int(model.cfg.label_nc)
        # SPADE takes a style image only with its VAE; SEAN always (region styles from an example photo)
        self.uses_regions = "region_styles" in getattr(model, "translate_options", ())
        self.uses_style = bool(getattr(model.cfg, "use_vae", False)) or self.uses_regions
        from condgen.nn.labels import label_palette

        self.palette = label_palette(self.label_nc).numpy()  # label_nc x 3 uint8

    def canvas_size(self) -> tuple[int, int]:
        """(width, height) of the painting canvas: the model's training aspect (short side at least 256, long side
        at most 1024) when it says, else 256 x 256."""
        try:
            h, w = (int(v) for v in self.model.training_size())
        except Exception:  # noqa: BLE001 - any model without a usable training size gets the default canvas
            return CANVAS_SIDE, CANVAS_SIDE
        f = max(1.0, CANVAS_SIDE / max(1, min(h, w)))
        f = min(f, 1024 / max(1, h * f, w * f) * f)
        return max(1, round(w * f)), max(1, round(h * f))

    def colorize(self, ids: np.ndarray) -> Image.Image:
        """A map of ids as an RGB image in the palette (don't-care and unknown ids black)."""
        pal = np.concatenate([self.palette, np.zeros((1, 3), np.uint8)])
        idx = np.where(ids < self.label_nc, ids, self.label_nc)
        return Image.fromarray(pal[idx])

    def ids_from_colours(self, rgb: np.ndarray, exact: bool) -> np.ndarray:
        """Class ids for an H x W x 3 image in palette colours: exact colours (an uploaded map; other colours are a
        DataError) or the nearest palette colour (a painting, whose brush edges are antialiased)."""
        flat = rgb.reshape(-1, 3).astype(np.int32)
        colours, inverse = np.unique(flat, axis=0, return_inverse=True)
        d = ((colours[:, None, :] - self.palette[None].astype(np.int32)) ** 2).sum(-1)
        nearest = d.argmin(1)
        if exact:
            bad = d[np.arange(len(colours)), nearest] > 0
            if bad.any():
                raise DataError(f"the label map is a colour image with {int(bad.sum())} colour(s) that are not in "
                                f"this model's class palette: upload a map of class ids (grey or palette PNG, ids "
                                f"0..{self.label_nc - 1}, 255 = don't care) or paint one in the demo.")
        return nearest[inverse.reshape(-1)].reshape(rgb.shape[:2]).astype(np.uint8)

    def read_label_map(self, upload: Any) -> np.ndarray:
        """An uploaded label map as H x W uint8 ids, through condgen's checked readers."""
        from condgen.data.images import UnreadableImageError, open_image
        from condgen.data.semantic import read_label

        with self.limits.held(upload, "label map") as path:
            try:
                return read_label(path)
            except UnreadableImageError:
                raise
            except DataError:  # a colour image: accept the demo's own palette colours
                return self.ids_from_colours(np.asarray(open_image(path, 3)), exact=True)

    def check_ids(self, ids: np.ndarray) -> None:
        """DataError for ids outside 0..label_nc-1 (255, don't care, is allowed)."""
        bad = np.unique(ids[(ids >= self.label_nc) & (ids != 255)])
        if bad.size:
            raise DataError(f"the label map holds class id(s) {', '.join(map(str, bad[:8].tolist()))}, but this model "
                            f"knows ids 0..{self.label_nc - 1} (255 = don't care).")

    def synthesize(self, ids: np.ndarray, seed: Any = 0, style_image: Any = None, region_class: Any = None,
                   region_image: Any = None) -> tuple[Image.Image, Image.Image]:
        """(the colourised map, the synthesised image) for a map of ids; SEAN-like models also take one class's
        style from ``region_image``."""
        seed = _int(seed, "seed")
        self.check_ids(ids)
        kwargs: dict[str, Any] = {"seed": seed}
        if style_image not in (None, ""):
            if not self.uses_style:
                raise ConfigError("this model maps each label map to one image; it takes no style image.")
            kwargs["style_image"] = self.limits.open(style_image, 3, "style image")
        if region_image not in (None, ""):
            if not self.uses_regions:
                raise ConfigError("this model has no per-region styles.")
            cls = _int(region_class, "region class")
            if not 0 <= cls < self.label_nc:
                raise ConfigError(f"region class {cls} is not one of this model's ids 0..{self.label_nc - 1}.")
            kwargs["region_styles"] = {cls: self.limits.open(region_image, 3, "region style image")}
        with _LOCK:
            out = self.model.translate(Image.fromarray(ids, mode="L"), **kwargs)
        return self.colorize(ids), out

    def run(self, label_map: Any, seed: Any = 0, style_image: Any = None, region_class: Any = None,
            region_image: Any = None) -> tuple[Image.Image, Image.Image]:
        """Synthesise from an uploaded label map."""
        return self.synthesize(self.read_label_map(label_map), seed, style_image, region_class, region_image)

    def paint(self, editor: Any, seed: Any = 0, style_image: Any = None, region_class: Any = None,
              region_image: Any = None) -> tuple[Image.Image, Image.Image]:
        """Synthesise from a painting (an ImageEditor value whose composite is in palette colours)."""
        comp = editor.get("composite") if isinstance(editor, dict) else None
        if comp is None:
            raise DataError("nothing painted yet: paint a label map with the class colours first.")
        arr = np.asarray(comp)
        if arr.ndim == 2:
            arr = np.stack([arr] * 3, -1)
        ids = self.ids_from_colours(arr[..., :3], exact=False)
        return self.synthesize(ids, seed, style_image, region_class, region_image)

    def blank_canvas(self) -> np.ndarray:
        """A canvas filled with class 0's colour."""
        w, h = self.canvas_size()
        return np.broadcast_to(self.palette[0], (h, w, 3)).copy()


def demo_for(model, limits: _Limits):
    """The demo for a model, chosen by the task it declares (``model.task``), never by its name; ModelError when
    the demo knows no such task."""
    demos = {"synthesize": SemanticDemo, "anonymize": AnonymizerDemo, "translate": TranslatorDemo,
             "upscale": TranslatorDemo, "stylize": TranslatorDemo, "sample": GeneratorDemo}
    task = getattr(model, "task", None)
    if task not in demos:
        raise ModelError(f"model {model.run_config.model_name} has no verb the demo knows (its task {task!r} is "
                         f"none of {', '.join(demos)}).")
    return demos[task](model, limits)


def load_runs(runs: Sequence[Any], device: str) -> list[tuple[str, Any]]:
    """(tab title, model) for run folders / weights files, or already loaded models (or (title, model) pairs)."""
    import condgen

    out, seen = [], set()
    for r in runs:
        if isinstance(r, tuple):
            title, model = r
        elif isinstance(r, (str, Path)):
            model = condgen.load(r, device=device)
            title = f"{Path(r).name} ({model.run_config.model_name})"
        else:
            model, title = r, r.run_config.model_name
        base, k = title, 2
        while title in seen:
            title, k = f"{base} [{k}]", k + 1
        seen.add(title)
        out.append((title, model))
    if not out:
        raise ConfigError("give at least one run to serve: condgen serve RUN [RUN ...].")
    return out
