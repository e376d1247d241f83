"""Trainer behaviour: exact resume, checkpoints, NaN stop, signals, schedules, EMA."""

from __future__ import annotations

import json
import os
import signal

import pytest
import torch

import condgen
from condgen.cli import resolve_config
from condgen.errors import CheckpointError, TrainingError
from condgen.train import Trainer, train
from condgen.train.checkpoint import load_checkpoint


def _cfg(model, overrides, steps):
    return resolve_config(model, "digits", None, None, [*overrides, f"train.steps={steps}"])


def _weights(run):
    state = load_checkpoint(run / "checkpoints" / "last.pt")
    return state, {f"{n}.{k}": v for n, sd in state["nets"].items() for k, v in sd.items()}


@pytest.mark.parametrize("model", ["dcgan", "cgan"])
def test_resume_is_bit_exact(tmp_path, tiny, model):
    """Stopped at step k and resumed to 2k gives the same weights as 2k steps in one go (CPU, fp32)."""
    over = [*tiny, "train.ema_decay=0.9"]
    full = train(_cfg(model, over, 10), tmp_path / "full")
    assert full.step == 10
    train(_cfg(model, over, 5), tmp_path / "half")
    # the resumed run is allowed a new step count; everything else must match
    res = train(resolve_config(model, "digits", None, None, [*over, "train.steps=10"]), tmp_path / "half",
                resume=True)
    assert res.step == 10
    a_state, a = _weights(tmp_path / "full")
    b_state, b = _weights(tmp_path / "half")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    for name in a_state["ema"]:
        for k, v in a_state["ema"][name].items():
            assert torch.equal(v, b_state["ema"][name][k]), f"ema {name}.{k}"
    for name in a_state["optimizers"]:
        sa, sb = a_state["optimizers"][name]["state"], b_state["optimizers"][name]["state"]
        for pid in sa:
            assert torch.equal(sa[pid]["exp_avg"], sb[pid]["exp_avg"])


def test_resume_without_change_continues_the_step_count(tmp_path, tiny):
    cfg = _cfg("dcgan", tiny, 4)
    train(cfg, tmp_path / "r")
    with pytest.raises(CheckpointError, match="already holds a run"):
        train(cfg, tmp_path / "r")
    with pytest.raises(CheckpointError, match="model.ngf"):
        train(_cfg("dcgan", [*tiny, "model.ngf=16"], 8), tmp_path / "r", resume=True)


def test_resume_rejects_non_run(tmp_path, tiny):
    (tmp_path / "x").mkdir()
    with pytest.raises(CheckpointError, match="not a condgen run"):
        train(_cfg("dcgan", tiny, 4), tmp_path / "x", resume=True)


def test_run_directory_contents(tmp_path, tiny):
    run = tmp_path / "r"
    res = train(_cfg("dcgan", [*tiny, "train.sample_every=3", "train.checkpoint_every=2",
                               "train.keep_checkpoints=2"], 7), run)
    assert res.step == 7 and not res.stopped_early
    assert (run / "config.yaml").is_file() and (run / "report.html").is_file()
    assert sorted(p.name for p in (run / "samples").glob("step_*.png")) == [
        "step_000003.png", "step_000006.png", "step_000007.png"]
    ckpts = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert ckpts == ["last.pt", "step_0000006.pt", "step_0000007.pt"]  # keep-2 pruned step 2 and 4
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines if x["kind"] == "train"] == [2, 4, 6, 7]
    assert all("loss/D" in x and "loss/G" in x and x["images_per_s"] > 0 for x in lines)
    model = condgen.load(run)
    assert model.generate(n=5, seed=1).shape == (5, 1, 16, 16)
    assert torch.equal(model.generate(n=3, seed=4), model.generate(n=3, seed=4))


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, tiny, monkeypatch):
    run = tmp_path / "r"
    trainer = Trainer(_cfg("dcgan", [*tiny, "train.checkpoint_every=3"], 20), run)
    real_step = trainer.model.training_step
    calls = {"n": 0}

    def poisoned(batch):
        calls["n"] += 1
        out = real_step(batch)
        if calls["n"] == 5:
            out["loss/G"] = torch.tensor(float("nan"))
        return out

    monkeypatch.setattr(trainer.model, "training_step", poisoned)
    with pytest.raises(TrainingError, match=r"loss/G became nan at step 5.*checkpoint, step 3, is kept"):
        trainer.fit()
    state = load_checkpoint(run / "checkpoints" / "last.pt")
    assert state["step"] == 3
    assert all(v.isfinite().all() for sd in state["nets"].values() for v in sd.values() if v.is_floating_point())


