"""The contract every registered model keeps, checked for each entry of ``condgen.models.MODELS`` (like diffusers'
model tester mixin): built from its quick preset at tiny size (tests/tiny_runs.py), 2 steps through the real
Trainer, a checkpoint, bit-exact resume, ``condgen.load``, its task's inference verb, and ONNX export parity.

A model registered without an entry in tests/tiny_runs.py fails here, so it is tested the day it is registered.
"""

from __future__ import annotations

import inspect
import os
import signal

import numpy as np
import pytest
import torch
from PIL import Image
from tiny_runs import TINY, tiny_config

import condgen
from condgen.export import export_run
from condgen.models import MODELS
from condgen.runs import load_run_config
from condgen.train import Trainer, train
from condgen.train.checkpoint import load_checkpoint

pytestmark = [
    pytest.mark.usefixtures("one_thread"),  # tiny convolutions: thread hand-offs cost more than they save
    pytest.mark.filterwarnings("ignore:VGGFeatures.*random weights:UserWarning"),  # the table asks for them
]

STEPS = 2  # the full run; the resumed one stops at STEPS // 2 and continues to STEPS
EXTRA = ["train.ema_decay=0.9", "train.log_every=1", "train.num_samples=4"]  # EMA on, so resume covers it too
#: the largest difference to PyTorch that condgen export accepts (export_run's default)
EXPORT_TOLERANCE = inspect.signature(export_run).parameters["tolerance"].default


def entry(name: str):
    """The model's tiny-run entry, or a failure saying where to add one."""
    if name not in TINY:
        pytest.fail(f"model '{name}' is registered in condgen.models.MODELS but has no entry in TINY in "
                    f"tests/tiny_runs.py: add its built-in data, tiny --set overrides and task there, so the "
                    f"contract suite (tests/test_contract.py) covers it.", pytrace=False)
    return TINY[name]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, cache_dir):
    """Tiny runs per model, trained once on first use: {name: (full run, resumed run)}."""
    root = tmp_path_factory.mktemp("contract")
    made: dict = {}

    def get(name: str):
        if name not in made:
            entry(name)
            made[name] = None  # a failed training is not retried by the next test
            made[name] = _train_full_and_resumed(name, root / name)
        if made[name] is None:
            pytest.skip(f"the tiny {name} run failed to train (see test_trains_checkpoints_and_resumes_bit_exactly)")
        return made[name]

    return get


def _train_full_and_resumed(name: str, root):
    """STEPS steps in one go, and the same run stopped (as by Ctrl-C) after STEPS // 2 steps then resumed as
    `condgen train --resume RUN` does (from the run's config.yaml): the same config throughout, since LR schedules
    depend on train.steps."""
    cfg = tiny_config(name, STEPS, *EXTRA)
    full, half = root / "full", root / "resumed"
    assert train(cfg, full).step == STEPS
    trainer = Trainer(cfg, half)
    real_step, calls = trainer.model.training_step, []

    def stopped_after_half(batch):
        calls.append(1)
        if len(calls) == STEPS // 2:
            os.kill(os.getpid(), signal.SIGINT)  # the trainer's handler finishes this step, checkpoints and stops
        return real_step(batch)

    trainer.model.training_step = stopped_after_half
    stop = trainer.fit()
    assert stop.stopped_early and stop.step == STEPS // 2
    assert train(load_run_config(half), half, resume=True).step == STEPS
    return full, half


