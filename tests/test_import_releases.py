"""`condgen import-weights` for the SPADE, OASIS, SEAN, MUNIT and 2017 UNIT release formats (issue 19): reference-
format state dicts (tests/reference_formats.py: the releases' key names and shapes, random values, small widths)
imported into runs whose outputs match independent re-implementations of the releases' eval-mode forward passes."""

from __future__ import annotations

import pytest
import reference_formats as ref
import torch
from cli_helpers import run_cli
from PIL import Image
from test_import_weights import one_thread  # noqa: F401 (autouse fixture)

import condgen
from condgen.errors import CheckpointError
from condgen.importers.munit_unit import convert_munit, convert_unit
from condgen.importers.semantic import convert_oasis_generator, convert_sean_generator, convert_spade_generator
from condgen.nn.labels import semantic_input

TOL = 1e-5


def _diff(a, b):
    return (a.float() - b.float()).abs().max().item()


def _import(capsys, tmp_path, fmt, sd, *extra, name="g.pth"):
    torch.save(sd, tmp_path / name)
    code, out, err = run_cli(capsys, "import-weights", tmp_path / name, "--format", fmt, "--out", tmp_path / "run",
                             *extra)
    assert code == 0, err
    return condgen.load(tmp_path / "run"), out


def _labels(n, h, w, label_nc, seed=1):
    return torch.randint(0, label_nc, (n, h, w), generator=torch.Generator().manual_seed(seed))


# ----- SPADE -----------------------------------------------------------------------------------------------------
def test_spade_generator_matches_the_release(tmp_path, capsys):
    sd = ref.spade_generator_sd(36, ngf=2)  # Cityscapes: 35 ids + instance edges, "more" upsamplings
    model, out = _import(capsys, tmp_path, "spade", sd)
    m = model.cfg
    assert (m.label_nc, m.use_instances, m.num_upsampling_layers, m.dontcare_as_class) == (35, "true", "more", False)
    assert "Cityscapes" in out
    label, inst = _labels(2, 64, 128, 35), _labels(2, 64, 128, 4, seed=2)
    with torch.no_grad():
        expected = ref.spade_generator_forward(sd, semantic_input(label, 35, inst), mode="more")
    got = model.generate(label, inst)
    assert expected.std() > 1e-3 and _diff(got, expected) <= TOL
    # translate from a label file works on the imported run
    Image.fromarray(label[0].numpy().astype("uint8")).save(tmp_path / "l.png")
    code, _, err = run_cli(capsys, "translate", tmp_path / "run", tmp_path / "l.png", "--out", tmp_path / "o")
    assert code == 0, err and list((tmp_path / "o").iterdir())


@pytest.mark.parametrize("semantic_nc,mode,want", [
    (184, "normal", (182, True, "true", "normal")),  # COCO-Stuff
    (151, "normal", (151, False, "false", "normal")),  # ADE20K: ids 0..150
    (7, "most", (7, False, "false", "most")),  # custom data; up_4 shows "most"
])
def test_spade_architecture_is_detected(semantic_nc, mode, want):
    sd = ref.spade_generator_sd(semantic_nc, ngf=2, hidden=3, mode=mode)
    _, model, _ = convert_spade_generator(sd)
    assert (model["label_nc"], model["dontcare_as_class"], model["use_instances"],
            model["num_upsampling_layers"]) == want
    assert (model["ngf"], model["spade_hidden"]) == (2, 3)
    # what the keys cannot show is settable, and checked against the channels
    _, model, _ = convert_spade_generator(sd, overrides={"num_upsampling_layers": "more"} if mode != "most" else {})
    with pytest.raises(CheckpointError, match="semantic channels"):
        convert_spade_generator(sd, overrides={"label_nc": semantic_nc + 1})


