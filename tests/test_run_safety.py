"""Run-folder safety: one process per run folder, full disks and read-only folders, checkpoint integrity with
fallback, exact resume of a finished run, and recovery of a run that died before its first checkpoint."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
import torch
import yaml
from cli_helpers import run_cli
from PIL import Image

import condgen
from condgen.cli import resolve_config
from condgen.errors import CheckpointDamagedError, RunInUseError, TrainingError
from condgen.train import Trainer, train
from condgen.train.checkpoint import CHECKSUM_KEY, CheckpointFallbackWarning, load_checkpoint
from condgen.train.logging import RunWriteWarning


def _cfg(overrides, steps, model="dcgan", data="digits"):
    return resolve_config(model, data, None, None, [*overrides, f"train.steps={steps}"])


def _all_tensors(state):
    """Every tensor of a checkpoint's networks, EMA copies and optimizer states, by a flat name."""
    out = {}

    def walk(prefix, obj):
        if isinstance(obj, torch.Tensor):
            out[prefix] = obj
        elif isinstance(obj, dict):
            for k, v in obj.items():
                walk(f"{prefix}.{k}", v)

    for group in ("nets", "ema", "optimizers"):
        walk(group, state.get(group, {}))
    return out


# ----- 3. one process per run folder ----------------------------------------------------------------
def test_a_run_folder_is_owned_by_one_process(tmp_path, tiny):
    run = tmp_path / "r"
    first = Trainer(_cfg(tiny, 3), run)  # holds the folder until its fit ends
    with pytest.raises(RunInUseError, match=rf"{run} is in use by another condgen process \(PID {os.getpid()}\)"):
        train(_cfg(tiny, 3), run)
    with pytest.raises(RunInUseError, match=rf"PID {os.getpid()}"):
        train(_cfg(tiny, 3), run, resume=True)
    assert first.fit().step == 3  # the refused attempts changed nothing
    assert train(_cfg(tiny, 4), run, resume=True).step == 4  # released once its fit ended


def _cli(out, *extra):
    return [sys.executable, "-m", "condgen", "train", *extra, "--out", str(out), "--no-progress"]


