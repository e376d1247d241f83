"""Video translation: reading/writing (odd sizes, fps, audio), frame-exact translation in batches, stabilisation
and its flicker metric, tiling, bad files and unsuitable models, through the API and the CLI."""

from __future__ import annotations

import re
import subprocess
from fractions import Fraction

import imageio.v2 as iio  # in the test extra (with imageio-ffmpeg and OpenCV): missing means fail, not skip
import numpy as np
import pytest
import torch
from cli_helpers import run_cli

import condgen
from condgen.errors import ConfigError, DataError
from condgen.metrics.temporal import FlickerMeter, flicker, flicker_ratio
from condgen.models import get_model_class
from condgen.runs import build_config
from condgen.video import (
    UnreadableVideoError,
    ffmpeg_exe,
    frames_to_tensor,
    is_video_file,
    open_video,
    translate_video,
)


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    yield


# ----- helpers ------------------------------------------------------------------------------------
def write_video(path, frames, fps=12):
    """Frames -> an H.264 file without loss (CRF 0, 4:4:4), so decoded frames are the frames written."""
    w = iio.get_writer(str(path), format="FFMPEG", fps=fps, codec="libx264", pixelformat="yuv444p",
                       macro_block_size=1, output_params=["-crf", "0"], ffmpeg_log_level="error")
    for f in frames:
        w.append_data(f)
    w.close()
    return path


def moving_square(n=20, w=67, h=65, step=2):
    frames = []
    for t in range(n):
        f = np.zeros((h, w, 3), np.uint8)
        f[..., 2] = np.linspace(0, 160, w, dtype=np.uint8)[None, :]
        f[10:30, 3 + step * t:23 + step * t] = (250, 200, 20)
        frames.append(f)
    return frames


def panning(n=20, w=67, h=65, step=2):
    """A slow pan over a smooth random texture."""
    rng = np.random.default_rng(0)
    big = rng.integers(0, 256, (h // 4 + 2, (w + step * n) // 4 + 2, 3)).astype(np.uint8)
    from PIL import Image

    tex = np.asarray(Image.fromarray(big).resize((big.shape[1] * 4, big.shape[0] * 4), Image.Resampling.BICUBIC))
    return [np.ascontiguousarray(tex[:h, step * t:step * t + w]) for t in range(n)]


def read_all(path):
    with open_video(path) as r:
        return r, list(r)


def streams(path) -> list[str]:
    """Stream kinds of a file, from the ffmpeg binary's own listing."""
    log = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr
    return re.findall(r"Stream #\d+:\d+\S*: (Video|Audio)", log)


def add_sine_audio(video, out, seconds=2):
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
                    "-i", str(video), "-map", "1:v", "-map", "0:a", "-c:v", "copy", "-c:a", "aac", "-shortest",
                    str(out)], check=True)
    return out


@pytest.fixture(scope="module")
def p2p_run(tmp_path_factory, cache_dir):
    """A tiny pix2pix run (U-Net 64, 3 steps on the built-in edges2photos): paper test mode, dropout on. Instance
    norm, so that after 3 steps the eval-mode output still follows its input (running BN statistics would not)."""
    from condgen.cli import resolve_config
    from condgen.train import train

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    run = tmp_path_factory.mktemp("video") / "p2p"
    over = ["model.netG=unet_64", "model.norm=instance", "model.ngf=4", "model.ndf=4", "data.load_size=72",
            "data.crop_size=64", "data.batch_size=2", "train.steps=3", "train.val_every=0", "train.sample_every=1000",
            "train.checkpoint_every=1000", "train.precision=fp32", "train.progress=false",
            "train.tensorboard=false"]
    train(resolve_config("pix2pix", "edges2photos", None, None, over), run)
    torch.set_num_threads(old)
    return run


class Identity:
    """An image translator that returns its input (declaring what a model declares, as video reads it)."""

    task, translate_options, two_way = "translate", frozenset(), False

    class cfg:  # noqa: N801
        in_channels = 3

    def input_channels(self, direction="AtoB"):
        return self.cfg.in_channels

    def translate(self, image):
        return image


