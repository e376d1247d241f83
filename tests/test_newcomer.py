"""What a new user meets first: data names, --version, install hints, resume messages, logs and reports."""

from __future__ import annotations

import json
import warnings

import pytest
import torch
from cli_helpers import run_cli
from PIL import Image

from condgen.data import DataNameWarning, builtin_name, load_dataset
from condgen.errors import DataError, MissingDependencyError

TINY = ["model.image_size=16", "model.channels=1", "model.ngf=4", "model.ndf=4", "data.batch_size=8",
        "train.precision=fp32", "train.progress=false", "train.log_every=1", "train.sample_every=1000",
        "train.checkpoint_every=1000", "train.val_every=0"]


def _sets(*kvs: str) -> list[str]:
    return [a for kv in kvs for a in ("--set", kv)]


# ----- data names --------------------------------------------------------------------------------------------
def test_a_folder_named_like_a_builtin_set_wins_with_a_warning(tmp_path, monkeypatch, cache_dir):
    monkeypatch.chdir(tmp_path)
    assert builtin_name("photos") == "photos"  # no such folder here: the built-in set
    (tmp_path / "digits").mkdir()
    for i in range(3):
        Image.new("L", (20, 20), 40 * i).save(tmp_path / "digits" / f"{i}.png")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        ds = load_dataset("digits", kind="images", image_size=16, channels=1)
    assert len(ds) == 3  # the user's three images, not the 1,437 built-in digits
    msg = " ".join(str(w.message) for w in seen if issubclass(w.category, DataNameWarning))
    assert "./digits" in msg and "builtin:digits" in msg
    assert len(load_dataset("builtin:digits", kind="images", image_size=16, channels=1)) == 1437
    try:
        builtin_name("builtin:nope")
    except DataError as e:
        assert "nope" in str(e) and "digits" in str(e)
    else:
        raise AssertionError("an unknown builtin: name must be refused")


def test_cli_says_which_data_it_used(tmp_path, monkeypatch, capsys, cache_dir):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "faces").mkdir()
    for i in range(8):
        Image.new("L", (20, 20), 30 * i).save(tmp_path / "faces" / f"{i}.png")
    with pytest.warns(DataNameWarning, match=r"using the folder \./faces, not the built-in dataset"):
        code, out, err = run_cli(capsys, "train", "dcgan", "--data", "faces", "--steps", "1", *_sets(*TINY))
    assert code == 0, err
    from condgen.cli import _format_warning

    assert _format_warning("x", DataNameWarning, "f.py", 1) == "warning: x\n"  # one line, as the CLI shows it
    assert "runs/dcgan-faces" in out
    code, out, err = run_cli(capsys, "train", "dcgan", "--data", "builtin:faces", "--out", "b", "--steps", "1",
                             *_sets(*TINY))
    assert code == 0, err
    assert "built-in" not in err
    assert len(load_dataset("builtin:faces", kind="images", image_size=16, channels=1)) > 8


# ----- version, licence, install hints -----------------------------------------------------------------------
def test_version_licence_and_install_hints(capsys):
    import condgen

    code, out, _ = run_cli(capsys, "--version")
    assert code == 0 and out.strip() == f"condgen {condgen.__version__}"
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    assert "Apache License" in (root / "LICENSE").read_text() and (root / "CHANGELOG.md").is_file()
    msg = str(MissingDependencyError.extra("video", "video", "imageio imageio-ffmpeg"))
    assert 'pip install -e ".[video]"' in msg and "pip install imageio imageio-ffmpeg" in msg
    for source in (root / "condgen").rglob("*.py"):  # condgen is not on the package index
        assert "condgen[" not in source.read_text(), source
    code, out, _ = run_cli(capsys, "serve", "--help")
    assert '".[demo]"' in " ".join(out.split())


# ----- resume --------------------------------------------------------------------------------------------------
def test_resume_says_where_it_continues_and_refuses_fewer_steps(tmp_path, capsys, cache_dir):
    run = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", "dcgan", "--data", "digits", "--out", run, "--steps", "4",
                           *_sets(*TINY, "train.tensorboard=false"))
    assert code == 0, err
    code, out, err = run_cli(capsys, "train", "--resume", run, "--steps", "6")
    assert code == 0, err
    assert f"resuming {run} from step 4 (of 6)" in out and "finished at step 6" in out
    code, out, err = run_cli(capsys, "train", "--resume", run, "--steps", "3")
    assert code == 2 and "already at step 6" in err and "--steps 3 is below it" in err
    before = (run / "checkpoints" / "last.pt").read_bytes()
    code, out, err = run_cli(capsys, "train", "--resume", run, "--steps", "6")
    assert code == 0 and "already at step 6 of 6: nothing to train" in out
    assert (run / "checkpoints" / "last.pt").read_bytes() == before


# ----- logs and reports ----------------------------------------------------------------------------------------
def _tb_tags(folder) -> set[str]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder))
    acc.Reload()
    return set(acc.Tags()["scalars"])


