"""Speed settings by measurement (condgen.train.calibrate): the choice logic, the cache, the trainer's use of it.

Timings are faked where a choice is asserted: what is tested is what the trainer does with measurements, not the
speed of this machine (that lives in benchmarks/bench_speed.py)."""

from __future__ import annotations

import json
import math

import pytest
import torch

from condgen.cli import resolve_config
from condgen.train import calibrate as cal
from condgen.train.calibrate import Measurement, Setting
from condgen.train.trainer import Trainer

TINY = ["model.image_size=16", "model.channels=1", "model.ngf=4", "model.ndf=4", "data.batch_size=8",
        "train.progress=false", "train.tensorboard=false", "train.log_every=1", "train.sample_every=1000",
        "train.checkpoint_every=1000", "train.val_every=0"]
FP32, FP32_CL, BF16, BF16_CL = Setting("fp32", False), Setting("fp32", True), Setting("bf16", False), \
    Setting("bf16", True)
LOSSES = {"loss/D": 1.40, "loss/G": 0.70}


def test_candidates_follow_the_cpu_and_the_run_length():
    assert cal.candidates(False, False) == [FP32, FP32_CL]  # no native bf16: emulated bf16 is never tried
    assert cal.candidates(True, False) == [FP32, FP32_CL, BF16, BF16_CL]
    with_compile = cal.candidates(True, True)
    assert len(with_compile) == 8 and Setting("bf16", True, True) in with_compile
    assert cal.compile_worth_trying("true", 0.01, 10) and not cal.compile_worth_trying("false", 10.0, 10**6)
    from condgen.cli import resolve_config as rc

    assert rc("dcgan", None, None, None, ["train.compile=off"]).train.compile == "false"  # YAML's on/off work
    assert rc("dcgan", None, None, None, ["train.compile=on"]).train.compile == "true"
    assert not cal.compile_worth_trying("auto", 1.0, 1000)  # 17 minutes: a 2-minute compile does not pay 5x
    assert cal.compile_worth_trying("auto", 1.0, 100_000)


def test_losses_must_match_fp32():
    assert cal.losses_match(LOSSES, {"loss/D": 1.42, "loss/G": 0.69})
    assert not cal.losses_match(LOSSES, {"loss/D": 1.60, "loss/G": 0.70})  # 14 % off
    assert not cal.losses_match(LOSSES, {"loss/D": math.nan, "loss/G": 0.70})
    assert not cal.losses_match(LOSSES, {"loss/D": 1.40})
    assert cal.losses_match({"l": 0.0}, {"l": 4e-4})  # near zero: an absolute floor


def test_choice_is_the_fastest_setting_whose_losses_match():
    m = [Measurement(FP32, 1.0, LOSSES), Measurement(FP32_CL, 0.8, LOSSES), Measurement(BF16, 0.5, LOSSES),
         Measurement(BF16_CL, 0.4, {"loss/D": 2.0, "loss/G": 0.7})]
    assert cal.choose(m, 100) == BF16  # bf16 + channels_last is faster but its losses differ
    assert cal.choose([Measurement(FP32, 1.0, LOSSES), Measurement(FP32_CL, 0.99, LOSSES)], 100) == FP32  # noise
    assert cal.choose([Measurement(FP32, 1.0, LOSSES), Measurement(BF16, 0.1, None, error="RuntimeError")],
                      100) == FP32
    compiled = Measurement(Setting("fp32", False, True), 0.5, LOSSES, compile_seconds=100.0)
    assert cal.choose([Measurement(FP32, 1.0, LOSSES), compiled], 100) == FP32  # 150 s > 100 s
    assert cal.choose([Measurement(FP32, 1.0, LOSSES), compiled], 1000) == compiled.setting  # 600 s < 1000 s
    assert cal.choose([], 10) == FP32


