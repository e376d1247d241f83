"""Issue 17, items 5 and 9: no command writes over one of its inputs or a run's checkpoint, colliding output names
get distinct names, and a mistake in a setting cannot take the machine down (workers capped at the CPUs, sample
grids bounded and generated in batches, upscale outputs bounded in pixels, config files bounded in size)."""

from __future__ import annotations

import hashlib
import os
import time

import pytest
import torch
from cli_helpers import make_run, run_cli, save_image
from PIL import Image

pytestmark = pytest.mark.usefixtures("one_thread")


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Tiny untrained runs: a ResNet CycleGAN, an x4 SRResNet, a 16 px DCGAN."""
    root = tmp_path_factory.mktemp("runs")
    return {"cg": make_run(root / "cg", "cyclegan", {"netG": "resnet_6blocks", "ngf": 4, "ndf": 4}),
            "sr": make_run(root / "sr", "srresnet", {"n_blocks": 1, "ngf": 4}),
            "dc": make_run(root / "dc", "dcgan", {"image_size": 16, "channels": 1, "ngf": 8, "ndf": 8})}


# ----- 5. outputs never overwrite inputs --------------------------------------------------------------------
def test_translate_into_its_own_input_folder_is_refused_before_writing(capsys, tmp_path, runs):
    photos = tmp_path / "photos"
    save_image(photos / "photo.png", 24, 24)
    save_image(photos / "other.jpg", 24, 24, seed=1)
    before = {p.name: _digest(p) for p in photos.iterdir()}
    for args in ([photos], [photos / "photo.png"], [photos / "other.jpg", photos / "photo.png"]):
        code, _, err = run_cli(capsys, "translate", runs["cg"], *args, "--out", photos)
        assert code == 2 and "Traceback" not in err, err
        assert "would replace the input" in err and "photo.png" in err, err
    # a link to the input folder is the same folder
    (tmp_path / "link").symlink_to(photos)
    code, _, err = run_cli(capsys, "translate", runs["cg"], photos / "photo.png", "--out", tmp_path / "link")
    assert code == 2 and "would replace the input" in err
    assert {p.name: _digest(p) for p in photos.iterdir()} == before  # nothing written, nothing replaced


def test_colliding_output_names_get_distinct_names(capsys, tmp_path, runs):
    a = save_image(tmp_path / "in" / "photo.png", 6, 5, seed=1)
    b = save_image(tmp_path / "in" / "photo.jpg", 7, 4, seed=2)
    c = save_image(tmp_path / "other" / "photo.png", 3, 3, seed=3)
    out = tmp_path / "out"
    code, stdout, err = run_cli(capsys, "upscale", runs["sr"], a, b, c, "--out", out)
    assert code == 0, err
    assert "wrote 3" in stdout
    sizes = {p.name: Image.open(p).size for p in out.iterdir()}
    assert sizes == {"photo.png": (24, 20), "photo-1.png": (28, 16), "photo-2.png": (12, 12)}


def test_export_never_writes_over_a_run_checkpoint_or_its_input(capsys, tmp_path, runs):
    run = runs["dc"]
    ckpts = run / "checkpoints"
    before = {p.name: _digest(p) for p in ckpts.iterdir()}
    (tmp_path / "alias").symlink_to(run)
    for target in (ckpts / "last.pt", ckpts / "step_0000000.pt", run / "config.yaml",
                   tmp_path / "alias" / "checkpoints" / "last.pt"):
        code, _, err = run_cli(capsys, "export", run, "--format", "safetensors", "--out", target)
        assert code == 2 and "never writes over a run's files" in err, (target, err)
    assert {p.name: _digest(p) for p in ckpts.iterdir()} == before
    weights = tmp_path / "w.safetensors"
    assert run_cli(capsys, "export", run, "--format", "safetensors", "--out", weights)[0] == 0
    digest = _digest(weights)
    code, _, err = run_cli(capsys, "export", weights, "--format", "safetensors", "--out", weights)
    assert code == 2 and "is the input" in err
    assert _digest(weights) == digest
    code, _, err = run_cli(capsys, "sample", run, "--out", ckpts / "last.png")
    assert code == 2 and "never writes over a run's files" in err


def test_too_small_inputs_are_skipped_and_listed_and_the_rest_written(capsys, tmp_path, runs):
    folder = tmp_path / "in"
    save_image(folder / "a_tiny.png", 1, 1)
    save_image(folder / "b_ok.png", 12, 10)
    save_image(folder / "c_small.png", 5, 20)
    code, stdout, err = run_cli(capsys, "translate", runs["cg"], folder, "--out", tmp_path / "out")
    assert code == 2 and "Traceback" not in err
    assert "wrote 1 image(s)" in stdout
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["b_ok.png"]
    assert "2 input(s) could not be read or processed and were skipped" in err
    assert "a_tiny.png" in err and "c_small.png" in err
    assert "the input is 1x1 pixels" in err and "ResNet generator" in err and "U-Net" not in err, err


# ----- 9. resource caps ------------------------------------------------------------------------------------
def test_dataloader_workers_are_capped_at_the_cpu_count(tmp_path, tiny, monkeypatch):
    from condgen.cli import resolve_config
    from condgen.errors import ResourceCapWarning
    from condgen.train.trainer import Trainer

    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    cfg = resolve_config("dcgan", "digits", None, None, [*tiny, "train.steps=1", "data.num_workers=100000"])
    trainer = Trainer(cfg, tmp_path / "run")
    try:
        with pytest.warns(ResourceCapWarning, match="data.num_workers=100000 is more than this machine's 1 CPU"):
            _, loader = trainer._loader()
        assert loader.num_workers == 1
    finally:
        trainer.lock.release()


def test_sample_grids_are_bounded_and_generated_in_batches(capsys, tmp_path, runs, monkeypatch):
    from condgen.cli import MAX_GRID_CELLS, SAMPLE_BATCH
    from condgen.models.dcgan import DCGAN

    code, _, err = run_cli(capsys, "sample", runs["dc"], "--n", MAX_GRID_CELLS + 1, "--out", tmp_path / "big.png")
    assert code == 2 and f"at most {MAX_GRID_CELLS}" in err and not (tmp_path / "big.png").exists()
    sizes = []
    generate = DCGAN.generate

    def counting(self, *args, **kwargs):
        sizes.append(len(kwargs["z"]))
        return generate(self, *args, **kwargs)

    monkeypatch.setattr(DCGAN, "generate", counting)
    n = SAMPLE_BATCH + 44
    code, _, err = run_cli(capsys, "sample", runs["dc"], "--n", n, "--out", tmp_path / "s.png")
    assert code == 0, err
    assert sizes == [SAMPLE_BATCH, 44]
    assert Image.open(tmp_path / "s.png").size[0] > 16 * 16  # a 17-column grid of 16 px cells


def test_upscale_refuses_outputs_above_the_pixel_limit_unless_asked(capsys, tmp_path, runs):
    from condgen.translate import MAX_OUTPUT_PIXELS

    assert MAX_OUTPUT_PIXELS == 64_000_000  # documented in docs/guide.md
    big = save_image(tmp_path / "big.png", 40, 30)
    small = save_image(tmp_path / "small.png", 10, 10)
    out = tmp_path / "out"
    code, stdout, err = run_cli(capsys, "upscale", runs["sr"], big, small, "--out", out, "--max-output-pixels", 10000)
    assert code == 2 and "wrote 1 image(s)" in stdout
    assert "big.png: its output would be 160x120" in err and "--max-output-pixels 19200" in err, err
    assert sorted(p.name for p in out.iterdir()) == ["small.png"]
    code, _, err = run_cli(capsys, "upscale", runs["sr"], big, "--out", out, "--max-output-pixels", 0)
    assert code == 0 and Image.open(out / "big.png").size == (160, 120)


def test_tiled_output_is_written_band_by_band_and_matches_the_whole_image_blend():
    """Tiles are blended over one band of rows at a time (memory of a band, not of float sums over the whole
    output); the result equals blending every tile into whole-image float sums."""
    from condgen.translate import _pad_run, _tiled, _window, to_uint8

    torch.manual_seed(0)
    conv = torch.nn.Sequential(torch.nn.Conv2d(3, 3, 3, padding=1), torch.nn.Tanh(), torch.nn.Upsample(scale_factor=2))

    class Net:
        def generate(self, A):
            return conv(A)

    x = torch.rand(1, 3, 37, 53) * 2 - 1
    with torch.no_grad():
        got = _tiled(Net(), x, 4, 16, scale=2)
        got8 = _tiled(Net(), x, 4, 16, scale=2, out_dtype=torch.uint8)
        # the reference: every tile into float sums of the whole output
        out, weight = torch.zeros(1, 3, 74, 106), torch.zeros(1, 1, 74, 106)
        for y0 in (0, 12, 21):
            for x0 in (0, 12, 24, 36, 37):
                y = _pad_run(Net(), x[..., y0:y0 + 16, x0:x0 + 16], 4, 2)
                win = _window(*y.shape[-2:])
                out[..., 2 * y0:2 * y0 + 32, 2 * x0:2 * x0 + 32] += y * win
                weight[..., 2 * y0:2 * y0 + 32, 2 * x0:2 * x0 + 32] += win
    assert torch.allclose(got, out / weight, atol=1e-6)
    assert got8.dtype == torch.uint8 and torch.equal(got8, to_uint8(got))


def test_config_files_are_bounded_in_size_before_parsing(capsys, tmp_path):
    from condgen.config import MAX_CONFIG_BYTES

    big = tmp_path / "big.yaml"
    big.write_text("model:\n  name: dcgan\n" + "".join(f"  key{i}: {i}\n" for i in range(MAX_CONFIG_BYTES // 10)))
    t0 = time.perf_counter()
    code, _, err = run_cli(capsys, "train", "--config", big)
    assert code == 2 and "a condgen config is a few KB" in err and "Traceback" not in err, err
    assert time.perf_counter() - t0 < 5
