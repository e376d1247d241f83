"""Tests for run logging, image grids/GIFs and the HTML report (all fast, CPU only)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from condgen.errors import CheckpointError
from condgen.train.images import make_grid_image, save_gif, save_grid
from condgen.train.logging import RunLogger, read_metrics
from condgen.train.report import merge_metrics, write_report

CONFIG = """\
model:
  name: dcgan
  nz: 100
seed: 0
data:
  name: mnist
  note: "<script>alert('x')</script>"
train:
  steps: 1000
"""


def _fake_run(tmp_path):
    run = tmp_path / "run"
    (run / "samples").mkdir(parents=True)
    (run / "config.yaml").write_text(CONFIG)
    lines = []
    for i, step in enumerate(range(0, 600, 10)):
        lines.append(
            json.dumps(
                {
                    "step": step,
                    "time": 1_700_000_000.0 + i,
                    "kind": "train",
                    "loss/D": 1.4 - step / 1000,
                    "loss/G": 0.7 + step / 2000,
                    "lr": 2e-4,
                    "images_per_s": 1234.5,
                }
            )
        )
    lines.append(
        json.dumps(
            {
                "step": 500,
                "time": 1_700_000_100.0,
                "kind": "eval",
                "fid": 42.125,
                "kid_mean": 0.0315,
            }
        )
    )
    text = "\n".join(lines) + '\n{"step": 600, "time": 17000'  # killed mid-write
    (run / "metrics.jsonl").write_text(text)
    save_grid(torch.rand(4, 3, 8, 8) * 2 - 1, run / "samples" / "step_000250.png")
    save_grid(torch.rand(4, 3, 8, 8) * 2 - 1, run / "samples" / "step_000500.png")
    return run


def test_report_from_fake_run(tmp_path):
    run = _fake_run(tmp_path)
    out = write_report(run)
    assert out == run / "report.html"
    page = out.read_text()
    assert "samples/step_000250.png" in page
    assert "samples/step_000500.png" in page
    assert "42.125" in page and "0.0315" in page
    assert "dcgan" in page
    assert "1234.5" in page  # last images/s
    assert "590" in page  # total steps (the truncated step-600 line is ignored)
    assert (run / "plots" / "losses.png").is_file()
    assert Image.open(run / "plots" / "losses.png").size[0] > 100
    # No temp files left behind by the atomic writes.
    assert not [p for p in run.rglob(".*") if p.is_file()]


def test_report_escapes_config(tmp_path):
    run = _fake_run(tmp_path)
    page = write_report(run).read_text()
    assert "<script>" not in page
    assert "&lt;script&gt;" in page


def test_report_partial_runs(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    page = write_report(empty).read_text()
    assert (
        "No sample grids yet" in page
        and "No losses logged yet" in page
        and "No evaluation yet" in page
    )
    assert not (empty / "plots" / "losses.png").exists()

    # Only a config and a single train line: no eval, no samples.
    run = tmp_path / "partial"
    run.mkdir()
    (run / "config.yaml").write_text("model: {name: pix2pix}\n")
    (run / "metrics.jsonl").write_text(
        '{"step": 1, "time": 1.0, "kind": "train", "loss/G": 0.5}\n'
    )
    page = write_report(run).read_text()
    assert "pix2pix" in page and "No evaluation yet" in page
    assert (run / "plots" / "losses.png").is_file()

    with pytest.raises(CheckpointError):
        write_report(tmp_path / "missing")


def test_read_metrics_tolerates_truncation_and_merge(tmp_path):
    run = _fake_run(tmp_path)
    recs = read_metrics(run)
    assert len(recs) == 61 and recs[-1]["kind"] == "eval"
    merged = merge_metrics(recs + [{"step": 10, "kind": "train", "loss/D": 9.0}])
    assert merged["train"][1]["loss/D"] == 9.0 and merged["train"][1][
        "loss/G"
    ] == pytest.approx(0.705)
    assert len(merged["eval"]) == 1


def test_run_logger_disabled_writes_nothing(tmp_path):
    run = tmp_path / "rank1"
    log = RunLogger(run, enabled=False)
    log.scalars(1, {"loss/D": 1.0})
    log.image(1, "samples", torch.zeros(2, 3, 4, 4))
    log.text("note", "hello")
    log.close()
    assert not run.exists()


def test_run_logger_writes_parsable_lines(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text(
        '{"step": 1, "kind": "tra'
    )  # a crashed previous attempt
    with RunLogger(run, tensorboard=False) as log:
        log.scalars(1, {"loss/D": torch.tensor(0.5), "loss/G": 1, "lr": float("nan")})
        log.scalars(2, {"fid": 10.0}, kind="eval")
        with pytest.raises(ValueError):
            log.scalars(3, {"step": 1.0})
        # Flushed per write: readable before close.
        assert len(read_metrics(run)) == 2
    lines = (run / "metrics.jsonl").read_text().splitlines()
    parsed = [json.loads(line) for line in lines[1:]]
    assert (
        parsed[0]["step"] == 1
        and parsed[0]["kind"] == "train"
        and parsed[0]["loss/D"] == 0.5
    )
    assert parsed[0]["lr"] is None  # non-finite stored as null (strict JSON)
    assert parsed[1] == {
        "step": 2,
        "time": parsed[1]["time"],
        "kind": "eval",
        "fid": 10.0,
    }


def test_run_logger_tensorboard(tmp_path):
    pytest.importorskip("tensorboard")
    with RunLogger(tmp_path, tensorboard=True) as log:
        log.scalars(1, {"loss/D": 0.5})
        log.image(1, "samples", torch.rand(4, 1, 8, 8) * 2 - 1)
        log.text("config", "model: dcgan")
    assert any((tmp_path / "tb").glob("events.out.tfevents.*"))


def test_make_grid_image_sizes():
    img = make_grid_image(torch.zeros(6, 1, 28, 28), nrow=3, padding=2)
    assert img.mode == "L" and img.size == (3 * 30 + 2, 2 * 30 + 2)
    img = make_grid_image(torch.zeros(5, 3, 16, 16))  # default nrow = ceil(sqrt(5)) = 3
    assert img.mode == "RGB" and img.size == (3 * 18 + 2, 2 * 18 + 2)
    single = make_grid_image(torch.full((3, 8, 8), float("nan")), padding=0)
    assert single.size == (8, 8)


def test_make_grid_image_labels_drawn():
    x = torch.ones(4, 3, 32, 32)  # all white
    plain = make_grid_image(x, nrow=2)
    labelled = make_grid_image(x, nrow=2, labels=["0", "1", "2", "3"])
    assert labelled.size == plain.size
    # Each cell's top-left corner now has dark pixels; the bottom-right corner is untouched.
    for cx, cy in [(2, 2), (36, 2), (2, 36), (36, 36)]:
        assert np.asarray(labelled.crop((cx, cy, cx + 6, cy + 6))).min() < 128
        assert labelled.getpixel((cx + 30, cy + 30)) == (255, 255, 255)
    grey = make_grid_image(torch.ones(2, 1, 16, 16), labels=["a", "b"])
    assert grey.mode == "L"
    with pytest.raises(ValueError):
        make_grid_image(x, labels=["only one"])


def test_save_gif_multiframe(tmp_path):
    frames = [make_grid_image(torch.full((1, 3, 8, 8), v)) for v in (-1.0, 0.0, 1.0)]
    frames.append(torch.full((1, 3, 8, 8), 0.5))  # tensors are gridded the same way
    path = save_gif(frames, tmp_path / "anim.gif", duration_ms=50)
    with Image.open(path) as im:
        assert im.n_frames == 4
        assert im.info.get("loop") == 0
    with pytest.raises(ValueError):
        save_gif([], tmp_path / "none.gif")