def assert_same(a, b, where: str) -> None:
    """``a`` and ``b`` (nested dicts/lists of tensors and plain values) are equal, tensors bit for bit."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape, where
        assert torch.equal(a, b), f"{where} differs by up to {(a.double() - b.double()).abs().max().item():.3g}"
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), f"{where}: keys {sorted(a)} vs {sorted(b)}"
        for k in a:
            assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b or (a != a and b != b), f"{where}: {a!r} vs {b!r}"  # NaN == NaN for this purpose


@pytest.mark.parametrize("name", list(MODELS))
def test_trains_checkpoints_and_resumes_bit_exactly(name, runs):
    """2 steps in one go and 1 + 1 resumed steps leave the same checkpoint: weights, EMA, optimizer and scheduler
    state, the model's own training state (e.g. CycleGAN's image pool), RNG states and the data position."""
    full, resumed = runs(name)
    a, b = load_checkpoint(full / "checkpoints" / "last.pt"), load_checkpoint(resumed / "checkpoints" / "last.pt")
    assert a["step"] == b["step"] == STEPS and a["model_name"] == name
    assert a["nets"] and set(a["nets"]) == set(MODELS[name](load_run_config(full).model).nets)
    assert all(torch.isfinite(v).all() for sd in a["nets"].values() for v in sd.values() if v.is_floating_point())
    assert a["optimizers"] and all(o["state"] for o in a["optimizers"].values()), "an optimizer never stepped"
    assert_same(a, b, "checkpoint")


@pytest.mark.parametrize("name", list(MODELS))
def test_load_and_the_tasks_inference_verb(name, runs):
    """``condgen.load`` gives the model with the checkpoint's EMA weights, and its task's verb answers a tiny input
    in the right shape and type."""
    full, _ = runs(name)
    model = condgen.load(full)
    assert type(model) is MODELS[name] and model.step == STEPS
    state = load_checkpoint(full / "checkpoints" / "last.pt")
    for net, sd in state["ema"].items():
        assert_same(dict(model.net(net).state_dict()), dict(sd), f"loaded EMA {net}")
    VERBS[entry(name).task](model)


def _rgb(w: int, h: int, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


def _is_image(x: torch.Tensor, shape: tuple, bound: float = 1.0) -> None:
    """A float32 batch of ``shape``, finite, within +-``bound`` ([-1, 1] unless the network's output is documented
    to overshoot it, as for SR and style, whose images are clamped when saved)."""
    assert isinstance(x, torch.Tensor) and x.dtype == torch.float32 and tuple(x.shape) == shape, (type(x), x.shape)
    assert torch.isfinite(x).all() and x.abs().max() <= bound


def _sample(model) -> None:
    c, s = model.cfg.channels, model.cfg.image_size
    x = model.generate(n=3, seed=1)
    _is_image(x, (3, c, s, s))
    assert torch.equal(x, model.generate(n=3, seed=1)), "the same seed gave different samples"


def _translate(model) -> None:
    w, h = 70, 66  # not a multiple of any network's; pix2pix's unet_64 needs 64 px
    out = model.translate(_rgb(w, h))
    assert isinstance(out, Image.Image) and out.size == (w, h)
    assert out.mode == ("L" if model.cfg.out_channels == 1 else "RGB")
    x = torch.rand(2, model.cfg.in_channels, h, w) * 2 - 1
    _is_image(model.translate(x), (2, model.cfg.out_channels, h, w))


def _synthesize(model) -> None:
    ids = np.random.default_rng(0).integers(0, model.cfg.label_nc, (5, 7), dtype=np.uint8)
    labels = Image.fromarray(np.kron(ids, np.ones((4, 4), np.uint8)), mode="L")  # 28 x 20 of blocks
    out = model.translate(labels)
    assert isinstance(out, Image.Image) and out.size == (28, 20) and out.mode == "RGB"
    _is_image(model.translate(torch.from_numpy(np.array(labels)).long()), (3, 20, 28))


def _upscale(model) -> None:
    k, c = model.cfg.scale, model.cfg.channels
    out = model.upscale(_rgb(12, 10))
    assert isinstance(out, Image.Image) and out.size == (12 * k, 10 * k) and out.mode == "RGB"
    # the SRResNet's last layer is linear, as in the paper: trained towards [-1, 1], not clamped
    _is_image(model.upscale(torch.rand(1, c, 10, 12) * 2 - 1), (1, c, 10 * k, 12 * k), bound=float("inf"))


def _stylize(model) -> None:
    from condgen.nn.transformer import TANH_SCALE

    out = model.stylize(_rgb(28, 20))
    assert isinstance(out, Image.Image) and out.size == (28, 20) and out.mode == "RGB"
    # Johnson et al.'s scaled tanh reaches a little past [-1, 1]
    _is_image(model.stylize(torch.rand(3, 20, 28) * 2 - 1), (3, 20, 28), bound=TANH_SCALE)


def _anonymize(model) -> None:
    passcode = "01" * (model.cfg.bits // 2) + "0" * (model.cfg.bits % 2)
    face = _rgb(20, 24).convert("L")
    anon = model.anonymize(face, passcode)
    assert isinstance(anon, Image.Image) and anon.size == face.size and anon.mode == "L"
    back = model.restore(anon, passcode)
    assert isinstance(back, Image.Image) and back.size == face.size and back.mode == "L"
    x = torch.rand(2, model.cfg.channels, 24, 20) * 2 - 1
    _is_image(model.anonymize(x, passcode), (2, model.cfg.channels, 24, 20))


#: a task -> the check of its inference verb
VERBS = {"sample": _sample, "translate": _translate, "synthesize": _synthesize, "upscale": _upscale,
         "stylize": _stylize, "anonymize": _anonymize}


@pytest.mark.parametrize("name", list(MODELS))
def test_onnx_export_matches_pytorch(name, runs, tmp_path):
    """``condgen export --format onnx`` of the run: onnxruntime agrees with PyTorch within the exporter's
    tolerance on its check inputs (another batch and size than the example's)."""
    import onnxruntime as ort

    full, _ = runs(name)
    report = export_run(full, "onnx", tmp_path / "g.onnx", size=entry(name).export_size)
    assert report["model"] == name and report["max_abs_diff"] <= EXPORT_TOLERANCE
    session = ort.InferenceSession(str(tmp_path / "g.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == list(report["inputs"])


TASK_VERB = {"sample": "sample_z", "translate": "translate", "synthesize": "translate", "upscale": "upscale",
             "stylize": "stylize", "anonymize": "anonymize"}


@pytest.mark.parametrize("name", list(MODELS))
def test_declared_capabilities_match_the_code(name):
    """The CLI, the demo and video trust what a model declares (task, translate options, two-way); the
    declarations must say what its methods take (the one place signatures are read)."""
    cls = MODELS[name]
    assert cls.task == entry(name).task and hasattr(cls, TASK_VERB[cls.task]), name
    assert hasattr(cls, "translate") == (cls.task != "sample"), name
    if cls.task == "sample":
        assert not cls.translate_options and not cls.translate_requires and not cls.two_way
        return
    params = inspect.signature(cls.translate).parameters
    names = [p for p in list(params)[2:] if params[p].kind not in (inspect.Parameter.VAR_POSITIONAL,
                                                                    inspect.Parameter.VAR_KEYWORD)]
    required = tuple(p for p in names if params[p].default is inspect.Parameter.empty)
    assert cls.translate_requires == required, name
    assert cls.translate_options == frozenset(names) - set(required), name
    assert cls.two_way == ("direction" in cls.translate_options), name


def test_every_entry_is_a_registered_model_with_a_known_task_and_needs_no_pretrained_weights():
    """No stale entries, every task has a verb check, and no tiny run needs a VGG file: its VGG loss is off
    (lambda_vgg=0) or runs on random weights (vgg_weights=random)."""
    assert set(TINY) <= set(MODELS), f"entries for unregistered models: {sorted(set(TINY) - set(MODELS))}"
    assert {t.task for t in TINY.values()} <= set(VERBS)
    for name in TINY:
        cfg = tiny_config(name, 1).model
        uses_vgg = getattr(cfg, "lambda_vgg", 1.0) > 0 and getattr(cfg, "vgg_weights", "random") != "random"
        assert not uses_vgg, f"the tiny {name} run needs VGG weights: set model.vgg_weights=random or lambda_vgg=0"
        assert ("random" in TINY[name].weights) == (getattr(cfg, "vgg_weights", "") == "random" and
                                                   getattr(cfg, "lambda_vgg", 1.0) > 0), name


def test_a_registered_model_without_an_entry_fails_and_says_where_to_add_it():
    with pytest.raises(pytest.fail.Exception, match=r"'newgan' is registered .* no entry in TINY in tests/tiny_runs"):
        entry("newgan")
