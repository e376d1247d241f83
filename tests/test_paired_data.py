"""Tests for paired (pix2pix) data: A|B and A/ B/ layouts, shared transforms, determinism, built-in pairs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from image_helpers import noise as _noise
from image_helpers import save_array as _save
from image_helpers import to_u8 as _u8
from PIL import Image

from condgen.data import (
    BUILTIN,
    AlignedDataset,
    BadImageWarning,
    DataError,
    FolderPairDataset,
    load_dataset,
    load_paired,
    make_builtin,
)
from condgen.data import builtin_paired as bp
from condgen.data.transforms import PairTransform, draw_params
from condgen.errors import ConfigError

SMALL = {"load_size": 20, "crop_size": 16}


def _ab(path, a, b):
    return _save(np.concatenate([a, b], axis=1), path)


# ---------------------------------------------------------------- A|B split


def test_aligned_split_and_direction(tmp_path):
    a, b = np.full((6, 8, 3), 10, np.uint8), np.full((6, 8, 3), 240, np.uint8)
    a[0, 0] = (255, 0, 0)  # a marker, to see that A is not mirrored or shifted
    _ab(tmp_path / "x.png", a, b)
    opts = {"preprocess": "none", "multiple": 1, "flip": False}
    item = AlignedDataset(tmp_path, **opts)[0]
    assert set(item) == {"A", "B", "path"} and item["path"] == str(tmp_path / "x.png")
    assert item["A"].shape == item["B"].shape == (3, 6, 8) and item["A"].dtype == torch.float32
    assert np.array_equal(_u8(item["A"]), a) and np.array_equal(_u8(item["B"]), b)
    swapped = AlignedDataset(tmp_path, direction="BtoA", **opts)[0]
    assert np.array_equal(_u8(swapped["A"]), b) and np.array_equal(_u8(swapped["B"]), a)
    # channels are those of the returned A (input) and B (target), i.e. after direction
    grey_in = AlignedDataset(tmp_path, direction="BtoA", channels_A=1, **opts)[0]
    assert grey_in["A"].shape == (1, 6, 8) and grey_in["B"].shape == (3, 6, 8)


def test_same_transform_on_both_halves(tmp_path):
    img = _noise(23, 29)
    _ab(tmp_path / "same.png", img, img)
    for mode in ["resize_and_crop", "crop", "scale_width_and_crop", "scale_width", "none"]:
        ds = AlignedDataset(tmp_path, preprocess=mode, **SMALL)
        flips = set()
        for epoch in range(6):
            ds.set_epoch(epoch)
            item = ds[0]
            assert torch.equal(item["A"], item["B"]), mode
            flips.add(draw_params(0, epoch, 0).flip)
        assert flips == {True, False}  # both branches of the flip were exercised
    shapes = {m: tuple(AlignedDataset(tmp_path, preprocess=m, **SMALL)[0]["A"].shape)
              for m in ["resize_and_crop", "crop", "scale_width", "none"]}
    assert shapes == {"resize_and_crop": (3, 16, 16), "crop": (3, 16, 16), "scale_width": (3, 16, 20),
                      "none": (3, 24, 28)}  # none: 23 x 29 rounded to the nearest multiples of 4


def test_transform_matches_a_manual_crop_and_flip():
    img = Image.fromarray(_noise(10, 12))
    t = PairTransform("crop", crop_size=6, seed=3)
    out = np.asarray(t([img], epoch=2, index=5)[0])
    p = draw_params(3, 2, 5)
    x, y = int(p.crop_x * 7), int(p.crop_y * 5)
    want = np.asarray(img)[y:y + 6, x:x + 6]
    assert np.array_equal(out, want[:, ::-1] if p.flip else want)


def test_determinism_per_seed_epoch_index(tmp_path):
    for i in range(3):
        _ab(tmp_path / f"{i}.png", _noise(24, 24, i), _noise(24, 24, i + 10))
    one, two = AlignedDataset(tmp_path, **SMALL), AlignedDataset(tmp_path, **SMALL)
    for ds in (one, two):
        ds.set_epoch(4)
    assert all(torch.equal(one[i]["A"], two[i]["A"]) and torch.equal(one[i]["B"], two[i]["B"]) for i in range(3))
    before = one[1]["A"]
    one.set_epoch(5)
    assert not torch.equal(one[1]["A"], before)  # a new epoch draws new crops
    assert not torch.equal(AlignedDataset(tmp_path, seed=1, **SMALL)[1]["A"], AlignedDataset(tmp_path, **SMALL)[1]["A"])
    # reading order does not matter: an item's crop depends only on (seed, epoch, index)
    three = AlignedDataset(tmp_path, **SMALL)
    three.set_epoch(5)
    assert torch.equal(three[1]["A"], one[1]["A"])


def test_eval_is_not_random(tmp_path):
    img = _noise(24, 24)
    _ab(tmp_path / "x.png", img, img)
    ds = AlignedDataset(tmp_path, train=False, **SMALL)
    first = ds[0]["A"]
    for epoch in range(1, 4):
        ds.set_epoch(epoch)
        assert torch.equal(ds[0]["A"], first)
    want = np.asarray(Image.fromarray(img).resize((16, 16), Image.Resampling.BICUBIC))
    assert np.array_equal(_u8(first), want)  # eval resizes straight to crop_size
    centre = AlignedDataset(tmp_path, train=False, preprocess="crop", crop_size=8)[0]["A"]
    assert np.array_equal(_u8(centre), img[8:16, 8:16])


def test_odd_width_and_bad_options(tmp_path):
    _save(_noise(4, 7), tmp_path / "odd.png")
    with pytest.raises(DataError, match=r"odd\.png is 7 pixels wide, an odd width"):
        AlignedDataset(tmp_path)
    (tmp_path / "odd.png").unlink()
    _ab(tmp_path / "ok.png", _noise(4, 4), _noise(4, 4))
    with pytest.raises(ConfigError, match=r"direction must be one of AtoB, BtoA.*'AtoC'"):
        AlignedDataset(tmp_path, direction="AtoC")
    with pytest.raises(ConfigError, match="preprocess must be one of"):
        AlignedDataset(tmp_path, preprocess="zoom")
    with pytest.raises(ConfigError, match=r"load_size \(8\) must be at least crop_size \(16\)"):
        AlignedDataset(tmp_path, load_size=8, crop_size=16)
    with pytest.raises(DataError, match=r"ok\.png \(each A\|B half\) is 4x4, smaller than crop_size=6"):
        AlignedDataset(tmp_path, preprocess="crop", crop_size=6)[0]


def test_grey_rgba_and_16bit_inputs(tmp_path):
    rgba = np.zeros((4, 8, 4), np.uint8)  # fully transparent black -> white
    _save(rgba, tmp_path / "rgba.png")
    _save(np.full((4, 8), 100, np.uint8), tmp_path / "grey.png")
    Image.fromarray(np.full((4, 8), 4095, np.uint16)).save(tmp_path / "wide.png")  # 12-bit white
    ds = AlignedDataset(tmp_path, channels_A=1, preprocess="none", flip=False)
    items = {p.name: ds[i] for i, p in enumerate(ds.files)}
    assert items["rgba.png"]["A"].shape == (1, 4, 4) and items["rgba.png"]["B"].shape == (3, 4, 4)
    assert items["rgba.png"]["B"].min() == 1.0 and items["wide.png"]["A"].min() == 1.0
    assert _u8(items["grey.png"]["A"]).max() == 100 and _u8(items["grey.png"]["B"]).tolist()[0][0] == [100] * 3


def test_bad_files_skip_and_error(tmp_path):
    for i in range(2):
        _ab(tmp_path / f"good{i}.png", _noise(4, 4, i), _noise(4, 4, i))
    (tmp_path / "zero.png").write_bytes(b"")
    with pytest.warns(BadImageWarning, match=r"skipping 1 unreadable.*zero\.png"):
        ds = AlignedDataset(tmp_path, preprocess="none")
    assert len(ds) == 2 and ds.bad_files[0][0].name == "zero.png"
    with pytest.raises(DataError, match=r"1 unreadable image\(s\).*zero\.png"):
        AlignedDataset(tmp_path, bad_images="error")


# ----------------------------------------------------------- A/ and B/ folders


def test_folder_pairs(tmp_path):
    a, b = _noise(6, 6, 1), _noise(6, 6, 2)
    _save(a, tmp_path / "A" / "x.png")
    _save(b, tmp_path / "B" / "x.bmp")  # extensions may differ
    ds = FolderPairDataset(tmp_path, preprocess="none", multiple=1, flip=False)
    item = ds[0]
    assert np.array_equal(_u8(item["A"]), a) and np.array_equal(_u8(item["B"]), b)
    assert item["path"] == str(tmp_path / "A" / "x.png")
    # unmatched names are listed per side
    for name in ["only_a1", "only_a2"]:
        _save(a, tmp_path / "A" / f"{name}.png")
    _save(b, tmp_path / "B" / "only_b.jpg")
    with pytest.raises(DataError, match=r"in .*A but not .*B: only_a1\.png, only_a2\.png; in .*B but not .*A: "
                                        r"only_b\.jpg"):
        FolderPairDataset(tmp_path)


def test_folder_pair_size_mismatch(tmp_path):
    _save(_noise(6, 6), tmp_path / "A" / "x.png")
    _save(_noise(6, 8), tmp_path / "B" / "x.png")
    with pytest.raises(DataError, match=r"x\.png is 6x6 but its pair .*x\.png is 8x6"):
        FolderPairDataset(tmp_path)


def test_load_paired_layouts(tmp_path):
    aligned = tmp_path / "facades"
    for split, n in [("train", 3), ("val", 1)]:
        for i in range(n):
            _ab(aligned / split / f"{i}.jpg", _noise(8, 8), _noise(8, 8))
    train = load_paired(aligned, **SMALL)
    assert isinstance(train, AlignedDataset) and len(train) == 3 and train.transform.train
    val = load_paired(aligned, split="val")
    assert len(val) == 1 and not val.transform.train  # no random crops/flips outside training

    folders = tmp_path / "folders"
    _save(_noise(8, 8), folders / "train" / "A" / "1.png")
    _save(_noise(8, 8), folders / "train" / "B" / "1.png")
    assert isinstance(load_paired(folders), FolderPairDataset)
    reference = tmp_path / "ref"  # the combine script's input layout: A/train, B/train
    _save(_noise(8, 8), reference / "A" / "train" / "1.png")
    _save(_noise(8, 8), reference / "B" / "train" / "1.png")
    assert len(load_paired(reference)) == 1
    flat = tmp_path / "flat"
    _ab(flat / "1.png", _noise(8, 8), _noise(8, 8))
    assert len(load_paired(flat)) == 1

    empty = tmp_path / "empty"
    (empty / "train" / "photos").mkdir(parents=True)
    with pytest.raises(DataError, match=rf"expected A\|B images in {empty / 'train'} or folders "
                                        rf"{empty / 'train' / 'A'} and {empty / 'train' / 'B'}"):
        load_paired(empty)
    with pytest.raises(DataError, match="no test/ subfolder"):
        load_paired(aligned, split="test")
    ds = load_dataset(str(aligned), "paired", image_size=8, channels=1, direction="BtoA", load_size=10)
    assert ds[0]["A"].shape == (1, 8, 8) and ds.direction == "BtoA"
    with pytest.raises(DataError, match="apply only to kind 'paired'"):
        load_dataset(str(aligned), "images", direction="BtoA")


# ------------------------------------------------------------- built-in pairs


def test_builtin_paired_registration():
    for name in bp.PAIRED_NAMES:
        info = BUILTIN[name]
        assert info.kind == "paired" and dict(info.counts) == bp.COUNTS and info.image_size == bp.PAIRED_SIZE
    assert not set(bp.PHOTOS["train"]) & set(bp.PHOTOS["test"])


def test_builtin_paired_sets(cache_dir, tmp_path):
    train = load_paired("edges2photos", **SMALL)
    test = load_paired("edges2photos", split="test", **SMALL)
    assert (len(train), len(test)) == (600, 100)
    item = train[0]
    assert item["A"].shape == item["B"].shape == (3, 16, 16)
    # A is an edge map as stored: only black and white, mostly white
    raw = AlignedDataset(cache_dir / "edges2photos" / "train", preprocess="none", flip=False)[0]["A"]
    assert set(raw.unique().tolist()) == {-1.0, 1.0} and (raw == 1.0).float().mean() > 0.5
    sources = json.loads((cache_dir / "edges2photos" / bp.SOURCES_FILE).read_text())
    train_photos = {v["photo"] for v in sources["files"]["train"].values()}
    test_photos = {v["photo"] for v in sources["files"]["test"].values()}
    assert train_photos == set(bp.PHOTOS["train"]) and test_photos == set(bp.PHOTOS["test"])
    assert not train_photos & test_photos
    assert sorted(sources["files"]["train"]) == [p.name for p in train.files]

    # make_builtin writes the pix2pix layout; gray2color's A is the luminance of B, exactly, read as one channel
    out = make_builtin("gray2color", tmp_path / "made")
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [bp.SOURCES_FILE, "test", "train"]
    grey = AlignedDataset(out / "test", channels_A=1, preprocess="none", flip=False)
    assert len(grey) == 100 and len(AlignedDataset(out / "train")) == 600
    g = grey[3]
    want = np.asarray(Image.fromarray(_u8(g["B"])).convert("L"))
    assert g["A"].shape == (1, 128, 128) and np.array_equal(_u8(g["A"])[:, :, 0], want)
    colour = load_paired("edges2photos", split="test", preprocess="none", flip=False)
    assert torch.equal(colour[3]["B"], g["B"])  # the two sets share their photo crops

    with pytest.raises(DataError, match="holds image pairs"):
        load_dataset("edges2photos", "images")
    with pytest.raises(DataError, match="'digits' is not paired"):
        load_paired("digits")
