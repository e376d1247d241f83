"""kill -9 of a training process at random moments: the run always holds a loadable checkpoint, `--resume` works,
and the resumed run ends with exactly the weights of an uninterrupted one (CPU, fp32, same seed)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

from condgen.train.checkpoint import load_checkpoint

STEPS = 24


def _cmd(out, resume: bool, tiny) -> list[str]:
    sets = [a for s in [*tiny, "train.checkpoint_every=2", "train.keep_checkpoints=2"] for a in ("--set", s)]
    if resume:
        return [sys.executable, "-m", "condgen", "train", "--resume", str(out), "--steps", str(STEPS)]
    return [sys.executable, "-m", "condgen", "train", "dcgan", "--data", "digits", "--out", str(out), "--steps",
            str(STEPS), "--no-progress", *sets]


def _env() -> dict[str, str]:
    # the same thread count in every process: fp32 sums are then identical run to run
    return {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.mark.slow
def test_kill_9_at_random_moments_then_resume_is_exact(tmp_path, cache_dir, tiny):
    ref, run = tmp_path / "ref", tmp_path / "run"
    subprocess.run(_cmd(ref, False, tiny), env=_env(), check=True, capture_output=True, timeout=600)
    rng = random.Random(0)
    kills, resume = 0, False
    for _ in range(8):
        proc = subprocess.Popen(_cmd(run, resume, tiny), env=_env(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        deadline = time.time() + 300
        last = run / "checkpoints" / "last.pt"
        while not last.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        if proc.poll() is None and kills < 3:
            time.sleep(rng.uniform(0.0, 1.0))  # anywhere: between steps, inside a step, inside a checkpoint write
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=60)
            kills += 1
            state = load_checkpoint(last)  # always loadable, never half-written
            assert 0 < state["step"] <= STEPS
            resume = True
            continue
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err.decode()[-2000:]
        break
    assert kills >= 1
    a = load_checkpoint(ref / "checkpoints" / "last.pt")
    b = load_checkpoint(run / "checkpoints" / "last.pt")
    assert a["step"] == b["step"] == STEPS
    for net in a["nets"]:
        for key, t in a["nets"][net].items():
            assert torch.equal(t, b["nets"][net][key]), f"{net}.{key} differs after {kills} kill(s)"
    leftovers = [p.name for p in (run / "checkpoints").iterdir() if ".tmp" in p.name]
    assert not leftovers or all(p.startswith(".") for p in leftovers)  # temp files are hidden, never 'last'
