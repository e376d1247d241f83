"""The Gradio side of the demo: handlers wrapped so that errors become short messages, upload components that
never let Gradio decode an upload, one tab per demo, and the app (``build_app``)."""

from __future__ import annotations

import logging
import os
import types
from collections.abc import Callable, Sequence
from functools import wraps
from typing import Any

from condgen.errors import CondgenError
from condgen.serve import demos
from condgen.serve.inputs import DEFAULT_MAX_PIXELS, DEFAULT_MAX_UPLOAD_MB, _Limits
from condgen.serve.lazy_gradio import _gradio
from condgen.uploads import release_all, request

log = logging.getLogger("condgen.serve")


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


# ----- uploads ------------------------------------------------------------------------------------------------
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
def build_app(runs: Sequence[Any], device: str = "cpu", max_pixels: int = DEFAULT_MAX_PIXELS,
              max_upload_mb: float | None = DEFAULT_MAX_UPLOAD_MB):
    """A gr.Blocks with one tab per run (run folders, weights files or loaded models). The demos behind the tabs
    are in ``app.condgen_demos`` (title -> demo) and their handlers can be called directly."""
    gr = _gradio()
    limits = _Limits(max_pixels, None if max_upload_mb is None else int(max_upload_mb * 1e6))
    loaded = [(title, demos.demo_for(model, limits)) for title, model in demos.load_runs(runs, device)]
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


def _generator_tab(gr, eid, demo: demos.GeneratorDemo, UploadImage, PaintCanvas) -> None:
    label = gr.State(-1)
    with gr.Row():
        with gr.Column(scale=1):
            seed = gr.Number(0, label="seed", precision=0, minimum=0)
            n = gr.Slider(1, demos.MAX_GRID, value=16, step=1, label="samples")
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


def _translator_tab(gr, eid, demo: demos.TranslatorDemo, UploadImage, PaintCanvas) -> None:
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


def _anonymizer_tab(gr, eid, demo: demos.AnonymizerDemo, UploadImage, PaintCanvas) -> None:
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


def _semantic_tab(gr, eid, demo: demos.SemanticDemo, UploadImage, PaintCanvas) -> None:
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

