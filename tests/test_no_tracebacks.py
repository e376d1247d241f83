"""Issue 17, "tracebacks where a message belongs": every input a user can get wrong ends in one clear paragraph
(a CondgenError or a usage message), exit code 2, no Python traceback; plus hypothesis fuzzers over CLI argument
lists and over the structure of YAML config files (depth, size, encoding)."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import typer
import yaml
from cli_helpers import make_run, run_cli, save_image
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from condgen.errors import ConfigError

pytestmark = pytest.mark.usefixtures("one_thread")


def _clean(code, out, err, *needles):
    assert code == 2, (code, out, err)
    assert "Traceback" not in out + err and "weights_only" not in out + err, err
    for n in needles:
        assert n in out + err, err


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("runs") / "dc", "dcgan",
                    {"image_size": 16, "channels": 1, "ngf": 8, "ndf": 8})


# ----- config values and files ---------------------------------------------------------------------------
@pytest.mark.parametrize("setting, needle", [
    ("seed=99999999999999999999999", "'seed'"),
    ("seed=-1", "'seed'"),
    ("train.steps=1e300", "'train.steps'"),
    ("train.ema_decay=.nan", "must be a finite number"),
    ("model.lr=.inf", "must be a finite number"),
    ("model.lr=-.inf", "must be a finite number"),
    ("model.nz=" + "[" * 3000 + "]" * 3000, "nests lists or mappings"),
    ("." * 50 + "=1", "not a config key"),
], ids=["seed-overflow", "seed-negative", "int-overflow", "nan", "inf", "-inf", "deep-value", "empty-key"])
def test_bad_config_values_are_messages(capsys, tmp_path, setting, needle):
    _clean(*run_cli(capsys, "train", "dcgan", "--data", tmp_path, "--out", tmp_path / "r", "--set", setting), needle)


@pytest.mark.parametrize("content, needle", [
    (b"model:\n  name: dcgan\n  nz: \xff\xfe\n", "is not UTF-8 text"),
    (b"model: " + b"[" * 100_000 + b"]" * 100_000, "nests lists or mappings more than 20 levels"),
    ("".join("  " * i + f"k{i}:\n" for i in range(60)).encode(), "nests lists or mappings more than 20 levels"),
    ("model: {name: dcgan}\n".encode("utf-16"), "is not UTF-8 text"),
], ids=["latin-1", "100000-deep", "60-deep-mapping", "utf-16"])
def test_bad_config_files_are_messages(capsys, tmp_path, content, needle):
    f = tmp_path / "c.yaml"
    f.write_bytes(content)
    _clean(*run_cli(capsys, "train", "--config", f), needle)


# ----- sample and output names ---------------------------------------------------------------------------
def test_sample_counts_and_output_names(capsys, tmp_path, run):
    for n in ("0", "-3"):
        _clean(*run_cli(capsys, "sample", run, "--n", n), "--n")
    (tmp_path / "folder").mkdir()
    _clean(*run_cli(capsys, "sample", run, "--out", tmp_path / "folder"), "is a folder", "folder/out.png")
    _clean(*run_cli(capsys, "sample", run, "--out", tmp_path / "grid"), "has no image extension", "grid.png")
    _clean(*run_cli(capsys, "sample", run, "--seed", "99999999999999999999999"), "--seed")


def test_out_naming_an_existing_file_is_a_message(capsys, tmp_path, run):
    f = tmp_path / "file"
    f.write_text("not a folder")
    img = save_image(tmp_path / "a.png", 8, 8)
    cg = make_run(tmp_path / "cg", "cyclegan", {"netG": "resnet_6blocks", "ngf": 4, "ndf": 4})
    _clean(*run_cli(capsys, "translate", cg, img, "--out", f), "is an existing file, not a folder")
    _clean(*run_cli(capsys, "train", "dcgan", "--data", "digits", "--out", f), "is an existing file, not a folder")
    assert f.read_text() == "not a folder"


def test_a_symlink_loop_in_a_data_folder_is_skipped_with_a_warning(capsys, tmp_path):
    from condgen.data.images import UnreadableLinkWarning, list_images

    folder = tmp_path / "d"
    save_image(folder / "real.png", 8, 8)
    (folder / "a.png").symlink_to("b.png")
    (folder / "b.png").symlink_to("a.png")
    with pytest.warns(UnreadableLinkWarning, match=r"skipped 2 entries.*a\.png"):
        assert [p.name for p in list_images(folder)] == ["real.png"]
    sr = make_run(tmp_path / "sr", "srresnet", {"n_blocks": 1, "ngf": 4})
    with pytest.warns(UnreadableLinkWarning):
        code, out, err = run_cli(capsys, "upscale", sr, folder, "--out", tmp_path / "o")
    assert code == 0 and "wrote 1" in out, err


# ----- checkpoints and weights files -----------------------------------------------------------------------
def _safetensors_with(src, **meta_changes) -> bytes:
    from safetensors.torch import load, save

    data = src.read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    meta = json.loads(data[8:8 + n])["__metadata__"]
    for k, v in meta_changes.items():
        if v is None:
            meta.pop(k)
        else:
            meta[k] = v
    return save(load(data), metadata=meta)


def test_files_that_are_not_checkpoints_are_named_with_a_reason(capsys, tmp_path, run):
    weights = tmp_path / "w.safetensors"
    assert run_cli(capsys, "export", run, "--format", "safetensors", "--out", weights)[0] == 0
    rng = np.random.default_rng(0)
    contents = {"a safetensors file": weights.read_bytes(), "a text file": b"root:x:0:0:root:/root:/bin/bash\n" * 20,
                "an empty file": b"", "random bytes": rng.integers(0, 256, 5000, dtype=np.uint8).tobytes()}
    reasons = {"an empty file": "the file is empty", "random bytes": "UnpicklingError: Unsupported operand"}
    for what, data in contents.items():
        bad = tmp_path / what.replace(" ", "_")
        (bad / "checkpoints").mkdir(parents=True)
        (bad / "config.yaml").write_bytes((run / "config.yaml").read_bytes())
        (bad / "checkpoints" / "last.pt").write_bytes(data)
        code, out, err = run_cli(capsys, "sample", bad, "--out", tmp_path / "s.png")
        _clean(code, out, err, "last.pt is unreadable", reasons.get(what, "not a PyTorch checkpoint"))
        assert "()" not in err, err
    for changes, needle in [({"config": None}, "has no condgen config inside"),
                            ({"config": "{bad json"}, "config or step stored in it is damaged"),
                            ({"step": "abc"}, "config or step stored in it is damaged"),
                            ({"config": "[1, 2]"}, "not a mapping"),
                            ({"config": json.dumps({"model": {"name": "dcgan", "nz": "x"}})}, "not valid")]:
        crafted = tmp_path / "crafted.safetensors"
        crafted.write_bytes(_safetensors_with(weights, **changes))
        _clean(*run_cli(capsys, "sample", crafted, "--out", tmp_path / "s.png"), needle)


def test_torchs_advice_to_load_unsafely_never_reaches_the_user():
    from condgen.errors import strip_unsafe_advice

    torch_text = ("Weights only load failed. In PyTorch 2.6, we changed the default value of the `weights_only` "
                  "argument in `torch.load` from `False` to `True`. Re-running `torch.load` with `weights_only` set "
                  "to `False` will likely succeed, but it can result in arbitrary code execution. Do it only if you "
                  "got the file from a trusted source.\nPlease file an issue with the following so that we can make "
                  "`weights_only=True` compatible with your use case: WeightsUnpickler error: \n\nUnsupported "
                  "operand 65\n\nCheck the documentation of torch.load to learn more about types accepted by default "
                  "with weights_only https://pytorch.org/docs/stable/generated/torch.load.html.")
    kept = strip_unsafe_advice(f"cannot read x.pth as a PyTorch state dict (UnpicklingError: {torch_text})")
    assert "weights_only" not in kept and "False" not in kept and "Unsupported operand 65" in kept, kept


# ----- data errors in DataLoader workers --------------------------------------------------------------------
def test_a_bad_image_in_a_worker_gives_its_own_message(capsys, tmp_path, tiny):
    folder = tmp_path / "d"
    for i in range(8):
        save_image(folder / f"{i}.png", 16, 16, seed=i)
    data = bytearray((folder / "7.png").read_bytes())  # a valid header, corrupt pixel data: fails only on decode
    at = data.find(b"IDAT") + 8
    data[at:at + 40] = bytes(b ^ 0x55 for b in data[at:at + 40])
    (folder / "7.png").write_bytes(bytes(data))
    sets = [a for s in [*tiny, "data.batch_size=2", "train.num_samples=2", "data.bad_images=error",
                        "data.num_workers=1", "model.channels=3"] for a in ("--set", s)]
    code, out, err = run_cli(capsys, "train", "dcgan", "--data", folder, "--out", tmp_path / "r", "--steps", "6",
                             *sets)
    _clean(code, out, err, "cannot read image", "7.png", "data.bad_images=skip")
    assert "Caught" not in err and "worker process" not in err and "Original Traceback" not in err, err


# ----- fuzzers ---------------------------------------------------------------------------------------------
def _commands():
    """(path, click command) of every condgen command but those that start long work when their arguments are
    valid (quickstart trains, serve serves)."""
    from condgen.cli import app

    root = typer.main.get_command(app)
    found = []
    for name, cmd in root.commands.items():
        subs = getattr(cmd, "commands", None)
        for sub_name, sub in (subs.items() if subs else [(None, cmd)]):
            if name not in ("quickstart", "serve"):
                found.append(([name] + ([sub_name] if sub_name else []), sub))
    return found


COMMANDS = _commands()
WORDS = ["dcgan", "cgan", "pix2pix", "AtoB", "onnx", "safetensors", "auto", "cpu", "x", "", "-", "--", "a=b",
         "train.steps=1", "seed=-5", "model.lr=nan", "data.num_workers=99999", "1e999", "nan", "-1", "0",
         "99999999999999999999999", "3.5", "é", "\x00", "../../etc/passwd", "builtin:nope"]


@st.composite
def argv(draw, paths):
    words, cmd = draw(st.sampled_from(COMMANDS))
    args = list(words)
    values = st.one_of(st.sampled_from(WORDS), st.sampled_from(paths), st.integers(-10**25, 10**25).map(str),
                       st.text(max_size=8))
    for _ in range(draw(st.integers(0, 4))):
        param = draw(st.sampled_from(cmd.params)) if cmd.params else None
        if param is None or param.param_type_name == "argument":
            args.append(draw(values))
        else:
            args.append(draw(st.sampled_from(param.opts + param.secondary_opts)))
            if not getattr(param, "is_flag", False):
                args.append(draw(values))
    return args


def test_fuzzed_cli_argument_lists_never_show_a_traceback(capsys, tmp_path, cache_dir, monkeypatch):
    """Random argument lists over every command and option (hypothesis): exit code 0, 1 or 2 and never a
    Python traceback. Paths offered: missing, a file that is not a run, an empty folder, a run whose checkpoint
    is garbage (fails fast), a folder with one image; no valid run, so nothing trains or serves for long."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file.txt").write_text("hello")
    (tmp_path / "empty").mkdir()
    junk = tmp_path / "junk_run"
    (junk / "checkpoints").mkdir(parents=True)
    (junk / "config.yaml").write_text(yaml.safe_dump({"model": {"name": "dcgan", "image_size": 16}}))
    (junk / "checkpoints" / "last.pt").write_bytes(b"garbage" * 10)
    save_image(tmp_path / "imgs" / "a.png", 8, 8)
    paths = ["missing", "file.txt", "empty", "junk_run", "imgs", "imgs/a.png", "out", "out.png", "junk_run/config.yaml"]

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(args=argv(paths))
    def check(args):
        code, out, err = run_cli(capsys, *args)
        assert code in (0, 1, 2), (args, code, out, err)
        assert "Traceback" not in out + err, (args, err)

    check()


