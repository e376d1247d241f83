"""The web demo: ``condgen serve RUN [RUN ...]`` starts a Gradio app with one tab per loaded run.

What a tab offers follows the model's verbs, not its name, so new models plug in: ``sample_z`` + ``generate``
(generators: a sample grid, a class, a seed, a latent walk), ``cfg.label_nc`` + ``translate`` (semantic synthesis:
upload or paint a label map), ``translate`` / ``upscale`` / ``stylize`` (image translators: upload an image).

Safe by default: bound to 127.0.0.1, uploads limited in bytes (Gradio's ``max_file_size``, and a cap on the bytes
held at once) and in pixels (checked from the header through condgen's decompression-bomb guard before anything
decodes), images read only through condgen's own open functions and only from files this server received as uploads
(``condgen.uploads``: real paths inside the upload folder; every upload deleted when its request ends), no path
inputs (only the runs given on the command line are reachable, and Gradio serves no extra folders), no share link,
no analytics; a user's mistake is shown as a short message (the CondgenError text) and the server keeps serving.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import types
from collections.abc import Callable, Iterator, Sequence
from functools import wraps
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from condgen.errors import CondgenError, ConfigError, DataError, MissingDependencyError, ModelError
from condgen.uploads import UploadStore, release_all, request

# Set before gradio is imported anywhere: no version check or telemetry calls home.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

log = logging.getLogger(__name__)

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
DEFAULT_MAX_PIXELS = 16_000_000  # per uploaded image (4000 x 4000); SR inputs get this / scale^2
DEFAULT_MAX_UPLOAD_MB = 20
HELD_UPLOADS = 4  # the bytes of uploads held at once are capped at this many uploads of the largest size
MAX_GRID = 64  # samples per grid
MAX_SEED = 2**63 - 1
CANVAS_SIDE = 256  # default painting canvas for semantic models

# One model call at a time: the verbs use the global torch RNG (pix2pix dropout) and share the CPU threads.
_LOCK = threading.Lock()


def _gradio():
    """The gradio module, or a MissingDependencyError saying how to install it."""
    try:
        import gradio as gr
    except ImportError:
        raise MissingDependencyError.extra("the web demo", "demo", "gradio") from None
    return gr


# ----- turning errors into short messages ----------------------------------------------------------------------
def user_errors(fn: Callable) -> Callable:
    """Wrap a handler: a CondgenError becomes a gr.Error with its text; any other exception is logged on the server
    and shown as a one-line internal error (never a traceback in the page). The uploads among the arguments are
    released (their files deleted) when the call ends, whatever its outcome."""
    @wraps(fn)
    def wrapper(*args, **kwargs):
        gr = _gradio()
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except CondgenError as e:
            raise gr.Error(str(e), print_exception=False) from None
        except Exception as e:  # noqa: BLE001 - the server must keep serving whatever a request does
            log.exception("demo request failed")
            raise gr.Error(f"internal error ({type(e).__name__}); the server log has the details.",
                           print_exception=False) from None
        finally:
            release_all([*args, *kwargs.values()])
    return wrapper


# ----- inputs ------------------------------------------------------------------------------------------------
def _int(value: Any, what: str, lo: int = 0, hi: int = MAX_SEED) -> int:
    """An integer form value in lo..hi, or a ConfigError naming the field."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be a whole number, got {value!r}.") from None
    if not f.is_integer() or not lo <= f <= hi:
        raise ConfigError(f"{what} must be a whole number in {lo}..{hi}, got {value!r}.")
    return int(f)


def _display(e: CondgenError, path: Path) -> CondgenError:
    """The error with the server's temporary path replaced by 'the upload' (the user never saw that path)."""
    msg = str(e).replace(f"image {path}: ", "the upload: ").replace(str(path), "the upload")
    return (DataError if isinstance(e, DataError) else CondgenError)(msg)


class _Limits:
    """Byte and pixel limits of uploads, and the store of the upload files that may be read."""

    def __init__(self, max_pixels: int, max_bytes: int | None, store: UploadStore | None = None):
        self.max_pixels, self.max_bytes = int(max_pixels), max_bytes
        self.store = store or UploadStore(upload_folder(), max_bytes,
                                          None if max_bytes is None else HELD_UPLOADS * max_bytes)

    @contextlib.contextmanager
    def held(self, upload: Any, what: str, max_pixels: int | None = None) -> Iterator[Path]:
        """The file of an upload value, within the store and the pixel limit (header only, condgen's
        decompression-bomb guard); the upload is released (its file deleted) when the block ends. A CondgenError
        inside names 'the upload', never the server's path."""
        from condgen.data.images import check_image_size

        if upload is None or upload == "":
            raise DataError(f"no {what}: upload an image first.")
        up = self.store.accept(upload)
        try:
            check_image_size(up.path, max_pixels or self.max_pixels)
            yield up.path
        except CondgenError as e:
            raise _display(e, up.path) from None
        finally:
            up.release()

    def open(self, upload: Any, channels: int, what: str = "input image", max_pixels: int | None = None):
        """An uploaded image as an 8-bit L/RGB PIL image, read through condgen's checked opener."""
        from condgen.data.images import open_image

        with self.held(upload, what, max_pixels) as path:
            return open_image(path, channels)