def test_spade_vae_generator_and_encoder_match_the_release(tmp_path, capsys):
    sd = ref.spade_generator_sd(5, ngf=2, z_dim=4, start=(1, 1))
    enc = ref.spade_encoder_sd(ndf=2, z_dim=4)
    torch.save(enc, tmp_path / "e.pth")
    model, _ = _import(capsys, tmp_path, "spade", sd, "--encoder", tmp_path / "e.pth")
    assert model.cfg.use_vae and (model.cfg.z_dim, model.cfg.crop_size, model.cfg.ndf) == (4, 32, 2)
    image = torch.rand(2, 3, 40, 48) * 2 - 1
    with torch.no_grad():
        mu = ref.spade_encoder_forward(enc, image)
    assert _diff(model.encode_style(image), mu) <= TOL
    label = _labels(2, 32, 32, 5)
    with torch.no_grad():
        expected = ref.spade_generator_forward(sd, semantic_input(label, 5), z=mu, start=(1, 1))
    assert _diff(model.generate(label, z=mu), expected) <= TOL


# ----- OASIS -----------------------------------------------------------------------------------------------------
def test_oasis_generator_and_its_ema_match_the_release(tmp_path, capsys):
    sd, ema = ref.oasis_generator_sd(6, z_dim=64), ref.oasis_generator_sd(6, z_dim=64)
    torch.save(ema, tmp_path / "ema.pth")
    model, _ = _import(capsys, tmp_path, "oasis", sd, "--ema", tmp_path / "ema.pth")
    assert (model.cfg.label_nc, model.cfg.z_dim, model.cfg.ngf) == (6, 64, 1)
    label, z = _labels(2, 32, 64, 6), torch.randn(2, 64)
    sem = semantic_input(label, 6)
    with torch.no_grad():
        got_ema = model.net("G").eval()(sem, z)  # condgen.load serves the moving average, as the release's test.py
        got = model.nets["G"].eval()(sem, z)
        assert _diff(got_ema, ref.oasis_generator_forward(ema, sem, z)) <= TOL
        assert _diff(got, ref.oasis_generator_forward(sd, sem, z)) <= TOL
    # a different noise width is a setting (the keys cannot split labels from noise)
    assert convert_oasis_generator(sd, overrides={"z_dim": 60})[1]["label_nc"] == 10
    Image.fromarray(label[0].numpy().astype("uint8")).save(tmp_path / "l.png")
    code, _, err = run_cli(capsys, "translate", tmp_path / "run", tmp_path / "l.png", "--out", tmp_path / "o")
    assert code == 0, err


# ----- SEAN ------------------------------------------------------------------------------------------------------
def test_sean_generator_and_style_encoder_match_the_release(tmp_path, capsys):
    sd = ref.sean_generator_sd(4, ngf=1, style=6, nf=2)
    model, _ = _import(capsys, tmp_path, "sean", sd)
    m = model.cfg
    assert (m.label_nc, m.style_dim, m.encoder_nf, m.spade_last_block, m.style_pooling) == (4, 6, 2, True, "nearest")
    label, image = _labels(2, 32, 32, 4), torch.rand(2, 3, 32, 32) * 2 - 1
    codes = model.encode_styles(image, label)
    with torch.no_grad():
        expected_codes = ref.sean_style_codes(sd, image, label)
        assert _diff(codes, expected_codes) <= TOL
        sem = semantic_input(label, 4)
        got = model.net("G").eval()(sem, codes, None)  # no noise draw (the release's noise is random)
        expected = ref.sean_generator_forward(sd, sem, expected_codes)
    assert expected.std() > 1e-3 and _diff(got, expected) <= TOL
    assert convert_sean_generator(ref.sean_generator_sd(3, style=5))[2]["label_nc"] == 3
    Image.fromarray(label[0].numpy().astype("uint8")).save(tmp_path / "l.png")
    code, _, err = run_cli(capsys, "translate", tmp_path / "run", tmp_path / "l.png", "--out", tmp_path / "o")
    assert code == 0, err


