"""The web demo (condgen.serve): handlers called directly, the served app driven by Chromium, the CLI command."""

from __future__ import annotations

import io
import os
import shutil
import socket
import struct
import uuid
import zlib
from pathlib import Path
from types import SimpleNamespace

import gradio as gr  # in the test extra: a missing gradio must fail, not skip
import numpy as np
import pytest
from cli_helpers import run_cli
from PIL import Image
from tiny_runs import TINY as TINY_RUNS

from condgen import serve as serve_mod
from condgen.cli import resolve_config
from condgen.models import get_model_class
from condgen.serve import build_app, user_errors
from condgen.train import train

CHROMIUM = Path("/usr/bin/chromium")
COMMON = ["train.steps=1", "train.precision=fp32", "train.progress=false", "train.tensorboard=false",
          "train.sample_every=1000", "train.val_every=0"]
TINY = {name: (TINY_RUNS[name].data, TINY_RUNS[name].sets) for name in ("dcgan", "pix2pix")}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, cache_dir):
    """Tiny runs of one training step each."""
    root = tmp_path_factory.mktemp("serve-runs")
    for name, (data, sets) in TINY.items():
        train(resolve_config(name, data, None, None, [*COMMON, *sets]), root / name)
    return {name: root / name for name in TINY}


@pytest.fixture(scope="module")
def app(runs):
    # an untrained cgan is enough for the class picker (and saves a training run)
    cfg = resolve_config("cgan", None, None, None, ["model.image_size=16", "model.channels=1", "model.ngf=4",
                                                    "model.ndf=4", "model.num_classes=10"])
    cgan = get_model_class("cgan").for_inference(cfg.model)
    cgan.train_mode(False)
    cgan.run_config = cfg
    return build_app([runs["dcgan"], ("cgan (cgan)", cgan), runs["pix2pix"]])


def demo(app, model_name: str):
    return next(d for title, d in app.condgen_demos.items() if title.endswith(f"({model_name})"))


def call(fn, *args):
    """A handler called as gradio calls it (through the error wrapper)."""
    return user_errors(fn)(*args)


# ----- files a user might upload --------------------------------------------------------------------------------
def png(path: Path, size=(100, 70), mode="RGB") -> Path:
    rng = np.random.default_rng(0)
    shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(path)
    return path


def sent(demo, path: Path, accept: bool = True):
    """``path`` as a handler gets an upload: a copy in the server's upload folder, recorded as received by Gradio's
    upload route, accepted by condgen's preprocess (the demo reads nothing else; the request's end deletes it)."""
    store = demo.limits.store
    dest = store.folder / uuid.uuid4().hex / Path(path).name
    dest.parent.mkdir()
    shutil.copyfile(path, dest)
    store.received.blocks.upload_file_set.add(str(dest))
    return store.accept(str(dest)) if accept else str(dest)


def truncated_png(path: Path) -> Path:
    data = png(path, (64, 64)).read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def bomb_png(path: Path, side: int = 100_000) -> Path:
    """A small PNG whose header claims side x side pixels (10^10: far past PIL's decompression-bomb limit)."""
    data = bytearray(png(path, (8, 8), "L").read_bytes())
    ihdr = 8 + 8  # signature, then length + type of the IHDR chunk
    data[ihdr:ihdr + 8] = struct.pack(">II", side, side)
    data[ihdr + 13:ihdr + 17] = struct.pack(">I", zlib.crc32(bytes(data[ihdr - 4:ihdr + 13])))
    path.write_bytes(bytes(data))
    return path


# ----- unit level: the handlers -----------------------------------------------------------------------------------
def test_tabs_follow_the_models_verbs(app):
    kinds = {title: d.kind for title, d in app.condgen_demos.items()}
    assert kinds == {"dcgan (dcgan)": "generator", "cgan (cgan)": "generator", "pix2pix (pix2pix)": "translator"}
    assert isinstance(app, gr.Blocks)
    assert not Path(serve_mod.ui.__file__).with_suffix(".pyi").exists()  # gradio writes one for component subclasses


