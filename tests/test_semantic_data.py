"""Tests for semantic synthesis data: the images/ labels/ instances/ loader, its label checks, shared transforms,
and the built-in procedural ``scenes`` sets."""

from __future__ import annotations

import shutil
import warnings

import numpy as np
import pytest
import torch
from cli_helpers import run_cli
from image_helpers import save_array as _save
from image_helpers import to_u8 as _u8
from PIL import Image

from condgen.config import DataConfig
from condgen.data import (
    BUILTIN,
    IGNORE_ID,
    BadImageWarning,
    DataError,
    MissingDontcareWarning,
    SemanticDataset,
    dataset_info,
    load_dataset,
    load_semantic,
)
from condgen.data import builtin_scenes as bs
from condgen.data.builtin import KIND_USES
from condgen.data.transforms import draw_params
from condgen.runs import load_model_data

EXACT = {"preprocess": "none", "multiple": 1, "flip": False}


def _pair(root, stem, label, image=None, instance=None, split=""):
    """Write one image (noise unless given) + label (uint8 ids) [+ instance] under root[/split]."""
    base = root / split if split else root
    h, w = label.shape
    if image is None:
        image = np.random.default_rng(len(stem)).integers(0, 256, (h, w, 3), dtype=np.uint8)
    _save(image, base / "images" / f"{stem}.png")
    _save(label.astype(np.uint8), base / "labels" / f"{stem}.png")
    if instance is not None:
        (base / "instances").mkdir(parents=True, exist_ok=True)
        if instance.max() < 2**16:
            Image.fromarray(instance.astype(np.uint16)).save(base / "instances" / f"{stem}.png")  # 16-bit PNG
        else:  # PNG has no 32-bit grey; Cityscapes-style ids this large come as TIFF here
            Image.fromarray(instance.astype(np.int32)).save(base / "instances" / f"{stem}.tif")


# ------------------------------------------------------------------------------------------ folder loader


def test_item_contract_and_exact_round_trip(tmp_path):
    label = np.array([[0, 1, 2], [2, 1, 255]], np.uint8)
    image = np.arange(18, dtype=np.uint8).reshape(2, 3, 3) * 10
    _pair(tmp_path, "a", label, image)
    ds = load_semantic(tmp_path, **EXACT)
    assert isinstance(ds, SemanticDataset) and len(ds) == 1
    item = ds[0]
    assert set(item) == {"image", "segmap", "path"} and item["path"] == str(tmp_path / "images" / "a.png")
    assert item["image"].dtype == torch.float32 and item["image"].shape == (3, 2, 3)
    assert item["segmap"].dtype == torch.int64 and item["segmap"].shape == (2, 3)
    assert np.array_equal(_u8(item["image"]), image) and np.array_equal(item["segmap"].numpy(), label)
    assert (ds.label_nc, ds.has_dontcare, ds.has_instances, ds.class_names) == (3, True, False, None)
    assert ds.class_counts.tolist() == [1, 2, 2] and ds.dontcare_pixels == 1
    assert IGNORE_ID == 255
    info = dataset_info(ds)
    assert info["label_nc"] == 3 and info["has_dontcare"] is True and info["has_instances"] is False
    assert info["image_size"] == 256 and info["size"] == 1 and info["class_names"] is None
    # label_nc given: larger than the data is fine, and wins
    assert load_semantic(tmp_path, label_nc=10, **EXACT).label_nc == 10
    # instances: read when present, int64, untouched ids
    inst = np.array([[7, 7, 300], [9, 9, 70000]])  # stored as a 32-bit TIFF
    _pair(tmp_path / "i", "a", label, image, inst)
    with_inst = load_semantic(tmp_path / "i", **EXACT)
    got = with_inst[0]
    assert with_inst.has_instances and dataset_info(with_inst)["has_instances"] is True
    assert got["instance"].dtype == torch.int64 and np.array_equal(got["instance"].numpy(), inst)
    assert "instance" not in load_semantic(tmp_path / "i", instances="false", **EXACT)[0]


