"""The published datasets' folder layouts read as unpacked (issue 19): ADE20K, Cityscapes, SPADE's COCO-Stuff,
SEAN's CelebAMask-HQ (semantic) and junyanz's A|B pairs such as edges2shoes (unpaired), on tiny synthetic trees."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from cli_helpers import make_run, run_cli
from image_helpers import noise, save_array, to_u8
from PIL import Image

from condgen.data import DataError, load_semantic, load_unpaired
from condgen.data.layouts import detect_layout

EXACT = {"preprocess": "none", "multiple": 1, "flip": False}
COMMON = ["--no-progress", "--set", "train.tensorboard=false", "--set", "train.precision=fp32", "--set",
          "train.sample_every=1000", "--set", "train.val_every=0"]


def _ids(seed: int, hi: int, shape=(16, 24)) -> np.ndarray:
    """A label map holding 0 and ``hi`` (the extremes) and random ids between."""
    ids = np.random.default_rng(seed).integers(0, hi + 1, shape).astype(np.uint8)
    ids[0, 0], ids[-1, -1] = 0, hi
    return ids


def _photo(path, seed, shape=(16, 24)):
    save_array(noise(*shape, seed=seed), path)


def _decoded(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def _check_items(ds, expected):
    """Every item's photo, label map (and instance map) equal the files of ``expected`` [(img, ids, inst)]."""
    assert len(ds) == len(expected)
    for i, (img_path, ids, inst) in enumerate(expected):
        item = ds[i]
        assert item["path"] == str(img_path)
        assert np.array_equal(to_u8(item["image"]), _decoded(img_path))
        assert np.array_equal(item["segmap"].numpy(), ids)
        if inst is None:
            assert "instance" not in item
        else:
            assert np.array_equal(item["instance"].numpy(), inst)


# ------------------------------------------------------------------------------------------------- ADE20K
def _ade(root, n_train=2, n_val=1, size=(16, 24)):
    """ADEChallengeData2016 as unpacked: images/{training,validation}/*.jpg, annotations/.../*.png (ids 0..150)."""
    out = {}
    for split, tag, n in (("training", "train", n_train), ("validation", "val", n_val)):
        out[split] = []
        for i in range(n):
            stem = f"ADE_{tag}_{i + 1:08d}"
            img = root / "images" / split / f"{stem}.jpg"
            _photo(img, 10 * i + len(tag), size)
            ids = _ids(i + len(tag), 150, size)
            save_array(ids, root / "annotations" / split / f"{stem}.png")
            out[split].append((img, ids, None))
    (root / "sceneCategories.txt").write_text("ADE_train_00000001 airport_terminal\n")
    return out


def test_ade20k_layout_ids_as_stored_and_splits(tmp_path):
    files = _ade(tmp_path / "ADEChallengeData2016")
    root = tmp_path / "ADEChallengeData2016"
    assert detect_layout(root, "semantic").name == "ade20k"
    train = load_semantic(root, **EXACT)
    _check_items(train, files["training"])  # 0 ("other") and 150 read as stored, no shift
    assert train.label_nc == 151 and not train.has_instances and train.class_names is None
    for split in ("test", "val"):  # the release's validation split is condgen's test (and val)
        _check_items(load_semantic(root, split=split, **EXACT), files["validation"])
    # SPADE's view (0 = don't care, classes 1..150 -> 0..149) is data.dontcare_id=0
    shifted = load_semantic(root, dontcare_id=0, **EXACT)
    stored = files["training"][0][1]
    assert shifted.label_nc == 150
    assert np.array_equal(shifted[0]["segmap"].numpy(), np.where(stored == 0, 255, stored.astype(np.int64) - 1))
    # the release's objectInfo150.txt names the classes (id 0 = other)
    rows = ["Idx\tRatio\tTrain\tVal\tName"] + [f"{i}\t0.01\t10\t1\t{'wall' if i == 1 else f'thing{i}'}, alias"
                                               for i in range(1, 151)]
    (root / "objectInfo150.txt").write_text("\n".join(rows) + "\n")
    named = load_semantic(root, **EXACT)
    assert named.label_nc == 151 and named.class_names[:3] == ["other", "wall", "thing2"]
    assert load_semantic(root, dontcare_id=0, **EXACT).class_names[:2] == ["wall", "thing2"]


