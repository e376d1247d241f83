"""Security and fuzzed input: a malicious checkpoint never runs code; random bytes as images and random YAML as
configs end in a CondgenError (never a raw PIL/YAML/PyTorch traceback); the CLI works with sockets blocked."""

from __future__ import annotations

import io
import os
import pickle
import socket
import zipfile

import pytest
import torch
import yaml
from cli_helpers import run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import condgen
from condgen.errors import CheckpointError, CondgenError


class _Payload:
    """Unpickling this runs ``os.system`` (writes a marker file): what a malicious checkpoint would do."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _malicious_checkpoint(path, marker) -> None:
    from condgen.train.checkpoint import FORMAT

    torch.save({"format": FORMAT, "nets": {"G": _Payload(str(marker))}, "step": 1}, path)


def test_a_malicious_checkpoint_is_refused_without_running_code(tmp_path, capsys, cache_dir, tiny):
    from condgen.cli import resolve_config
    from condgen.train import train

    run = tmp_path / "run"
    train(resolve_config("dcgan", "digits", None, None, [*tiny, "train.steps=1"]), run)
    marker = tmp_path / "pwned"
    _malicious_checkpoint(run / "checkpoints" / "last.pt", marker)
    with pytest.raises(CheckpointError, match="refused to load"):
        condgen.load(run)
    code, _, err = run_cli(capsys, "train", "--resume", run, "--steps", "2")
    assert code != 0 and "refused to load" in err
    code, _, err = run_cli(capsys, "sample", run, "--out", tmp_path / "s.png")
    assert code != 0 and "refused to load" in err
    assert not marker.exists()  # the payload never ran
    # the reference-weights importer reads with weights_only too
    bad = tmp_path / "latest_net_G.pth"
    torch.save({"model.0.weight": _Payload(str(marker))}, bad)
    code, _, err = run_cli(capsys, "import-weights", bad, "--out", tmp_path / "imp")
    assert code != 0 and not marker.exists()


def _png_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 6), "red").save(buf, format="PNG")
    return buf.getvalue()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(st.binary(max_size=300),
                      st.integers(1, 60).map(lambda k: _png_bytes()[:k]),  # truncated PNGs
                      st.binary(min_size=1, max_size=40).map(lambda b: _png_bytes()[:33] + b)))  # corrupt data
def test_random_bytes_as_an_image_give_a_condgen_error(tmp_path, data):
    from condgen.data.images import open_image

    path = tmp_path / "x.png"
    path.write_bytes(data)
    try:
        img = open_image(path, 3)
    except CondgenError as e:
        assert str(path.name) in str(e) or "image" in str(e).lower()
    else:  # a decodable file: a real RGB image
        assert img.mode == "RGB" and min(img.size) >= 1


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
                        lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids,
                                                                                   max_size=3), max_leaves=8))
def test_random_yaml_configs_give_a_condgen_error(tmp_path, doc):
    from condgen.config import load_yaml
    from condgen.runs import build_config

    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(doc))
    try:
        data = load_yaml(path)
        build_config("dcgan", data)
    except CondgenError:
        pass


def test_random_yaml_text_and_unknown_keys(tmp_path):
    from condgen.config import load_yaml
    from condgen.errors import ConfigError
    from condgen.runs import build_config

    for text in ("model: [unclosed", "\t- : :", "!!python/object/apply:os.system ['true']", "a: b: c"):
        path = tmp_path / "c.yaml"
        path.write_text(text)
        with pytest.raises(CondgenError):
            build_config("dcgan", load_yaml(path))
    with pytest.raises(ConfigError, match="ngff"):
        build_config("dcgan", {"model": {"ngff": 3}})


def test_the_cli_needs_no_network(capsys, tmp_path, cache_dir, tiny, monkeypatch):
    """Train, sample, evaluate, translate and export with every socket connection refused."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args[1:] if len(args) > 1 else args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    run = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", "dcgan", "--data", "digits", "--out", run, "--steps", "2",
                           *[a for s in tiny for a in ("--set", s)])
    assert code == 0, err
    code, _, err = run_cli(capsys, "sample", run, "--out", tmp_path / "s.png", "--n", "4")
    assert code == 0, err
    code, _, err = run_cli(capsys, "export", run, "--format", "safetensors", "--out", tmp_path / "w.safetensors")
    assert code == 0, err


def test_a_zip_that_is_not_a_checkpoint(tmp_path):
    from condgen.train.checkpoint import load_checkpoint

    path = tmp_path / "x.pt"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("data.pkl", pickle.dumps({"a": 1}))
    with pytest.raises(CheckpointError):
        load_checkpoint(path)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(st.binary(max_size=300), st.integers(1, 60).map(lambda k: _png_bytes()[:k])))
def test_random_bytes_as_a_label_map_give_a_condgen_error(tmp_path, data):
    from condgen.data.semantic import read_label

    path = tmp_path / "l.png"
    path.write_bytes(data)
    try:
        ids = read_label(path)
    except CondgenError:
        pass
    else:
        assert ids.dtype.name == "uint8" and ids.ndim == 2