def test_layouts_and_load_dataset(tmp_path):
    ids = np.zeros((8, 8), np.uint8)
    ids[4:] = 1
    _pair(tmp_path / "split", "x", ids, split="train")
    _pair(tmp_path / "split", "y", ids * 2, split="test")
    assert load_semantic(tmp_path / "split").label_nc == 2
    assert load_semantic(tmp_path / "split", split="test", crop_size=4).label_nc == 3
    _pair(tmp_path / "coco", "x", ids, split="")
    (tmp_path / "coco" / "images").rename(tmp_path / "coco" / "val_img")
    (tmp_path / "coco" / "labels").rename(tmp_path / "coco" / "val_label")
    assert len(load_semantic(tmp_path / "coco", split="val")) == 1  # SPADE's COCO-Stuff folder names
    ds = load_dataset(str(tmp_path / "split"), "semantic", image_size=4, load_size=6, label_nc=5)
    item = ds[0]
    assert item["image"].shape == (3, 4, 4) and item["segmap"].shape == (4, 4) and ds.label_nc == 5
    with pytest.raises(DataError, match="no semantic data for split 'train'.*images"):
        load_semantic(tmp_path / "coco")
    with pytest.raises(DataError, match="no test/ folder"):
        _pair(tmp_path / "flat", "x", ids)
        load_semantic(tmp_path / "flat", split="test")
    (tmp_path / "half" / "images").mkdir(parents=True)
    with pytest.raises(DataError, match="labels is missing"):
        load_semantic(tmp_path / "half")