def test_ade20k_missing_annotations_and_split(tmp_path):
    root = tmp_path / "ade"
    _photo(root / "images" / "training" / "ADE_train_00000001.jpg", 0)
    with pytest.raises(DataError, match=r"annotations/training is missing: .*ADE20K.*photos.*label maps"):
        load_semantic(root)
    save_array(_ids(0, 3), root / "annotations" / "training" / "ADE_train_00000001.png")
    assert len(load_semantic(root)) == 1
    with pytest.raises(DataError, match=r"no semantic data for split 'test' .*ADE20K.* its validation\): expected "
                                        r".*images/validation and .*annotations/validation"):
        load_semantic(root, split="test")


# ---------------------------------------------------------------------------------------------- Cityscapes
def _cityscapes(root, size=(16, 32)):
    """leftImg8bit/{split}/CITY/*_leftImg8bit.png, gtFine/{split}/CITY/*_gtFine_{labelIds,instanceIds,color}.png."""
    out = {}
    for split, cities in (("train", ("aachen", "bremen")), ("val", ("frankfurt",)), ("test", ("berlin",))):
        out[split] = []
        for k, city in enumerate(cities):
            stem = f"{city}_000000_0000{19 + k:02d}"
            img = root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png"
            _photo(img, k + len(split), size)
            ids = _ids(k + len(split), 33, size)
            inst = np.where(ids == 26, 26000 + np.arange(ids.size).reshape(size) % 3, ids).astype(np.int32)
            gt = root / "gtFine" / split / city
            save_array(ids, gt / f"{stem}_gtFine_labelIds.png")
            gt.mkdir(parents=True, exist_ok=True)
            Image.fromarray(inst.astype(np.uint16)).save(gt / f"{stem}_gtFine_instanceIds.png")  # 16-bit, as released
            save_array(noise(*size, seed=99), gt / f"{stem}_gtFine_color.png")  # colour maps: ignored
            (gt / f"{stem}_gtFine_polygons.json").write_text("{}")
            out[split].append((img, ids, inst))
    return out


def test_cityscapes_layout_pairs_labels_and_instances_across_cities(tmp_path):
    files = _cityscapes(tmp_path)
    assert detect_layout(tmp_path, "semantic").name == "cityscapes"
    train = load_semantic(tmp_path, **EXACT)
    _check_items(train, files["train"])
    assert train.label_nc == 35 and train.has_instances  # SPADE's 35 label ids, whatever the subset holds
    assert files["train"][0][2].max() > 26000  # the instance ids above 255 came through
    for split in ("test", "val"):  # Cityscapes' test labels are withheld: condgen's test split is its val
        _check_items(load_semantic(tmp_path, split=split, **EXACT), files["val"])
    assert "instance" not in load_semantic(tmp_path, instances="false", **EXACT)[0]
    (tmp_path / "gtFine" / "train" / "bremen" / "bremen_000000_000020_gtFine_labelIds.png").unlink()
    with pytest.raises(DataError, match=r"1 image\(s\) in .*leftImg8bit/train have no label in .*gtFine/train "
                                        r"\(\*/\*_gtFine_labelIds\.\*\): bremen/bremen_000000_000020_leftImg8bit\.png"
                                        r".*without the endings _leftImg8bit, _gtFine_labelIds"):
        load_semantic(tmp_path)


def test_cityscapes_without_instance_files_has_no_instances(tmp_path):
    _cityscapes(tmp_path)
    for f in (tmp_path / "gtFine").rglob("*_instanceIds.png"):
        f.unlink()
    assert not load_semantic(tmp_path, **EXACT).has_instances
    with pytest.raises(DataError, match="data.instances is true but there is no instance map"):
        load_semantic(tmp_path, instances="true", **EXACT)


