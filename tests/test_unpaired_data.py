"""Tests for unpaired (CycleGAN/UNIT/MUNIT) data: the trainA/trainB layout, pairing, per-domain transforms, bad
input messages, and the built-in photo2tone and grass2gravel sets."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from cli_helpers import run_cli
from image_helpers import noise as _noise
from image_helpers import save_array as _save
from image_helpers import to_u8 as _u8
from PIL import Image

from condgen.config import DataConfig, update_dataclass
from condgen.data import (
    BUILTIN,
    BadImageWarning,
    DataError,
    UnpairedDataset,
    dataset_info,
    load_dataset,
    load_paired,
    load_unpaired,
)
from condgen.data import builtin_unpaired as bu
from condgen.data.builtin import ensure_builtin
from condgen.data.images import uint8_to_float
from condgen.data.transforms import draw_params
from condgen.data.unpaired import GreyDomainWarning
from condgen.errors import ConfigError

SMALL = {"load_size": 20, "crop_size": 16}


def _domains(root, n_a, n_b, split="train", size=(20, 24), channels_a=3, channels_b=3):
    """``root/{split}A`` with n_a noise images and ``root/{split}B`` with n_b; returns root."""
    for i in range(n_a):
        _save(_noise(*size, seed=i, channels=channels_a), root / f"{split}A" / f"a{i}.png")
    for i in range(n_b):
        _save(_noise(*size, seed=100 + i, channels=channels_b), root / f"{split}B" / f"b{i}.png")
    return root


def _b_names(ds, epoch):
    ds.set_epoch(epoch)
    return [ds[i]["path_B"] for i in range(len(ds))]


# ---------------------------------------------------------------- layout and items


def test_layout_and_items(tmp_path):
    root = _domains(tmp_path, 3, 3)
    ds = load_unpaired(root, **SMALL)
    assert isinstance(ds, UnpairedDataset) and len(ds) == 3 and ds.transform.train
    item = ds[0]
    assert list(item) == ["A", "B", "path_A", "path_B"]
    assert item["A"].shape == item["B"].shape == (3, 16, 16) and item["A"].dtype == torch.float32
    assert -1.0 <= float(item["A"].min()) and float(item["A"].max()) <= 1.0
    assert item["path_A"] == str(root / "trainA" / "a0.png") and item["path_B"].startswith(str(root / "trainB"))
    assert [p.name for p in ds.files_A] == ["a0.png", "a1.png", "a2.png"] and len(ds.files_B) == 3
    assert dataset_info(ds) == {"num_classes": 0, "classes": [], "channels": 3, "image_size": 16, "size": 3}
    assert not ds.in_memory
    with pytest.raises(IndexError):
        ds[3]
    grey_b = load_dataset(str(root), "unpaired", image_size=16, load_size=20, channels=3, channels_B=1)
    assert grey_b[1]["A"].shape == (3, 16, 16) and grey_b[1]["B"].shape == (1, 16, 16)
    assert dataset_info(grey_b)["channels"] == 1  # a generator A -> B outputs domain B's channels
    with pytest.raises(DataError, match="apply only to kind 'paired' or 'unpaired', not 'images'"):
        load_dataset(str(root), "images", pairing="serial")


def test_different_set_sizes(tmp_path):
    ds = load_unpaired(_domains(tmp_path, 2, 5), pairing="serial", preprocess="none")
    assert len(ds) == 5  # max(nA, nB), as the reference
    names = [(ds[i]["path_A"].rsplit("/", 1)[1], ds[i]["path_B"].rsplit("/", 1)[1]) for i in range(5)]
    assert names == [("a0.png", "b0.png"), ("a1.png", "b1.png"), ("a0.png", "b2.png"), ("a1.png", "b3.png"),
                     ("a0.png", "b4.png")]
    assert ds[0]["A"].shape == (3, 20, 24)  # preprocess none: 20 x 24 is already a multiple of 4


def test_serial_and_random_pairing(tmp_path):
    root = _domains(tmp_path, 8, 8, size=(8, 8))
    serial = load_unpaired(root, pairing="serial", preprocess="none")
    want = [str(p) for p in serial.files_B]
    assert _b_names(serial, 0) == want and _b_names(serial, 3) == want

    rand = load_unpaired(root, preprocess="none")
    assert rand.pairing == "random"
    epoch2 = _b_names(rand, 2)
    assert _b_names(rand, 1) != epoch2  # a new epoch draws new partners
    assert epoch2 != want and len(set(epoch2)) > 1
    # the same (seed, epoch) gives the same partners in a fresh dataset: what a resumed run needs
    fresh = load_unpaired(root, preprocess="none")
    assert _b_names(fresh, 2) == epoch2
    assert _b_names(load_unpaired(root, preprocess="none", seed=5), 2) != epoch2
    assert [rand[i]["path_A"] for i in range(8)] == [str(p) for p in rand.files_A]  # A stays in order


def test_each_domain_gets_its_own_crop_and_flip(tmp_path):
    img = _noise(24, 24, seed=7)
    _save(img, tmp_path / "trainA" / "x.png")
    _save(img, tmp_path / "trainB" / "x.png")
    ds = load_unpaired(tmp_path, preprocess="crop", crop_size=12, seed=3)
    differ = 0
    for epoch in range(6):
        ds.set_epoch(epoch)
        item = ds[0]
        differ += not torch.equal(item["A"], item["B"])
        # each side is the manual crop/flip drawn from (seed, epoch, index, domain stream)
        for key, stream in (("A", 1), ("B", 2)):
            p = draw_params(3, epoch, 0, stream)
            x, y = int(p.crop_x * 13), int(p.crop_y * 13)
            want = img[y:y + 12, x:x + 12]
            assert np.array_equal(_u8(item[key]), want[:, ::-1] if p.flip else want), (epoch, key)
    assert differ >= 5  # identical images, yet A and B are cropped independently


def test_test_split_is_deterministic(tmp_path):
    root = _domains(tmp_path, 2, 3, split="test", size=(24, 24))
    ds = load_unpaired(root, split="test", pairing="serial", **SMALL)
    assert not ds.transform.train and len(ds) == 3
    first = [ds[i] for i in range(3)]
    for epoch in (1, 7):
        ds.set_epoch(epoch)
        assert all(torch.equal(ds[i]["A"], first[i]["A"]) and torch.equal(ds[i]["B"], first[i]["B"])
                   for i in range(3))
    want = np.asarray(Image.fromarray(_noise(24, 24, seed=0)).resize((16, 16), Image.Resampling.BICUBIC))
    assert np.array_equal(_u8(first[0]["A"]), want)  # evaluation resizes straight to crop_size, no crop or flip
    with pytest.raises(DataError, match=r"trainA does not exist.*has testA, testB"):
        load_unpaired(root)


def test_grey_domain_is_converted_with_one_warning(tmp_path):
    root = _domains(tmp_path, 3, 2, channels_a=1, size=(8, 8))
    with pytest.warns(GreyDomainWarning) as record:
        ds = load_unpaired(root, preprocess="none")
    messages = [str(w.message) for w in record if issubclass(w.category, GreyDomainWarning)]
    assert len(messages) == 1
    assert "all 3 images of domain A" in messages[0] and "set model.in_channels=1" in messages[0]
    a = ds[0]["A"]
    assert a.shape == (3, 8, 8) and torch.equal(a[0], a[1]) and torch.equal(a[1], a[2])
    with warnings.catch_warnings():
        warnings.simplefilter("error", GreyDomainWarning)
        assert load_unpaired(root, channels_A=1, preprocess="none")[0]["A"].shape == (1, 8, 8)
    with pytest.warns(GreyDomainWarning, match=r"domain B .* model\.out_channels=1"):
        load_unpaired(_domains(tmp_path / "b", 1, 2, channels_b=1, size=(8, 8)))


# ---------------------------------------------------------------- bad input


def test_missing_and_empty_folders(tmp_path):
    with pytest.raises(DataError, match=r"data folder .*nowhere does not exist"):
        load_unpaired(tmp_path / "nowhere")
    (tmp_path / "file.png").write_bytes(b"x")
    with pytest.raises(DataError, match=r"is a file, not a folder of images in trainA/ and trainB/"):
        load_unpaired(tmp_path / "file.png")
    bare = tmp_path / "bare"
    bare.mkdir()
    with pytest.raises(DataError, match=r"bare/trainA does not exist: .*has none of trainA, trainB, testA, testB"):
        load_unpaired(bare)
    only_a = _domains(tmp_path / "only_a", 1, 0)
    (only_a / "testA").mkdir()
    with pytest.raises(DataError, match=r"only_a/trainB does not exist: .*only_a has trainA, testA\.$"):
        load_unpaired(only_a)
    (only_a / "trainB").mkdir()
    with pytest.raises(DataError, match=r"no images \(png, .*\) in .*trainB, the folder of domain B"):
        load_unpaired(only_a)
    _save(_noise(4, 4), only_a / "trainB" / "nested" / "x.png")
    with pytest.raises(DataError, match="its subfolders hold images"):
        load_unpaired(only_a)
    with pytest.raises(DataError, match=r"valA does not exist.*has trainA, trainB, testA"):
        load_unpaired(only_a, split="val")


def test_paired_layout_gets_a_pix2pix_hint(tmp_path):
    # A|B files in train/ are read as two domains (tests/test_layouts.py); loose in the root they get a hint.
    aligned = tmp_path / "facades"
    _save(_noise(4, 8), aligned / "1.png")
    with pytest.raises(DataError, match=r"facades holds images directly; if they are A\|B side-by-side pairs, put "
                                        r"them in .*facades/train/"):
        load_unpaired(aligned)
    folders = tmp_path / "folders"
    _save(_noise(4, 4), folders / "A" / "1.png")
    _save(_noise(4, 4), folders / "B" / "1.png")
    with pytest.raises(DataError, match=r"has A/ and B/ folders, the paired pix2pix layout .* put each domain's "
                                        r"images in .*folders/trainA and .*folders/trainB"):
        load_unpaired(folders)


def test_unreadable_images(tmp_path):
    root = _domains(tmp_path, 2, 2, size=(8, 8))
    (root / "trainA" / "empty.png").write_bytes(b"")
    data = (root / "trainB" / "b1.png").read_bytes()
    (root / "trainB" / "b1.png").write_bytes(data[: len(data) // 2])  # header fine, pixels cut off
    with pytest.warns(BadImageWarning, match=r"skipping 1 unreadable image\(s\) in .*trainA: empty\.png"):
        ds = load_unpaired(root, pairing="serial", preprocess="none")
    assert len(ds) == 2 and [p.name for p in ds.files_A] == ["a0.png", "a1.png"]
    with pytest.warns(BadImageWarning, match=r"skipping unreadable image .*b1\.png: the file is truncated"):
        item = ds[1]
    assert item["path_B"].endswith("b0.png")  # the next decodable image of domain B stands in
    assert [p.name for p, _ in ds.bad_files] == ["empty.png", "b1.png"]
    with pytest.raises(DataError, match=r"1 unreadable image\(s\) in .*trainA: empty\.png \(the file is empty.*"
                                        r"data\.bad_images=skip"):
        load_unpaired(root, bad_images="error")
    (root / "trainA" / "empty.png").unlink()
    strict = load_unpaired(root, bad_images="error", pairing="serial", preprocess="none")
    with pytest.raises(DataError, match=r"b1\.png: the file is truncated.*data\.bad_images=skip"):
        strict[1]


def test_bad_options(tmp_path):
    root = _domains(tmp_path, 1, 1, size=(8, 8))
    with pytest.raises(DataError, match=r"pairing must be one of random, serial .*got 'shuffle'"):
        load_unpaired(root, pairing="shuffle")
    with pytest.raises(DataError, match="channels_B must be 1 .* or 3 .*, got 2"):
        load_unpaired(root, channels_B=2)
    with pytest.raises(ConfigError, match="preprocess must be one of"):
        load_unpaired(root, preprocess="zoom")
    with pytest.raises(ConfigError, match=r"'data\.pairing' is 'shuffle'; valid choices: random, serial"):
        update_dataclass(DataConfig(), {"pairing": "shuffle"}, "data.")
    assert DataConfig().pairing == "random"
    with pytest.raises(DataError, match="no data given.*trainA/ and trainB/.*grass2gravel, photo2tone"):
        load_unpaired("")


# ---------------------------------------------------------------- built-in sets


def test_builtin_registration():
    for name in bu.UNPAIRED_NAMES:
        info = BUILTIN[name]
        assert info.kind == "unpaired" and dict(info.counts) == bu.COUNTS[name]
    assert BUILTIN["photo2tone"].image_size == 128 and BUILTIN["grass2gravel"].channels == 1
    # both domains show every train photo (alternate crops), neither a test photo
    assert set(bu.PHOTO_DOMAINS["trainA"]) == set(bu.PHOTO_DOMAINS["trainB"]) == set(bu.PHOTOS["train"])
    assert not set(bu.PHOTOS["train"]) & set(bu.PHOTOS["test"])


def test_tone_map_is_far_from_identity():
    rgb = _noise(32, 32, seed=1)
    out = bu.tone_map(rgb)
    assert out.dtype == np.uint8 and out.shape == rgb.shape
    assert np.abs(out.astype(int) - rgb).mean() > 20
    grey = np.full((1, 1, 3), 128, np.uint8)
    r, g, b = bu.tone_map(grey)[0, 0]
    assert r > g > b  # the warm cast: a neutral grey comes out orange-ish
    with pytest.raises(DataError, match="uint8 H x W x 3"):
        bu.tone_map(rgb[:, :, 0])


def test_photo2tone(cache_dir):
    train = load_unpaired("photo2tone", **SMALL)
    assert len(train) == 300 and len(train.files_A) == len(train.files_B) == 300
    test = load_unpaired("photo2tone", split="test", pairing="serial", preprocess="none")
    assert len(test) == 100 and [p.name for p in test.files_A] == [p.name for p in test.files_B]
    a = np.stack([np.asarray(Image.open(p)) for p in test.files_A])
    b = np.stack([np.asarray(Image.open(p)) for p in test.files_B])
    assert a.shape == (100, 128, 128, 3)
    assert np.array_equal(b, np.stack([bu.tone_map(x) for x in a]))  # the exact answer, file by file
    assert np.abs(b.astype(int) - a).mean() > 20  # the identity is clearly wrong
    # true_translation on tensors: exact on the loaded testA with quantize, within rounding without
    batch = [test[i] for i in range(4)]
    xs, ys = torch.stack([it["A"] for it in batch]), torch.stack([it["B"] for it in batch])
    assert torch.equal(bu.true_translation(xs, quantize=True), ys)
    assert (bu.true_translation(xs) - ys).abs().max() <= 1.01 / 255  # half an 8-bit level, in [-1, 1]
    assert torch.equal(ys[0], uint8_to_float(torch.from_numpy(b[0]).permute(2, 0, 1)))

    sources = json.loads((cache_dir / "photo2tone" / bu.SOURCES_FILE).read_text())
    photos = {f: {v["source"] for v in files.values()} for f, files in sources["files"].items()}
    assert photos["trainA"] == set(bu.PHOTO_DOMAINS["trainA"]) and photos["trainB"] == set(bu.PHOTO_DOMAINS["trainB"])
    assert photos["testA"] == photos["testB"] == set(bu.PHOTOS["test"])
    assert not (photos["trainA"] | photos["trainB"]) & photos["testA"]
    boxes = {f: {(v["source"], tuple(v["box"])) for v in sources["files"][f].values()} for f in ("trainA", "trainB")}
    assert len(boxes["trainA"]) == len(boxes["trainB"]) == 300 and not boxes["trainA"] & boxes["trainB"]  # unpaired
    assert sources["files"]["testA"] == sources["files"]["testB"]  # same crop behind each testA/testB name
    assert "tone_map" in sources["exact_answer"] and sources["tone_map"]["GAMMA"] == bu.TONE_GAMMA

    with pytest.raises(DataError, match=r"'digits' is not unpaired \(it is 'classes', for cgan\); use an unpaired "
                                        r"dataset for cyclegan, unit and munit, such as grass2gravel, photo2tone\."):
        load_unpaired("digits")
    with pytest.raises(DataError, match="'photo2tone' has no split 'val'; it has train, test"):
        load_unpaired("photo2tone", split="val")
    with pytest.raises(DataError, match="two unpaired image domains.*kind 'unpaired'"):
        load_dataset("photo2tone", "images")
    with pytest.raises(DataError, match=r"'photo2tone' is not paired \(it is 'unpaired', for cyclegan, unit "
                                        r"and munit\); use a paired dataset for pix2pix"):
        load_paired("photo2tone")


def test_grass2gravel(cache_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("error", GreyDomainWarning)
        train = load_unpaired("grass2gravel", channels_A=1, channels_B=1, preprocess="none")
    test = load_unpaired("grass2gravel", split="test", channels_A=1, channels_B=1)
    assert (len(train.files_A), len(train.files_B), len(test.files_A), len(test.files_B)) == (300, 300, 60, 60)
    assert train[0]["A"].shape == (1, 64, 64) and Image.open(train.files_B[0]).mode == "L"
    sources = json.loads((cache_dir / "grass2gravel" / bu.SOURCES_FILE).read_text())
    for domain, texture in bu.TEXTURES.items():
        tr = [v["box"] for v in sources["files"][f"train{domain}"].values()]
        te = [v["box"] for v in sources["files"][f"test{domain}"].values()]
        assert {v["source"] for v in sources["files"][f"test{domain}"].values()} == {texture}
        # train windows end above the first test row: no source pixel is in both splits
        assert max(y + s for _, y, s in tr) <= min(y for _, y, _ in te)
        assert all(x >= 0 and x + s <= 512 and y + s <= 512 for x, y, s in tr + te)
        assert len({tuple(b) for b in tr}) > 250  # varied windows, not one crop repeated


def test_cli_data_make_and_list(cache_dir, tmp_path, capsys):
    out = tmp_path / "p2t"
    code, stdout, _ = run_cli(capsys, "data", "make", "photo2tone", "--out", out)
    assert code == 0 and "wrote photo2tone" in stdout
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        bu.SOURCES_FILE, "testA", "testB", "trainA", "trainB"]
    counts = {d: len(list((out / d).iterdir())) for d in ("trainA", "trainB", "testA", "testB")}
    assert counts == bu.COUNTS["photo2tone"]
    cached = ensure_builtin("photo2tone") / "testB" / "00042.png"
    assert (out / "testB" / "00042.png").read_bytes() == cached.read_bytes()  # rebuilds are byte-identical
    assert len(load_unpaired(out, split="test")) == 100
    code, stdout, _ = run_cli(capsys, "data", "list")
    lines = {line.split()[0]: line.split()[1] for line in stdout.splitlines() if line.strip()}
    assert lines["photo2tone"] == lines["grass2gravel"] == "unpaired"