def upload_folder() -> str:
    """Gradio's upload folder (``GRADIO_TEMP_DIR`` or TMP/gradio): the only place uploads are read from."""
    return _gradio().utils.get_upload_folder()


class _Received:
    """Gradio's record of the files it received as uploads (``Blocks.upload_file_set``), by real path."""

    def __init__(self, blocks):
        self.blocks = blocks

    def _by_real_path(self) -> dict[str, str]:
        return {os.path.realpath(p): p for p in list(self.blocks.upload_file_set)}

    def __contains__(self, real: object) -> bool:
        return real in self._by_real_path()

    def discard(self, real: str) -> None:
        self.blocks.upload_file_set.discard(self._by_real_path().get(real))


# ----- one demo per kind of model ---------------------------------------------------------------------------
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


# ----- gradio components that never let gradio decode an upload --------------------------------------------
# (The hooks are set on the instances: subclassing a gradio component makes gradio write a .pyi stub next to this
# file.)
def _components(limits: _Limits):
    """Factories (upload image, paint canvas) of gradio components whose uploads are checked by condgen."""
    gr = _gradio()

    def preprocess(self, payload):
        """Hand the handler the upload unopened (gr.Image would PIL-open it first), as an Upload of condgen's store:
        only a file this server received (or a data: URL) passes; the handler reads it through condgen's checked
        opener, so a bad upload gets condgen's message, and the request's end deletes it."""
        if payload is None:
            return None
        try:
            return limits.store.accept(payload)
        except CondgenError as e:
            raise gr.Error(str(e), print_exception=False) from None

    def upload_image(**kwargs):
        img = gr.Image(type="filepath", image_mode=None, **kwargs)
        img.preprocess = types.MethodType(preprocess, img)
        return img

    def paint_canvas(**kwargs):
        canvas = gr.ImageEditor(**kwargs)
        convert = canvas.convert_and_format_image

        def checked_convert(file, flatten_on_white: bool = False):
            """Each layer from condgen's store (a file this server received, or the bytes sent) and through its
            pixel-count guard before gradio decodes it; the layer's file is deleted once decoded."""
            if file is None:
                return convert(file, flatten_on_white)
            try:
                raw = isinstance(file, (bytes, bytearray, memoryview))
                upload = limits.store.add_bytes(bytes(file)) if raw else limits.store.accept(file)
                with limits.held(upload, "painted layer") as path:
                    return convert(file if raw else file.model_copy(update={"path": str(path)}), flatten_on_white)
            except CondgenError as e:
                raise gr.Error(str(e), print_exception=False) from None

        canvas.convert_and_format_image = checked_convert
        return canvas

    return upload_image, paint_canvas


# ----- the app -----------------------------------------------------------------------------------------------
def _load(runs: Sequence[Any], device: str) -> list[tuple[str, Any]]:
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


def build_app(runs: Sequence[Any], device: str = "cpu", max_pixels: int = DEFAULT_MAX_PIXELS,
              max_upload_mb: float | None = DEFAULT_MAX_UPLOAD_MB):
    """A gr.Blocks with one tab per run (run folders, weights files or loaded models). The demos behind the tabs
    are in ``app.condgen_demos`` (title -> demo) and their handlers can be called directly."""
    gr = _gradio()
    limits = _Limits(max_pixels, None if max_upload_mb is None else int(max_upload_mb * 1e6))
    loaded = [(title, demo_for(model, limits)) for title, model in _load(runs, device)]
    UploadImage, PaintCanvas = _components(limits)
    # delete_cache: uploads no request used and outputs are deleted after half an hour
    with gr.Blocks(title="condgen demo", analytics_enabled=False, delete_cache=(600, 1800)) as app:
        limits.store.received = _Received(app)
        gr.Markdown("# condgen demo\nOne tab per loaded run. Uploads: at most "
                    f"{limits.max_pixels / 1e6:.0f} megapixels"
                    + (f" and {max_upload_mb:g} MB." if max_upload_mb else "."))
        for k, (title, demo) in enumerate(loaded):
            with gr.Tab(title):
                # element ids are tab<k>-<name>, e.g. tab0-input, tab0-run, tab0-output
                {"generator": _generator_tab, "translator": _translator_tab, "semantic": _semantic_tab,
                 "anonymizer": _anonymizer_tab}[demo.kind](gr, lambda name, k=k: f"tab{k}-{name}", demo, UploadImage,
                                                       PaintCanvas)
    app.condgen_demos = dict(loaded)
    app.condgen_uploads = limits.store
    _release_uploads_per_request(app)
    return app