def _nest(depth: int, kind: str) -> str:
    if kind == "flow":
        return "model: " + "[" * depth + "]" * depth + "\n"
    if kind == "map":
        return "".join("  " * i + f"k{i}:\n" for i in range(depth)) + "  " * depth + "v\n"
    return "".join("  " * i + "- \n" for i in range(depth)) + "  " * depth + "- 1\n"


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=st.one_of(
    st.integers(0, 30_000).map(lambda d: _nest(d, "flow")),
    st.tuples(st.integers(0, 400), st.sampled_from(["map", "list"])).map(lambda t: _nest(*t)),
    st.text(max_size=200),
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
    st.recursive(st.one_of(st.none(), st.booleans(), st.floats(), st.integers(), st.text(max_size=5)),
                 lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(st.text(max_size=5), c, max_size=3)),
                 max_leaves=30).map(lambda d: yaml.safe_dump({"model": {"name": "dcgan", "nz": d}})),
), encoding=st.sampled_from(["utf-8", "utf-16", "latin-1", "cp1252"]), big=st.booleans())
def test_fuzzed_yaml_structure_gives_a_config_error(tmp_path, doc, encoding, big):
    """YAML files of any depth (to 30,000 levels), size (to 2.5 MB), content and encoding: loaded and turned into
    a config, or a ConfigError; never another exception."""
    from condgen.config import load_yaml
    from condgen.runs import build_config

    f = tmp_path / "c.yaml"
    repeat = 1_200_000 // max(1, len(doc)) + 1 if big else 1  # big: over the 1 MB limit
    f.write_bytes((doc * repeat).encode(encoding, errors="replace"))
    try:
        build_config("dcgan", load_yaml(f))
    except ConfigError:
        pass

