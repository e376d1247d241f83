"""The web demo's uploads (issue 17): only files this server received as uploads are read, a refusal never tells
whether a path exists, every upload is deleted when its request ends, and the bytes held at once are capped.
Hypothesis fuzzes the API payloads against the handlers; two tests go through the real Gradio HTTP API."""

from __future__ import annotations

import base64
import gc
import io
import json
import os
import socket
import urllib.request
import uuid
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import condgen.data.images as images_mod
from condgen import serve as serve_mod
from condgen.errors import ServerBusyError, UploadRefusedError
from condgen.serve import TranslatorDemo, _Limits, user_errors
from condgen.uploads import PREFIX, REFUSED, UploadStore

SECRET_SIZE = (13, 11)  # no image the tests upload has this size: seeing it means the secret was read
META = {"_type": "gradio.FileData"}


def png_bytes(size=(8, 6), value=90) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((size[1], size[0], 3), value, np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def data_url(data: bytes, mime="image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


class Recorder:
    """A translator that records the size of each image it is given."""

    task, translate_options, two_way = "translate", frozenset(), False

    def __init__(self):
        self.cfg = SimpleNamespace(in_channels=3)
        self.seen = []

    def translate(self, img):
        self.seen.append(img.size)
        if img.size == (7, 7):
            raise RuntimeError("the model failed")
        return img


def leftovers(folder: Path) -> list[str]:
    """The files in the upload folder."""
    return sorted(str(p) for p in folder.rglob("*") if not p.is_dir())


@pytest.fixture
def env(tmp_path, monkeypatch):
    """An upload folder with a received upload, planted traps (a symlink and a hard link to a private file outside,
    a file never received), and files outside: a 0600 PNG, a text file, a folder. Every image opened is recorded."""
    outside, folder = tmp_path / "outside", tmp_path / "uploads"
    (outside / "sub").mkdir(parents=True)
    folder.mkdir()
    secret = outside / "secret.png"
    secret.write_bytes(png_bytes(SECRET_SIZE, 200))
    secret.chmod(0o600)
    (outside / "notes.txt").write_text("not an image")
    (folder / "link.png").symlink_to(secret)
    os.link(secret, folder / "hard.png")
    (folder / "planted.png").write_bytes(png_bytes())
    received = {os.path.realpath(folder / n) for n in ("link.png", "hard.png")}
    store = UploadStore(folder, max_bytes=200_000, max_held_bytes=500_000, received=received)
    model = Recorder()
    demo = TranslatorDemo(model, _Limits(10**6, 200_000, store))
    opened = []
    real_open = images_mod._open_checked
    monkeypatch.setattr(images_mod, "_open_checked", lambda p: (opened.append(os.path.realpath(p)), real_open(p))[1])
    traps = {str(folder / n) for n in ("link.png", "hard.png", "planted.png")}
    return SimpleNamespace(outside=outside, folder=folder, secret=secret, store=store, model=model, demo=demo,
                           opened=opened, traps=traps, received=received, tmp=tmp_path)


def receive(env, data: bytes | None = None, name="in.png") -> str:
    """A file as Gradio's upload route stores it (folder/<hash>/<name>), recorded as received."""
    dest = env.folder / uuid.uuid4().hex / name
    dest.parent.mkdir()
    dest.write_bytes(png_bytes() if data is None else data)
    env.received.add(os.path.realpath(dest))
    return str(dest)


def run(env, upload, seed=0):
    """The translator tab's handler as Gradio calls it: (output or None, error message or None)."""
    try:
        return user_errors(env.demo.run)(upload, "AtoB", seed, None), None
    except gr.Error as e:
        return None, e.message


def outside_paths(env) -> list[str]:
    """Spellings of files the demo must not read: outside the folder, in it but not received, links, traversal."""
    f, o = env.folder, env.outside
    rel = os.path.relpath(env.secret, f)
    return [str(env.secret), str(o / "notes.txt"), str(o / "sub"), str(o / "missing.png"), str(o), "/", "/etc/passwd",
            "/proc/self/environ", "/dev/zero", str(f), str(f / "link.png"), str(f / "hard.png"),
            str(f / "planted.png"), str(f / "missing.png"), f"{f}/../outside/secret.png",
            f"{f}/x/../../outside/secret.png", rel, "secret.png", "../outside/secret.png", "~/secret.png",
            f"{env.secret}\x00.png", "a" * 5000, ".", "..", f"file://{env.secret}"]


# ----- item 1: only this server's uploads are read, with one message ------------------------------------------
def test_files_outside_the_uploads_are_refused_with_one_message(env):
    wrappers = [lambda p: p, Path, lambda p: {"path": p}, lambda p: {"path": p, "meta": META},
                lambda p: {"path": p, "url": f"http://127.0.0.1/{p}", "orig_name": "x.png"},
                lambda p: SimpleNamespace(path=p, url=None)]
    cases = 0
    for path in outside_paths(env):
        for wrap in wrappers:
            out, msg = run(env, wrap(path))
            assert out is None and msg == REFUSED, (path, msg)
            cases += 1
    assert cases == 150
    assert env.model.seen == [] and env.opened == []
    assert leftovers(env.folder) == sorted(env.traps)  # refusing deletes nothing it was not given
    # a real upload passes, once
    path = receive(env)
    assert run(env, {"path": path, "meta": META})[0].size == (8, 6)
    assert run(env, path) == (None, REFUSED)
    assert leftovers(env.folder) == sorted(env.traps)


def test_refusals_do_not_tell_what_exists(env):
    """A missing file, a folder, a non-image, a private image, a device: outside the folder, one message."""
    o = env.outside
    messages = {run(env, {"path": str(p)})[1] for p in (o / "missing.png", o / "sub", o / "notes.txt", env.secret,
                                                       "/dev/null")}
    assert messages == {REFUSED}
    assert "exist" not in REFUSED and "directory" not in REFUSED and "image" in REFUSED


def _payloads(env):
    path = st.one_of(st.sampled_from(outside_paths(env)), st.text(max_size=40),
                     st.builds(lambda a, b: f"{a}/{b}", st.sampled_from([str(env.folder), str(env.outside), "..",
                                                                         str(env.folder) + "/.."]),
                               st.text(alphabet="./abcdhinklpsx", max_size=20)))
    png = png_bytes((5, 4))
    b64 = base64.b64encode(png).decode()
    urls = st.one_of(
        st.just(data_url(png)), st.just(data_url(png, "text/plain")), st.just(data_url(png, "image/jpeg")),
        st.just(data_url(png_bytes((7, 7))))  # the model raises on 7x7 (an internal error, upload still deleted)
        , st.binary(max_size=300).map(data_url), st.text(max_size=60).map(lambda t: "data:image/png;base64," + t),
        st.just("data:image/png," + b64), st.just("data:,"), st.just("data:image/png;base64," + b64[:-3] + "!!="),
        st.just("data:image/png;base64," + "A" * 400_000))  # over the byte limit
    files = st.one_of(path, urls)
    dicts = st.fixed_dictionaries({}, optional={"path": st.one_of(files, st.none(), st.integers()),
                                                "url": st.one_of(urls, st.none(), st.text(max_size=10)),
                                                "meta": st.just(META), "size": st.integers(),
                                                "orig_name": st.text(max_size=10)})
    return st.one_of(files, dicts, files.map(lambda p: SimpleNamespace(path=p, url=None)),
                     urls.map(lambda u: SimpleNamespace(path=None, url=u)), st.none(), st.integers(), st.floats(),
                     st.lists(st.integers(), max_size=3), st.booleans(), st.just(b"\x89PNG"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_payloads(env, data):
    """Whatever a client sends as the image: nothing outside the received uploads is read, a path is refused with
    the one message, no traceback or internal error or server path in the message, no upload file left behind."""
    via_preprocess = data.draw(st.booleans(), label="via the component's preprocess")
    payload = data.draw(_payloads(env), label="payload")
    component = serve_mod._components(env.demo.limits)[0]()
    try:
        value = component.preprocess(payload) if via_preprocess else payload
        out, msg = run(env, value)
    except gr.Error as e:  # refused in preprocess
        out, msg = None, e.message
    assert all(p.startswith(str(env.folder) + os.sep) for p in env.opened), env.opened
    assert SECRET_SIZE not in env.model.seen and os.path.realpath(env.secret) not in env.opened
    if out is None:
        assert msg and "Traceback" not in msg and str(env.tmp) not in msg and "\n" not in msg, msg
        if "internal error" in msg:  # only the model's own failure on the 7x7 data URL
            assert env.model.seen[-1:] == [(7, 7)], msg
        url = payload.get("url") if isinstance(payload, dict) else getattr(payload, "url", None)
        names_a_path = isinstance(payload, Path) or (isinstance(payload, str) and payload != "" and
                                                     not payload.startswith("data:"))
        names_a_path |= (isinstance(payload, dict) and isinstance(payload.get("path"), str) and not
                         str(payload["path"]).startswith("data:") and not str(url).startswith("data:"))
        if names_a_path:
            assert msg == REFUSED, (payload, msg)
    else:
        assert out.size in ((5, 4), (7, 7))
    env.opened.clear()
    assert env.store.held_bytes == 0
    assert leftovers(env.folder) == sorted(env.traps)


# ----- item 2: uploads deleted when the request ends; a cap on what is held ------------------------------------
def test_every_upload_is_deleted_when_its_request_ends(env):
    component = serve_mod._components(env.demo.limits)[0]()
    cases = [(data_url(png_bytes()), 0, None), (data_url(png_bytes()), "abc", "seed must be a whole number"),
             (data_url(png_bytes((7, 7))), 0, "internal error (RuntimeError)"),
             (data_url(b"not an image"), 0, "not a recognised image"),
             (data_url(png_bytes((2000, 1000))), 0, "more than the limit of 1,000,000")]
    for url, seed, error in cases:
        for value in (lambda url=url: {"url": url, "meta": META},
                      lambda url=url: {"path": receive(env, base64.b64decode(url.split(",")[1]))}):
            out, msg = run(env, component.preprocess(value()), seed)
            assert (msg is None) if error is None else (error in msg), msg
            assert leftovers(env.folder) == sorted(env.traps) and env.store.held_bytes == 0
    # the case, scaled down: 10 posts of a 150 kB data URL leave nothing behind
    big = data_url(png_bytes((250, 200)) + os.urandom(150_000))
    for _ in range(10):
        run(env, component.preprocess({"url": big}))
    assert leftovers(env.folder) == sorted(env.traps)
    # a request whose second upload is refused before the handler runs: the first is deleted all the same
    first = component.preprocess({"url": data_url(png_bytes())})
    assert len(leftovers(env.folder)) == len(env.traps) + 1
    with pytest.raises(gr.Error, match="not valid base64"):
        component.preprocess({"url": "data:image/png;base64,%%%"})
    del first  # gradio drops the inputs it preprocessed
    assert leftovers(env.folder) == sorted(env.traps)


def test_the_bytes_held_at_once_are_capped(env):
    store = UploadStore(env.folder, max_bytes=1000, max_held_bytes=2500, received=env.received)
    a, b = store.add_bytes(b"a" * 1000), store.add_bytes(b"b" * 1000)
    with pytest.raises(ServerBusyError, match=r"the server is busy: it holds 2\.0 kB of uploads .* limit of 2\.5 kB"):
        store.add_bytes(b"c" * 1000)
    with pytest.raises(ServerBusyError):
        store.from_data_url(data_url(b"d" * 600))
    path = receive(env, b"e" * 600)
    with pytest.raises(ServerBusyError):
        store.accept(path)
    assert not os.path.exists(path)  # an upload that will never be read is not kept
    with pytest.raises(UploadRefusedError, match=r"the upload is 1\.5 kB, more than the limit of 1\.0 kB"):
        store.accept(receive(env, b"f" * 1500))
    a.release()
    c = store.add_bytes(b"c" * 1000)
    assert store.held_bytes == 2000
    b.release(), c.release()
    assert store.held_bytes == 0 and leftovers(env.folder) == sorted(env.traps)
    # the same upload held by two inputs of one request is deleted when the last lets go
    path = receive(env)
    x, y = store.accept(path), store.accept(path)
    x.release()
    assert os.path.exists(path)
    y.release()
    assert not os.path.exists(path) and not os.path.exists(os.path.dirname(path))


def test_the_paint_canvas_reads_only_uploads_and_keeps_no_files(env):
    from gradio.data_classes import FileData

    canvas = serve_mod._components(env.demo.limits)[1](type="numpy", image_mode="RGB")
    for path in (env.secret, env.outside / "missing.png", env.folder / "link.png", env.outside / "sub"):
        with pytest.raises(gr.Error) as info:
            canvas.convert_and_format_image(FileData(path=str(path)))
        assert info.value.message == REFUSED
    assert canvas.convert_and_format_image(png_bytes()).shape == (6, 8, 3)
    assert canvas.convert_and_format_image(FileData(path=receive(env), orig_name="in.png")).shape == (6, 8, 3)
    assert env.opened and all(p.startswith(str(env.folder)) for p in env.opened)
    assert leftovers(env.folder) == sorted(env.traps) and env.store.held_bytes == 0


# ----- through the real Gradio HTTP API ---------------------------------------------------------------------------
class FakeSR:
    """An x2 'upscaler' (the second tab, as ``condgen serve RUN_a RUN_sr``)."""

    task = "upscale"

    def __init__(self):
        self.cfg = SimpleNamespace(scale=2, channels=3)

    def upscale(self, img):
        return img.resize((img.width * 2, img.height * 2))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The demo of a translator and an upscaler on a free 127.0.0.1 port, with its own upload folder."""
    root = tmp_path_factory.mktemp("served-uploads")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRADIO_TEMP_DIR", str(root / "gradio"))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        app = serve_mod.serve([("a (fake)", Recorder()), ("sr (fake)", FakeSR())], port=port, block=False)
        try:
            yield SimpleNamespace(api=f"http://127.0.0.1:{port}/gradio_api/", app=app, root=root,
                                  folder=Path(app.condgen_uploads.folder))
        finally:
            app.close()


def api_call(server, endpoint: str, data: list) -> tuple[str, object]:
    """(event, data) of one call: 'complete' with the outputs or 'error' with the message."""
    req = urllib.request.Request(server.api + f"call/{endpoint}", data=json.dumps({"data": data}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        event_id = json.load(r)["event_id"]
    with urllib.request.urlopen(server.api + f"call/{endpoint}/{event_id}", timeout=60) as r:
        lines = r.read().decode().splitlines()
    events = [(e.split(": ", 1)[1], json.loads(d.split(": ", 1)[1])) for e, d in zip(lines, lines[1:])
              if e.startswith("event: ") and d.startswith("data: ")]
    return events[-1]


def test_http_api_refuses_a_private_file_outside_every_run(server, tmp_path):
    """The issue's exploit: POST /gradio_api/call/run_1 with {"data": [{"path": PRIVATE}, 0]}."""
    secret = tmp_path / "private.png"
    secret.write_bytes(png_bytes(SECRET_SIZE, 200))
    secret.chmod(0o600)
    (tmp_path / "notes.txt").write_text("not an image")
    answers = []
    for path in (secret, tmp_path / "notes.txt", tmp_path / "missing.png", tmp_path, f"{server.folder}/../../"
                 f"{secret.relative_to(secret.anchor)}"):
        event, data = api_call(server, "run_1", [{"path": str(path)}, 0])
        assert event == "error", (path, data)
        answers.append(data["error"])
    assert set(answers) == {REFUSED}
    event, data = api_call(server, "run_1", [{"path": str(secret), "meta": META}, 0])  # gradio's own check
    assert event == "error" and str(secret) not in json.dumps(data)
    for junk in (None, 5, [1, 2], "x", {"url": "data:image/png;base64,!!"}):
        event, data = api_call(server, "run_1", [junk, 0])
        assert event == "error" and "Traceback" not in json.dumps(data)
    # and the demo still serves real uploads
    event, data = api_call(server, "run_1", [{"url": data_url(png_bytes()), "meta": META}, 0])
    assert event == "complete" and data[0]["path"].endswith(".png")


def test_http_api_upload_files_are_gone_after_requests(server):
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"in.png\"\r\n"
            "Content-Type: image/png\r\n\r\n").encode() + png_bytes((9, 5), 33) + f"\r\n--{boundary}--\r\n".encode()
    req = urllib.request.Request(server.api + "upload", data=body,
                                 headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        (uploaded,) = json.load(r)
    assert os.path.isfile(uploaded)
    event, data = api_call(server, "run", [{"path": uploaded, "meta": META}, 0])
    assert event == "complete"
    assert not os.path.exists(uploaded)
    big = data_url(png_bytes((64, 64)) + os.urandom(300_000))
    gc.disable()  # deletion must not wait for the garbage collector (gradio's error keeps the inputs in a cycle)
    try:
        for seed in (0, "abc", 1):  # success, an error in gradio's own preprocess of the seed, success
            event, _ = api_call(server, "run_1", [{"url": big, "meta": META}, seed])
            assert event == ("error" if seed == "abc" else "complete")
            assert [p for p in server.folder.rglob("*") if p.name.startswith(PREFIX)] == [], seed
    finally:
        gc.enable()
    assert [p for p in server.folder.rglob("*") if p.name.startswith(PREFIX) or p.name == "in.png"] == []
    assert server.app.condgen_uploads.held_bytes == 0
