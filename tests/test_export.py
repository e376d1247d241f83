"""condgen export: ONNX (checked with onnxruntime) and TorchScript for every generator family, weights-only
safetensors that condgen.load reads back, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from cli_helpers import run_cli
from PIL import Image
from tiny_runs import TINY

import condgen
from condgen.cli import resolve_config
from condgen.errors import CheckpointError, ConfigError, ModelError
from condgen.export import export_run
from condgen.train import train

COMMON = ["train.steps=1", "train.precision=fp32", "train.progress=false", "train.tensorboard=false",
          "train.sample_every=1000", "train.val_every=0"]

# tiny networks of each family (tests/tiny_runs.py), one training step each
FAMILIES = {name: (TINY[name].data, TINY[name].sets)
            for name in ("dcgan", "cgan", "pix2pix", "cyclegan", "munit", "srresnet")}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, cache_dir):
    root = tmp_path_factory.mktemp("export-runs")
    out = {}
    for name, (data, sets) in FAMILIES.items():
        cfg = resolve_config(name, data, None, None, [*COMMON, *sets])
        train(cfg, root / name)
        out[name] = root / name
    return out


@pytest.mark.parametrize("name", list(FAMILIES))
def test_onnx_matches_pytorch(runs, tmp_path, name, one_thread):
    """onnxruntime on inputs of another batch size (and spatial size) agrees with PyTorch within 1e-4."""
    size = TINY[name].export_size
    report = export_run(runs[name], "onnx", tmp_path / "g.onnx", size=size)
    assert report["max_abs_diff"] <= 1e-4
    import onnxruntime as ort

    sess = ort.InferenceSession(str(tmp_path / "g.onnx"), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    assert names == list(report["inputs"])
    if name in ("pix2pix", "cyclegan", "srresnet"):
        # independently of the built-in check: an image of a new size through the file and through the model
        model = condgen.load(runs[name])
        side = {"pix2pix": 128, "cyclegan": 40, "srresnet": 12}[name]
        x = torch.rand(1, 3, side, side) * 2 - 1
        y = sess.run(None, {names[0]: x.numpy()})[0]
        with torch.no_grad():
            ref = model.export_spec(size=size).module(x).numpy()
        assert y.shape == ref.shape and np.abs(y - ref).max() < 1e-4
        if name == "srresnet":
            assert y.shape[-1] == side * 4


def test_torchscript_and_weights_only_safetensors(runs, tmp_path, capsys, one_thread):
    run = runs["cyclegan"]
    code, out, err = run_cli(capsys, "export", run, "--format", "torchscript", "--out", tmp_path / "g.pt",
                             "--direction", "BtoA", "--size", "32")
    assert code == 0, err
    assert "max difference" in out
    scripted = torch.jit.load(str(tmp_path / "g.pt"))
    model = condgen.load(run)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(scripted(x), model.generate(A=x, direction="BtoA"), atol=1e-5)
    # weights only: no optimizer state, no D; condgen.load gives the same translations
    code, out, err = run_cli(capsys, "export", run, "--format", "safetensors", "--out", tmp_path / "w.safetensors")
    assert code == 0, err
    from safetensors.torch import load_file

    keys = load_file(tmp_path / "w.safetensors")
    assert keys and all(k.startswith(("G_A.", "G_B.")) for k in keys)
    again = condgen.load(tmp_path / "w.safetensors")
    Image.new("RGB", (36, 20), "teal").save(tmp_path / "in.png")
    img = Image.open(tmp_path / "in.png")
    assert np.array_equal(np.asarray(again.translate(img)), np.asarray(model.translate(img)))


def test_pt2_export_keeps_dynamic_sizes_and_torchscript_warns_nothing(runs, tmp_path, capsys, one_thread):
    """torch.export (.pt2): batch and spatial size stay dynamic; neither format prints a deprecation warning."""
    import warnings

    run = runs["cyclegan"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        for fmt, name in (("pt2", "g.pt2"), ("torchscript", "g.pt")):
            code, out, err = run_cli(capsys, "export", run, "--format", fmt, "--out", tmp_path / name, "--size", "32")
            assert code == 0, err
            assert "max difference" in out and "deprecat" not in (out + err).lower()
    program = torch.export.load(str(tmp_path / "g.pt2")).module()
    model = condgen.load(run)
    with torch.no_grad():
        for shape in [(3, 3, 48, 40), (1, 3, 32, 32)]:  # other batches and sizes than the export's example
            x = torch.rand(*shape) * 2 - 1
            assert torch.allclose(program(x), model.generate(A=x), atol=1e-5)


def test_bad_exports(runs, tmp_path, capsys):
    with pytest.raises(ConfigError, match="--format must be one of onnx, torchscript, pt2, safetensors"):
        export_run(runs["dcgan"], "tflite", tmp_path / "x")
    with pytest.raises(ConfigError, match="multiple of"):
        export_run(runs["pix2pix"], "onnx", tmp_path / "x.onnx", size=50)
    code, _, err = run_cli(capsys, "export", tmp_path, "--format", "onnx", "--out", tmp_path / "x.onnx")
    assert code != 0 and "not a condgen run" in err
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 16)
    with pytest.raises(CheckpointError, match="not a readable safetensors file|not condgen weights"):
        condgen.load(tmp_path / "junk.safetensors")


def test_unsupported_model_says_so():
    from condgen.models.base import GenerativeModel
    from condgen.runs import build_config

    class NoExport(GenerativeModel):
        pass

    with pytest.raises(ModelError, match="not supported yet.*safetensors"):
        NoExport(build_config("dcgan", {}).model).export_spec()


def test_inference_verbs_take_paths_arrays_pil_and_tensors(runs, tmp_path):
    """condgen.load(...).translate / .upscale accept a path, a uint8 array, a PIL image or a tensor and agree."""
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (20, 28, 3), dtype=np.uint8)
    Image.fromarray(arr).save(tmp_path / "in.png")
    for name, verb, scale in (("cyclegan", "translate", 1), ("srresnet", "upscale", 4)):
        model = condgen.load(runs[name])
        fn = getattr(model, verb)
        from_path = fn(tmp_path / "in.png")
        from_str = fn(str(tmp_path / "in.png"))
        from_array = fn(arr)
        from_pil = fn(Image.fromarray(arr))
        from_tensor = fn(torch.from_numpy(arr).permute(2, 0, 1).float() / 127.5 - 1)
        assert isinstance(from_path, Image.Image) and from_path.size == (28 * scale, 20 * scale)
        assert isinstance(from_array, np.ndarray) and from_array.shape == (20 * scale, 28 * scale, 3)
        assert np.array_equal(np.asarray(from_path), from_array)
        assert np.array_equal(np.asarray(from_str), from_array) and np.array_equal(np.asarray(from_pil), from_array)
        as_uint8 = ((from_tensor.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
        assert np.abs(as_uint8.astype(int) - from_array).max() <= 1
    with pytest.raises(Exception, match="does not exist|not found|No such"):
        condgen.load(runs["cyclegan"]).translate(tmp_path / "missing.png")


@pytest.mark.parametrize("name", ["style", "unit"])
def test_onnx_parity_of_untrained_generators(name, tmp_path, one_thread):
    """Families without a trained run in this file: the spec's module through ONNX and onnxruntime vs PyTorch."""
    import onnxruntime as ort

    from condgen.export import _run_onnx, _to_onnx
    from condgen.models import get_model_class
    from condgen.runs import build_config

    small = {"style": {"vgg_weights": "random"},
             "unit": {"ngf": 4, "ndf": 4, "n_res_private": 1, "num_scales": 1, "n_layers_D": 2}}[name]
    model = get_model_class(name).for_inference(build_config(name, {"model": small}).model)
    model.train_mode(False)
    spec = model.export_spec(size=32)
    spec.module.eval().requires_grad_(False)
    _to_onnx(spec, tmp_path / "g.onnx", name)
    got = _run_onnx(tmp_path / "g.onnx", spec)
    with torch.no_grad():
        want = spec.module(*spec.check_inputs)
    assert got.shape == want.shape == (2, 3, 36, 36) and (got - want).abs().max() < 1e-4
    assert ort.InferenceSession(str(tmp_path / "g.onnx")).get_inputs()[0].shape[2] == "height"