def test_two_processes_on_one_folder_one_is_refused_and_kill_9_frees_it(tmp_path, tiny, capsys):
    run = tmp_path / "r"
    sets = [a for s in [*tiny, "train.checkpoint_every=2"] for a in ("--set", s)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # two trainings started together into one folder (different seeds, to tell whose files are there)
    procs = [subprocess.Popen([sys.executable, "-m", "condgen", "train", "dcgan", "--data", "digits", "--out",
                               str(run), "--steps", "100000", "--no-progress", *sets, "--set", f"seed={seed}"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for seed in (1, 2)]
    try:
        deadline = time.time() + 120
        while all(p.poll() is None for p in procs) and time.time() < deadline:
            time.sleep(0.1)
        loser = next(p for p in procs if p.poll() is not None)
        winner = next(p for p in procs if p is not loser)
        _, err = loser.communicate()
        assert loser.returncode == 2 and "Traceback" not in err, err
        assert f"in use by another condgen process (PID {winner.pid})" in err or "already holds a run" in err, err
        assert winner.poll() is None  # the owner trains on, undisturbed
        while not (run / "checkpoints" / "last.pt").exists() and time.time() < deadline:
            time.sleep(0.1)
        seed = yaml.safe_load((run / "config.yaml").read_text())["seed"]
        assert seed == (1 if winner is procs[0] else 2)  # the folder holds the winner's config only
        # --resume while it trains: refused, naming the owner
        code, _, err = run_cli(capsys, "train", "--resume", run, "--steps", "3")
        assert code == 2 and f"{run} is in use by another condgen process (PID {winner.pid})" in err, err
        winner.send_signal(signal.SIGKILL)  # kill -9 releases the lock with the process
        winner.wait(timeout=60)
        done = max(int(p.stem.split("_")[1]) for p in (run / "checkpoints").glob("step_*.pt"))
        code, out, err = run_cli(capsys, "train", "--resume", run, "--steps", str(done + 1))
        assert code == 0 and f"resuming {run} from step {done}" in out, err
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


# ----- 4. full disk, read-only folder ---------------------------------------------------------------
class _FailingFile:
    """A metrics.jsonl whose writes fail."""

    def __init__(self, err):
        self.err = err

    def write(self, _):
        raise OSError(self.err, os.strerror(self.err))

    flush = close = lambda self: None


class _FailingTensorBoard:
    """A SummaryWriter whose every call fails, as its writer thread reports a full disk."""

    def __init__(self, err):
        self.err = err
        self.calls = 0

    def __getattr__(self, name):
        def fail(*a, **k):
            self.calls += 1
            raise OSError(self.err, os.strerror(self.err))

        return fail


@pytest.mark.parametrize("err, reason", [(errno.ENOSPC, "no space left on device"),
                                         (errno.EACCES, "permission denied")])
def test_a_failing_write_of_run_outputs_warns_once_and_training_goes_on(tmp_path, tiny, monkeypatch, err,
                                                                        reason):
    """Samples, report.html, the loss plot, metrics.jsonl and TensorBoard: each failing kind warns once (naming
    the cause) however many steps fail, and the run ends with its final checkpoint."""
    from condgen.train import images, report

    def fail(*a, **k):
        raise OSError(err, os.strerror(err))

    monkeypatch.setattr(images, "save_grid", fail)
    monkeypatch.setattr(report, "atomic_output", fail)  # report.html and plots/losses.png
    run = tmp_path / "r"
    trainer = Trainer(_cfg([*tiny, "train.sample_every=1", "train.log_every=1", "train.checkpoint_every=2"], 5),
                      run)
    trainer.logger._file = _FailingFile(err)
    trainer.logger._tb = _FailingTensorBoard(err)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert trainer.fit().step == 5
    msgs = [str(w.message) for w in caught if issubclass(w.category, RunWriteWarning)]
    for what in ("the sample grid", "the report", "metrics.jsonl", "TensorBoard events"):
        assert len([m for m in msgs if m.startswith(f"could not write {what}")]) == 1, (what, msgs)
    assert len(msgs) == 4 and all(reason in m and "training continues" in m for m in msgs), msgs
    assert not any("free disk" in m for m in msgs)
    assert load_checkpoint(run / "checkpoints" / "last.pt")["step"] == 5


class _DiskFullAfter:
    """A file that takes ``room`` bytes and then fails every write with ENOSPC, as a full disk does."""

    def __init__(self, f, room):
        self.f, self.room = f, room

    def write(self, data):
        if len(data) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(data)
        return self.f.write(data)

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


@pytest.mark.parametrize("err", [errno.ENOSPC, errno.EACCES])
def test_a_failing_checkpoint_write_names_the_cause_and_the_last_good_checkpoint(tmp_path, tiny, monkeypatch,
                                                                                 err):
    from condgen.train import checkpoint

    run = tmp_path / "r"
    trainer = Trainer(_cfg([*tiny, "train.checkpoint_every=2"], 6), run)
    opened = {"n": 0}

    def disk(path, mode="r", *a, **k):
        f = open(path, mode, *a, **k)
        opened["n"] += 1
        if opened["n"] < 2:  # the step-2 checkpoint is written
            return f
        if err == errno.EACCES:
            f.close()
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return _DiskFullAfter(f, room=300)

    monkeypatch.setattr(checkpoint, "open", disk, raising=False)
    with pytest.raises(TrainingError) as info:
        trainer.fit()
    msg = str(info.value)
    cause = "no space left on device" if err == errno.ENOSPC else "permission denied"
    assert msg.startswith(f"{cause} writing {run / 'checkpoints' / 'step_0000004.pt'}; the last good checkpoint is "
                          f"{run / 'checkpoints' / 'last.pt'} (step 2)"), msg
    assert "unexpected pos" not in msg and "enforce fail" not in msg
    assert ("free disk" in msg.lower()) == (err == errno.ENOSPC), msg
    assert load_checkpoint(run / "checkpoints" / "last.pt")["step"] == 2
    assert not [p for p in (run / "checkpoints").iterdir() if p.name.startswith(".")]


# ----- 6. integrity ---------------------------------------------------------------------------------
def _flip_exponent_bit(path, tensor):
    """Flip one bit of ``tensor``'s first float where it is stored in ``path``: 0.02 becomes ~7e36."""
    data = bytearray(path.read_bytes())
    at = data.find(tensor.contiguous().numpy().tobytes())
    assert at > 0
    data[at + 3] ^= 0x40  # float32, little-endian: the top bit of the exponent
    path.write_bytes(bytes(data))


def test_damaged_checkpoints_are_named_and_the_newest_intact_one_is_used(tmp_path, tiny):
    run = tmp_path / "r"
    ck = run / "checkpoints"
    train(_cfg([*tiny, "train.checkpoint_every=1", "train.keep_checkpoints=3"], 3), run)
    last, s2, s3 = ck / "last.pt", ck / "step_0000002.pt", ck / "step_0000003.pt"
    assert os.stat(last).st_nlink == 1 and os.stat(last).st_ino != os.stat(s3).st_ino  # a copy, not a link
    weight = load_checkpoint(last)["nets"]["G"]["main.0.weight"]

    _flip_exponent_bit(last, weight)
    with pytest.raises(CheckpointDamagedError, match=rf"{last} is damaged: .*SHA-256"):
        load_checkpoint(last)
    with pytest.raises(CheckpointDamagedError, match="last.pt is damaged"):
        condgen.load(run, checkpoint=last)  # a file named explicitly must be intact
    with pytest.warns(CheckpointFallbackWarning, match=rf"{last} is damaged.*instead: {s3} \(step 3\)"):
        model = condgen.load(run)
    assert model.step == 3 and torch.equal(model.nets["G"].state_dict()["main.0.weight"], weight)

    s3.write_bytes(s3.read_bytes()[: s3.stat().st_size // 2])  # truncated: unreadable
    with pytest.warns(CheckpointFallbackWarning, match=rf"{s3} is unreadable or truncated.*instead: {s2}"):
        res = train(_cfg(tiny, 4), run, resume=True)  # resume continues from step 2
    assert res.step == 4 and load_checkpoint(last)["step"] == 4

    # a checkpoint written before checksums still loads
    old = load_checkpoint(s2)
    del old[CHECKSUM_KEY]
    torch.save(old, s2)
    assert load_checkpoint(s2)["step"] == 2
    # nothing intact: one error listing the files
    for p in ck.glob("*.pt"):
        p.write_bytes(b"")
    with pytest.raises(CheckpointDamagedError, match=r"no intact checkpoint in .*last.pt.*step_0000004.pt"):
        condgen.load(run)


def test_a_kill_between_the_step_file_and_last_pt_loses_no_step(tmp_path, tiny):
    """Killed after step_N.pt is written but before last.pt is updated (CI saw it: resume went back 2 steps):
    the newer numbered checkpoint wins over the stale last.pt."""
    import shutil

    from condgen.train.checkpoint import CheckpointManager

    run = tmp_path / "r"
    ck = run / "checkpoints"
    train(_cfg([*tiny, "train.checkpoint_every=1", "train.keep_checkpoints=3"], 3), run)
    last, s2, s3 = ck / "last.pt", ck / "step_0000002.pt", ck / "step_0000003.pt"
    shutil.copyfile(s2, last)  # last.pt still holds step 2 ...
    t = s3.stat().st_mtime_ns
    os.utime(last, ns=(t - 10**9, t - 10**9))  # ... and was written before step_3.pt
    path, state = CheckpointManager(run).load_latest()
    assert path == s3 and state["step"] == 3
    assert train(_cfg(tiny, 4), run, resume=True).step == 4 and load_checkpoint(last)["step"] == 4


# ----- 7. resuming a finished run -------------------------------------------------------------------
@pytest.fixture
def pairs(tmp_path):
    """Six random A|B training pairs for a tiny pix2pix (whose samples run G in train mode, as in the paper)."""
    data = tmp_path / "pairs" / "train"
    data.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 255, (72, 144, 3), dtype=np.uint8)).save(data / f"{i}.png")
    return tmp_path / "pairs"


def _pix2pix(pairs, steps, *extra):
    over = ["model.netG=unet_64", "model.ngf=4", "model.ndf=4", "data.load_size=72", "data.crop_size=64",
            "data.batch_size=2", "train.precision=fp32", "train.progress=false", "train.tensorboard=false",
            "train.lr_schedule=constant", "train.sample_every=1000", *extra]
    return _cfg(over, steps, model="pix2pix", data=str(pairs))


def test_resuming_a_finished_run_changes_nothing_and_a_stop_resumes_exactly(tmp_path, pairs, one_thread):
    """Samples drawn at the end of a run (pix2pix: G in train mode, batch statistics) must not move any
    BatchNorm statistics: resuming a finished run with EMA is a no-op, and a run stopped (and sampled) after
    step 2 and resumed ends with an uninterrupted run's weights."""
    done = tmp_path / "done"
    train(_pix2pix(pairs, 2, "train.ema_decay=0.5"), done)
    before = _all_tensors(load_checkpoint(done / "checkpoints" / "last.pt"))
    assert any(k.startswith("ema.G") and "running_mean" in k for k in before)
    train(_pix2pix(pairs, 2, "train.ema_decay=0.5"), done, resume=True)  # e.g. after a kill past the end
    after = _all_tensors(load_checkpoint(done / "checkpoints" / "last.pt"))
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert not changed, f"{len(changed)} of {len(before)} tensors changed: {changed[:5]}"

    train(_pix2pix(pairs, 4), tmp_path / "full")
    train(_pix2pix(pairs, 2), tmp_path / "half")
    train(_pix2pix(pairs, 4), tmp_path / "half", resume=True)
    a = _all_tensors(load_checkpoint(tmp_path / "full" / "checkpoints" / "last.pt"))
    b = _all_tensors(load_checkpoint(tmp_path / "half" / "checkpoints" / "last.pt"))
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    assert not differ, differ[:5]


# ----- 8. a run that died before its first checkpoint ------------------------------------------------
def test_a_run_that_failed_before_its_first_checkpoint_can_be_resumed_or_run_again(tmp_path, tiny, capsys):
    run = tmp_path / "r"
    sets = [a for s in tiny for a in ("--set", s)]
    code, _, err = run_cli(capsys, "train", "dcgan", "--data", "digits", "--out", run, "--steps", "3", *sets,
                           "--set", "model.lr=1e30")
    assert code != 0 and "no checkpoint had been written yet" in err
    assert (run / "config.yaml").is_file() and not (run / "checkpoints" / "last.pt").exists()
    # resume: nothing to continue, so it starts again from step 0 (here with the learning rate fixed)
    code, out, err = run_cli(capsys, "train", "--resume", run, "--set", "model.lr=0.0002")
    assert code == 0, err
    assert "stopped before writing its first checkpoint" in out and "starting it again from step 0" in out
    state = load_checkpoint(run / "checkpoints" / "last.pt")
    assert state["step"] == 3 and state["config"]["model"]["lr"] == 0.0002

    # the same command run again into a dead run's folder starts it anew (from the new config)
    dead = tmp_path / "dead"
    code, _, _ = run_cli(capsys, "train", "dcgan", "--data", "digits", "--out", dead, "--steps", "3", *sets,
                         "--set", "model.lr=1e30")
    assert code != 0
    orphans = [dead / "checkpoints" / f".step_0000002.pt.tmp-{2**22 + 7}", dead / "checkpoints" / ".last.pt.tmp-1"]
    (dead / "checkpoints").mkdir(exist_ok=True)
    for p in orphans:
        p.write_bytes(b"half a checkpoint of a process killed mid-write")
    code, out, err = run_cli(capsys, "train", "dcgan", "--data", "digits", "--out", dead, "--steps", "2", *sets)
    assert code == 0, err
    assert "stopped before writing its first checkpoint" in out
    assert not any(p.exists() for p in orphans)
    assert load_checkpoint(dead / "checkpoints" / "last.pt")["step"] == 2


def test_orphan_temp_files_are_removed_on_resume_and_config_is_written_atomically(tmp_path, tiny, monkeypatch):
    import pathlib

    run = tmp_path / "r"
    train(_cfg(tiny, 2), run)
    orphan = run / "checkpoints" / f".step_0000004.pt.tmp-{2**22 + 9}"
    orphan.write_bytes(b"left by a process killed mid-write")
    train(_cfg(tiny, 3), run, resume=True)
    assert not orphan.exists()

    saved = (run / "config.yaml").read_text()
    real_write_text = pathlib.Path.write_text

    def disk_full_halfway(self, text, *a, **k):
        real_write_text(self, text[: len(text) // 2], *a, **k)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pathlib.Path, "write_text", disk_full_halfway)
    with pytest.raises(TrainingError, match=r"no space left on device writing .*config"):
        train(_cfg(tiny, 4), run, resume=True)
    monkeypatch.undo()
    assert (run / "config.yaml").read_text() == saved  # the run's config is whole
    assert not [p for p in run.iterdir() if p.name.startswith(".config")]