def test_cache_round_trip_and_damage(tmp_path):
    entry = cal.entry_of(BF16, [Measurement(FP32, 1.0, LOSSES), Measurement(BF16, 0.5, LOSSES)])
    assert cal.load_cached("k", tmp_path) is None
    cal.store_cached("k", entry, tmp_path)
    cal.store_cached("other", cal.entry_of(FP32, []), tmp_path)
    got = cal.load_cached("k", tmp_path)
    assert cal.setting_from(got["choice"]) == BF16 and got["measured"][1]["seconds_per_step"] == 0.5
    (tmp_path / cal.CACHE_FILE).write_text("{not json")
    assert cal.load_cached("k", tmp_path) is None  # a damaged cache costs a measurement, nothing else
    cal.store_cached("k", entry, tmp_path)
    assert cal.load_cached("k", tmp_path) is not None
    key = cal.cache_key("dcgan", {"ngf": 4}, 8, 2, "cpu")
    assert cal.cpu_kind() in key and torch.__version__ in key and "batch 8" in key and "threads 2" in key


def test_measure_runs_a_real_model_without_touching_it(cache_dir):
    cfg = resolve_config("dcgan", "digits", None, None, [*TINY, "train.precision=fp32"])
    from condgen.models import get_model_class

    model = get_model_class("dcgan")(cfg.model)
    before = {k: v.clone() for k, v in model.nets["G"].state_dict().items()}
    batch = {"image": torch.rand(8, 1, 16, 16) * 2 - 1}
    m = cal.measure(model, batch, FP32_CL, torch.device("cpu"), steps=1, min_seconds=0)
    assert not m.error and 0 < m.seconds_per_step < 60 and set(m.losses) >= {"loss/D", "loss/G"}
    again = cal.measure(model, batch, FP32, torch.device("cpu"), steps=1, min_seconds=0)
    assert again.losses == pytest.approx(m.losses, rel=1e-4)  # the same noise for every candidate
    assert all(torch.equal(v, model.nets["G"].state_dict()[k]) for k, v in before.items())


@pytest.fixture
def fake_timing(monkeypatch, tmp_path):
    """measure() with given step times (per setting name) and fp32's losses; counts its calls."""
    calls = []
    times = {"fp32/nchw": 1.0, "fp32/channels_last": 0.6, "bf16/nchw": 0.5, "bf16/channels_last": 0.3}

    def fake(model, batch, setting, device, **kw):
        calls.append(setting.name)
        return Measurement(setting, times[setting.name], dict(LOSSES))

    monkeypatch.setattr(cal, "measure", fake)
    monkeypatch.setenv("CONDGEN_CACHE", str(tmp_path / "cache"))
    return calls, times


