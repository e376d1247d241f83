"""Every user error of the foundation gives a one-paragraph message, no traceback, a non-zero exit."""

from __future__ import annotations

import numpy as np
import pytest
from cli_helpers import run_cli
from PIL import Image

TINY = ["--no-progress", "--steps", "2", "--set", "model.ngf=8", "--set", "model.ndf=8",
        "--set", "model.image_size=16", "--set", "data.batch_size=2", "--set", "train.tensorboard=false"]


def _assert_clean_error(code, err, *needles):
    assert code != 0
    assert "Traceback" not in err
    assert err.startswith("error: ")
    for n in needles:
        assert n in err, err


def _images(folder, n=4, size=16):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(folder / f"{i}.png")


def test_missing_data_folder(capsys, tmp_path, cache_dir):
    code, _, err = run_cli(capsys, "train", "dcgan", "--data", tmp_path / "nope", "--out", tmp_path / "r", *TINY)
    _assert_clean_error(code, err, "does not exist", str(tmp_path / "nope"))


def test_empty_data_folder(capsys, tmp_path, cache_dir):
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli(capsys, "train", "dcgan", "--data", tmp_path / "empty", "--out", tmp_path / "r", *TINY)
    _assert_clean_error(code, err, "no images", "empty")


def test_class_folder_without_images(capsys, tmp_path, cache_dir):
    _images(tmp_path / "d" / "cat")
    (tmp_path / "d" / "dog").mkdir()
    code, _, err = run_cli(capsys, "train", "cgan", "--data", tmp_path / "d", "--out", tmp_path / "r", *TINY)
    _assert_clean_error(code, err, "dog")


def test_corrupt_images_are_skipped_with_a_count_or_fail(capsys, tmp_path, cache_dir):
    _images(tmp_path / "d", n=6)
    (tmp_path / "d" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    good = (tmp_path / "d" / "0.png").read_bytes()
    (tmp_path / "d" / "trunc.png").write_bytes(good[: len(good) // 2])
    with pytest.warns(UserWarning, match="bad.png"):
        code, out, _ = run_cli(capsys, "train", "dcgan", "--data", tmp_path / "d", "--out", tmp_path / "r", *TINY)
    assert code == 0, out
    code, _, err = run_cli(capsys, "train", "dcgan", "--data", tmp_path / "d", "--out", tmp_path / "r2", *TINY,
                           "--set", "data.bad_images=error")
    _assert_clean_error(code, err, "bad.png")


def test_unknown_model(capsys, tmp_path):
    code, _, err = run_cli(capsys, "train", "dcgam", "--data", "digits", "--out", tmp_path / "r")
    _assert_clean_error(code, err, "unknown model 'dcgam'", "Did you mean 'dcgan'", "cgan")


@pytest.mark.parametrize("key,needle", [
    ("model.ngff=8", "unknown config key 'model.ngff'. Did you mean 'ngf'"),
    ("train.stepz=3", "unknown config key 'train.stepz'"),
    ("train.precision=fp8", "valid choices: auto, fp32, bf16, fp16"),
    ("model.nz=lots", "'model.nz' expects an integer"),
    ("data.batch_size=0", "'data.batch_size' is 0; it must be >= 1"),
])
def test_bad_config_keys(capsys, tmp_path, key, needle):
    code, _, err = run_cli(capsys, "train", "dcgan", "--data", "digits", "--out", tmp_path / "r", "--set", key)
    _assert_clean_error(code, err, needle)
    assert not (tmp_path / "r").exists()


def test_bad_config_file(capsys, tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("model: {name: dcgan}\ntrian: {steps: 3}\n")
    code, _, err = run_cli(capsys, "train", "--config", f, "--data", "digits", "--out", tmp_path / "r")
    _assert_clean_error(code, err, "unknown config key 'trian'", "train")


@pytest.mark.parametrize("size", ["48", "8", "512"])
def test_unsupported_image_size(capsys, tmp_path, size):
    code, _, err = run_cli(capsys, "train", "dcgan", "--data", "digits", "--out", tmp_path / "r",
                           "--set", f"model.image_size={size}")
    _assert_clean_error(code, err, f"image size {size} is not supported", "power of two")


def test_resume_on_a_folder_that_is_not_a_run(capsys, tmp_path):
    (tmp_path / "x").mkdir()
    code, _, err = run_cli(capsys, "train", "--resume", tmp_path / "x")
    _assert_clean_error(code, err, "is not a condgen run")
    code, _, err = run_cli(capsys, "train", "--resume", tmp_path / "missing")
    _assert_clean_error(code, err, "does not exist")


def test_resume_with_conflicting_config(capsys, tmp_path, cache_dir):
    run = tmp_path / "r"
    code, out, err = run_cli(capsys, "train", "dcgan", "--data", "digits", "--out", run, *TINY)
    assert code == 0, err
    code, _, err = run_cli(capsys, "train", "--resume", run, "--set", "model.lr=0.1")
    _assert_clean_error(code, err, "config differs", "model.lr")
    code, out, err = run_cli(capsys, "train", "--resume", run, "--steps", "4", "--no-progress")
    assert code == 0 and "finished at step 4" in out, err


def test_existing_run_is_not_overwritten(capsys, tmp_path, cache_dir):
    run = tmp_path / "r"
    assert run_cli(capsys, "train", "dcgan", "--data", "digits", "--out", run, *TINY)[0] == 0
    code, _, err = run_cli(capsys, "train", "dcgan", "--data", "digits", "--out", run, *TINY)
    _assert_clean_error(code, err, "already holds a run", "--resume")


def test_sample_bad_class_and_indices(capsys, tmp_path, cache_dir):
    run = tmp_path / "r"
    assert run_cli(capsys, "train", "cgan", "--data", "digits", "--out", run, *TINY)[0] == 0
    code, _, err = run_cli(capsys, "sample", run, "--class", "12")
    _assert_clean_error(code, err, "--class 12 is out of range", "0..9")
    code, _, err = run_cli(capsys, "sample", run, "--n", "8", "--arithmetic", "1,2 - 99")
    _assert_clean_error(code, err, "sample index 99 is outside the grid of 8")


@pytest.mark.parametrize("args, needle", [
    (["train", "dcgan", "--steps", "many"], "Invalid value for '--steps'"),
    (["train", "dcgan", "--set", "train.steps=lots"], "train.steps"),
    (["sample", ".", "--n", "-3"], ""),
    (["export", ".", "--format", "onnx", "--out", "x.onnx", "--size", "big"], "Invalid value for '--size'"),
])
def test_wrong_types_on_the_cli_give_a_message_not_a_traceback(capsys, tmp_path, args, needle):
    code, out, err = run_cli(capsys, *args)
    assert code != 0 and "Traceback" not in out + err and needle in out + err