# ------------------------------------------------------------------------------------ COCO-Stuff, CelebAMask-HQ
def test_coco_stuff_layout_with_instances_and_val_as_test(tmp_path):
    out = {}
    for split in ("train", "val"):
        out[split] = []
        for i in range(2):
            stem = f"{i:012d}"
            img = tmp_path / f"{split}_img" / f"{stem}.jpg"
            _photo(img, i + len(split))
            ids = _ids(i + len(split), 181)
            ids[1, 1] = 255  # unlabelled
            inst = (np.arange(ids.size).reshape(ids.shape) % 5).astype(np.uint8)
            save_array(ids, tmp_path / f"{split}_label" / f"{stem}.png")
            save_array(inst, tmp_path / f"{split}_inst" / f"{stem}.png")
            out[split].append((img, ids, inst))
    assert detect_layout(tmp_path, "semantic").name == "coco-stuff"
    train = load_semantic(tmp_path, **EXACT)
    _check_items(train, out["train"])
    assert train.label_nc == 182 and train.has_dontcare and train.has_instances
    _check_items(load_semantic(tmp_path, split="test", **EXACT), out["val"])  # SPADE: phase test reads val_*


def test_celebamask_hq_sean_layout(tmp_path):
    out = {}
    for split in ("train", "test"):
        out[split] = []
        for i in range(2):
            img = tmp_path / split / f"{split}_img" / f"{28000 * (split == 'test') + i}.jpg"
            _photo(img, i + len(split), (16, 16))
            ids = _ids(i, 10, (16, 16))
            save_array(ids, tmp_path / split / f"{split}_label" / f"{img.stem}.png")
            out[split].append((img, ids, None))
    assert detect_layout(tmp_path, "semantic").name == "celebamask-hq"
    train = load_semantic(tmp_path, **EXACT)
    _check_items(train, out["train"])
    assert train.label_nc == 19  # SEAN's --label_nc 19, though this subset holds ids 0..10 only
    _check_items(load_semantic(tmp_path, split="test", **EXACT), out["test"])
    assert load_semantic(tmp_path, label_nc=12, **EXACT).label_nc == 12  # the model's label_nc wins
    with pytest.raises(DataError, match=r"no semantic data for split 'val' .*CelebAMask-HQ.*val/val_img"):
        load_semantic(tmp_path, split="val")


def test_folder_matching_no_layout_names_what_was_expected(tmp_path):
    _photo(tmp_path / "pics" / "a.png", 0)
    with pytest.raises(DataError, match=r"no semantic data for split 'train' in .*: expected .*train/images and "
                                        r".*train/labels.*train_img/ \+ train_label/ \(SPADE's COCO-Stuff\), "
                                        r"images/training/ \+ annotations/training/ \(ADE20K\), leftImg8bit/ \+ "
                                        r"gtFine/ \(Cityscapes\), train/train_img/ \+ train/train_label/ \(SEAN"):
        load_semantic(tmp_path)
    with pytest.raises(DataError, match=r"trainA does not exist: .*\(or A\|B side-by-side images in .*/train/\); "
                                        r".* has none of trainA, trainB"):
        load_unpaired(tmp_path)
    # condgen's own layout is still itself
    save_array(_ids(0, 2), tmp_path / "own" / "train" / "labels" / "a.png")
    _photo(tmp_path / "own" / "train" / "images" / "a.png", 0)
    assert detect_layout(tmp_path / "own", "semantic").name == "condgen"
    assert load_semantic(tmp_path / "own").label_nc == 3


# -------------------------------------------------------------------------------------- edges2shoes (A|B pairs)
def _ab(path, left, right, h=16, w=16):
    """An A|B file: the left half a flat grey ``left``, the right half ``right`` (flat survives JPEG)."""
    arr = np.zeros((h, 2 * w, 3), np.uint8)
    arr[:, :w], arr[:, w:] = left, right
    save_array(arr, path)