def test_trainer_applies_caches_and_logs_the_choice(tmp_path, fake_timing, monkeypatch):
    from condgen.train import trainer as trainer_mod

    calls, _ = fake_timing
    monkeypatch.setattr(trainer_mod, "cpu_has_fast_bf16", lambda: False)  # as on an AVX2 / AVX-512 (no bf16) CPU
    cfg = resolve_config("dcgan", "digits", None, None, [*TINY, "train.steps=2"])
    t = Trainer(cfg, tmp_path / "a")
    assert sorted(calls) == ["fp32/channels_last"] * 2 + ["fp32/nchw"] * 2  # two rounds; no bf16 without native
    assert t.amp_dtype is None and t.channels_last and t.model.channels_last
    t.fit()
    lines = [json.loads(x) for x in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    rec = next(x for x in lines if x["kind"] == "calibration")
    assert rec["chosen_channels_last"] == 1 and rec["images_per_s[fp32/nchw]"] == pytest.approx(8.0)
    assert json.loads((tmp_path / "a" / cal.CACHE_FILE).read_text())["source"] == "measured"
    # a second run of the same shape takes the cached choice without measuring
    calls.clear()
    t2 = Trainer(resolve_config("dcgan", "digits", None, None, [*TINY, "train.steps=2"]), tmp_path / "b")
    assert calls == [] and t2.channels_last
    # a key the user sets is never measured or changed
    t3 = Trainer(resolve_config("dcgan", "digits", None, None, [*TINY, "train.steps=2", "train.precision=fp32"]),
                 tmp_path / "c")
    assert calls == [] and t3.calibration is None and not t3.channels_last


def test_resume_keeps_the_runs_own_choice_and_calibration_leaves_training_unchanged(tmp_path, fake_timing,
                                                                                   monkeypatch):
    from condgen.train import trainer as trainer_mod

    calls, times = fake_timing
    monkeypatch.setattr(trainer_mod, "cpu_has_fast_bf16", lambda: False)
    times["fp32/channels_last"] = 2.0  # fp32 NCHW wins: the same computation as precision=fp32
    auto = Trainer(resolve_config("dcgan", "digits", None, None, [*TINY, "train.steps=3"]), tmp_path / "auto")
    auto.fit()
    fixed = Trainer(resolve_config("dcgan", "digits", None, None, [*TINY, "train.steps=3", "train.precision=fp32",
                                                                   "train.channels_last=false"]), tmp_path / "fixed")
    fixed.fit()
    for name, net in auto.model.nets.items():  # measuring consumed no randomness and changed no weight
        assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(),
                                                      fixed.model.nets[name].state_dict().values()))
    times["fp32/channels_last"] = 0.1  # the cache now says otherwise; the resumed run keeps its own choice
    cal.store_cached(auto.calibration["key"], cal.entry_of(FP32_CL, []))
    calls.clear()
    resumed = Trainer(resolve_config("dcgan", "digits", None, None, [*TINY, "train.steps=4"]), tmp_path / "auto",
                      resume=True)
    assert calls == [] and not resumed.channels_last
    assert json.loads((tmp_path / "auto" / cal.CACHE_FILE).read_text())["source"] == "this run's earlier choice"


def test_report_shows_the_measured_settings(tmp_path, fake_timing, monkeypatch):
    from condgen.train import trainer as trainer_mod

    monkeypatch.setattr(trainer_mod, "cpu_has_fast_bf16", lambda: True)
    t = Trainer(resolve_config("dcgan", "digits", None, None, [*TINY, "train.steps=1"]), tmp_path / "r")
    assert t.amp_dtype is torch.bfloat16 and t.channels_last  # the fastest of the four fakes
    t.fit()
    html = (tmp_path / "r" / "report.html").read_text()
    assert "Speed settings" in html and "bf16 autocast+channels_last" in html and "bf16/nchw" in html


def test_inference_verbs_use_the_runs_measured_settings(tmp_path, monkeypatch, cache_dir):
    """`condgen upscale/translate/stylize` (precision=auto) run as the training measured; the API stays fp32."""
    import condgen
    from condgen.train import trainer as trainer_mod

    cfg = resolve_config("srresnet", "photos", None, None, [
        "model.n_blocks=1", "model.ngf=8", "data.batch_size=2", "data.crop_size=24", "train.steps=1",
        "train.precision=fp32", "train.progress=false", "train.tensorboard=false", "train.val_every=0",
        "train.sample_every=1000"])
    run = tmp_path / "sr"
    Trainer(cfg, run).fit()
    x = torch.rand(1, 3, 20, 28) * 2 - 1
    exact = condgen.load(run).upscale(x)
    assert condgen.load(run, precision="auto").inference_dtype is None  # never measured: fp32
    (run / cal.CACHE_FILE).write_text(json.dumps(cal.entry_of(BF16_CL, [])))
    monkeypatch.setattr(trainer_mod, "cpu_has_fast_bf16", lambda: True)
    fast = condgen.load(run, precision="auto")
    assert fast.inference_dtype is torch.bfloat16 and fast.channels_last
    y = fast.upscale(x)
    assert y.shape == exact.shape and not torch.equal(y, exact) and (y - exact).abs().mean() < 0.05
    monkeypatch.setattr(trainer_mod, "cpu_has_fast_bf16", lambda: False)  # measured on another CPU kind
    same = condgen.load(run, precision="auto")
    assert same.inference_dtype is None and same.channels_last
    assert torch.allclose(same.upscale(x), exact, atol=1e-4)
    assert condgen.load(run).inference_dtype is None and not condgen.load(run).channels_last  # the API default