def test_same_crop_and_flip_for_image_label_and_instance(tmp_path):
    # Each pixel says where it came from: R = 10 x, G = 10 y; the label is x, the instance 1000 y + x.
    n = 24
    yy, xx = np.mgrid[0:n, 0:n]
    image = np.stack([xx * 10, yy * 10, np.full_like(xx, 128)], -1).astype(np.uint8)
    _pair(tmp_path, "c", xx.astype(np.uint8), image, yy * 1000 + xx)
    ds = load_semantic(tmp_path, load_size=n, crop_size=16, seed=0)
    flips, origins = set(), set()
    for epoch in range(8):
        ds.set_epoch(epoch)
        item = ds[0]
        rgb = _u8(item["image"]).astype(np.int64)
        lab, inst = item["segmap"].numpy(), item["instance"].numpy()
        assert lab.shape == inst.shape == (16, 16)
        assert np.array_equal(rgb[..., 0], lab * 10) and np.array_equal(inst % 1000, lab)
        assert np.array_equal(inst // 1000 * 10, rgb[..., 1])
        flipped = lab[0, 0] > lab[0, -1]
        assert flipped == draw_params(0, epoch, 0).flip
        flips.add(bool(flipped))
        origins.add((int(lab.min()), int(inst.min()) // 1000))
    assert flips == {True, False} and len(origins) > 2  # both flip branches, several crop positions
    # evaluation: resize to crop_size, nothing random, the same every epoch
    ev = load_semantic(tmp_path, crop_size=12, train=False)
    a = ev[0]
    ev.set_epoch(3)
    b = ev[0]
    assert all(torch.equal(a[k], b[k]) for k in ("image", "segmap", "instance"))
    want = np.asarray(Image.fromarray(xx.astype(np.uint8)).resize((12, 12), Image.Resampling.NEAREST))
    assert np.array_equal(a["segmap"].numpy(), want)


def test_resizing_never_creates_new_ids(tmp_path):
    rng = np.random.default_rng(0)
    label = rng.choice(np.array([0, 3, 7, 255], np.uint8), size=(13, 17))
    inst = rng.choice(np.array([5, 900, 40000]), size=(13, 17))
    _pair(tmp_path, "r", label, instance=inst)
    for load, crop in ((29, 23), (7, 5), (13, 13)):
        for train in (True, False):
            ds = load_semantic(tmp_path, load_size=load, crop_size=crop, train=train)
            item = ds[0]
            assert set(item["segmap"].unique().tolist()) <= {0, 3, 7, 255}
            assert set(item["instance"].unique().tolist()) <= {5, 900, 40000}
            assert item["image"].shape == (3, crop, crop)
    assert ds.label_nc == 8 and ds.has_dontcare


def test_label_formats(tmp_path):
    ids = np.array([[0, 1], [2, 3]], np.uint8)
    # palette PNG: the stored indices are the ids whatever colours the palette gives them
    _save(np.zeros((2, 2, 3), np.uint8), tmp_path / "p" / "images" / "a.png")
    pal = Image.frombytes("P", (2, 2), ids.tobytes())
    pal.putpalette([200, 10, 10, 10, 200, 10, 10, 10, 200, 90, 90, 90] + [0] * 756)
    (tmp_path / "p" / "labels").mkdir()
    pal.save(tmp_path / "p" / "labels" / "a.png")
    assert np.array_equal(load_semantic(tmp_path / "p", **EXACT)[0]["segmap"].numpy(), ids)
    # 16-bit with small ids, and grey stored as RGB, are read as ids
    Image.fromarray(ids.astype(np.uint16)).save(tmp_path / "p" / "labels" / "a.png")
    assert np.array_equal(load_semantic(tmp_path / "p", **EXACT)[0]["segmap"].numpy(), ids)
    _save(np.repeat(ids[..., None], 3, 2), tmp_path / "p" / "labels" / "a.png")
    assert np.array_equal(load_semantic(tmp_path / "p", **EXACT)[0]["segmap"].numpy(), ids)


def test_dontcare_conventions(tmp_path):
    _pair(tmp_path / "first", "a", np.array([[0, 1], [2, 3]], np.uint8))
    # don't care first (OASIS-style files): 0 -> 255, ids above move down by one
    ds = load_semantic(tmp_path / "first", dontcare_id=0, **EXACT)
    assert ds.label_nc == 3 and ds.has_dontcare
    assert ds[0]["segmap"].tolist() == [[255, 0], [1, 2]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 255 (the default) absent is normal: no warning
        plain = load_semantic(tmp_path / "first", **EXACT)
    assert plain.label_nc == 4 and not plain.has_dontcare
    _pair(tmp_path / "none", "a", np.array([[1, 2]], np.uint8))
    with pytest.warns(MissingDontcareWarning, match="dontcare_id=0 is set, but no label map .* contains 0"):
        load_semantic(tmp_path / "none", dontcare_id=0, **EXACT)
    _pair(tmp_path / "v", "a", np.array([[1, 255]], np.uint8))
    with pytest.raises(DataError, match=r"label values 255 in .*a\.png are out of range.*dontcare_id=-1"):
        load_semantic(tmp_path / "v", dontcare_id=-1)
    assert DataConfig().dontcare_id == 255 and DataConfig().instances == "auto"


def test_class_names_file(tmp_path):
    _pair(tmp_path, "a", np.array([[0, 1]], np.uint8))
    (tmp_path / "classes.txt").write_text("sky\n# a comment\ngrass\nrock\n")
    ds = load_semantic(tmp_path)
    assert ds.class_names == ["sky", "grass", "rock"] and ds.label_nc == 3  # the names decide label_nc
    assert dataset_info(ds)["class_names"] == ["sky", "grass", "rock"]
    with pytest.raises(DataError, match=r"3 class names \(from .*classes\.txt\) but label_nc is 5"):
        load_semantic(tmp_path, label_nc=5)


# ------------------------------------------------------------------------------------------------ bad input


def test_unmatched_files_are_listed(tmp_path):
    ids = np.zeros((4, 4), np.uint8)
    for stem in ("a", "b", "c"):
        _pair(tmp_path, stem, ids)
    (tmp_path / "labels" / "b.png").unlink()
    _save(ids, tmp_path / "labels" / "zz.png")
    with pytest.raises(DataError, match=r"1 image\(s\) in .*images have no label in .*labels: b\.png; "
                                        r"1 label file\(s\) in .*labels have no image in .*images: zz\.png"):
        load_semantic(tmp_path)
    (tmp_path / "labels" / "zz.png").unlink()
    _save(ids, tmp_path / "labels" / "b.png")
    (tmp_path / "instances").mkdir()
    Image.fromarray(ids).save(tmp_path / "instances" / "a.png")
    with pytest.raises(DataError, match=r"2 image\(s\) .* have no instance map in .*instances: b\.png, c\.png"):
        load_semantic(tmp_path)
    assert len(load_semantic(tmp_path, instances="false")) == 3
    shutil.rmtree(tmp_path / "instances")
    with pytest.raises(DataError, match="data.instances is true but there is no instance map folder"):
        load_semantic(tmp_path, instances="true")


def test_out_of_range_ids_name_the_ids_and_file(tmp_path):
    _pair(tmp_path, "fine", np.array([[0, 1, 2]], np.uint8))
    _pair(tmp_path, "bad", np.array([[0, 5, 9, 255]], np.uint8))
    with pytest.raises(DataError, match=r"label values 5, 9 in .*labels/bad\.png are out of range: label_nc is 3 "
                                        r"\(from model\.label_nc\), so ids must be 0\.\.2.*1 label file\(s\).*"
                                        r"Set model\.label_nc to at least 10"):
        load_semantic(tmp_path, label_nc=3)
    assert load_semantic(tmp_path).label_nc == 10  # inferred: max id + 1, 255 excluded


def test_size_mismatch_names_both_sizes(tmp_path):
    _save(np.zeros((6, 8, 3), np.uint8), tmp_path / "images" / "a.png")
    _save(np.zeros((6, 7), np.uint8), tmp_path / "labels" / "a.png")
    with pytest.raises(DataError, match=r"label map .*labels/a\.png is 7x6 but its image a\.png is 8x6"):
        load_semantic(tmp_path)
    _save(np.zeros((6, 8), np.uint8), tmp_path / "labels" / "a.png")
    _save(np.zeros((5, 8), np.uint8), tmp_path / "instances" / "a.png")
    with pytest.raises(DataError, match=r"instance map .*a\.png is 8x5 but its label map a\.png is 8x6"):
        load_semantic(tmp_path)


def test_colour_and_lossy_label_maps_are_refused(tmp_path):
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[:2] = (128, 64, 128)
    rgb[2:] = (70, 130, 180)
    _pair(tmp_path / "rgb", "a", np.zeros((4, 4), np.uint8))
    _save(rgb, tmp_path / "rgb" / "labels" / "a.png")
    with pytest.raises(DataError, match=r"a\.png is a colour \(RGB\) image with 2 distinct colours.*COLOURS"):
        load_semantic(tmp_path / "rgb")
    _pair(tmp_path / "jpg", "a", np.zeros((4, 4), np.uint8))
    (tmp_path / "jpg" / "labels" / "a.png").rename(tmp_path / "jpg" / "labels" / "a.jpg")
    with pytest.raises(DataError, match=r"stored losslessly.*a\.jpg"):
        load_semantic(tmp_path / "jpg")
    _pair(tmp_path / "wide", "a", np.zeros((2, 2), np.uint8))
    Image.fromarray(np.array([[0, 300], [1, 2]], np.uint16)).save(tmp_path / "wide" / "labels" / "a.png")
    with pytest.raises(DataError, match=r"holds ids 0\.\.300; ids must lie in 0\.\.255"):
        load_semantic(tmp_path / "wide")
    _pair(tmp_path / "mask", "a", np.array([[0, 255], [255, 0]], np.uint8))
    with pytest.raises(DataError, match="hold only ids 0 and 255.*black/white masks"):
        load_semantic(tmp_path / "mask")


def test_unreadable_label_skip_or_error(tmp_path):
    for stem in ("a", "b"):
        _pair(tmp_path, stem, np.array([[0, 1]], np.uint8))
    (tmp_path / "labels" / "b.png").write_bytes(b"not a png")
    with pytest.warns(BadImageWarning, match=r"skipping 1 unreadable file.*b\.png"):
        ds = load_semantic(tmp_path)
    assert [p.name for p in ds.files] == ["a.png"]
    with pytest.raises(DataError, match=r"1 unreadable file\(s\).*b\.png"):
        load_semantic(tmp_path, bad_images="error")


# ----------------------------------------------------------------------------------------- built-in scenes


def test_scenes_registration():
    for name, size in bs.SCENE_SIZES.items():
        info = BUILTIN[name]
        assert info.kind == "semantic" and dict(info.counts) == bs.SCENE_COUNTS and info.image_size == size
    assert "spade" in KIND_USES["semantic"] and len(bs.SCENE_CLASSES) == 8


def test_labels2scenes_pairs_are_the_scenes_colour_coded_labels_beside_their_images(tmp_path):
    info = BUILTIN[bs.LABEL_PAIRS]
    assert info.kind == "paired" and dict(info.counts) == bs.SCENE_COUNTS and info.image_size == 128
    assert bs.write_label_pairs(tmp_path, size=32, counts={"train": 3, "test": 2}) == {"train": 3, "test": 2}
    for split, n in (("train", 3), ("test", 2)):
        for i in range(n):
            with Image.open(tmp_path / split / f"{i:05d}.png") as f:
                pair = np.asarray(f.convert("RGB"))
            image, label, _ = bs.render_scene(i, 32, split=split)
            assert pair.shape == (32, 64, 3) and np.array_equal(pair[:, 32:], image)
            # every A pixel is its class's colour, so the ids can be read back exactly
            colours = np.asarray(bs.CLASS_COLOURS)
            ids = np.argmin(((pair[:, :32, None, :].astype(int) - colours) ** 2).sum(-1), axis=-1)
            assert np.array_equal(ids, label) and np.array_equal(pair[:, :32], colours[label])
    assert len(set(map(tuple, bs.CLASS_COLOURS))) == len(bs.SCENE_CLASSES)  # one colour, one class


def test_render_scene_is_deterministic_and_resolution_free():
    a = bs.render_scene(7, 32, seed=0)
    b = bs.render_scene(7, 32, seed=0)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(bs.render_scene(7, 32, seed=1)[1], a[1])
    assert not np.array_equal(bs.render_scene(7, 32, split="test")[1], a[1])
    image, label, inst = a
    assert image.shape == (32, 32, 3) and image.dtype == np.uint8 and label.dtype == np.uint8
    assert label.max() < 8 and inst.min() >= 1
    # the same layout at two sizes: the 32 px labels are the 64 px ones subsampled, up to edge pixels
    big = bs.render_scene(7, 64, seed=0)[1]
    assert (big[::2, ::2] == label).mean() > 0.9 or (big[1::2, 1::2] == label).mean() > 0.9


def test_scene_images_follow_their_labels():
    grass_greener, sky_bluer, textured, classes = 0, 0, 0, set()
    n = 24
    for i in range(n):
        image, label, _ = bs.render_scene(i, 48)
        img = image.astype(np.float64)
        classes |= set(np.unique(label).tolist())
        sky, grass = label == bs.SKY, label == bs.GRASS
        if sky.sum() < 20 or grass.sum() < 20:
            continue
        s, g = img[sky].mean(0), img[grass].mean(0)
        sky_bluer += s[2] > g[2] + 40
        grass_greener += g[1] > g[2] + 20 and g[1] > g[0]
        textured += img[grass][:, 1].std() > 8  # grass is a texture, not a flat colour
    assert sky_bluer == grass_greener == textured == n - 0  # every scene has sky and grass
    assert len(classes) >= 6


def test_builtin_scenes_set_and_data_make(tmp_path, cache_dir, capsys):
    code, out, err = run_cli(capsys, "data", "make", "scenes64", "--out", tmp_path / "made")
    assert code == 0, err
    made = tmp_path / "made"
    assert (made / "classes.txt").read_text().split() == list(bs.SCENE_CLASSES)
    for split, count in bs.SCENE_COUNTS.items():
        for sub in ("images", "labels", "instances"):
            assert len(list((made / split / sub).glob("*.png"))) == count
    with Image.open(made / "train" / "labels" / "00000.png") as lab:
        assert lab.mode == "P"  # viewable in colour, values are the ids
    # The made folder is the cache layout (marker included): seed the session cache with it, no second build.
    if not (cache_dir / "scenes64").exists():
        shutil.copytree(made, cache_dir / "scenes64")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train = load_semantic(made, load_size=72, crop_size=64)  # the folder written by `data make`
        test = load_semantic("scenes64", split="test", crop_size=64)  # by name, from the cache
    assert (len(train), len(test)) == (800, 100)
    assert train.label_nc == test.label_nc == 8 and train.class_names == test.class_names == list(bs.SCENE_CLASSES)
    assert train.has_instances and test.has_instances and not train.has_dontcare
    assert (train.class_counts > 0).all() and (test.class_counts > 0).all()  # every class in both splits
    image, label, inst = bs.render_scene(3, 64, split="test")
    item = test[3]  # eval items at the stored size are the rendered arrays
    assert np.array_equal(_u8(item["image"]), image) and np.array_equal(item["segmap"].numpy(), label)
    assert np.array_equal(item["instance"].numpy(), inst)
    info = dataset_info(train)
    assert (info["label_nc"], info["has_instances"], info["has_dontcare"], info["image_size"]) == (8, True, False, 64)
    ds = load_dataset("scenes64", "semantic", image_size=32, load_size=36)
    assert ds[0]["image"].shape == (3, 32, 32) and ds[0]["segmap"].shape == (32, 32)
    code, stdout, _ = run_cli(capsys, "data", "list")
    lines = {line.split()[0]: line.split()[1] for line in stdout.splitlines() if line.strip()}
    assert lines["scenes"] == lines["scenes64"] == "semantic"
    with pytest.raises(DataError, match="holds label maps and photos for semantic image synthesis"):
        load_dataset("scenes64", "images")
    with pytest.raises(DataError, match="'digits' is not semantic"):
        load_semantic("digits")
    with pytest.raises(DataError, match="'scenes64' is not paired"):
        load_dataset("scenes64", "paired")


def test_models_train_with_the_runs_dontcare_id(tmp_path):
    """`data.dontcare_id` reaches the training data of SPADE and OASIS (not only `translate`)."""
    from condgen.cli import resolve_config
    from condgen.models import get_model_class

    for split in ("train", "test"):
        (tmp_path / split / "images").mkdir(parents=True)
        (tmp_path / split / "labels").mkdir(parents=True)
        ids = np.zeros((32, 32), np.uint8)
        ids[:, 16:] = 2
        Image.fromarray(ids).save(tmp_path / split / "labels" / "a.png")
        Image.fromarray(np.full((32, 32, 3), 90, np.uint8)).save(tmp_path / split / "images" / "a.png")
    for name in ("spade", "oasis"):
        cfg = resolve_config(name, str(tmp_path), None, None, ["data.dontcare_id=0", "data.crop_size=32",
                                                               "data.load_size=32", "data.flip=false"])
        seg = load_model_data(get_model_class(name), cfg, split="train", train=False)[0]["segmap"]
        assert set(seg.unique().tolist()) == {1, 255}, (name, seg.unique())  # 0 -> don't care, ids shift down