# ----- MUNIT -----------------------------------------------------------------------------------------------------
def test_munit_checkpoint_matches_the_release(tmp_path, capsys):
    ckpt = {"a": ref.munit_generator_sd(3, dim=2, style_dim=3), "b": ref.munit_generator_sd(1, dim=2, style_dim=3)}
    model, _ = _import(capsys, tmp_path, "munit", ckpt, name="gen_01000000.pt")
    m = model.cfg
    assert (m.in_channels, m.out_channels, m.ngf, m.style_dim, m.n_res, m.mlp_dim) == (3, 1, 2, 3, 1, 5)
    assert (m.layer_norm, m.adain_order) == ("munit", "beta_gamma")
    G = model.net("G").eval()
    x, s = torch.rand(2, 3, 32, 32) * 2 - 1, torch.randn(2, 3)
    with torch.no_grad():
        c_ref, s_ref = ref.munit_encode(ckpt["a"], x)
        c, st = G["A"].encode(x)
        assert _diff(c, c_ref) <= TOL and _diff(st, s_ref) <= TOL
        got, expected = G["B"].decode(c, s), ref.munit_decode(ckpt["b"], c_ref, s)
    assert expected.shape == (2, 1, 32, 32) and expected.std() > 1e-3 and _diff(got, expected) <= TOL
    Image.fromarray((x[0].permute(1, 2, 0).numpy() * 127 + 128).astype("uint8")).save(tmp_path / "x.png")
    code, _, err = run_cli(capsys, "translate", tmp_path / "run", tmp_path / "x.png", "--out", tmp_path / "o")
    assert code == 0, err


def test_munit_detects_its_architecture_and_refuses_other_files():
    ckpt = {d: ref.munit_generator_sd(3, dim=2, style_dim=5, n_down=3, n_res=2, mlp_dim=4) for d in "ab"}
    _, model = convert_munit(ckpt)
    assert (model["n_downsample"], model["n_res"], model["style_dim"], model["mlp_dim"]) == (3, 2, 5, 4)
    with pytest.raises(CheckpointError, match="'a' and 'b'"):
        convert_munit({"a": ckpt["a"]})  # e.g. a dis_*.pt holds other keys
    broken = dict(ckpt["b"])
    del broken["dec.model.2.norm.gamma"]
    with pytest.raises(CheckpointError, match=r"missing keys: dec\.model\.2\.norm\.gamma"):
        convert_munit({"a": ckpt["a"], "b": broken})


# ----- UNIT ------------------------------------------------------------------------------------------------------
def test_unit_2017_generator_matches_the_release(tmp_path, capsys):
    sd = ref.unit_generator_sd(ch=2, n_res=2, n_shared=1)
    model, _ = _import(capsys, tmp_path, "unit", sd, name="gen_00100000.pkl")
    m = model.cfg
    assert (m.ngf, m.n_res_private, m.n_res_shared, m.padding, m.head_kernel) == (2, 2, 1, "zero", 1)
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        expected = ref.unit_a2b(sd, x, n_res=2)
    assert expected.std() > 1e-3 and _diff(model.translate(x), expected) <= TOL
    assert convert_unit(ref.unit_generator_sd(ch=3, n_res=1, n_shared=2))[1]["n_res_shared"] == 2
    with pytest.raises(CheckpointError, match="2018 UNIT"):
        convert_unit({"a": {"enc.model.0.conv.weight": torch.zeros(1)}, "b": {"x": torch.zeros(1)}})


# ----- wrong files -----------------------------------------------------------------------------------------------
def test_wrong_kind_of_file_is_a_clear_error(tmp_path, capsys):
    torch.save(ref.unit_generator_sd(), tmp_path / "unit.pkl")
    code, _, err = run_cli(capsys, "import-weights", tmp_path / "unit.pkl", "--format", "spade", "--out",
                           tmp_path / "r")
    assert code != 0 and "not a SPADE generator" in err and "missing keys" in err and "Traceback" not in err
    sd = ref.spade_generator_sd(5, ngf=2)
    del sd["up_1.norm_0.mlp_gamma.weight"]
    with pytest.raises(CheckpointError, match=r"missing keys: up_1\.norm_0\.mlp_gamma\.weight"):
        convert_spade_generator(sd)
    # --format auto (the default) tells the releases apart by their keys
    torch.save(ref.oasis_generator_sd(3, z_dim=64), tmp_path / "oasis.pth")
    code, out, err = run_cli(capsys, "import-weights", tmp_path / "oasis.pth", "--out", tmp_path / "auto")
    assert code == 0, err
    assert condgen.load(tmp_path / "auto").cfg.label_nc == 3 and "oasis" in out
