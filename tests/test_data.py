"""Tests for condgen.data: image modes, bad files, folder layouts, built-in datasets and the resumable sampler."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import Subset

from condgen.data import (
    BadImageWarning,
    ClassFolderDataset,
    DataError,
    ImageFolderDataset,
    ResumableSampler,
    batches_per_epoch,
    dataset_info,
    list_images,
    load_dataset,
    make_builtin,
    open_image,
    to_tensor,
)
from condgen.data.images import resize_to


def _png(path, size=(12, 10), color=(200, 30, 30)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)
    return path


def _encoded(fmt: str) -> bytes:
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(buf, fmt)
    return buf.getvalue()


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One built-in cache for the module, so digits is materialised once."""
    path = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CONDGEN_CACHE", str(path))
        yield path


# ---------------------------------------------------------------- image modes


def _mode_image(mode: str) -> Image.Image:
    if mode == "L":
        return Image.new("L", (9, 7), 128)
    if mode == "LA":
        return Image.new("LA", (9, 7), (0, 0))  # black, fully transparent
    if mode == "P":
        img = Image.new("P", (9, 7), 0)
        img.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
        img.info["transparency"] = 0
        return img
    if mode == "RGBA":
        return Image.new("RGBA", (9, 7), (255, 0, 0, 0))
    if mode == "CMYK":
        return Image.new("CMYK", (9, 7), (0, 255, 255, 0))  # red
    if mode == "1":
        img = Image.new("1", (9, 7), 0)
        img.putpixel((0, 0), 1)
        return img
    if mode == "I;16":
        return Image.fromarray(np.linspace(0, 4095, 63).reshape(7, 9).astype(np.uint16))
    if mode == "F":
        return Image.fromarray(np.linspace(0, 1, 63, dtype=np.float32).reshape(7, 9))
    raise AssertionError(mode)


# (expected min, expected max) of the channels=3 tensor
_MODE_RANGE = {
    "L": (128 / 127.5 - 1, 128 / 127.5 - 1),
    "LA": (1.0, 1.0),  # transparent -> white, not black
    "P": (1.0, 1.0),
    "RGBA": (1.0, 1.0),
    "CMYK": (-1.0, 1.0),
    "1": (-1.0, 1.0),
    "I;16": (-1.0, 1.0),  # 12-bit data scaled to the full range, not clipped at 255
    "F": (-1.0, 1.0),
}


@pytest.mark.parametrize("mode", sorted(_MODE_RANGE))
@pytest.mark.parametrize("channels", [1, 3])
def test_open_image_modes(tmp_path, mode, channels):
    img = _mode_image(mode)
    path = tmp_path / ("x.tif" if mode in ("CMYK", "F") else "x.png")
    img.save(path, **({"transparency": 0} if mode == "P" else {}))
    assert Image.open(path).mode == mode
    out = open_image(path, channels)
    assert out.mode == ("L" if channels == 1 else "RGB")
    t = to_tensor(out)
    assert t.dtype == torch.float32 and t.shape == (channels, 7, 9)
    lo, hi = _MODE_RANGE[mode]
    if channels == 3:
        assert t.min().item() == pytest.approx(lo, abs=1e-6) and t.max().item() == pytest.approx(hi, abs=1e-6)
    assert -1.0 <= t.min() and t.max() <= 1.0
    if mode == "CMYK" and channels == 3:
        assert t[:, 0, 0].tolist() == [1.0, -1.0, -1.0]


def test_i16_scaled_by_bit_range(tmp_path):
    Image.fromarray(np.array([[0, 2048, 4095]], dtype=np.uint16)).save(tmp_path / "a.png")
    assert np.asarray(open_image(tmp_path / "a.png", 1)).tolist() == [[0, 128, 255]]


def test_resize_to_center_crops_short_side():
    img = Image.new("RGB", (40, 20), (0, 0, 0))
    img.paste((255, 255, 255), (10, 0, 30, 20))  # the central square is white
    out = np.asarray(resize_to(img, 8))
    assert out.shape == (8, 8, 3)
    assert out[:, 1:-1].min() == 255 and out.min() > 200  # bicubic edges blend in a little of the black sides


def test_list_images(tmp_path):
    for name in ["b.PNG", "a.jpg", ".hidden.png", "notes.txt", "c.WebP"]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    _png(tmp_path / "sub" / "d.png")
    assert [p.name for p in list_images(tmp_path)] == ["a.jpg", "b.PNG", "c.WebP"]