def test_tensorboard_tags_once_and_evaluation_reaches_tensorboard(tmp_path, capsys, cache_dir):
    run = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", "cgan", "--data", "digits", "--out", run, "--steps", "2",
                           *_sets(*TINY, "model.num_classes=10", "train.val_every=0"))
    assert code == 0, err
    code, out, err = run_cli(capsys, "evaluate", run, "--n", "40")
    assert code == 0, err
    tags = _tb_tags(run / "tb")
    assert {"eval/fid", "eval/class_accuracy", "train/lr"} <= tags, tags
    assert not any(t.startswith(("val/val/", "eval/eval/")) for t in tags) and "train/session_start" not in tags
    html = (run / "report.html").read_text()
    assert "FID, digits-classifier features" in html  # never a bare "fid" that reads like Inception's
    from condgen.train.logging import _tb_tag

    assert _tb_tag("val/L1", "val") == "val/L1" and _tb_tag("L1", "val") == "val/L1"


def test_report_wall_time_counts_sessions_not_gaps(tmp_path):
    from condgen.train.report import wall_seconds

    recs = [{"step": 2, "time": 110.0, "session_start": 100.0}, {"step": 4, "time": 126.0},
            {"step": 6, "time": 5000.0, "session_start": 4990.0}, {"step": 8, "time": 5004.0}]
    assert wall_seconds(recs) == 26.0 + 14.0  # a 26 s session (first log line at 10 s), then a 14 s one
    assert wall_seconds([{"step": 1, "time": 5.0}, {"step": 2, "time": 8.0}]) == 3.0  # logs from before


def test_progress_shows_significant_digits():
    from condgen.train.trainer import progress_postfix

    shown = progress_postfix({"loss/style": 1.234e-8, "loss/G": 2.5, "loss/D": 1234.5}, 17.4)
    assert shown == {"style": "1.23e-08", "G": "2.5", "D": "1.23e+03", "img/s": "17"}


def test_two_domain_sample_grids_have_column_titles(tmp_path):
    import numpy as np

    from condgen.models import get_model_class
    from condgen.train.images import make_grid_image

    assert get_model_class("cyclegan").grid_columns == ("A", "A->B", "B", "B->A")
    imgs = torch.zeros(8, 3, 32, 32)
    plain = make_grid_image(imgs, nrow=4)
    titled = make_grid_image(imgs, nrow=4, column_titles=("A", "A->B", "B", "B->A"))
    assert titled.width == plain.width and titled.height > plain.height
    band = np.asarray(titled)[: titled.height - plain.height]
    assert (band < 128).any() and np.array_equal(np.asarray(titled)[titled.height - plain.height:], np.asarray(plain))


def test_train_threads_sets_torch_threads(tmp_path, cache_dir):
    from condgen.cli import resolve_config
    from condgen.train.trainer import Trainer

    before = torch.get_num_threads()
    try:
        cfg = resolve_config("dcgan", "digits", None, None, [*TINY, "train.steps=1", "train.threads=1",
                                                             "train.tensorboard=false"])
        Trainer(cfg, tmp_path / "run")
        assert torch.get_num_threads() == 1
        saved = json.dumps(cfg.to_dict())
        assert '"threads": 1' in saved
    finally:
        torch.set_num_threads(before)


# ----- precision on this CPU -----------------------------------------------------------------------------------
def test_auto_precision_follows_the_cpu(monkeypatch):
    from condgen.train import trainer

    cpu = torch.device("cpu")
    monkeypatch.setattr(trainer, "cpu_has_fast_bf16", lambda: False)
    assert trainer.select_precision("auto", cpu) is None  # AVX2 / AVX-512 without bf16: fp32
    monkeypatch.setattr(trainer, "cpu_has_fast_bf16", lambda: True)
    assert trainer.select_precision("auto", cpu) is torch.bfloat16
    assert trainer.select_precision("fp32", cpu) is None


@pytest.mark.skipif(not __import__("condgen.train.trainer", fromlist=["x"]).cpu_has_fast_bf16(),
                    reason="this CPU has no native bf16 (AVX512-BF16 or AMX): bf16 is neither measured nor chosen here")
def test_auto_precision_measures_bf16_where_the_cpu_has_it(tmp_path, monkeypatch, cache_dir):
    from condgen.cli import resolve_config
    from condgen.train.trainer import Trainer

    monkeypatch.setenv("CONDGEN_CACHE", str(tmp_path / "cache"))  # measured here, not taken from a cache
    cfg = resolve_config("dcgan", "digits", None, None, [*TINY, "train.precision=auto", "train.steps=3",
                                                         "train.tensorboard=false"])
    trainer = Trainer(cfg, tmp_path / "run")
    measured = {m["setting"]: m for m in trainer.calibration["measured"]}
    assert {"bf16/nchw", "bf16/channels_last"} <= set(measured) and measured["bf16/nchw"]["losses_match"]
    result = trainer.fit()
    assert result.step == 3 and all(v == v and abs(v) < 1e4 for v in result.last_losses.values())
    bf16 = Trainer(resolve_config("dcgan", "digits", None, None, [*TINY, "train.precision=bf16", "train.steps=2",
                                                                  "train.tensorboard=false"]), tmp_path / "bf16")
    assert bf16.amp_dtype is torch.bfloat16 and bf16.channels_last and bf16.calibration is None
    assert bf16.fit().step == 2
