"""The README's "Use" block runs as written, line by line, in a fresh folder: it can never drift from the code.

Every ``condgen``/``torchrun`` line runs in order; each training line gets the same few overrides appended (fewer
steps, no TensorBoard, fp32), nothing else is changed. Three inputs a user brings are made here as stand-ins:
``clip.mp4`` (a short video), ``latest_net_G.pth`` (a pix2pix generator in the reference's key layout) and the
ImageNet VGG files (random weights in torchvision's format and file names, in a private ``TORCH_HOME``), which the
README says srgan and style need. ``condgen serve`` is started, answers on the port, and is stopped.
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_helpers import run_cli

ROOT = Path(__file__).resolve().parents[1]
# What every training line gets appended: a short run at tiny cost, the same for all.
TRAIN_OVERRIDES = ["train.steps=2", "train.tensorboard=false", "train.progress=false", "train.precision=fp32",
                   "train.sample_every=1000", "train.checkpoint_every=1000"]


def use_block() -> list[str]:
    """The command lines of the README's "Use" shell block, comments removed, in order."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Use"):]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def python_block() -> str:
    """The README's Python example after the "Use" shell block."""
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("## Use", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def with_overrides(argv: list[str]) -> list[str]:
    """``argv`` with the test's overrides appended to a training line (resumes run twice as many steps)."""
    at = argv.index("condgen")
    if argv[at + 1:at + 2] != ["train"]:
        return argv
    extra = [("train.steps=4" if "--resume" in argv else kv) for kv in TRAIN_OVERRIDES]
    return [*argv, *[a for kv in extra for a in ("--set", kv)]]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stand_ins(folder: Path, torch_home: Path) -> None:
    """The files a user brings: a video, a reference-format pix2pix checkpoint, VGG weights (random)."""
    import imageio.v2 as iio
    from test_import_weights import RefUnet, randomized
    from torchvision.models import vgg16, vgg19

    rng = np.random.default_rng(0)
    with iio.get_writer(folder / "clip.mp4", fps=8, codec="libx264", macro_block_size=1) as w:
        for t in range(6):
            frame = rng.integers(0, 40, (72, 96, 3), dtype=np.uint8)
            frame[10:30, 4 + 6 * t:24 + 6 * t] = (220, 120, 40)
            w.append_data(frame)
    torch.save(randomized(RefUnet(3, 3, 6, 4)).state_dict(), folder / "latest_net_G.pth")
    from condgen.nn.features import imagenet_file_name

    (torch_home / "hub" / "checkpoints").mkdir(parents=True)
    torch.manual_seed(0)
    for arch, build in (("vgg16", vgg16), ("vgg19", vgg19)):
        feats = {f"features.{k}": v for k, v in build().features.state_dict().items()}
        torch.save(feats, torch_home / "hub" / "checkpoints" / imagenet_file_name(arch))


def _serve(argv: list[str], cwd: Path, env: dict) -> None:
    """Start ``condgen serve`` on a free port, wait for its page, stop it."""
    port = _free_port()
    cmd = [sys.executable, "-m", "condgen", *argv[1:], "--port", str(port)]
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            assert proc.poll() is None, proc.communicate()[0]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
                    assert r.status == 200
                    return
            except OSError:
                time.sleep(1)
        pytest.fail("condgen serve did not answer within 120 s")
    finally:
        proc.terminate()
        proc.wait(30)


def test_readme_use_block_runs_as_written(tmp_path, monkeypatch, capsys, cache_dir):
    """Every line of the README's "Use" block succeeds in order, each using what earlier lines made."""
    lines = use_block()
    assert len(lines) >= 25 and lines[0].startswith("condgen ")
    torch_home = tmp_path / "torch-home"
    work = tmp_path / "work"
    work.mkdir()
    _stand_ins(work, torch_home)
    monkeypatch.chdir(work)
    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    for line in lines:
        argv = with_overrides(shlex.split(line, comments=True))
        if argv[0] == "torchrun":  # a real multi-process run: its own processes
            cmd = [sys.executable, "-m", "torch.distributed.run", *argv[1:]]
            res = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=300)
            assert res.returncode == 0, f"{line}\n{res.stdout[-2000:]}\n{res.stderr[-3000:]}"
            assert res.stdout.count("finished at step") == 1, res.stdout  # one line, from rank 0
            assert "FutureWarning" not in res.stderr, res.stderr[-3000:]  # no deprecated DDP arguments
            continue
        assert argv[0] == "condgen", line
        if argv[1] == "serve":
            _serve(argv, work, env)
            continue
        code, out, err = run_cli(capsys, *argv[1:])
        assert code == 0, f"`{line}` exited {code}:\n{out[-2000:]}\n{err[-2000:]}"
    # what the lines promised is there
    assert (work / "runs/mine/checkpoints/last.pt").is_file()
    assert sorted(p.name for p in (work / "out/munit").iterdir())[:1] == ["chelsea_style0.png"]
    assert len(list((work / "out/p2p").glob("*.png"))) == 2
    assert (work / "clip_out.mp4").stat().st_size > 0 and (work / "p2p.onnx").stat().st_size > 0
    assert (work / "anon.png").is_file() and (work / "runs/ddp/checkpoints/last.pt").is_file()
    # the Python example, after the block
    scope: dict = {}
    exec(compile(python_block(), "README.md", "exec"), scope)
    assert scope["images"].shape[0] == 16 and scope["images"].abs().max() <= 1
