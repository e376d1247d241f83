"""CLI commands end to end on tiny runs: data, models, train, sample, evaluate."""

from __future__ import annotations

import json

from cli_helpers import run_cli

TINY = ["--no-progress", "--set", "model.ngf=8", "--set", "model.ndf=8", "--set", "model.image_size=16",
        "--set", "data.batch_size=16", "--set", "train.tensorboard=false", "--set", "train.precision=fp32"]


def test_data_list_and_make(capsys, tmp_path, cache_dir):
    code, out, _ = run_cli(capsys, "data", "list")
    assert code == 0 and "digits" in out and "faces" in out
    code, out, err = run_cli(capsys, "data", "make", "digits", "--out", tmp_path / "d")
    assert code == 0, err
    assert len(list((tmp_path / "d" / "train" / "3").glob("*.png"))) > 100
    code, _, err = run_cli(capsys, "data", "make", "mnist", "--out", tmp_path / "m")
    assert code != 0 and "digits" in err and "Traceback" not in err


def test_models_lists_presets(capsys):
    code, out, _ = run_cli(capsys, "models")
    assert code == 0
    for name in ("gan", "dcgan", "cgan"):
        assert name in out
    assert "quick" in out and "paper" in out


def test_train_folder_sample_evaluate(capsys, tmp_path, cache_dir):
    """cGAN from a class folder written by `data make`, then sample and evaluate with the digit classifier."""
    assert run_cli(capsys, "data", "make", "digits", "--out", tmp_path / "digits")[0] == 0
    run = tmp_path / "run"
    code, out, err = run_cli(capsys, "train", "cgan", "--data", tmp_path / "digits", "--out", run, "--steps", "3",
                             *TINY)
    assert code == 0, err
    assert "finished at step 3" in out
    code, out, err = run_cli(capsys, "sample", run, "--n", "20", "--class", "7", "--out", tmp_path / "s.png")
    assert code == 0 and (tmp_path / "s.png").is_file(), err
    code, out, err = run_cli(capsys, "evaluate", run, "--n", "100")
    assert code == 0, err
    assert "FID" in out and "floor" in out and "class accuracy" in out
    res = json.loads((run / "eval.json").read_text())[-1]
    assert res["features"] == "digits-classifier" and res["n_fake"] == 100 and res["n_real"] == 360
    assert 0.0 <= res["class_accuracy"] <= 1.0 and res["fid"] > res["fid_floor"] > 0
    assert "fid" in (run / "report.html").read_text().lower()


def test_help_is_clear(capsys):
    code, out, _ = run_cli(capsys, "train", "--help")
    assert code == 0 and "--resume" in out and "--set" in out
