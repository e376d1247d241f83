"""Tests for super-resolution data (condgen.data.sr): items, the bicubic degradation, crops and flips drawn from
(seed, epoch, index), paired HR/LR folders, bad input messages, and the built-in photos set."""

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
from torch.nn import functional as F
from torch.utils.data import DataLoader

from condgen.data import (
    BUILTIN,
    BadImageWarning,
    DataError,
    SmallImageWarning,
    SRDataset,
    bicubic_downscale,
    dataset_info,
    load_dataset,
    load_paired,
    load_sr,
)
from condgen.data import builtin_photos as bph
from condgen.data.builtin_paired import PHOTOS
from condgen.data.builtin_paired import _load_photo as load_photo
from condgen.errors import ConfigError


def _hr_folder(root, sizes=((40, 36), (44, 48), (37, 41)), seed=0):
    """``root`` with one noise PNG per (h, w) size, named img0.png, img1.png, ...; returns root."""
    for i, (h, w) in enumerate(sizes):
        _save(_noise(h, w, seed=seed + i), root / f"img{i}.png")
    return root


def _source(ds: SRDataset, i: int) -> np.ndarray:
    return np.asarray(Image.open(ds.files[i]).convert("RGB"))


def _dihedral(arr: np.ndarray, ops) -> np.ndarray:
    """The h-flip, v-flip and transpose of ``crop_box``'s choices, applied in that order to an H x W x C array."""
    hflip, vflip, transpose = ops
    if hflip:
        arr = arr[:, ::-1]
    if vflip:
        arr = arr[::-1]
    if transpose:
        arr = arr.transpose(1, 0, 2)
    return arr


# ---------------------------------------------------------------- items and the degradation


def test_items_shapes_and_ranges(tmp_path):
    root = _hr_folder(tmp_path / "hr")
    ds = load_sr(root, scale=4, hr_crop=16)
    assert isinstance(ds, SRDataset) and ds.train and not ds.paired and not ds.in_memory
    assert ds.crops_per_image == 107 and len(ds) == 3 * 107  # auto: an epoch of at least EPOCH_CROPS crops
    item = ds[5]
    assert list(item) == ["lr", "hr", "path"]
    assert item["lr"].shape == (3, 4, 4) and item["hr"].shape == (3, 16, 16)
    assert item["lr"].dtype == item["hr"].dtype == torch.float32
    for key in ("lr", "hr"):
        assert -1.0 <= float(item[key].min()) and float(item[key].max()) <= 1.0
    assert item["path"] == str(root / "img2.png")  # item i crops image i % n
    assert dataset_info(ds) == {"num_classes": 0, "classes": [], "channels": 3, "image_size": 16, "size": 321}
    assert (ds.scale, ds.hr_crop, ds.num_classes, ds.classes) == (4, 16, 0, [])
    assert len(load_sr(root, scale=2, hr_crop=16, crops_per_image=2)) == 6
    test = load_sr(root, split="train", train=False, scale=2, hr_crop=16, crops_per_image=5)
    assert len(test) == 3 and test[0]["lr"].shape == (3, 8, 8)  # one centre crop per image at evaluation
    grey = load_sr(root, scale=8, hr_crop=32, channels=1)
    assert grey[0]["hr"].shape == (1, 32, 32) and grey[0]["lr"].shape == (1, 4, 4)
    batch = next(iter(DataLoader(ds, batch_size=4)))
    assert batch["lr"].shape == (4, 3, 4, 4) and len(batch["path"]) == 4
    with pytest.raises(IndexError):
        ds[len(ds)]