def test_generator_grid_class_and_walk(app):
    g = demo(app, "dcgan")
    # 16 cells of 16 px, 4 x 4 with make_grid's 2 px padding
    assert call(g.sample, 0, 16, -1).size == (4 * 18 + 2, 4 * 18 + 2)
    assert call(g.sample, 0, 3, -1).size == (2 * 18 + 2, 2 * 18 + 2)
    a, b = np.asarray(call(g.sample, 5, 4, -1)), np.asarray(call(g.sample, 5, 4, -1))
    assert np.array_equal(a, b)  # the same seed, the same grid
    start, end = call(g.walk, 3, 9, 0.0, -1), call(g.walk, 3, 9, 1.0, -1)
    assert start.size == (16, 16)
    assert np.array_equal(np.asarray(start), np.asarray(call(g.walk, 3, 3, 0.5, -1)))  # same seeds: no motion
    assert not np.array_equal(np.asarray(start), np.asarray(end))
    c = demo(app, "cgan")
    assert c.num_classes == 10
    assert call(c.sample, 0, 4, 7).size == (2 * 18 + 2, 2 * 18 + 2)
    with pytest.raises(gr.Error, match=r"class must be a whole number in -1..9"):
        call(c.sample, 0, 4, 12)
    with pytest.raises(gr.Error, match="samples must be a whole number in 1..64"):
        call(g.sample, 0, 10_000, -1)


def test_translation_keeps_the_input_size(app, tmp_path):
    t = demo(app, "pix2pix")
    out = call(t.run, sent(t, png(tmp_path / "in.png", (100, 70))), "AtoB", 0, None)
    assert out.size == (100, 70) and out.mode == "RGB"
    assert call(t.run, sent(t, png(tmp_path / "grey.png", (64, 90), "L")), "AtoB", 0, None).size == (64, 90)


def test_bad_uploads_give_a_short_message_and_the_demo_keeps_working(app, tmp_path):
    t = demo(app, "pix2pix")
    good = png(tmp_path / "good.png", (80, 64))
    text = tmp_path / "notes.png"
    text.write_text("this is not an image")
    cases = [
        (sent(t, text), "cannot read the upload: not a recognised image"),
        (sent(t, truncated_png(tmp_path / "cut.png")), "cannot read the upload: the file is truncated or corrupt"),
        (sent(t, bomb_png(tmp_path / "bomb.png")), "cannot read the upload: image is too large, a possible "
                                               "decompression bomb"),
        (None, "no input image: upload an image first"),
    ]
    for upload, message in cases:
        with pytest.raises(gr.Error) as info:
            call(t.run, upload, "AtoB", 0, None)
        msg = info.value.message
        assert message in msg and "Traceback" not in msg and str(tmp_path) not in msg, msg
        assert call(t.run, sent(t, good), "AtoB", 0, None).size == (80, 64)  # still serving
    with pytest.raises(gr.Error, match="seed must be a whole number"):
        call(t.run, sent(t, good), "AtoB", "abc", None)


def test_pixel_and_byte_limits(runs, tmp_path):
    t = next(iter(build_app([runs["pix2pix"]], max_pixels=64 * 64).condgen_demos.values()))
    with pytest.raises(gr.Error, match=r"65x64 = 4,160 pixels, more than the limit of 4,096"):
        call(t.run, sent(t, png(tmp_path / "wide.png", (65, 64), "L")), "AtoB", 0, None)
    assert call(t.run, sent(t, png(tmp_path / "ok.png", (64, 64), "L")), "AtoB", 0, None).size == (64, 64)
    t = next(iter(build_app([runs["pix2pix"]], max_upload_mb=0.002).condgen_demos.values()))
    with pytest.raises(gr.Error, match=r"the upload is 12\.\d kB, more than the limit of 2\.0 kB"):
        call(t.run, sent(t, png(tmp_path / "big.png", (64, 64)), accept=False), "AtoB", 0, None)


def test_unexpected_errors_are_one_line():
    def broken():
        raise RuntimeError("/secret/path exploded")

    with pytest.raises(gr.Error) as info:
        call(broken)
    assert info.value.message == "internal error (RuntimeError); the server log has the details."


