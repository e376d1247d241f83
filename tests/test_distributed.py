"""Two CPU processes under torchrun (gloo): the run completes and the ranks hold identical weights."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import condgen
from condgen.train.checkpoint import load_checkpoint


def test_torchrun_two_processes_gloo(tmp_path, cache_dir):
    run = tmp_path / "ddp"
    env = {**os.environ, "CONDGEN_CACHE": str(cache_dir), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "condgen",
           "train", "cgan", "--data", "digits", "--out", str(run), "--steps", "6", "--no-progress",
           "--set", "model.image_size=16", "--set", "model.channels=1", "--set", "model.ngf=8",
           "--set", "model.ndf=8", "--set", "data.batch_size=8", "--set", "train.precision=fp32",
           "--set", "train.checkpoint_every=3", "--set", "train.tensorboard=false"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    # every checkpoint compares a sha256 of each rank's weights and buffers (see Trainer.check_replicas)
    assert proc.stdout.count("weights identical across 2 processes") == 2, proc.stdout
    state = load_checkpoint(run / "checkpoints" / "last.pt")
    assert state["step"] == 6 and len(state["rng"]) == 2  # one RNG state per rank
    assert not torch_equal(state["rng"][0]["torch"], state["rng"][1]["torch"])  # different noise per rank
    assert condgen.load(run).generate(n=4, seed=0).shape == (4, 1, 16, 16)


def torch_equal(a, b):
    import torch

    return torch.equal(a, b)


def _children_with_rank(parent_pid: int) -> dict[int, int]:
    """{rank: pid} of torchrun's worker processes (Linux /proc)."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            env = (proc / "environ").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid != parent_pid:
            continue
        for item in env:
            if item.startswith(b"RANK="):
                found[int(item[5:])] = int(proc.name)
    return found


# skipped off Linux only: the test finds torchrun's worker processes (and their RANK) through /proc
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the worker processes through /proc")
def test_a_dying_rank_stops_the_others_instead_of_hanging(tmp_path, cache_dir):
    """kill -9 of rank 1 mid-training: torchrun and rank 0 exit (non-zero) within a minute, and the run keeps a
    loadable checkpoint."""
    run = tmp_path / "ddp"
    env = {**os.environ, "CONDGEN_CACHE": str(cache_dir), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "condgen",
           "train", "cgan", "--data", "digits", "--out", str(run), "--steps", "100000", "--no-progress",
           "--set", "model.image_size=16", "--set", "model.channels=1", "--set", "model.ngf=8",
           "--set", "model.ndf=8", "--set", "data.batch_size=8", "--set", "train.precision=fp32",
           "--set", "train.checkpoint_every=2", "--set", "train.tensorboard=false"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 240
        while not (run / "checkpoints" / "last.pt").exists() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert proc.poll() is None, proc.stderr.read()[-2000:]
        ranks = _children_with_rank(proc.pid)
        assert set(ranks) == {0, 1}, ranks
        os.kill(ranks[1], signal.SIGKILL)
        t0 = time.time()
        _, err = proc.communicate(timeout=120)
        assert proc.returncode != 0 and time.time() - t0 < 120
        assert "1" in err and ("SIGKILL" in err or "Signal 9" in err or "failed" in err.lower()), err[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
    time.sleep(1)
    stat = Path(f"/proc/{ranks[0]}/stat")
    alive = stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    assert not alive, "rank 0 is still running after rank 1 died"
    assert load_checkpoint(run / "checkpoints" / "last.pt")["step"] >= 2
