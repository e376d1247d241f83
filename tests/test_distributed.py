"""Two CPU processes under torchrun (gloo): the run completes and the ranks hold identical weights."""

from __future__ import annotations

import os
import subprocess
import sys

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