@pytest.mark.parametrize("scale", [2, 4, 8])
def test_lr_is_the_antialiased_bicubic_of_the_hr_crop(tmp_path, scale):
    ds = load_sr(_hr_folder(tmp_path), scale=scale, hr_crop=32, rotate=True, crops_per_image=4)
    for i in range(len(ds)):
        item = ds[i]
        hr, lr = _u8(item["hr"]), _u8(item["lr"])
        # the documented degradation, computed directly: PIL bicubic (a = -0.5, antialiased), one pass
        direct = Image.fromarray(hr).resize((32 // scale, 32 // scale), Image.Resampling.BICUBIC, reducing_gap=None)
        assert np.array_equal(lr, np.asarray(direct))
        assert np.array_equal(np.asarray(bicubic_downscale(Image.fromarray(hr), scale)), lr)
    # antialiased: the kernel widens by the scale. torch's antialiased bicubic (the same kernel, in float) agrees
    # up to PIL's 8-bit rounding between its two passes; plain bicubic, which samples only 4 x 4 pixels, is far off
    # on noise.
    hr = item["hr"][None]
    aa = F.interpolate(hr, scale_factor=1 / scale, mode="bicubic", antialias=True).clamp(-1, 1)[0]
    plain = F.interpolate(hr, scale_factor=1 / scale, mode="bicubic", antialias=False).clamp(-1, 1)[0]
    levels = (aa - item["lr"]).abs() * 127.5
    assert levels.max() <= 2.5 and levels.mean() <= 0.6
    assert (plain - item["lr"]).abs().mean() * 127.5 > 10
    with pytest.raises(DataError, match="multiples of the scale 4, got 10x12"):
        bicubic_downscale(Image.new("RGB", (10, 12)), 4)


def test_crops_come_from_the_image_on_the_scale_grid(tmp_path):
    ds = load_sr(_hr_folder(tmp_path), scale=4, hr_crop=16, flip=False, crops_per_image=20)
    sizes = [(36, 40), (48, 44), (40, 36)]  # (w, h) of each image cut to multiples of 4
    seen = set()
    for i in range(len(ds)):
        box, ops = ds.crop_box(sizes[i % 3], i)
        assert ops == (False, False, False) and box[0] % 4 == 0 and box[1] % 4 == 0
        x, y, x2, y2 = box
        assert np.array_equal(_u8(ds[i]["hr"]), _source(ds, i % 3)[y:y2, x:x2])
        seen.add((i % 3, x, y))
    assert len(seen) > 30  # varied positions
    # evaluation: the centre crop, corner on the grid; hr_crop=0 the whole image cut to a multiple of the scale
    test = load_sr(tmp_path, split="train", train=False, scale=4, hr_crop=16)
    assert test.crop_box((36, 40), 0) == ((8, 12, 24, 28), (False, False, False))
    assert np.array_equal(_u8(test[0]["hr"]), _source(test, 0)[12:28, 8:24])
    whole = load_sr(tmp_path, split="train", train=False, scale=4, hr_crop=0)
    assert [tuple(whole[i]["hr"].shape) for i in range(3)] == [(3, 40, 36), (3, 44, 48), (3, 36, 40)]
    assert whole.image_size == 0 and whole[2]["lr"].shape == (3, 9, 10)
    assert np.array_equal(_u8(whole[2]["hr"]), _source(whole, 2)[:36, :40])  # cut from the bottom/right


def test_flips_and_rotations(tmp_path):
    _save(_noise(40, 40, seed=7), tmp_path / "a.png")
    ds = load_sr(tmp_path, scale=2, hr_crop=16, rotate=True, crops_per_image=200)
    src = _source(ds, 0)
    ops_seen = set()
    for i in range(40):
        (x, y, x2, y2), ops = ds.crop_box((40, 40), i)
        assert np.array_equal(_u8(ds[i]["hr"]), _dihedral(src[y:y2, x:x2], ops))
        ops_seen.add(ops)
    assert len(ops_seen) == 8  # all 8 rotations/reflections
    flip_only = load_sr(tmp_path, scale=2, hr_crop=16, crops_per_image=200)
    ops = {flip_only.crop_box((40, 40), i)[1] for i in range(40)}
    assert ops == {(False, False, False), (True, False, False)}  # default: horizontal flips only
    # the choices are the same draws with or without rotations: flip-only items are a subset
    assert all(flip_only.crop_box((40, 40), i)[0] == ds.crop_box((40, 40), i)[0] for i in range(40))


def test_deterministic_per_seed_epoch_and_index(tmp_path):
    root = _hr_folder(tmp_path)
    a, b = load_sr(root, scale=4, hr_crop=16, seed=3), load_sr(root, scale=4, hr_crop=16, seed=3)
    idx = [0, 1, 7, 100, 250]
    first = [a[i]["hr"] for i in idx]
    assert all(torch.equal(x, b[i]["hr"]) for x, i in zip(first, idx))
    assert all(torch.equal(a[i]["hr"], x) for x, i in zip(first, idx))  # rereading gives the same
    a.set_epoch(1)
    second = [a[i]["hr"] for i in idx]
    assert sum(not torch.equal(x, y) for x, y in zip(first, second)) >= 4  # new crops next epoch
    resumed = load_sr(root, scale=4, hr_crop=16, seed=3)
    resumed.set_epoch(1)  # a resumed run: a fresh dataset told its epoch
    assert all(torch.equal(resumed[i]["hr"], x) for x, i in zip(second, idx))
    other = load_sr(root, scale=4, hr_crop=16, seed=4)
    assert sum(not torch.equal(other[i]["hr"], x) for x, i in zip(first, idx)) >= 4
    # the index, not the image, keys the draw: items of one image differ
    assert not torch.equal(a[0]["hr"], a[3]["hr"])


# ---------------------------------------------------------------- paired HR/LR folders


def _paired(root, split="train", names=("p0", "p1"), lr_name="{}", hr_size=(40, 48), scale=4, lr_sub=""):
    """HR noise images in root/split/HR and independent noise LR images of HR // scale in root/split/LR."""
    h, w = hr_size
    for i, n in enumerate(names):
        _save(_noise(h, w, seed=i), root / split / "HR" / f"{n}.png")
        _save(_noise(h // scale, w // scale, seed=50 + i), root / split / "LR" / lr_sub / f"{lr_name.format(n)}.png")
    return root


@pytest.mark.parametrize("layout", ["same names", "div2k"])
def test_paired_folders_take_the_same_crop(tmp_path, layout):
    if layout == "div2k":  # 0001.png <-> LR/X4/0001x4.png
        root = _paired(tmp_path, lr_name="{}x4", lr_sub="X4")
    else:
        root = _paired(tmp_path)
    ds = load_sr(root, scale=4, hr_crop=16, rotate=True, crops_per_image=10)
    assert ds.paired and len(ds) == 20 and [p.name for p in ds.files] == ["p0.png", "p1.png"]
    assert ds.lr_files[0].name == ("p0x4.png" if layout == "div2k" else "p0.png")
    for i in range(len(ds)):
        item = ds[i]
        hr_src = _source(ds, i % 2)
        lr_src = np.asarray(Image.open(ds.lr_files[i % 2]).convert("RGB"))
        (x, y, x2, y2), ops = ds.crop_box((48, 40), i)
        assert np.array_equal(_u8(item["hr"]), _dihedral(hr_src[y:y2, x:x2], ops))
        # the LR file's own pixels (not a downscaling of HR) at the box / 4, with the same flips
        assert np.array_equal(_u8(item["lr"]), _dihedral(lr_src[y // 4:y2 // 4, x // 4:x2 // 4], ops))
    test = load_sr(root, split="train", train=False, scale=4, hr_crop=0)
    assert test[0]["hr"].shape == (3, 40, 48) and test[0]["lr"].shape == (3, 10, 12)


def test_paired_hr_not_a_multiple_of_the_scale(tmp_path):
    """HR 42 x 51 with LR 10 x 12 (= HR // 4): the extra HR rows/columns are cut off."""
    _save(_noise(42, 51, seed=1), tmp_path / "HR" / "a.png")
    _save(_noise(10, 12, seed=2), tmp_path / "LR" / "a.png")
    ds = load_sr(tmp_path, split="train", train=False, scale=4, hr_crop=0)
    assert ds[0]["hr"].shape == (3, 40, 48) and ds[0]["lr"].shape == (3, 10, 12)


def test_paired_bad_inputs(tmp_path):
    root = _paired(tmp_path / "wrong", scale=2)  # LR images made at scale 2
    with pytest.raises(DataError, match=r"LR/p0\.png is 24x20 but its HR image .*HR/p0\.png is 48x40: at scale 4 "
                                        r"the LR image must be 12x10 .*set model\.scale=2"):
        load_sr(root, scale=4, hr_crop=16)
    assert len(load_sr(root, scale=2, hr_crop=16)) > 0
    root = _paired(tmp_path / "unmatched", names=("a", "b", "c"))
    (root / "train" / "LR" / "b.png").rename(root / "train" / "LR" / "z.png")
    with pytest.raises(DataError, match=r"HR images without an LR image in .*: b\.png; LR images without an HR "
                                        r"image in .*: z\.png"):
        load_sr(root, scale=4, hr_crop=16)
    lr_only = tmp_path / "lr_only" / "LR"
    _save(_noise(8, 8), lr_only / "a.png")
    with pytest.raises(DataError, match="has an LR/ folder but no HR/ folder"):
        load_sr(lr_only.parent)
    empty_lr = _paired(tmp_path / "empty_lr")
    for f in (empty_lr / "train" / "LR").iterdir():
        f.unlink()
    with pytest.raises(DataError, match="no images .* in .*LR, the LR folder"):
        load_sr(empty_lr, hr_crop=16)


# ---------------------------------------------------------------- bad input


def test_bad_options(tmp_path):
    root = _hr_folder(tmp_path)
    with pytest.raises(ConfigError, match="scale must be one of 2, 4, 8 .*got 3"):
        load_sr(root, scale=3)
    with pytest.raises(ConfigError, match=r"hr_crop \(data.crop_size\) 30 is not a multiple of the scale 4.*28 or 32"):
        load_sr(root, scale=4, hr_crop=30)
    with pytest.raises(ConfigError, match="0 means whole images, which only evaluation can use"):
        load_sr(root, hr_crop=0)
    with pytest.raises(ConfigError, match="crops_per_image must be a positive"):
        load_sr(root, hr_crop=16, crops_per_image=0)
    with pytest.raises(DataError, match="bad_images must be one of skip, error"):
        load_sr(root, hr_crop=16, bad_images="ignore")
    with pytest.raises(DataError, match="channels must be 1 .* or 3"):
        load_sr(root, hr_crop=16, channels=4)


def test_missing_and_empty_folders(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_sr(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images .* in .*empty. Super-resolution data needs a folder of "
                                        "high-resolution images"):
        load_sr(tmp_path / "empty")
    _save(_noise(40, 40), tmp_path / "nested" / "sub" / "a.png")
    with pytest.raises(DataError, match="subfolders hold images"):
        load_sr(tmp_path / "nested", hr_crop=16)
    with pytest.raises(DataError, match="has no test/ subfolder"):
        load_sr(_hr_folder(tmp_path / "flat"), split="test")


def test_images_smaller_than_the_crop(tmp_path):
    root = _hr_folder(tmp_path, sizes=((40, 36), (20, 60), (44, 48)))
    with pytest.warns(SmallImageWarning, match=r"skipping 1 of 3 images .* smaller than 32x32 HR crops \(the "
                                               r"smallest is 60x20, e.g. img1.png\)"):
        ds = load_sr(root, scale=4, hr_crop=32)
    assert [p.name for p in ds.files] == ["img0.png", "img2.png"] and len(ds.skipped_small) == 1
    assert {ds[i]["path"] for i in range(4)} == {str(root / "img0.png"), str(root / "img2.png")}
    with pytest.raises(DataError, match=r"none of the 3 images in .* is large enough for 64x64 HR crops: the "
                                        r"smallest is 60x20, the largest 48x44.*at most 44"):
        load_sr(root, scale=4, hr_crop=64)


def test_grey_16_bit_rgba_and_unreadable_images(tmp_path):
    _save(np.full((32, 32), 200, np.uint8), tmp_path / "grey.png")
    Image.fromarray(np.full((32, 32), 65535, np.uint16)).save(tmp_path / "deep.png")  # 16-bit grey, white
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[..., 0] = 255  # red, fully transparent: composited onto white
    _save(rgba, tmp_path / "rgba.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")
    ds = load_sr(tmp_path, split="train", train=False, scale=2, hr_crop=16)
    items = {it["path"].rsplit("/", 1)[1]: it for it in (ds[i] for i in range(3))}
    assert all(it["hr"].shape == (3, 16, 16) and it["lr"].shape == (3, 8, 8) for it in items.values())
    assert torch.allclose(items["grey.png"]["hr"], torch.full((3, 16, 16), 200 / 127.5 - 1))
    assert torch.equal(items["deep.png"]["hr"], torch.ones(3, 16, 16))  # 65535 -> 255, not clipped garbage
    assert torch.equal(items["rgba.png"]["hr"], torch.ones(3, 16, 16))
    grey = load_sr(tmp_path, split="train", train=False, scale=2, hr_crop=16, channels=1)
    assert grey[1]["hr"].shape == (1, 16, 16)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.warns(BadImageWarning, match="skipping 1 unreadable image"):
        ds = load_sr(tmp_path, scale=2, hr_crop=16)
    assert len(ds.files) == 3 and ds.bad_files[0][0].name == "broken.png"
    with pytest.raises(DataError, match="1 unreadable image.*broken.png"):
        load_sr(tmp_path, scale=2, hr_crop=16, bad_images="error")


# ---------------------------------------------------------------- the built-in photos


def test_photos_registration():
    info = BUILTIN["photos"]
    assert info.kind == "sr" and dict(info.counts) == bph.COUNTS == {"train": 6, "test": 2}
    assert info.channels == 3 and info.image_size == 0
    assert set(PHOTOS["test"]) == {"chelsea", "flower"} and not set(PHOTOS["test"]) & set(PHOTOS["train"])


def test_photos(cache_dir):
    train = load_sr("photos")
    assert [p.stem for p in train.files] == sorted(PHOTOS["train"]) and train.crops_per_image == 54
    assert len(train) == 324 and dataset_info(train)["size"] == 324
    assert train[0]["hr"].shape == (3, 96, 96) and train[0]["lr"].shape == (3, 24, 24)
    test = load_sr("photos", split="test", hr_crop=0)
    assert [p.stem for p in test.files] == sorted(PHOTOS["test"]) and len(test) == 2
    assert [tuple(test[i]["hr"].shape) for i in range(2)] == [(3, 300, 448), (3, 424, 640)]
    # lossless, full resolution: the shipped pixels exactly
    chelsea = np.asarray(Image.open(test.files[0]))
    assert np.array_equal(chelsea, load_photo("chelsea")) and chelsea.shape == (300, 451, 3)
    sources = json.loads((cache_dir / "photos" / bph.SOURCES_FILE).read_text())
    assert sorted(sources["files"]["test"]) == ["chelsea.png", "flower.png"]
    assert sources["files"]["train"]["astronaut.png"]["size"] == [512, 512]
    via_kind = load_dataset("photos", "sr", split="test", image_size=64, scale=2)
    assert via_kind[0]["hr"].shape == (3, 64, 64) and via_kind[0]["lr"].shape == (3, 32, 32)

    with pytest.raises(DataError, match="'photos' has no split 'val'; it has train, test"):
        load_sr("photos", split="val")
    with pytest.raises(DataError, match=r"'digits' is not sr \(it is 'classes', for cgan\); use an sr dataset for "
                                        r"srresnet and srgan, such as photos"):
        load_sr("digits")
    with pytest.raises(DataError, match="full-resolution photographs for super-resolution.*kind 'sr'"):
        load_dataset("photos", "images")
    with pytest.raises(DataError, match=r"'photos' is not paired \(it is 'sr', for srresnet and srgan\)"):
        load_paired("photos")


def test_cli_data_make_and_list_photos(cache_dir, tmp_path, capsys):
    out = tmp_path / "photos"
    code, stdout, _ = run_cli(capsys, "data", "make", "photos", "--out", out)
    assert code == 0 and "wrote photos" in stdout
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [bph.SOURCES_FILE, "test", "train"]
    assert sorted(p.stem for p in (out / "train").iterdir()) == sorted(PHOTOS["train"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every photo is larger than the crop
        assert len(load_sr(out, split="test", hr_crop=96)) == 2
    code, stdout, _ = run_cli(capsys, "data", "list")
    lines = {line.split()[0]: line.split()[1] for line in stdout.splitlines() if line.strip()}
    assert lines["photos"] == "sr" and lines["digits"] == "classes"