# ----- the flicker metric -------------------------------------------------------------------------
def test_flicker_metric_on_known_sequences():
    const = [np.full((4, 5, 3), 77, np.uint8)] * 6
    assert flicker(const) == 0.0
    seq = [np.full((4, 5, 3), v, np.uint8) for v in (0, 10, 30, 30)]  # differences 10, 20, 0
    assert flicker(seq) == pytest.approx(10.0)
    half = [np.zeros((2, 2), np.uint8), np.array([[0, 40], [0, 40]], np.uint8)]  # half the pixels change by 40
    assert flicker(half) == pytest.approx(20.0)
    # float tensors are in [-1, 1]: a step of 1.0 is 127.5 grey levels; a T x C x H x W tensor iterates over T
    assert flicker(torch.tensor([[[[0.0]]], [[[1.0]]]])) == pytest.approx(127.5)
    assert flicker_ratio(seq, seq) == 1.0
    assert flicker_ratio([s // 2 for s in seq], seq) == pytest.approx(0.5)
    assert flicker_ratio(const, const) == 1.0 and flicker_ratio(seq, const) == float("inf")
    assert flicker(const[:1]) == 0.0 and flicker([]) == 0.0
    meter = FlickerMeter()
    meter.update(const[0])
    with pytest.raises(ValueError, match="one size"):
        meter.update(np.zeros((3, 3, 3), np.uint8))


# ----- reading and writing ------------------------------------------------------------------------
def test_odd_size_video_round_trip_keeps_size_fps_and_frames(tmp_path):
    from condgen.video import VideoWriter

    frames = moving_square(n=20, w=45, h=37)
    with VideoWriter(tmp_path / "v.mp4", fps=12) as w:
        for f in frames:
            w.write(f)
    r, got = read_all(tmp_path / "v.mp4")
    assert (r.fps, r.size, r.frames, r.has_audio, len(got)) == (12.0, (45, 37), 20, False, 20)
    assert got[0].shape == (37, 45, 3) and got[0].dtype == np.uint8
    err = np.mean([np.abs(a.astype(int) - b).mean() for a, b in zip(got, frames)])
    assert err < 2.0  # CRF 18, 4:4:4
    ntsc = write_video(tmp_path / "ntsc.mp4", frames[:4], fps=Fraction(30000, 1001))
    with open_video(ntsc) as r:
        assert r.fps_fraction == Fraction(30000, 1001)  # printed as 29.97 by ffmpeg, kept exact
    assert is_video_file("a/B.MP4") and is_video_file("x.webm") and not is_video_file("x.png")


# ----- translating --------------------------------------------------------------------------------
def test_translate_video_equals_translating_each_frame(tmp_path, p2p_run):
    src = write_video(tmp_path / "in.mp4", moving_square())
    model = condgen.load(p2p_run)
    stats = translate_video(model, src, tmp_path / "out.mp4", batch_size=8, eval_mode=True, progress=False)
    assert (stats["frames"], stats["fps"], stats["size"], stats["batch_size"]) == (20, 12.0, [67, 65], 8)
    r, out = read_all(tmp_path / "out.mp4")
    assert (len(out), r.fps, r.size) == (20, 12.0, (67, 65))
    _, inp = read_all(src)
    expect = [model.translate(frames_to_tensor([f], 3), eval_mode=True) for f in inp]  # eval: no dropout
    expect = [((e[0].clamp(-1, 1) + 1) * 127.5).round().permute(1, 2, 0).numpy() for e in expect]
    err = [np.abs(o.astype(float) - e).mean() for o, e in zip(out, expect)]
    assert max(err) < 6, err  # CRF 18 on the noise-like texture of a 3-step model
    translate_video(model, src, tmp_path / "lossless.mp4", batch_size=8, eval_mode=True, progress=False, crf=0)
    _, out = read_all(tmp_path / "lossless.mp4")
    err = [np.abs(o.astype(float) - e).mean() for o, e in zip(out, expect)]
    assert max(err) < 1.0, err  # lossless x264: only RGB <-> YUV rounding is left
    off_by_one = np.mean([np.abs(o.astype(float) - e).mean() for o, e in zip(out[1:], expect[:-1])])
    assert off_by_one > 3 * np.mean(err)  # the comparison can tell frames apart
    assert not list(tmp_path.glob(".out.*")) and not list(tmp_path.glob(".lossless.*"))  # temporaries removed
    # stable (the default) keeps the run's test mode, the paper's dropout: the same noise for every frame, one
    # frame at a time
    stats = translate_video(model, src, tmp_path / "same.mp4", seed=3, progress=False, crf=0)
    _, out = read_all(tmp_path / "same.mp4")
    assert stats["batch_size"] == 1
    for i in (0, 7, 19):
        torch.manual_seed(3)
        e = model.translate(frames_to_tensor([inp[i]], 3), eval_mode=False)[0]
        assert np.abs(out[i] - ((e.clamp(-1, 1) + 1) * 127.5).round().permute(1, 2, 0).numpy()).mean() < 1.0


def test_identity_model_flicker_ratio_is_one_and_grey_models_write_rgb(tmp_path):
    src = write_video(tmp_path / "in.mp4", panning(n=8))
    stats = translate_video(Identity(), src, tmp_path / "id.mp4", progress=False, crf=0)
    assert stats["flicker_ratio"] == pytest.approx(1.0) and stats["flicker_in"] > 5
    _, inp = read_all(src)
    _, out = read_all(tmp_path / "id.mp4")
    assert np.mean([np.abs(a.astype(int) - b).mean() for a, b in zip(inp, out)]) < 1.0
    cfg = build_config("pix2pix", {"model": {"netG": "resnet_6blocks", "ngf": 4, "in_channels": 1,
                                             "out_channels": 1, "eval_mode": True}})
    torch.manual_seed(0)
    grey = get_model_class("pix2pix").for_inference(cfg.model)
    stats = translate_video(grey, src, tmp_path / "grey.mp4", progress=False)
    _, out = read_all(tmp_path / "grey.mp4")
    assert out[0].shape == (65, 67, 3) and stats["frames"] == 8
    assert np.abs(out[3][..., 0].astype(int) - out[3][..., 2]).max() <= 3  # grey written as R = G = B
    ref = grey.translate(frames_to_tensor([inp[3]], 1))  # PIL's luminance, as for image files
    ref = ((ref[0, 0].clamp(-1, 1) + 1) * 127.5).round().numpy()
    assert np.abs(out[3][..., 1] - ref).mean() < 1.5


def test_stable_removes_test_time_noise_and_flow_blend_lowers_flicker(tmp_path, p2p_run):
    model = condgen.load(p2p_run)
    assert model.cfg.eval_mode is False  # the paper's test mode: dropout + batch statistics
    static = write_video(tmp_path / "static.mp4", [moving_square()[5]] * 10)
    paper = translate_video(model, static, tmp_path / "a.mp4", stable=False, progress=False)
    same_noise = translate_video(model, static, tmp_path / "b.mp4", stable=True, progress=False)  # the default
    stable = translate_video(model, static, tmp_path / "c.mp4", stable=True, eval_mode=True, progress=False)
    assert paper["batch_size"] == same_noise["batch_size"] == 1  # per-image noise and batch statistics
    assert paper["flicker_out"] > 1.0  # fresh dropout masks make a static video flicker
    assert same_noise["flicker_out"] == 0.0 and stable["flicker_out"] == 0.0
    assert paper["flicker_ratio"] == float("inf") and stable["flicker_ratio"] == 1.0  # static input

    pan = write_video(tmp_path / "pan.mp4", panning())
    paper = translate_video(model, pan, tmp_path / "d.mp4", stable=False, progress=False)
    stable = translate_video(model, pan, tmp_path / "e.mp4", stable=True, eval_mode=True, progress=False)
    blended = translate_video(model, pan, tmp_path / "f.mp4", stable=True, eval_mode=True, flow_blend=0.5,
                              progress=False)
    assert stable["flicker_out"] < paper["flicker_out"]
    assert blended["flicker_out"] < 0.85 * stable["flicker_out"]
    assert paper["flicker_in"] == stable["flicker_in"] == blended["flicker_in"] > 5


def test_super_resolution_video_is_scaled_and_blends_at_output_size(tmp_path):
    cfg = build_config("srresnet", {"model": {"scale": 2, "n_blocks": 1, "ngf": 4}})
    torch.manual_seed(0)
    sr = get_model_class("srresnet").for_inference(cfg.model)
    src = write_video(tmp_path / "small.mp4", panning(n=6, w=45, h=37))
    stats = translate_video(sr, src, tmp_path / "big.mp4", flow_blend=0.5, progress=False)
    assert stats["size"] == [90, 74] and stats["input_size"] == [45, 37] and stats["frames"] == 6
    r, frames = read_all(tmp_path / "big.mp4")
    assert r.size == (90, 74) and len(frames) == 6 and r.fps == 12.0


def test_munit_one_style_per_video_when_stable(tmp_path):
    cfg = build_config("munit", {"model": {"ngf": 4, "ndf": 4, "mlp_dim": 8, "style_dim": 4, "n_res": 1,
                                           "n_downsample": 2, "num_scales": 1}})
    torch.manual_seed(0)
    munit = get_model_class("munit").for_inference(cfg.model)
    static = write_video(tmp_path / "static.mp4", [moving_square(w=45, h=37)[0]] * 6)
    assert translate_video(munit, static, tmp_path / "a.mp4", stable=True, progress=False)["flicker_out"] == 0.0
    assert translate_video(munit, static, tmp_path / "b.mp4", stable=False, progress=False)["flicker_out"] > 1.0
    with pytest.raises(ConfigError, match="one style"):
        translate_video(munit, static, tmp_path / "c.mp4", num_styles=3)


def test_failure_leaves_no_output(tmp_path):
    class Breaks(Identity):
        calls = 0

        def translate(self, image):
            self.calls += 1
            if self.calls == 2:
                raise RuntimeError("boom")
            return image

    src = write_video(tmp_path / "in.mp4", moving_square(n=6))
    dst = tmp_path / "out.mp4"
    dst.write_bytes(b"previous output")
    with pytest.raises(RuntimeError, match="boom"):
        translate_video(Breaks(), src, dst, batch_size=2, progress=False)
    assert dst.read_bytes() == b"previous output"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "out.mp4"]


# ----- the CLI ------------------------------------------------------------------------------------
def test_cli_video_keeps_fps_size_frames_and_audio(capsys, tmp_path, p2p_run):
    video = write_video(tmp_path / "v.mp4", moving_square(w=68, h=64))  # even size: yuv420p
    with_audio = add_sine_audio(video, tmp_path / "talk.mp4")
    assert streams(with_audio) == ["Video", "Audio"]
    code, out, err = run_cli(capsys, "translate", p2p_run, with_audio, "--out", tmp_path / "o", "--no-progress")
    assert code == 0, err
    assert "20 frames, 12 fps, 68x64, flicker ratio" in out and "audio copied" in out
    assert streams(tmp_path / "o" / "talk.mp4") == ["Video", "Audio"]
    r, frames = read_all(tmp_path / "o" / "talk.mp4")
    assert (r.fps, r.size, len(frames)) == (12.0, (68, 64), 20)
    code, out, err = run_cli(capsys, "translate", p2p_run, with_audio, "--out", tmp_path / "quiet.mp4", "--audio",
                             "drop", "--batch-size", "3", "--no-stable", "--no-progress")
    assert code == 0, err
    assert streams(tmp_path / "quiet.mp4") == ["Video"] and "audio dropped" in out
    code, out, err = run_cli(capsys, "translate", p2p_run, with_audio, "--out", tmp_path / "t.webm", "--no-progress",
                             "--flow-blend", "0.5")
    assert code == 0, err  # AAC does not go into WebM: re-encoded to Opus
    assert streams(tmp_path / "t.webm") == ["Video", "Audio"] and "re-encoded (libopus)" in out
    code, out, err = run_cli(capsys, "translate", p2p_run, video, with_audio, "--out", tmp_path / "one.mp4")
    assert code != 0 and "give a folder" in err


def test_cli_large_frames_go_through_tiles(capsys, tmp_path, p2p_run, monkeypatch):
    import condgen.imaging as tr

    calls = []
    real = tr._tiled
    monkeypatch.setattr(tr, "_tiled", lambda *a, **k: calls.append(a[1].shape) or real(*a, **k))
    video = write_video(tmp_path / "big.mp4", moving_square(n=5, w=151, h=97))
    code, out, err = run_cli(capsys, "translate", p2p_run, video, "--out", tmp_path / "o", "--tile", "64",
                             "--no-progress")
    assert code == 0, err
    assert calls and calls[0][-2:] == (97, 151)
    r, frames = read_all(tmp_path / "o" / "big.mp4")
    assert (r.size, len(frames)) == ((151, 97), 5)


def _bad_files(tmp_path):
    good = write_video(tmp_path / "good.mp4", moving_square(n=24))
    data = good.read_bytes()
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "notes.mp4").write_text("not a video at all\n" * 20)
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])  # the index (moov atom, at the end) is gone
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(good), "-c", "copy", "-movflags", "+faststart",
                    str(tmp_path / "fast.mp4")], check=True)
    fast = (tmp_path / "fast.mp4").read_bytes()
    (tmp_path / "cut_late.mp4").write_bytes(fast[: len(fast) * 2 // 3])  # index kept, frames missing
    from PIL import Image

    Image.new("RGB", (20, 20)).save(tmp_path / "still.png")
    (tmp_path / "still.mp4").write_bytes((tmp_path / "still.png").read_bytes())
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac",
                    str(tmp_path / "sound.mp4")], check=True)
    return {"empty.mp4": "empty", "notes.mp4": "not a video", "cut.mp4": "truncated",
            "cut_late.mp4": "truncated", "still.mp4": "still image", "sound.mp4": "no video stream",
            "missing.mp4": "does not exist"}