# ----- semantic synthesis (a fake model until spade is registered) ----------------------------------------------------
class FakeSemantic:
    """Stands in for a semantic model: ``cfg.label_nc``, ``translate(label_map, seed, style_image)``; the output's
    red channel is 40 x the class id, so the ids the demo passed can be read back."""

    def __init__(self, label_nc=4):
        self.cfg = SimpleNamespace(label_nc=label_nc, use_vae=False)
        self.run_config = SimpleNamespace(model_name="fakespade")
        self.task, self.two_way, self.translate_options = "synthesize", False, frozenset({"seed", "style_image"})
        self.calls = []

    def translate(self, labels, seed=0, style_image=None):
        assert labels.mode == "L"
        self.calls.append(seed)
        ids = np.asarray(labels).astype(np.uint8)
        return Image.fromarray(np.stack([ids * 40, ids * 0, ids * 0 + seed % 256], -1).astype(np.uint8))


def test_semantic_tab_upload_and_paint(tmp_path):
    model = FakeSemantic()
    app = build_app([("fake", model)])
    s = app.condgen_demos["fake"]
    assert s.kind == "semantic"
    ids = np.zeros((40, 60), np.uint8)
    ids[10:30, 20:50] = 2
    ids[0:5] = 3
    Image.fromarray(ids, mode="L").save(tmp_path / "ids.png")
    shown, out = call(s.run, sent(s, tmp_path / "ids.png"), 7, None)
    assert out.size == (60, 40) and shown.size == (60, 40)
    assert np.array_equal(np.asarray(out)[..., 0], ids * 40) and model.calls[-1] == 7
    # the colourised map it shows can be uploaded back: palette colours map to the same ids
    shown.save(tmp_path / "coloured.png")
    _, again = call(s.run, sent(s, tmp_path / "coloured.png"), 7, None)
    assert np.array_equal(np.asarray(again), np.asarray(out))
    # a painting: the canvas starts as class 0; a brush of class 1's colour with an antialiased edge
    canvas = s.blank_canvas()
    assert canvas.shape == (256, 256, 3)
    canvas[100:150, 100:150] = s.palette[1]
    canvas[99, 100:150] = (3 * s.palette[1].astype(int) + s.palette[0]) // 4
    _, painted = call(s.paint, {"background": None, "layers": [], "composite": canvas}, 0, None)
    red = np.asarray(painted)[..., 0]
    assert (red[100:150, 100:150] == 40).all() and red[0, 0] == 0 and set(np.unique(red)) <= {0, 40}
    bad = ids.copy()
    bad[0, 0] = 9
    Image.fromarray(bad, mode="L").save(tmp_path / "bad_ids.png")
    with pytest.raises(gr.Error, match=r"class id\(s\) 9, but this model knows ids 0..3"):
        call(s.run, sent(s, tmp_path / "bad_ids.png"), 0, None)
    rgb = np.full((8, 8, 3), 123, np.uint8)
    rgb[0, 0] = (1, 2, 3)
    Image.fromarray(rgb).save(tmp_path / "photo.png")
    with pytest.raises(gr.Error, match="not in this model's class palette"):
        call(s.run, sent(s, tmp_path / "photo.png"), 0, None)
    with pytest.raises(gr.Error, match="nothing painted yet"):
        call(s.paint, None, 0, None)
    with pytest.raises(gr.Error, match="takes no style image"):
        call(s.run, sent(s, tmp_path / "ids.png"), 0, sent(s, tmp_path / "ids.png"))


def test_semantic_tab_with_a_real_spade(tmp_path):
    from condgen.models import MODELS

    assert "spade" in MODELS
    from condgen.models.spade import SPADEConfig

    model = MODELS["spade"].for_inference(SPADEConfig(label_nc=4, ngf=2, ndf=4, spade_hidden=8, crop_size=32,
                                                      use_vae=True))
    model.train_mode(False)
    model.run_config = SimpleNamespace(model_name="spade")
    s = build_app([model]).condgen_demos["spade"]
    assert s.kind == "semantic" and s.uses_style and s.canvas_size() == (256, 256)
    ids = np.zeros((40, 60), np.uint8)
    ids[10:30, 20:50] = 2
    Image.fromarray(ids, mode="L").save(tmp_path / "ids.png")
    style = png(tmp_path / "style.png", (48, 48))
    _, out = call(s.run, sent(s, tmp_path / "ids.png"), 3, sent(s, style))
    assert out.size == (60, 40) and out.mode == "RGB"
    _, painted = call(s.paint, {"composite": s.blank_canvas()}, 0, None)
    assert painted.size == (256, 256)