def test_nan_policy_skip_skips_the_update_and_goes_on(tmp_path, tiny, monkeypatch):
    """train.nan_policy=skip: a NaN generator loss at one step skips G's update (weights stay finite), a warning
    names it, and training reaches its last step; more NaNs than nan_max_skips stop the run as before."""
    from condgen import losses
    from condgen.train.trainer import NonFiniteLossWarning

    real = losses.g_loss
    calls = {"n": 0}

    def sometimes_nan(*a, **k):
        calls["n"] += 1
        out = real(*a, **k)
        return out * float("nan") if calls["n"] == 3 else out

    monkeypatch.setattr(losses, "g_loss", sometimes_nan)
    run = tmp_path / "r"
    trainer = Trainer(_cfg("dcgan", [*tiny, "train.nan_policy=skip", "train.checkpoint_every=2"], 5), run)
    with pytest.warns(NonFiniteLossWarning, match="loss/G became nan at step 3: that update was skipped"):
        result = trainer.fit()
    assert result.step == 5 and trainer.updater.skipped == 1
    state = load_checkpoint(run / "checkpoints" / "last.pt")
    assert state["step"] == 5 and all(torch.isfinite(t).all() for t in state["nets"]["G"].values()
                                      if t.is_floating_point())
    calls["n"] = 0
    with pytest.raises(TrainingError, match="became nan at step 3"):
        Trainer(_cfg("dcgan", [*tiny, "train.nan_policy=skip", "train.nan_max_skips=0"], 5), tmp_path / "r2").fit()


def test_sigint_saves_checkpoint_and_exits_cleanly(tmp_path, tiny, monkeypatch):
    run = tmp_path / "r"
    trainer = Trainer(_cfg("dcgan", tiny, 50), run)
    real_step = trainer.model.training_step
    calls = {"n": 0}

    def interrupted(batch):
        calls["n"] += 1
        if calls["n"] == 4:
            os.kill(os.getpid(), signal.SIGINT)
        return real_step(batch)

    monkeypatch.setattr(trainer.model, "training_step", interrupted)
    res = trainer.fit()
    assert res.stopped_early and res.step == 4
    assert load_checkpoint(run / "checkpoints" / "last.pt")["step"] == 4


def test_full_disk_keeps_previous_checkpoint(tmp_path, tiny, monkeypatch):
    run = tmp_path / "r"
    trainer = Trainer(_cfg("dcgan", [*tiny, "train.checkpoint_every=2"], 6), run)
    real_save = torch.save
    calls = {"n": 0}

    def full_disk(obj, f, *a, **k):
        calls["n"] += 1
        if calls["n"] >= 2:
            raise OSError(28, "No space left on device")
        return real_save(obj, f, *a, **k)

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(TrainingError, match=r"no space left on device writing .*step_0000004.pt; the last good "
                                            r"checkpoint is .*last.pt \(step 2\)"):
        trainer.fit()
    assert load_checkpoint(run / "checkpoints" / "last.pt")["step"] == 2
    assert not [p for p in (run / "checkpoints").iterdir() if p.name.startswith(".")]


def test_full_disk_while_writing_samples_warns_and_training_goes_on(tmp_path, tiny, monkeypatch):
    from condgen.train import images as images_mod
    from condgen.train.trainer import SampleWriteWarning

    def full_disk(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(images_mod, "save_grid", full_disk)
    run = tmp_path / "r"
    with pytest.warns(SampleWriteWarning, match="No space left.*training continues"):
        Trainer(_cfg("dcgan", [*tiny, "train.sample_every=2", "train.checkpoint_every=2"], 4), run).fit()
    assert load_checkpoint(run / "checkpoints" / "last.pt")["step"] == 4


def test_linear_schedule_decays_to_zero(tmp_path, tiny):
    run = tmp_path / "r"
    trainer = Trainer(_cfg("dcgan", [*tiny, "train.lr_schedule=linear", "train.lr_decay_start=0.5"], 8), run)
    trainer.fit()
    lrs = [json.loads(x)["lr"] for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert lrs[0] == pytest.approx(2e-4) and lrs[-1] == pytest.approx(0.0)


def test_init_from_another_run(tmp_path, tiny, capsys):
    """train.init_from loads the networks a model shares by name (here all of a DCGAN's) and nothing else:
    with lr 0 the new run's parameters stay exactly the source run's; its step count starts at 0."""
    train(_cfg("dcgan", tiny, 3), tmp_path / "src")
    res = train(_cfg("dcgan", [*tiny, "model.lr=0", f"train.init_from={tmp_path / 'src'}"], 1), tmp_path / "dst")
    assert res.step == 1
    _, src = _weights(tmp_path / "src")
    _, dst = _weights(tmp_path / "dst")
    params = [k for k in src if "running" not in k and "num_batches" not in k]
    assert params and all(torch.equal(src[k], dst[k]) for k in params)
    assert "initialised G, D from" in capsys.readouterr().out
    _, fresh = _weights(tmp_path / "src")  # a run without init_from starts elsewhere
    train(_cfg("dcgan", [*tiny, "model.lr=0", "seed=5"], 1), tmp_path / "other")
    _, other = _weights(tmp_path / "other")
    assert not all(torch.equal(fresh[k], other[k]) for k in params)
    with pytest.raises(CheckpointError, match="does not exist"):
        train(_cfg("dcgan", [*tiny, f"train.init_from={tmp_path / 'nope'}"], 1), tmp_path / "x1")
    with pytest.raises(CheckpointError, match="does not fit this dcgan model's G"):
        train(_cfg("dcgan", [*tiny, "model.ngf=16", f"train.init_from={tmp_path / 'src'}"], 1), tmp_path / "x2")
