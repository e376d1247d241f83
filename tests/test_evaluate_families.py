"""`condgen evaluate` for the families it used to refuse: unpaired translators and style transfer."""

from __future__ import annotations

import json

import numpy as np
from cli_helpers import run_cli
from PIL import Image

COMMON = ["--no-progress", "--set", "train.tensorboard=false", "--set", "train.precision=fp32", "--set",
          "train.sample_every=1000", "--set", "train.val_every=0"]


def test_evaluate_cyclegan_on_photo2tone_knows_the_true_mapping(tmp_path, capsys, cache_dir, one_thread):
    run = tmp_path / "cg"
    code, _, err = run_cli(capsys, "train", "cyclegan", "--data", "photo2tone", "--out", run, "--steps", "1",
                           *COMMON, "--set", "model.netG=resnet_6blocks", "--set", "model.ngf=4", "--set",
                           "model.ndf=4", "--set", "data.load_size=32", "--set", "data.crop_size=32")
    assert code == 0, err
    code, out, err = run_cli(capsys, "evaluate", run)
    assert code == 0, err
    res = json.loads((run / "eval.json").read_text())[-1]
    assert res["kind"] == "unpaired" and res["n"] > 0 and res["reference"].endswith(":test")
    for k in ("cycle_L1_A", "cycle_L1_B", "true_map_L1_AtoB", "no_translation_L1_AtoB", "true_map_L1_BtoA"):
        assert 0 <= res[k] <= 1, (k, res[k])
    assert res["no_translation_L1_AtoB"] > 0.02  # the hidden grade is a real change: a baseline to beat
    assert "Inception" in res["fid_note"]  # offline: FID is skipped with the reason, never downloaded
    assert "cycle_L1_A" in out and "true_map_L1_AtoB" in out
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert any(x["kind"] == "eval" and "true_map_L1_AtoB" in x for x in lines)


def test_evaluate_munit_with_digit_features(tmp_path, capsys, cache_dir, one_thread):
    """Grey 32 px domains (digit classes as domains): FID per direction in the shipped digit features."""
    root = tmp_path / "d"
    rng = np.random.default_rng(0)
    for split, n in (("train", 6), ("test", 4)):
        for dom, level in (("A", 60), ("B", 190)):
            (root / f"{split}{dom}").mkdir(parents=True)
            for i in range(n):
                arr = np.clip(level + rng.normal(0, 30, (32, 32)), 0, 255).astype(np.uint8)
                Image.fromarray(arr).save(root / f"{split}{dom}" / f"{i}.png")
    run = tmp_path / "munit"
    code, _, err = run_cli(capsys, "train", "munit", "--data", root, "--out", run, "--steps", "1", *COMMON,
                           "--set", "model.in_channels=1", "--set", "model.out_channels=1", "--set", "model.ngf=4",
                           "--set", "model.num_scales=1", "--set", "model.ndf=4", "--set", "model.mlp_dim=8",
                           "--set", "model.style_dim=2",
                           "--set", "data.load_size=32", "--set", "data.crop_size=32", "--set", "data.batch_size=1")
    assert code == 0, err
    code, out, err = run_cli(capsys, "evaluate", run, "--features", "digits")
    assert code == 0, err
    res = json.loads((run / "eval.json").read_text())[-1]
    assert res["features"] == "digits-classifier" and res["fid_AtoB"] >= 0 and res["fid_BtoA"] >= 0
    assert "true_map_L1_AtoB" not in res  # no hidden mapping on a user's folder


def test_evaluate_style_names_its_vgg_weights(tmp_path, capsys, cache_dir, one_thread):
    photos = tmp_path / "photos"
    rng = np.random.default_rng(0)
    for split, n in (("train", 3), ("test", 2)):
        (photos / split).mkdir(parents=True)
        for i in range(n):
            Image.fromarray((rng.random((40, 48, 3)) * 255).astype(np.uint8)).save(photos / split / f"p{i}.png")
    run = tmp_path / "st"
    code, _, err = run_cli(capsys, "train", "style", "--data", photos, "--style", "builtin:brick", "--out", run,
                           "--steps", "1", *COMMON, "--set", "model.vgg_weights=random", "--set", "model.ngf=4",
                           "--set", "model.n_blocks=1", "--set", "model.style_size=32", "--set", "data.crop_size=32",
                           "--set", "data.load_size=36", "--set", "data.batch_size=2")
    assert code == 0, err
    code, out, err = run_cli(capsys, "evaluate", run)
    assert code == 0, err
    res = json.loads((run / "eval.json").read_text())[-1]
    assert res["kind"] == "style" and res["vgg_weights"] == "random" and res["style_image"] == "builtin:brick"
    assert res["n"] == 2 and res["style"] > 0 and res["input_style"] > 0 and res["content"] >= 0
    assert "vgg_weights random" in out and "training=False" not in out + err