def _release_uploads_per_request(app) -> None:
    """Every upload made while Gradio processes a request is released (deleted) when the request ends: Gradio may
    fail on another input after condgen's preprocess accepted an upload, and then no handler runs."""
    process = app.process_api

    async def process_api(*args, **kwargs):
        with request():
            return await process(*args, **kwargs)

    app.process_api = process_api


def _generator_tab(gr, eid, demo: GeneratorDemo, UploadImage, PaintCanvas) -> None:
    label = gr.State(-1)
    with gr.Row():
        with gr.Column(scale=1):
            seed = gr.Number(0, label="seed", precision=0, minimum=0)
            n = gr.Slider(1, MAX_GRID, value=16, step=1, label="samples")
            if demo.num_classes:
                label = gr.Dropdown([("all classes", -1)] + [(str(k), k) for k in range(demo.num_classes)],
                                    value=-1, label="class")
            go = gr.Button("Sample", variant="primary")
        grid = gr.Image(label="samples", type="pil", format="png", interactive=False,
                        buttons=["download", "fullscreen"], elem_id=eid("grid"))
    go.click(user_errors(demo.sample), [seed, n, label], grid)
    gr.Markdown("### Latent walk\nSpherical interpolation (slerp) from seed A's code to seed B's code.")
    with gr.Row():
        with gr.Column(scale=1):
            seed_a = gr.Number(0, label="seed A", precision=0, minimum=0)
            seed_b = gr.Number(1, label="seed B", precision=0, minimum=0)
            t = gr.Slider(0.0, 1.0, value=0.0, step=0.05, label="position A -> B")
        frame = gr.Image(label="walk", type="pil", format="png", interactive=False, height=256,
                         buttons=["download"], elem_id=eid("walk"))
    walk = user_errors(demo.walk)
    t.release(walk, [seed_a, seed_b, t, label], frame)
    for box in (seed_a, seed_b):
        box.submit(walk, [seed_a, seed_b, t, label], frame)


def _translator_tab(gr, eid, demo: TranslatorDemo, UploadImage, PaintCanvas) -> None:
    what = {"stylize": "Stylise", "upscale": f"Upscale x{demo.scale}", "translate": "Translate"}[demo.verb]
    direction = gr.State("AtoB")
    style_image = gr.State(None)
    with gr.Row():
        with gr.Column():
            image = UploadImage(label="input image", sources=["upload", "clipboard"], elem_id=eid("input"))
            if demo.two_way:
                direction = gr.Radio(["AtoB", "BtoA"], value="AtoB", label="direction")
            seed = gr.Number(0, label="style seed" if demo.styles else "seed (test-time noise)", precision=0,
                             minimum=0, visible=demo.styles or demo.verb == "translate")
            if demo.styles:
                style_image = UploadImage(label="style image (optional: an example of the target domain; "
                                                "otherwise the style comes from the seed)",
                                          sources=["upload", "clipboard"], elem_id=eid("style"))
            go = gr.Button(what, variant="primary", elem_id=eid("run"))
        out = gr.Image(label="output", type="pil", format="png", interactive=False,
                       buttons=["download", "fullscreen"], elem_id=eid("output"))
    go.click(user_errors(demo.run), [image, direction, seed, style_image], out)


def _anonymizer_tab(gr, eid, demo: AnonymizerDemo, UploadImage, PaintCanvas) -> None:
    gr.Markdown("For privacy: each detected face is replaced by a different face chosen by the passcode; the same "
                "passcode restores it. Not encryption: anyone with this model can try every passcode.")
    with gr.Row():
        with gr.Column():
            image = UploadImage(label="photo", sources=["upload", "clipboard"], elem_id=eid("input"))
            passcode = gr.Textbox("", label=f"passcode ({demo.model.cfg.bits} binary digits; empty: a new one)",
                                  elem_id=eid("passcode"))
            restore = gr.Checkbox(False, label="restore (undo an anonymization)")
            whole = gr.Checkbox(False, label="the whole image is one face crop")
            go = gr.Button("Anonymize / restore", variant="primary", elem_id=eid("run"))
        with gr.Column():
            out = gr.Image(label="output", type="pil", format="png", interactive=False,
                           buttons=["download", "fullscreen"], elem_id=eid("output"))
            status = gr.Textbox("", label="status", interactive=False, elem_id=eid("status"))
    go.click(user_errors(demo.run), [image, passcode, restore, whole], [out, status])