def test_bad_videos_are_named_with_a_reason(capsys, tmp_path):
    for name, reason in _bad_files(tmp_path).items():
        with pytest.raises(UnreadableVideoError) as info:
            translate_video(Identity(), tmp_path / name, tmp_path / "out" / name, progress=False)
        assert isinstance(info.value, DataError)
        assert str(tmp_path / name) in str(info.value) and reason in info.value.reason, str(info.value)
        assert "\n" not in str(info.value)
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())  # nothing half-written


def test_cli_bad_video_one_line_no_traceback(capsys, tmp_path, p2p_run):
    _bad_files(tmp_path)
    for name, reason in (("cut.mp4", "truncated"), ("notes.mp4", "not a video"), ("cut_late.mp4", "truncated")):
        code, out, err = run_cli(capsys, "translate", p2p_run, tmp_path / name, "--out", tmp_path / "o",
                                 "--no-progress")
        assert code != 0 and "Traceback" not in err
        assert err.strip().count("\n") == 0 and f"cannot read video {tmp_path / name}" in err and reason in err
    assert not list((tmp_path / "o").glob("*")) if (tmp_path / "o").exists() else True


def test_models_that_cannot_translate_video(tmp_path):
    video = write_video(tmp_path / "v.mp4", moving_square(n=2))
    for name in ("spade", "oasis", "sean"):  # label maps in, not photos
        model = object.__new__(get_model_class(name))
        with pytest.raises(ConfigError, match="semantic label maps"):
            translate_video(model, video, tmp_path / "o.mp4")
    with pytest.raises(ConfigError, match="generates from noise"):
        translate_video(object.__new__(get_model_class("dcgan")), video, tmp_path / "o.mp4")
    with pytest.raises(ConfigError, match="video extension"):
        translate_video(Identity(), video, tmp_path / "o.png")
    with pytest.raises(ConfigError, match="is the input"):
        translate_video(Identity(), video, video)
    with pytest.raises(ConfigError, match="audio"):
        translate_video(Identity(), video, tmp_path / "o.mp4", audio="keep")
    assert not (tmp_path / "o.mp4").exists()