@pytest.mark.parametrize("name", ["spade", "oasis", "sean"])
def test_onnx_parity_of_semantic_generators(name, tmp_path, one_thread):
    """Semantic generators export on their network input (one-hot map, + noise / style matrix) with dynamic H, W."""
    from condgen.export import _run_onnx, _to_onnx
    from condgen.models import get_model_class
    from condgen.runs import build_config

    small = {"label_nc": 3, "ngf": 2, "ndf": 2, "spade_hidden": 4, "param_free_norm": "batch"}
    if name == "oasis":
        small.update(z_dim=4)
    if name == "sean":
        small.update(style_dim=4)
    model = get_model_class(name).for_inference(build_config(name, {"model": small}).model)
    model.train_mode(False)
    spec = model.export_spec(size=64)
    spec.module.eval().requires_grad_(False)
    _to_onnx(spec, tmp_path / "g.onnx", name)
    got = _run_onnx(tmp_path / "g.onnx", spec)
    with torch.no_grad():
        want = spec.module(*spec.check_inputs)
    assert got.shape == want.shape and got.shape[-1] > 64 and (got - want).abs().max() < 1e-4


def test_onnx_parity_of_the_mlp_gan(tmp_path, one_thread):
    from condgen.export import _run_onnx, _to_onnx
    from condgen.models import get_model_class
    from condgen.runs import build_config

    cfg = build_config("gan", {"model": {"image_size": 8, "channels": 1, "g_hidden": [16], "d_hidden": [8]}}).model
    model = get_model_class("gan").for_inference(cfg)
    model.train_mode(False)
    spec = model.export_spec()
    _to_onnx(spec, tmp_path / "g.onnx", "gan")
    got = _run_onnx(tmp_path / "g.onnx", spec)
    with torch.no_grad():
        want = spec.module(*spec.check_inputs)
    assert got.shape == want.shape == (3, 1, 8, 8) and (got - want).abs().max() < 1e-4


def test_an_unsupported_op_is_named(tmp_path):
    """A generator using an op the ONNX exporter lacks: a ModelError that names the op, no file left behind."""
    from condgen.export import Exportable, ExportSpec, _to_onnx

    class UsesVdot(torch.nn.Module):
        def forward(self, x):
            return x * torch.vdot(x.flatten(), x.flatten())

    net = UsesVdot()
    spec = ExportSpec(Exportable(net, {"net": net}), (torch.ones(1, 3, 4, 4),), ["image_in"])
    with pytest.raises(ModelError, match="could not be exported to ONNX.*vdot"):
        _to_onnx(spec, tmp_path / "g.onnx", "toy")
    assert not (tmp_path / "g.onnx").exists()