def test_dispatch_on_declared_tasks_not_names():
    limits = serve_mod._Limits(10**6, None)
    style = SimpleNamespace(cfg=SimpleNamespace(tile_size=0), stylize=lambda im: im, translate=lambda im: im,
                            task="stylize")
    assert serve_mod.demo_for(style, limits).verb == "stylize"
    sr = SimpleNamespace(cfg=SimpleNamespace(scale=4, channels=3), upscale=lambda im: im, task="upscale")
    d = serve_mod.demo_for(sr, limits)
    assert (d.kind, d.verb, d.scale) == ("translator", "upscale", 4)
    with pytest.raises(Exception, match="no verb the demo knows"):
        serve_mod.demo_for(SimpleNamespace(cfg=SimpleNamespace(), run_config=SimpleNamespace(model_name="x")), limits)


# ----- the CLI ----------------------------------------------------------------------------------------------------
def test_serve_refuses_a_folder_that_is_not_a_run(capsys, tmp_path):
    (tmp_path / "photos").mkdir()
    code, _, err = run_cli(capsys, "serve", tmp_path / "photos")
    assert code == 2 and "is not a condgen run (no config.yaml in it)" in err and "Traceback" not in err
    code, _, err = run_cli(capsys, "serve", tmp_path / "missing")
    assert code == 2 and "does not exist" in err


def test_non_local_host_warns(monkeypatch, capsys):
    def stop(*a, **k):
        raise serve_mod.ConfigError("stopped before loading")

    monkeypatch.setattr(serve_mod.server, "build_app", stop)
    with pytest.raises(serve_mod.ConfigError):
        serve_mod.serve(["x"], host="0.0.0.0")
    assert "warning: serving on 0.0.0.0" in capsys.readouterr().err


# ----- the served app --------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(runs):
    """The demo of the pix2pix run and a tiny SPADE served on a free localhost port, with every outgoing connection
    recorded."""
    outside = []
    real_connect = socket.socket.connect

    def connect(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if host not in ("127.0.0.1", "::1", "localhost") and self.family in (socket.AF_INET, socket.AF_INET6):
            outside.append(address)
        return real_connect(self, address)

    socket.socket.connect = connect
    try:
        port = _free_port()
        from condgen.models import MODELS
        from condgen.models.spade import SPADEConfig

        spade = MODELS["spade"].for_inference(SPADEConfig(label_nc=4, ngf=2, ndf=4, spade_hidden=8, crop_size=32,
                                                          param_free_norm="batch"))
        spade.train_mode(False)
        spade.run_config = SimpleNamespace(model_name="spade")
        app = serve_mod.serve([runs["pix2pix"], spade], port=port, block=False)
        yield SimpleNamespace(url=f"http://127.0.0.1:{port}/", outside=outside, app=app)
        app.close()
    finally:
        socket.socket.connect = real_connect


def test_served_app_makes_no_outside_connections(served):
    import urllib.request

    with urllib.request.urlopen(served.url + "config", timeout=30) as r:
        config = r.read().decode()
    assert '"analytics_enabled":false' in config.replace(" ", "")
    assert served.outside == []
    assert served.app.share is False and served.app.allowed_paths == []


def test_browser_translates_an_uploaded_image(served, tmp_path):
    if not CHROMIUM.exists():
        # the one skip: the browser is a Debian package, not a Python one; .ci/run installs it, so CI runs this
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium; .ci/run installs it)")
    from playwright.sync_api import sync_playwright  # in the test extra
    image = png(tmp_path / "photo.png", (100, 70))
    blocked = []

    def route(r):
        if r.request.url.startswith(served.url):
            r.continue_()
        else:  # the page must work offline: nothing from a CDN
            blocked.append(r.request.url)
            r.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 800})
            page.route("**/*", route)
            page.goto(served.url)
            # a truncated file first: a short message in the page, and the server keeps serving
            page.locator("#tab0-input input[type=file]").set_input_files(str(truncated_png(tmp_path / "cut.png")))
            page.locator("#tab0-run").click()
            page.get_by_text("the file is truncated or corrupt").first.wait_for(timeout=30_000)
            assert page.get_by_text("Traceback").count() == 0
            page.locator("#tab0-input button[aria-label='Remove Image']").first.click()
            page.locator("#tab0-input input[type=file]").set_input_files(str(image))
            page.locator("#tab0-run").click()
            out = page.locator("#tab0-output img")
            out.wait_for(timeout=30_000)
            data = page.request.get(out.get_attribute("src")).body()
            assert Image.open(io.BytesIO(data)).size == (100, 70)
            shot = tmp_path / "serve_translate.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert blocked == [] and served.outside == []
    if os.environ.get("CONDGEN_ARTIFACTS"):
        dest = Path(os.environ["CONDGEN_ARTIFACTS"])
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, dest / shot.name)