def _semantic_tab(gr, eid, demo: SemanticDemo, UploadImage, PaintCanvas) -> None:
    swatches = " ".join(
        f"<span style='display:inline-block;padding:0 6px;margin:1px;background:rgb{tuple(map(int, c))};"
        f"color:{'#000' if sum(map(int, c)) > 380 else '#fff'}'>{k}</span>" for k, c in enumerate(demo.palette))
    gr.HTML(f"<div>class palette (id: colour): {swatches}</div>")
    style_image, region_class, region_image = gr.State(None), gr.State(None), gr.State(None)
    with gr.Row():
        with gr.Column():
            seed = gr.Number(0, label="seed", precision=0, minimum=0)
            if demo.uses_style:
                style_image = UploadImage(label="style image (optional)", sources=["upload", "clipboard"],
                                          elem_id=eid("style"))
            if demo.uses_regions:
                region_class = gr.Dropdown(list(range(demo.label_nc)), value=0, label="region: class id",
                                           elem_id=eid("region-class"))
                region_image = UploadImage(label="that region's style from this photo (optional)",
                                           sources=["upload", "clipboard"], elem_id=eid("region-style"))
        with gr.Column():
            shown = gr.Image(label="label map (palette colours)", type="pil", format="png", interactive=False)
            out = gr.Image(label="output", type="pil", format="png", interactive=False,
                           buttons=["download", "fullscreen"], elem_id=eid("output"))
    with gr.Tab("upload a label map"):
        label_map = UploadImage(label="label map: class ids (grey or palette PNG) or palette colours",
                                sources=["upload"], elem_id=eid("labelmap"))
        go = gr.Button("Synthesise", variant="primary", elem_id=eid("run"))
    with gr.Tab("paint"):
        colours = ["#{:02x}{:02x}{:02x}".format(*map(int, c)) for c in demo.palette[:64]]
        w, h = demo.canvas_size()
        canvas = PaintCanvas(value={"background": demo.blank_canvas(), "layers": [], "composite": None},
                             type="numpy", image_mode="RGB", format="png", canvas_size=(w, h), fixed_canvas=True,
                             sources=[], transforms=[], layers=False,
                             brush=gr.Brush(colors=colours, default_color=colours[min(1, len(colours) - 1)],
                                            color_mode="fixed"),
                             eraser=False, label="paint with the class colours")
        paint = gr.Button("Synthesise from the painting", variant="primary", elem_id=eid("paint"))
    go.click(user_errors(demo.run), [label_map, seed, style_image, region_class, region_image], [shown, out])
    paint.click(user_errors(demo.paint), [canvas, seed, style_image, region_class, region_image], [shown, out])


def serve(runs: Sequence[Any], host: str = "127.0.0.1", port: int = 7860, device: str = "cpu",
          max_pixels: int = DEFAULT_MAX_PIXELS, max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB, block: bool = True):
    """Load the runs and serve the demo on ``host:port`` (blocks until interrupted unless ``block=False``; then
    returns the app, to ``close()``)."""
    if host not in LOCAL_HOSTS:
        print(f"warning: serving on {host}: anyone who can reach this address can use the demo and load this "
              "machine (the default, 127.0.0.1, is reachable from this computer only).", file=sys.stderr)
    # only the runs given are reachable: no extra folders from the environment either
    os.environ.pop("GRADIO_ALLOWED_PATHS", None)
    app = build_app(runs, device=device, max_pixels=max_pixels, max_upload_mb=max_upload_mb)
    app.queue(default_concurrency_limit=1, max_size=64)
    if block:
        print(f"condgen demo of {len(app.condgen_demos)} run(s) on http://{host}:{port} (Ctrl+C stops it)",
              file=sys.stderr)
    app.launch(server_name=host, server_port=port, share=False, inbrowser=False, show_error=False,
               allowed_paths=[], max_file_size=f"{int(max_upload_mb * 1000)}kb", prevent_thread_lock=not block,
               ssr_mode=False, quiet=True)
    return app