def test_evaluate_spade_with_a_given_segmenter(tmp_path, capsys, cache_dir, one_thread):
    """mIoU on generated images beside the real images' (the ceiling), and FID in the segmenter's features."""
    from condgen.metrics import segmenter as seg

    seg.main(["--data", "scenes64", "--out", str(tmp_path / "seg.safetensors"), "--steps", "20", "--width", "4"])
    run = tmp_path / "spade"
    code, _, err = run_cli(capsys, "train", "spade", "--data", "scenes64", "--out", run, "--steps", "1", *COMMON,
                           "--set", "model.ngf=4", "--set", "model.ndf=4", "--set", "model.lambda_vgg=0",
                           "--set", "model.spade_hidden=8", "--set", "data.batch_size=2",
                           "--set", "data.load_size=64", "--set", "data.crop_size=64")
    assert code == 0, err
    code, out, err = run_cli(capsys, "evaluate", run, "--segmenter", tmp_path / "seg.safetensors")
    assert code == 0, err
    res = json.loads((run / "eval.json").read_text())[-1]
    assert res["kind"] == "semantic" and res["n"] > 0 and 0 <= res["miou"] <= 1 and 0 <= res["miou_real"] <= 1
    assert res["fid_segmenter"] >= 0 and "miou" in out
    code, _, err = run_cli(capsys, "evaluate", run, "--segmenter", tmp_path / "missing.safetensors")
    assert code == 2 and "segmenter weights" in err and "Traceback" not in err


def test_builtin_segmenter_is_trained_once_and_cached(tmp_path, monkeypatch, cache_dir):
    import condgen.evaluate as ev

    calls = []
    real_main = __import__("condgen.metrics.segmenter", fromlist=["main"]).main

    def small(argv):
        calls.append(argv)
        return real_main([*argv, "--width", "4"])

    monkeypatch.setattr(ev, "SEGMENTER_STEPS", 5)
    monkeypatch.setattr("condgen.metrics.segmenter.main", small)
    monkeypatch.setenv("CONDGEN_CACHE", str(cache_dir))  # the built-in scenes are already made there
    first = ev.builtin_segmenter("scenes64")
    assert first.is_file() and len(calls) == 1 and first.parent == cache_dir / "segmenters"
    assert ev.builtin_segmenter("scenes") == first and len(calls) == 1  # cached: not trained again


def test_an_imported_checkpoint_is_evaluated_on_data_given_with_data(tmp_path, capsys, cache_dir, one_thread):
    import torch
    import yaml
    from test_import_weights import RefUnet, randomized

    torch.save(randomized(RefUnet(3, 3, 6, 4)).state_dict(), tmp_path / "g.pth")
    run = tmp_path / "imported"
    assert run_cli(capsys, "import-weights", tmp_path / "g.pth", "--out", run)[0] == 0
    code, _, err = run_cli(capsys, "evaluate", run)
    assert code == 2 and "--data FOLDER" in err and "Traceback" not in err
    assert run_cli(capsys, "data", "make", "edges2photos", "--out", tmp_path / "e2p")[0] == 0
    before = (run / "config.yaml").read_text()
    code, out, err = run_cli(capsys, "evaluate", run, "--data", tmp_path / "e2p")
    assert code == 0, err
    res = json.loads((run / "eval.json").read_text())[-1]
    assert res["reference"] == f"{tmp_path / 'e2p'}:test" and res["n"] > 0 and "L1" in res
    assert (run / "config.yaml").read_text() == before and not yaml.safe_load(before)["data"]["path"]