# ------------------------------------------------------------------ bad files


@pytest.fixture
def messy(tmp_path):
    """3 good images, 2 that fail the header check and 2 that only fail to decode."""
    root = tmp_path / "messy"
    for i in range(3):
        _png(root / f"good{i}.png", color=(i * 50, 0, 0))
    png, jpg = _encoded("PNG"), _encoded("JPEG")
    (root / "trunc_png.png").write_bytes(png[: len(png) // 2])
    (root / "trunc_jpg.jpg").write_bytes(jpg[: len(jpg) // 2])
    (root / "random.png").write_bytes(np.random.default_rng(1).bytes(300))
    (root / "zero.jpg").write_bytes(b"")
    return root


def test_bad_images_skip(messy):
    with pytest.warns(BadImageWarning, match=r"skipping 2 unreadable") as rec:
        ds = ImageFolderDataset(messy, image_size=8, channels=3, bad_images="skip")
    assert "random.png" in str(rec[0].message) and "zero.jpg" in str(rec[0].message)
    assert len(ds) == 5 and len(ds.bad_files) == 2
    with pytest.warns(BadImageWarning, match="trunc_"):
        items = [ds[i]["image"] for i in range(len(ds))]
    assert all(t.shape == (3, 8, 8) for t in items)
    assert len(ds.bad_files) == 4
    reasons = {p.name: r for p, r in ds.bad_files}
    assert "empty" in reasons["zero.jpg"] and "truncated" in reasons["trunc_png.png"]
    # files sort as good0..2, trunc_jpg, trunc_png: both truncated ones deterministically wrap to good0
    assert torch.equal(ds[3]["image"], ds[0]["image"]) and torch.equal(ds[4]["image"], ds[0]["image"])


def test_bad_images_error(messy):
    with pytest.raises(DataError, match=r"2 unreadable image\(s\).*random\.png"):
        ImageFolderDataset(messy, image_size=8, bad_images="error")
    for name in ["random.png", "zero.jpg"]:
        (messy / name).unlink()
    ds = ImageFolderDataset(messy, image_size=8, bad_images="error")
    with pytest.raises(DataError, match="trunc_jpg.jpg"):
        ds[3]


def test_all_bad_images(tmp_path):
    (tmp_path / "a.png").write_bytes(b"nope")
    with pytest.warns(BadImageWarning), pytest.raises(DataError, match="no readable images"):
        ImageFolderDataset(tmp_path, bad_images="skip")


@pytest.mark.parametrize("limit", [100, 300])  # PIL raises above 2x the limit and only warns between 1x and 2x
def test_decompression_bomb_is_unreadable(tmp_path, monkeypatch, limit):
    _png(tmp_path / "big.png", size=(20, 20))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the bomb warning must not leak out as a mere warning
        with pytest.raises(DataError, match="big.png.*decompression bomb"):
            open_image(tmp_path / "big.png", 3)


# ------------------------------------------------------------- folder layouts


def test_missing_and_empty_folders(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError, match=f"data folder {missing} does not exist"):
        ImageFolderDataset(missing)
    with pytest.raises(DataError, match=f"{missing} does not exist"):
        load_dataset(str(missing), "images")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=rf"no images \(png, jpg.*\) in {tmp_path / 'empty'}"):
        ImageFolderDataset(tmp_path / "empty")


def test_class_folders(tmp_path):
    root = tmp_path / "cls"
    for cls, n in [("2", 2), ("10", 1), ("1", 3)]:
        for i in range(n):
            _png(root / cls / f"{i}.png")
    ds = ClassFolderDataset(root, image_size=16, channels=1)
    assert ds.classes == ["1", "2", "10"] and ds.num_classes == 3  # numeric names sort numerically
    assert len(ds) == 6 and not ds.in_memory
    item = ds[5]
    assert item["image"].shape == (1, 16, 16) and item["label"].dtype == torch.int64 and item["label"] == 2
    (root / "empty_class").mkdir()
    with pytest.raises(DataError, match=f"class folder {root / 'empty_class'} has no images"):
        ClassFolderDataset(root)


def test_class_root_without_subfolders(tmp_path):
    _png(tmp_path / "a.png")
    with pytest.raises(DataError, match=f"no class subfolders in {tmp_path}.*one subfolder per class"):
        ClassFolderDataset(tmp_path)


def test_load_dataset_splits(tmp_path):
    flat = tmp_path / "flat"
    _png(flat / "a.png")
    assert len(load_dataset(str(flat), "images", image_size=8)) == 1
    with pytest.raises(DataError, match="no test/ subfolder"):
        load_dataset(str(flat), "images", split="test")
    with pytest.warns(UserWarning, match="no test/ folder"):
        assert len(load_dataset(str(flat), "images", split="test", fallback_to_train=True)) == 1

    split = tmp_path / "split"
    for s, n in [("train", 3), ("test", 1)]:
        for i in range(n):
            _png(split / s / "cat" / f"{i}.png")
            _png(split / s / "dog" / f"{i}.png")
    test = load_dataset(str(split), "classes", split="test", image_size=8)
    assert len(test) == 2 and test.classes == ["cat", "dog"]
    # kind=images on class-structured data gathers the class subfolders (dcgan --data on class data)
    train = load_dataset(str(split), "images", image_size=8, channels=1)
    assert len(train) == 6 and set(train[0]) == {"image"}
    info = dataset_info(Subset(test, [0]))
    assert info == {"num_classes": 2, "classes": ["cat", "dog"], "channels": 3, "image_size": 8, "size": 1}
    with pytest.raises(DataError, match="kind must be"):
        load_dataset(str(split), "pairs")


# ------------------------------------------------------------- built-in data


def test_digits_builtin(cache, tmp_path):
    train = load_dataset("digits", "classes", image_size=32, channels=1)
    test = load_dataset("digits", "classes", split="test", image_size=16, channels=3)
    assert (len(train), len(test)) == (1437, 360)
    assert train.in_memory and train.num_classes == 10 and train.classes == [str(i) for i in range(10)]
    assert train.images.dtype == torch.uint8
    item = test[0]
    assert item["image"].shape == (3, 16, 16) and item["label"].dtype == torch.int64
    assert -1.0 <= item["image"].min() and item["image"].max() <= 1.0
    assert sorted(set(train.labels.tolist())) == list(range(10))
    assert len(load_dataset("digits", "images")) == 1437  # unconditional use of class data

    out = make_builtin("digits", tmp_path / "made")
    assert out == tmp_path / "made"
    made = sorted(p.relative_to(out) for p in out.rglob("*.png"))
    cached = sorted(p.relative_to(cache / "digits") for p in (cache / "digits").rglob("*.png"))
    assert len(made) == 1797 and made == cached
    assert len(list((out / "train" / "3").glob("*.png"))) > 100 and (out / "test" / "9").is_dir()
    # two independent materialisations are byte-identical
    assert all((out / p).read_bytes() == (cache / "digits" / p).read_bytes() for p in made)
    # and the written folder loads like any class folder
    assert len(load_dataset(str(out), "classes", split="test", image_size=8)) == 360
    with pytest.raises(DataError, match="already exists"):
        make_builtin("digits", out)


def test_builtin_errors(cache, tmp_path):
    with pytest.raises(DataError, match="digits, faces"):
        make_builtin("cifar", tmp_path / "x")
    with pytest.raises(DataError, match="has no classes"):
        load_dataset("faces", "classes")


# -------------------------------------------------------------------- sampler


class _Range(torch.utils.data.Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return i


def test_sampler_partitions_and_resumes():
    data = _Range(21)
    r0 = ResumableSampler(data, num_replicas=2, rank=0, seed=3)
    r1 = ResumableSampler(data, num_replicas=2, rank=1, seed=3)
    a, b = list(r0), list(r1)
    assert len(a) == len(b) == 10 and not set(a) & set(b)  # drop_last: 20 of 21, disjoint
    assert list(ResumableSampler(data, num_replicas=2, rank=0, seed=3)) == a  # same seed, same order
    assert list(ResumableSampler(data, num_replicas=2, rank=0, seed=4)) != a
    r0.set_epoch(1)
    epoch1 = list(r0)
    assert epoch1 != a
    r0.set_start(4)
    assert len(r0) == 6 and list(r0) == epoch1[4:]
    assert list(r0) == epoch1  # the start applies to one iteration only
    single = ResumableSampler(data, shuffle=False)
    assert list(single) == list(range(21))
    with pytest.raises(ValueError):
        single.set_start(22)


def test_batches_per_epoch():
    assert batches_per_epoch(1437, 64, 1) == 22
    assert batches_per_epoch(1437, 64, 2) == 11
    with pytest.raises(DataError, match="lower data.batch_size"):
        batches_per_epoch(10, 8, 2)