def test_browser_synthesises_from_an_uploaded_label_map(served, tmp_path):
    """The semantic tab in a real browser: upload a label map of class ids, press the button, get an image of the
    label map's size."""
    if not CHROMIUM.exists():
        # the one skip: the browser is a Debian package, not a Python one; .ci/run installs it, so CI runs this
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium; .ci/run installs it)")
    from playwright.sync_api import sync_playwright  # in the test extra
    ids = np.zeros((48, 72), np.uint8)
    ids[24:] = 2
    ids[5:20, 30:60] = 3
    Image.fromarray(ids, mode="L").save(tmp_path / "labels.png")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.goto(served.url)
            page.get_by_role("tab", name="spade").first.click()
            page.locator("#tab1-labelmap input[type=file]").set_input_files(str(tmp_path / "labels.png"))
            page.locator("#tab1-run").click()
            out = page.locator("#tab1-output img")
            out.wait_for(timeout=60_000)
            data = page.request.get(out.get_attribute("src")).body()
            assert Image.open(io.BytesIO(data)).size == (72, 48)
            page.screenshot(path=str(tmp_path / "serve_semantic.png"), full_page=True)
        finally:
            browser.close()
    assert served.outside == []


def test_semantic_tab_with_region_styles(tmp_path):
    """A SEAN-like model (translate takes region_styles): the tab offers a class and a photo for that region."""
    from condgen.models import MODELS

    assert "sean" in MODELS
    from condgen.runs import build_config

    cfg = build_config("sean", {"model": {"label_nc": 4, "ngf": 2, "ndf": 2, "style_dim": 4, "spade_hidden": 4,
                                          "crop_size": 32, "param_free_norm": "batch"}}).model
    model = MODELS["sean"].for_inference(cfg)
    model.train_mode(False)
    model.run_config = SimpleNamespace(model_name="sean")
    s = build_app([model]).condgen_demos["sean"]
    assert s.uses_regions and s.uses_style
    ids = np.zeros((32, 48), np.uint8)
    ids[16:] = 2
    Image.fromarray(ids, mode="L").save(tmp_path / "ids.png")
    photo = png(tmp_path / "photo.png", (48, 32))
    _, out = call(s.run, sent(s, tmp_path / "ids.png"), 0, None, 2, sent(s, photo))
    assert out.size == (48, 32)
    with pytest.raises(gr.Error, match="region class 9"):
        call(s.run, sent(s, tmp_path / "ids.png"), 0, None, 9, sent(s, photo))


def test_served_app_refuses_path_traversal(served):
    """No file outside the app is served, whatever the path spelling."""
    import urllib.error
    import urllib.request

    for path in ("gradio_api/file=/etc/passwd", "file=/etc/passwd", "gradio_api/file=../../../../etc/passwd",
                 "gradio_api/file=%2Fetc%2Fpasswd", "static/../../../../etc/passwd"):
        try:
            with urllib.request.urlopen(served.url + path, timeout=30) as r:
                body = r.read()
        except urllib.error.HTTPError as e:
            assert e.code in (400, 403, 404, 405), (path, e.code)
            continue
        assert b"root:" not in body, path
