"""`condgen download` / `condgen data download` against a server on 127.0.0.1 serving files this test makes:
resume of a cut download (HTTP Range), SHA-256 checks, import into a run, safe extraction, offline message."""

from __future__ import annotations

import hashlib
import http.server
import io
import socket
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_helpers import run_cli
from PIL import Image

from condgen import download as dl


class _Files(http.server.BaseHTTPRequestHandler):
    """GET of in-memory files with Range support; a path in ``cut`` sends half its bytes once, then hangs up."""

    files: dict[str, bytes] = {}
    cut: set[str] = set()
    seen: list[tuple[str, str | None]] = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        path = self.path.split("?")[0]
        self.seen.append((path, self.headers.get("Range")))
        data = self.files.get(path)
        if data is None:
            self.send_error(404)
            return
        start = int(self.headers["Range"].split("=")[1].split("-")[0]) if self.headers.get("Range") else 0
        body = data[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if path in self.cut:
            self.cut.discard(path)
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    _Files.files, _Files.cut, _Files.seen = {}, set(), []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", _Files
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CONDGEN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.chdir(tmp_path)


def _png(level: int, side: int = 40) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((side, side, 3), level, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def test_list_shows_names_papers_sizes_and_licences(capsys):
    code, out, _ = run_cli(capsys, "download", "--list")
    assert code == 0 and "vgg19" in out and "pix2pix-facades_label2photo" in out and "non-commercial" in out
    kinds = {line.split()[1] for line in out.splitlines()[1:]}
    assert kinds == {"weights", "checkpoint"}  # datasets are listed by `condgen data download --list`
    code, out, _ = run_cli(capsys, "data", "download", "--list")
    assert code == 0 and "horse2zebra" in out and "111 MB" in out
    code, _, err = run_cli(capsys, "download", "spade")
    assert code == 2 and "https://github.com/NVlabs/SPADE" in err and "import-weights FILE --format spade" in err


def test_a_published_pix2pix_checkpoint_is_resumed_checked_and_imported(server, capsys, tmp_path):
    from test_import_weights import RefUnet, randomized

    base, files = server
    buf = io.BytesIO()
    torch.save(randomized(RefUnet(3, 3, 6, 4)).state_dict(), buf)
    data = buf.getvalue()
    path = "/pix2pix/models-pytorch/facades_label2photo.pth"
    files.files[path] = data
    files.cut.add(path)
    code, _, err = run_cli(capsys, "download", "pix2pix-facades_label2photo", "--mirror", base, "--out", "runs/f")
    assert code == 2 and "run the same command again to resume" in err and "Traceback" not in err
    part = tmp_path / "cache" / "downloads" / "pix2pix_facades_label2photo.pth.part"
    assert 0 < part.stat().st_size < len(data)
    code, out, err = run_cli(capsys, "download", "pix2pix-facades_label2photo", "--mirror", base, "--out", "runs/f")
    assert code == 0, err
    assert files.seen[-1][0] == path and files.seen[-1][1].startswith("bytes=")  # only the rest was asked for
    assert int(files.seen[-1][1][6:-1]) > 0
    assert hashlib.sha256(data).hexdigest() in out and not part.exists()
    Image.open(io.BytesIO(_png(90, 70))).save(tmp_path / "in.png")
    code, out, err = run_cli(capsys, "translate", "runs/f", tmp_path / "in.png", "--out", "o")
    assert code == 0, err
    assert Image.open(tmp_path / "o" / "in.png").size == (70, 70)


def test_weights_go_to_the_torch_cache_and_a_wrong_hash_is_refused(server, monkeypatch, tmp_path):
    base, files = server
    good = b"weights " * 1000
    prefix = hashlib.sha256(good).hexdigest()[:8]
    item = dl.Item("vgg-test", "weights", "p", "d", "8 kB", "l", "https://example.invalid/models/vgg-test.pth",
                   hash_prefix=prefix)
    monkeypatch.setitem(dl.CATALOG, "vgg-test", item)
    files.files["/models/vgg-test.pth"] = good
    _, where, sha = dl.download("vgg-test", mirror=base, progress=False)
    assert where == tmp_path / "torch" / "hub" / "checkpoints" / "vgg-test.pth" and where.read_bytes() == good
    assert sha.startswith(prefix)
    files.files["/models/vgg-bad.pth"] = good + b"!"
    monkeypatch.setitem(dl.CATALOG, "vgg-bad", dl.Item("vgg-bad", "weights", "p", "d", "8 kB", "l",
                                                       "https://example.invalid/models/vgg-bad.pth",
                                                       hash_prefix=prefix))
    with pytest.raises(dl.DownloadError, match="is damaged: its SHA-256"):
        dl.download("vgg-bad", mirror=base, progress=False)
    assert not any((tmp_path / "torch" / "hub" / "checkpoints").glob("vgg-bad*"))


def test_a_cyclegan_dataset_is_extracted_in_its_layout_and_traversal_is_refused(server, capsys, tmp_path):
    base, files = server
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for folder, level in (("trainA", 40), ("trainB", 200), ("testA", 60), ("testB", 180)):
            for i in range(3):
                z.writestr(f"horse2zebra/{folder}/{i}.png", _png(level + i))
    files.files["/cyclegan/datasets/horse2zebra.zip"] = buf.getvalue()
    code, out, err = run_cli(capsys, "data", "download", "horse2zebra", "--mirror", base)
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "datasets" / "horse2zebra").iterdir()) == [
        "testA", "testB", "trainA", "trainB"]
    from condgen.data import load_unpaired

    assert len(load_unpaired(tmp_path / "datasets" / "horse2zebra", "train", crop_size=32, load_size=32)) == 3
    evil = io.BytesIO()
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("../escaped.txt", "x")
    files.files["/cyclegan/datasets/apple2orange.zip"] = evil.getvalue()
    code, _, err = run_cli(capsys, "data", "download", "apple2orange", "--mirror", base)
    assert code == 2 and "outside the folder" in err and not (tmp_path / "escaped.txt").exists()


def test_offline_says_so(capsys, tmp_path):
    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, _, err = run_cli(capsys, "download", "vgg16", "--mirror", f"http://127.0.0.1:{port}")
    assert code == 2 and "could not reach 127.0.0.1" in err and "offline" in err and "Traceback" not in err
    code, _, err = run_cli(capsys, "download", "nothing-such")
    assert code == 2 and "nothing called 'nothing-such'" in err
    assert not Path(tmp_path / "torch" / "hub" / "checkpoints" / "vgg16-397923af.pth").exists()