def test_edges2shoes_pairs_read_as_two_domains(tmp_path):
    for i in range(3):
        _ab(tmp_path / "train" / f"{i + 1}_AB.jpg", 20 + i, 200 + i)
    _ab(tmp_path / "val" / "1_AB.jpg", 60, 160)
    assert detect_layout(tmp_path, "unpaired").name == "ab-pairs"
    ds = load_unpaired(tmp_path, preprocess="none", flip=False, pairing="serial", multiple=1)
    assert len(ds) == 3 and ds.files_A == ds.files_B
    for i in range(3):
        item = ds[i]
        assert item["A"].shape == item["B"].shape == (3, 16, 16)
        assert abs(to_u8(item["A"]).mean() - (20 + i)) < 2 and abs(to_u8(item["B"]).mean() - (200 + i)) < 2
        assert item["path_A"] == item["path_B"] == str(tmp_path / "train" / f"{i + 1}_AB.jpg")
    random = load_unpaired(tmp_path, load_size=20, crop_size=16)  # training: unpaired picks, crops
    assert {random.b_index(i) for i in range(3)} <= {0, 1, 2} and random[0]["A"].shape == (3, 16, 16)
    test = load_unpaired(tmp_path, split="test", preprocess="none", multiple=1)  # no test/: its val/
    assert abs(to_u8(test[0]["A"]).mean() - 60) < 2 and abs(to_u8(test[0]["B"]).mean() - 160) < 2
    save_array(noise(16, 33), tmp_path / "train" / "odd.png")
    with pytest.raises(DataError, match=r"odd\.png is 33 pixels wide, an odd width"):
        load_unpaired(tmp_path)
    with pytest.raises(DataError, match=r"no val split in .*A\|B side-by-side.*expected A\|B images in .*/val"):
        load_unpaired(_only_train(tmp_path / "only_train"), split="val")


def _only_train(root):
    _ab(root / "train" / "1.jpg", 0, 255)
    return root


# -------------------------------------------------------------------------------------------------- the CLI
def test_cli_train_and_evaluate_spade_on_an_ade20k_folder(tmp_path, capsys, cache_dir, one_thread):
    """An imported ADE20K model would be evaluated like this: train (1 step) + evaluate on the validation split."""
    from condgen.metrics import segmenter as seg

    root = tmp_path / "ADEChallengeData2016"
    files = _ade(root, n_train=3, n_val=2, size=(32, 32))
    seg.main(["--data", str(root), "--out", str(tmp_path / "seg.safetensors"), "--size", "32", "--steps", "2",
              "--width", "4", "--batch-size", "2"])
    run = tmp_path / "spade"
    code, _, err = run_cli(capsys, "train", "spade", "--data", root, "--out", run, "--steps", "1", *COMMON,
                           "--set", "model.ngf=4", "--set", "model.ndf=4", "--set", "model.lambda_vgg=0",
                           "--set", "model.spade_hidden=8", "--set", "data.batch_size=2",
                           "--set", "data.load_size=32", "--set", "data.crop_size=32")
    assert code == 0, err
    saved = (run / "config.yaml").read_text()
    assert "label_nc: 151" in saved and "use_instances: 'false'" in saved.replace('"', "'")
    code, out, err = run_cli(capsys, "evaluate", run, "--segmenter", tmp_path / "seg.safetensors")
    assert code == 0, err
    res = json.loads((run / "eval.json").read_text())[-1]
    assert res["kind"] == "semantic" and res["n"] == len(files["validation"]) and res["reference"].endswith(":test")
    assert 0 <= res["miou"] <= 1
    # an imported run (no data folder) pointed at the ADE20K folder through its config.yaml
    imported = make_run(tmp_path / "imported", "spade", {"label_nc": 151, "ngf": 4, "ndf": 4, "spade_hidden": 8,
                                                         "lambda_vgg": 0, "crop_size": 32})
    cfg = yaml.safe_load((imported / "config.yaml").read_text())
    cfg["data"].update(path=str(root), crop_size=32, load_size=32)
    (imported / "config.yaml").write_text(yaml.safe_dump(cfg))
    code, out, err = run_cli(capsys, "evaluate", imported, "--segmenter", tmp_path / "seg.safetensors")
    assert code == 0, err
    assert f"{len(files['validation'])} held-out items ({root}:test" in out
