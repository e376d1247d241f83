"""The model-agnostic trainer: device, precision, DDP, EMA, LR schedules, checkpoints, logging, progress.

It knows no model by name: it drives any ``GenerativeModel`` through ``training_step`` and
``fixed_inputs``/``sample_grid`` (DESIGN.md, "The model contract").
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import os
import random
import shutil
import signal
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel as DDP

from condgen.config import RunConfig
from condgen.errors import (
    CheckpointError,
    CondgenError,
    ConfigError,
    ResourceCapWarning,
    TrainingError,
    os_error_reason,
)
from condgen.models import get_model_class
from condgen.models.base import GenerativeModel, unwrap
from condgen.runs import (
    config_conflicts,
    flatten_dict,
    is_run_dir,
    load_model_data,
    load_run_config,
    select_device,
)
from condgen.statedict import load_nets
from condgen.train import distributed as dist_utils
from condgen.train.checkpoint import CheckpointManager, load_checkpoint, rng_state, set_rng_state
from condgen.train.lock import LOCK_FILE, RunLock
from condgen.train.logging import RunWriteWarning
from condgen.train.update import Updater, model_batch


# ----- device and precision -----------------------------------------------------------------------
def cpu_has_fast_bf16() -> bool:
    """True on CPUs with native bf16 math (AVX512-BF16 or AMX), where oneDNN runs bf16 convolutions fast."""
    cpu = getattr(torch, "cpu", None)
    checks = [getattr(cpu, "_is_avx512_bf16_supported", None), getattr(cpu, "_is_amx_tile_supported", None)]
    return any(c() for c in checks if c is not None)


def select_precision(name: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``precision`` (None = fp32). ``auto`` follows benchmarks/RESULTS.md: bf16
    where the hardware has native bf16 (it measured faster and trained as well), else fp32."""
    if name == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
        if device.type == "cpu" and cpu_has_fast_bf16():
            return torch.bfloat16
        return None
    if name == "fp32":
        return None
    if name == "fp16" and device.type == "cpu":
        raise ConfigError("train.precision fp16 is for GPUs; on a CPU use bf16 or fp32.")
    return torch.bfloat16 if name == "bf16" else torch.float16


def select_channels_last(name: str, device: torch.device, dtype: torch.dtype | None) -> bool:
    """channels_last memory format: on by default with autocast on CPU/GPU, where it measured faster."""
    if name == "auto":
        return dtype is not None and device.type in ("cpu", "cuda")
    return name == "true"


# ----- LR schedules -------------------------------------------------------------------------------
def lr_lambda(kind: str, total: int, decay_start: float, step_size: int, gamma: float):
    """Multiplier of the base LR at a step: constant; linear (constant, then linearly to zero, as in
    pix2pix/CycleGAN's 100 + 100 epochs); step (x gamma every step_size steps)."""
    if kind == "linear":
        start = int(total * decay_start)
        span = max(1, total - start)
        return lambda s: 1.0 - max(0, s - start) / span
    if kind == "step":
        if step_size <= 0:
            raise ConfigError("train.lr_schedule=step needs train.lr_step_size > 0.")
        return lambda s: gamma ** (s // step_size)
    return lambda s: 1.0


def progress_postfix(losses: dict[str, float], images_per_s: float) -> dict[str, str]:
    """The progress bar's numbers: each loss to 3 significant digits (a loss of 1e-8 shows as 1e-08, not 0.000)."""
    return {**{k.split("/")[-1]: f"{v:.3g}" for k, v in losses.items()}, "img/s": f"{images_per_s:.0f}"}


def worker_error_message(e: BaseException) -> str:
    """The message of an error raised in a DataLoader worker, without torch's "Caught X in DataLoader worker
    process N. Original Traceback ..." wrapping (the message as it was raised)."""
    text = str(e)
    if not text.startswith("Caught ") or "Original Traceback" not in text:
        return text
    head = f"{type(e).__module__}.{type(e).__qualname__}: "
    at = text.rfind("\n" + head)
    if at < 0:
        head = f"{type(e).__qualname__}: "
        at = text.rfind("\n" + head)
    return text[at + 1 + len(head):].strip() if at >= 0 else text.splitlines()[-1]


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class _StopRequest:
    """SIGINT/SIGTERM set a flag the loop checks between steps, so a checkpoint is always consistent.
    A second Ctrl-C interrupts at once."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self._old: dict[int, Any] = {}

    def __enter__(self) -> _StopRequest:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread
                pass
        return self

    def _handle(self, signum, frame) -> None:
        if self.signal is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signal = signum

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


@dataclasses.dataclass
class TrainResult:
    """What a finished (or stopped) run reports."""

    run_dir: Path
    step: int
    stopped_early: bool
    last_losses: dict[str, float]


class NonFiniteLossWarning(UserWarning):
    """A NaN/Inf loss whose update was skipped (train.nan_policy=skip)."""


class SampleWriteWarning(RunWriteWarning):
    """A sample grid could not be written (training goes on)."""


NORM_STATS = ("running_mean", "running_var", "num_batches_tracked")


def _run_files(run_dir: Path) -> list[Path]:
    """What a run folder holds, besides its lock file."""
    return [p for p in run_dir.iterdir() if p.name != LOCK_FILE] if run_dir.is_dir() else []


def _empty_new_run(run_dir: Path, remove_folder: bool) -> None:
    """Remove what a new run wrote into ``run_dir`` (empty before it started), and the folder if it made it."""
    if remove_folder:
        shutil.rmtree(run_dir, ignore_errors=True)
        return
    for child in _run_files(run_dir):
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


class Trainer:
    """Trains one model according to a RunConfig, writing everything into a run directory."""

    def __init__(self, cfg: RunConfig, run_dir: str | Path, resume: bool = False):
        self.cfg, self.run_dir, self.resume = cfg, Path(run_dir), resume
        self.device = select_device(cfg.train.device)
        self.rank, self.local_rank, self.world = dist_utils.init_distributed(self.device.type)
        if self.device.type == "cuda" and self.world > 1:
            self.device = torch.device("cuda", self.local_rank)
        self.is_main = self.rank == 0
        if cfg.train.threads:
            torch.set_num_threads(cfg.train.threads)
        self.amp_dtype = select_precision(cfg.train.precision, self.device)
        self.channels_last = select_channels_last(cfg.train.channels_last, self.device, self.amp_dtype)
        self.lock = RunLock(self.run_dir)
        self.restart = False  # resuming a run that never wrote a checkpoint: it starts again from step 0
        try:
            created = self._prepare_run_dir()
        except BaseException:
            self.lock.release()
            raise
        try:
            self._setup()
        except BaseException:
            # a new run that failed before its first step (bad data, missing VGG weights, ...) leaves no half-made
            # run folder behind: the same command works once the cause is fixed
            if not self.resume and self.is_main:
                _empty_new_run(self.run_dir, remove_folder=created)
            self.lock.release()
            raise

    def _setup(self) -> None:
        cfg, resume = self.cfg, self.resume and not self.restart
        from condgen.data import dataset_info

        if resume:
            self._check_resume_target()

        model_cls = get_model_class(cfg.model_name)
        self.dataset = load_model_data(model_cls, cfg, split="train", train=True)
        self.data_info = dataset_info(self.dataset)
        self.val_dataset = self._val_dataset(model_cls) if cfg.train.val_every else None
        model_cls.fill_from_data(cfg.model, self.data_info)
        if self.is_main:  # on resume only length/logging keys can differ; record the new values
            self._save_config()

        seed_everything(cfg.seed)  # identical initial weights on every rank
        self.model: GenerativeModel = model_cls(cfg.model)
        self.model.to(self.device, channels_last=self.channels_last)
        scaler = torch.amp.GradScaler(self.device.type) if self.amp_dtype == torch.float16 else None
        self.updater = Updater(scaler, skip_nonfinite=cfg.train.nan_policy == "skip")
        self.model.updater = self.updater

        bs = cfg.data.batch_size
        per_epoch = len(self.dataset) // (bs * self.world)
        if per_epoch < 1:
            raise ConfigError(f"data.batch_size {bs} x {self.world} process(es) is larger than the dataset "
                              f"({len(self.dataset)} images); lower data.batch_size.")
        self.steps_per_epoch = per_epoch
        self.total_steps = cfg.train.steps or cfg.train.epochs * per_epoch
        if self.total_steps <= 0:
            raise ConfigError("set train.steps or train.epochs to a positive number.")
        self.calibration = self._calibrate(resume)

        t = cfg.train
        fn = lr_lambda(t.lr_schedule, self.total_steps, t.lr_decay_start, t.lr_step_size, t.lr_gamma)
        self.schedulers = {k: torch.optim.lr_scheduler.LambdaLR(o, fn) for k, o in self.model.optimizers.items()}
        # A model may leave an optimizer idle (e.g. pix2pix's L1-only ablation never steps D); its schedule still
        # follows the step count, which is what torch warns about.
        warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler.step\(\)` before")
        self.init_report = self._init_from(t.init_from) if t.init_from and not resume else ""
        if t.ema_decay > 0:
            for name in self.model.ema_nets:
                ema = copy.deepcopy(unwrap(self.model.nets[name])).eval()
                ema.requires_grad_(False)
                self.model.ema[name] = ema

        self.step, self.epoch, self.epoch_pos = 0, 0, 0
        self.ckpt = CheckpointManager(self.run_dir, keep=t.keep_checkpoints)
        if self.is_main:  # this process holds the run's lock: any other writer's temp file is an orphan
            self.ckpt.remove_orphans()
        if resume:
            self._load_resume_state()
            if self.is_main:
                print(f"resuming {self.run_dir} from step {self.step} (of {self.total_steps})" if
                      self.step < self.total_steps else f"{self.run_dir} is already at step {self.step} of "
                      f"{self.total_steps}: nothing to train. Pass --steps above {self.step} to continue it.",
                      flush=True)

        if self.compiled:  # in place: the module, its state_dict keys and checkpoints stay as they are
            for net in self.model.nets.values():
                net.compile()

        if self.world > 1:
            ids = [self.local_rank] if self.device.type == "cuda" else None
            for name, net in list(self.model.nets.items()):
                if any(p.requires_grad for p in net.parameters()):
                    self.model.nets[name] = DDP(net, device_ids=ids)  # buffers synced from rank 0 (the default)

        from condgen.train.logging import RunLogger

        self.logger = RunLogger(self.run_dir, tensorboard=t.tensorboard, enabled=self.is_main)
        if self.init_report and self.is_main:
            self.logger.text("init_from", self.init_report)
            print(f"[condgen] {self.init_report}", flush=True)
        if self.calibration and self.is_main:
            self._log_calibration(self.calibration)
        # the training RNG differs per rank (different noise per shard), set after identical init
        if not resume:
            seed_everything(cfg.seed + 1_000_003 * self.rank)
        self.fixed = self.model.fixed_inputs(t.num_samples, seed=cfg.seed + 12345,
                                             batch=self._first_batch() if self.is_main else None)

    # ----- set-up helpers ------------------------------------------------------------------------
    def _calibrate(self, resume: bool) -> dict[str, Any] | None:
        """Precision, memory layout and compilation by measurement (``calibrate``) when precision is auto on a CPU:
        the run's own earlier choice on resume, else the cache, else a few measured steps (rank 0 decides)."""
        from condgen.train import calibrate as cal

        t = self.cfg.train
        self.compiled = t.compile == "true" and self.world == 1
        if t.precision != "auto" or self.device.type != "cpu":
            return None
        own = self.run_dir / cal.CACHE_FILE
        key = cal.cache_key(self.cfg.model_name, self.cfg.to_dict()["model"], self.cfg.data.batch_size,
                            torch.get_num_threads(), self.device.type)
        entry = None
        if self.is_main:
            entry = cal.read_json(own) if resume else None
            source = "this run's earlier choice" if entry else "cache"
            entry = entry or cal.load_cached(key)
            if entry is None:
                source = "measured"
                entry = self._measure_settings(cal, key)
            entry = {**entry, "source": source, "key": key}
            cal.write_json(own, entry)
        entry = dist_utils.broadcast_object(entry)
        choice = cal.setting_from(entry["choice"])
        self.amp_dtype = choice.dtype
        self.channels_last = choice.channels_last
        self.compiled = (choice.compile and self.world == 1) or self.compiled
        self.model.to(self.device, channels_last=self.channels_last)
        return entry

    def _measure_settings(self, cal, key: str) -> dict[str, Any]:
        """Time each candidate setting on a copy of the model and a real batch; cache and return the choice."""
        bs = self.cfg.data.batch_size
        with torch.random.fork_rng(devices=[]):  # the training run's randomness is not touched
            batch = torch.utils.data.default_collate([self.dataset[i] for i in range(min(bs, len(self.dataset)))])
            print(f"[condgen] precision=auto: measuring speed settings on {cal.cpu_kind()} (cached afterwards) ...",
                  flush=True)
            plain = cal.candidates(cpu_has_fast_bf16(), False)
            measured = cal.measure_all(self.model, batch, plain, self.device)
            worth = self.world == 1 and cal.compile_worth_trying(self.cfg.train.compile, measured[0].seconds_per_step,
                                                                   self.total_steps)
            if worth:  # compiled variants once each: a compile costs minutes
                compiled = [s for s in cal.candidates(cpu_has_fast_bf16(), True) if s.compile]
                measured += [cal.measure(self.model, batch, s, self.device) for s in compiled]
        choice = cal.choose(measured, self.total_steps)
        entry = cal.entry_of(choice, measured)
        cal.store_cached(key, entry)
        return entry

    def _log_calibration(self, entry: dict[str, Any]) -> None:
        """The chosen setting and the measured alternatives: one line, TensorBoard text and metrics.jsonl."""
        from condgen.train.calibrate import setting_from

        choice = setting_from(entry["choice"]).name
        rows = [m for m in entry.get("measured", []) if m.get("seconds_per_step")]
        bs = self.cfg.data.batch_size
        alts = ", ".join(f"{m['setting']} {bs / m['seconds_per_step']:.1f} img/s"
                         + ("" if m.get("losses_match", True) else " (losses differ)") for m in rows)
        print(f"[condgen] speed settings: {choice} ({entry.get('source', 'measured')})"
              + (f"; measured {alts}" if alts else ""), flush=True)
        self.logger.text("speed_settings", f"chosen: {choice} ({entry.get('source')}); {alts}")
        values = {f"images_per_s[{m['setting']}]": bs / m["seconds_per_step"] for m in rows}
        self.logger.scalars(self.step, {"chosen_bf16": int(self.amp_dtype is not None),
                                        "chosen_channels_last": int(self.channels_last),
                                        "chosen_compile": int(self.compiled), **values}, kind="calibration")

    def _val_dataset(self, model_cls):
        from condgen.errors import DataError

        for split in model_cls.val_splits:
            try:
                return load_model_data(model_cls, self.cfg, split=split, train=False)
            except DataError:
                continue
        return None

    def _prepare_run_dir(self) -> bool:
        """Check the run folder, take its lock (rank 0), create it for a new run. True if this call created it."""
        if self.resume:
            saved = load_run_config(self.run_dir)
            if self.is_main:
                self.lock.acquire()
            if CheckpointManager(self.run_dir).latest() is None:
                self._restart_dead_run(resume=True)
                dist_utils.barrier()
                return False
            conflicts = config_conflicts(saved, self.cfg)
            # num_classes is filled from data after load; compare without it
            conflicts = [c for c in conflicts if not c.endswith("num_classes")]
            if conflicts:
                a, b = flatten_dict(saved.to_dict()), flatten_dict(self.cfg.to_dict())
                detail = "; ".join(f"{k}: run has {a.get(k)!r}, now {b.get(k)!r}" for k in conflicts[:6])
                raise CheckpointError(f"cannot resume {self.run_dir}: the config differs from the run's ({detail}). "
                                      f"Resume without changing these, or start a new run with another --out.")
            return False
        created = not self.run_dir.exists()
        if self.is_main:  # rank 0 checks and prepares the folder; the other ranks wait for it
            self._check_new_run_dir()
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.lock.acquire()  # then look again: another process may have started a run here meanwhile
            self._check_new_run_dir()
            if _run_files(self.run_dir):
                self._restart_dead_run(resume=False)
        dist_utils.barrier()
        return created

    def _check_new_run_dir(self) -> None:
        if not _run_files(self.run_dir):
            return
        if not is_run_dir(self.run_dir):
            raise CheckpointError(f"{self.run_dir} exists and is not empty; choose a new --out folder.")
        if CheckpointManager(self.run_dir).latest() is not None:
            raise CheckpointError(f"{self.run_dir} already holds a run. Continue it with "
                                  f"`condgen train --resume {self.run_dir}`, or choose another --out.")

    def _restart_dead_run(self, resume: bool) -> None:
        """A run folder with a config but no checkpoint (its run failed before writing one, e.g. a NaN loss or a
        bad image at step 1) holds nothing to continue: clear it and start again from step 0."""
        self.restart = resume
        if self.is_main:
            print(f"[condgen] {self.run_dir} holds a run that stopped before writing its first checkpoint, so there "
                  f"is nothing to continue; starting it again from step 0 "
                  f"({'with its config' if self.restart else 'with the new config'}; its old samples and logs "
                  f"are removed).", flush=True)
            _empty_new_run(self.run_dir, remove_folder=False)

    def _save_config(self) -> None:
        path = self.run_dir / "config.yaml"
        try:
            self.cfg.save(path)
        except OSError as e:
            raise TrainingError(f"{os_error_reason(e)} writing {path}; the run's previous config.yaml, if any, is "
                                f"unchanged ({e}).") from None

    def _first_batch(self) -> dict[str, Any]:
        n = min(len(self.dataset), self.cfg.train.num_samples)
        items = [self.dataset[i] for i in range(n)]
        batch = torch.utils.data.default_collate(items)
        return model_batch(self.model, batch)

    def _init_from(self, source: str) -> str:
        """Load the networks of another run (or checkpoint file) whose names this model shares; the rest of the
        state (optimizers, step, RNG) starts fresh. A network whose shapes differ is an error naming the keys."""
        path = Path(source).expanduser()
        if path.is_dir():
            latest = CheckpointManager(path).load_latest()
            if latest is None:
                raise CheckpointError(f"train.init_from: {path} has no checkpoint (checkpoints/ is empty or missing); "
                                      "give a trained run or a checkpoint file.")
            path, state = latest
        elif not path.is_file():
            raise CheckpointError(f"train.init_from: {path} does not exist; give a run directory or a checkpoint file.")
        else:
            state = load_checkpoint(path)
        shared = [n for n in state.get("nets", {}) if n in self.model.nets]
        if not shared:
            raise CheckpointError(f"train.init_from: {path} holds networks {sorted(state.get('nets', {}))}, none of "
                                  f"which this {self.cfg.model_name} model has ({sorted(self.model.nets)}).")
        model = f"this {self.cfg.model_name} model"
        load_nets(self._plain_nets(), {n: state["nets"][n] for n in shared}, f"train.init_from: {path}", model,
                  mismatch=lambda n: f"train.init_from: network {n} in {path} does not fit {model}'s {n} (another "
                                     "architecture or size?)")
        return f"initialised {', '.join(shared)} from {path} (step {state.get('step', '?')})"

    def _plain_nets(self) -> dict[str, torch.nn.Module]:
        """The model's networks outside their DDP / torch.compile wrappers (what checkpoints hold)."""
        return {name: unwrap(net) for name, net in self.model.nets.items()}

    def _check_resume_target(self) -> None:
        """Refuse a train.steps below the step the run has reached (it counts from the run's start)."""
        done = max(CheckpointManager(self.run_dir).steps(), default=0)
        target = self.cfg.train.steps
        if target and target < done:
            raise ConfigError(f"{self.run_dir} is already at step {done}; --steps {target} is below it (train.steps "
                              f"counts from the run's start). Pass --steps above {done} to train further.")

    def _load_resume_state(self) -> None:
        latest = self.ckpt.load_latest()
        if latest is None:
            raise CheckpointError(f"{self.run_dir} has no checkpoint to resume from (checkpoints/ is empty).")
        path, state = latest
        load_nets(self._plain_nets(), state["nets"], str(path), f"this {self.cfg.model_name} model")
        for name, sd in state.get("ema", {}).items():
            if name in self.model.ema:
                self.model.ema[name].load_state_dict(sd)
        for name, sd in state["optimizers"].items():
            self.model.optimizers[name].load_state_dict(sd)
        for name, sd in state["schedulers"].items():
            self.schedulers[name].load_state_dict(sd)
        if self.updater.scaler is not None and "grad_scaler" in state:
            self.updater.scaler.load_state_dict(state["grad_scaler"])
        self.step, self.epoch, self.epoch_pos = state["step"], state["epoch"], state["epoch_pos"]
        rngs = state["rng"]
        set_rng_state(rngs[self.rank] if self.rank < len(rngs) else rngs[0])
        extras = state.get("model_state") or [{}]
        self.model.load_extra_state(extras[self.rank] if self.rank < len(extras) else extras[0])

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly: nets, EMA, optimizers, schedulers, counters, RNG."""
        return {
            "step": self.step, "epoch": self.epoch, "epoch_pos": self.epoch_pos,
            "model_name": self.cfg.model_name, "config": self.cfg.to_dict(),
            "nets": {k: unwrap(n).state_dict() for k, n in self.model.nets.items()},
            "ema": {k: n.state_dict() for k, n in self.model.ema.items()},
            "optimizers": {k: o.state_dict() for k, o in self.model.optimizers.items()},
            "schedulers": {k: s.state_dict() for k, s in self.schedulers.items()},
            **({"grad_scaler": self.updater.scaler.state_dict()} if self.updater.scaler else {}),
            "rng": self._gather(rng_state()),
            "model_state": self._gather(self.model.extra_state()),
        }

    def check_replicas(self) -> None:
        """Compare a hash of every rank's weights and buffers; DDP must keep them identical."""
        import hashlib

        h = hashlib.sha256()
        for name in sorted(self.model.nets):
            for k, v in sorted(unwrap(self.model.nets[name]).state_dict().items()):
                h.update(k.encode())
                h.update(v.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
        out: list[Any] = [None] * self.world
        torch.distributed.all_gather_object(out, h.hexdigest())
        if len(set(out)) != 1:
            raise TrainingError(f"the {self.world} processes hold different weights at step {self.step}; "
                                f"this is a bug in distributed training, please report it.")
        if self.is_main:
            self.logger.text("replicas", f"step {self.step}: weights identical across {self.world} processes")
            print(f"[condgen] step {self.step}: weights identical across {self.world} processes "
                  f"(sha256 {out[0][:12]})", flush=True)

    def _gather(self, local: dict[str, Any]) -> list[dict[str, Any]]:
        """``local`` from every rank, in rank order (per-rank state such as RNGs)."""
        if not dist_utils.is_distributed():
            return [local]
        out: list[Any] = [None] * self.world
        torch.distributed.all_gather_object(out, local)
        return out

    def save_checkpoint(self) -> Path | None:
        """Write a checkpoint of the current step (rank 0 writes; every rank joins the RNG gather)."""
        for name, net in self.model.nets.items():
            bad = [k for k, v in unwrap(net).state_dict().items() if v.is_floating_point() and not v.isfinite().all()]
            if bad:
                raise TrainingError(f"network {name} holds NaN/Inf values ({bad[0]}, ...) at step {self.step}; "
                                    f"not writing a checkpoint. The last good one is kept.")
        if dist_utils.is_distributed():
            # DDP re-broadcasts rank 0's buffers (BatchNorm statistics) at each forward, so rank 0's are
            # the run's; after the last forward each rank holds its own, so align them before comparing.
            for net in self.model.nets.values():
                for buf in unwrap(net).buffers():
                    torch.distributed.broadcast(buf, 0)
            self.check_replicas()
        state = self.state_dict()
        then = f", then continue with `condgen train --resume {self.run_dir}`"
        path = self.ckpt.save(state, self.step, then) if self.is_main else None
        dist_utils.barrier()
        return path

    # ----- the loop ------------------------------------------------------------------------------
    def _loader(self):
        from condgen.data.sampler import ResumableSampler

        cfg = self.cfg.data
        sampler = ResumableSampler(self.dataset, num_replicas=self.world, rank=self.rank, shuffle=True,
                                   seed=self.cfg.seed, drop_last=True)
        workers = cfg.num_workers
        if workers < 0:
            workers = 0 if getattr(self.dataset, "in_memory", False) else min(4, max(1, (torch.get_num_threads() // 2)))
        cpus = os.cpu_count() or 1
        if workers > cpus:  # each worker is a process holding a copy of the dataset: more than the CPUs only costs
            if self.is_main:
                warnings.warn(f"data.num_workers={workers} is more than this machine's {cpus} CPUs; using {cpus} "
                              "DataLoader workers.", ResourceCapWarning, stacklevel=2)
            workers = cpus
        loader = torch.utils.data.DataLoader(
            self.dataset, batch_size=cfg.batch_size, sampler=sampler, num_workers=workers, drop_last=True,
            pin_memory=self.device.type == "cuda",
            # workers hold copies of the dataset: recreate them each epoch when it augments per epoch
            persistent_workers=workers > 0 and not hasattr(self.dataset, "set_epoch"),
            # its own generator, so making an iterator never draws from the training RNG
            generator=torch.Generator().manual_seed(self.cfg.seed))
        return sampler, loader

    def _batches(self):
        sampler, loader = self._loader()
        bs = self.cfg.data.batch_size
        while True:
            sampler.set_epoch(self.epoch)
            if hasattr(self.dataset, "set_epoch"):  # per-epoch deterministic augmentation (exact resume)
                self.dataset.set_epoch(self.epoch)
            sampler.set_start(self.epoch_pos * bs)
            try:
                for batch in loader:
                    self.epoch_pos += 1
                    yield batch
            except CondgenError as e:  # raised in a DataLoader worker: torch wraps it in its worker traceback
                raise type(e)(worker_error_message(e)) from None
            self.epoch += 1
            self.epoch_pos = 0

    @torch.no_grad()
    def _update_ema(self) -> None:
        decay = self.cfg.train.ema_decay
        for name, ema in self.model.ema.items():
            src = unwrap(self.model.nets[name])
            for pe, p in zip(ema.parameters(), src.parameters()):
                pe.lerp_(p.detach(), 1.0 - decay)
            keep_stats = not self.model.ema_copies_norm_stats  # e.g. OASIS re-estimates its EMA's BN statistics
            for (key, be), b in zip(ema.named_buffers(), src.buffers()):
                if keep_stats and key.rsplit(".", 1)[-1] in NORM_STATS:
                    continue
                be.copy_(b)

    @contextlib.contextmanager
    def _observing(self):
        """Inference for samples and validation that leaves the training state exactly as it was: the RNG
        (test-time noise such as pix2pix dropout) and every buffer (a network run in train mode at test time,
        like pix2pix's batch statistics, moves its BatchNorm running statistics), so a resumed run is exact."""
        nets = [*(unwrap(n) for n in self.model.nets.values()), *self.model.ema.values()]
        kept = [(b, b.clone()) for net in nets for b in net.buffers()]
        try:
            with torch.random.fork_rng(devices=[]), self.model.inference():
                yield
        finally:
            with torch.no_grad():
                for b, saved in kept:
                    b.copy_(saved)

    def _save_samples(self) -> None:
        if not self.is_main:
            return
        from condgen.train.images import save_grid

        with self._observing():
            imgs = self.model.sample_grid(self.fixed).float().cpu()
        nrow = self.model.sample_grid_nrow(imgs.shape[0])
        target = self.run_dir / "samples" / f"step_{self.step:06d}.png"
        # e.g. a full disk: a missing picture is no reason to stop training
        with self.logger.failures.guard("the sample grid", target, SampleWriteWarning):
            save_grid(imgs, target, nrow=nrow, column_titles=self.model.grid_columns or None)
            self.logger.image(self.step, "samples", imgs)

    def _validate(self) -> None:
        if not self.is_main or self.val_dataset is None:
            return
        from condgen.train.images import save_grid

        n = min(len(self.val_dataset), self.cfg.train.val_images)
        bs = max(1, min(self.cfg.data.batch_size, 16))
        subset = torch.utils.data.Subset(self.val_dataset, range(n))
        loader = torch.utils.data.DataLoader(subset, batch_size=bs, shuffle=False, num_workers=0)
        with self._observing():
            values, grid = self.model.validate(model_batch(self.model, b) for b in loader)
        self.logger.scalars(self.step, {f"val/{k}": v for k, v in values.items()}, kind="val")
        target = self.run_dir / "samples" / f"val_step_{self.step:06d}.png"
        if grid is not None:
            with self.logger.failures.guard("the validation grid", target, SampleWriteWarning):
                save_grid(grid.float().cpu(), target, nrow=self.model.val_grid_nrow)

    def _write_report(self) -> None:
        if self.is_main:
            from condgen.train.report import write_report

            with self.logger.failures.guard("the report", self.run_dir / "report.html"):
                write_report(self.run_dir)

    def _skip_nonfinite(self, bad: list[str], values: dict[str, float]) -> bool:
        """train.nan_policy=skip: the model skipped the non-finite updates; warn and go on (False: stop)."""
        t = self.cfg.train
        if t.nan_policy != "skip" or self.updater.skipped > t.nan_max_skips:
            return False
        warnings.warn(f"{', '.join(bad)} became {values[bad[0]]} at step {self.step + 1}: that update was skipped "
                      f"({self.updater.skipped} skipped so far, at most train.nan_max_skips="
                      f"{t.nan_max_skips}).", NonFiniteLossWarning, stacklevel=2)
        return True

    def _nan_message(self, bad: list[str], values: dict[str, float]) -> str:
        steps = self.ckpt.steps()
        kept = (f"the last good checkpoint, step {steps[-1]}, is kept in {self.ckpt.dir} (continue with "
                f"--resume {self.run_dir})" if steps else "no checkpoint had been written yet")
        return (f"{', '.join(bad)} became {values[bad[0]]} at step {self.step + 1}; training stopped and "
                f"{kept}. Try a lower learning rate, train.precision=fp32, or check the data.")

    def fit(self) -> TrainResult:
        """Train to ``total_steps`` (or until Ctrl-C/SIGTERM), checkpointing and logging on the way."""
        t = self.cfg.train
        autocast = torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32,
                                  enabled=self.amp_dtype is not None)
        bar = None
        if self.is_main and t.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=self.total_steps, initial=self.step, unit="step", dynamic_ncols=True,
                       desc=self.cfg.model_name)
        last: dict[str, float] = {}
        stopped = False
        # a resumed run already at its last step was finished (its final samples and checkpoint are written):
        # resuming it again changes nothing
        finished = self.resume and not self.restart and self.step >= self.total_steps
        images_seen, t0 = 0, time.perf_counter()
        self.model.train_mode(True)
        batches = self._batches()
        session_start = time.time()  # on the session's first log line: the report's wall time
        try:
            with _StopRequest() as stop:
                while self.step < self.total_steps:
                    batch = model_batch(self.model, next(batches))
                    with autocast:
                        losses = self.model.training_step(batch)
                    values = {k: float(v) for k, v in losses.items()}
                    bad = [k for k, v in values.items() if not math.isfinite(v)]
                    if bad and not self._skip_nonfinite(bad, values):
                        raise TrainingError(self._nan_message(bad, values))
                    self.step += 1
                    for s in self.schedulers.values():
                        s.step()
                    if self.model.ema:
                        self._update_ema()
                    images_seen += next(iter(batch.values())).shape[0] * self.world
                    last = values
                    if self.step % t.log_every == 0 or self.step == self.total_steps:
                        dt = time.perf_counter() - t0
                        ips = images_seen / dt if dt > 0 else 0.0
                        lr = next(iter(self.model.optimizers.values())).param_groups[0]["lr"]
                        self.logger.scalars(self.step, {**values, "lr": lr, "images_per_s": ips,
                                                        "epoch": self.epoch,
                                                        **({"session_start": session_start} if session_start else {})})
                        session_start = None
                        images_seen, t0 = 0, time.perf_counter()
                        if bar is not None:
                            bar.set_postfix(progress_postfix(values, ips), refresh=False)
                    if bar is not None:
                        bar.update(1)
                    if self.step % t.sample_every == 0:
                        self._save_samples()
                        self._write_report()
                    if t.val_every and self.step % t.val_every == 0:
                        self._validate()
                    if self.step % t.checkpoint_every == 0 and self.step < self.total_steps:
                        self.save_checkpoint()
                    if stop.signal is not None:
                        stopped = True
                        break
                if not finished:
                    if self.step % t.sample_every != 0:
                        self._save_samples()
                    if t.val_every and self.step % t.val_every != 0:
                        self._validate()
                    self.save_checkpoint()
        finally:
            try:
                if bar is not None:
                    bar.close()
                self._write_report()
                self.logger.close()
            finally:
                self.lock.release()
        return TrainResult(self.run_dir, self.step, stopped, last)


def train(cfg: RunConfig, out: str | Path, resume: bool = False) -> TrainResult:
    """Train a model from a config into ``out`` (or continue the run in ``out`` with ``resume``)."""
    try:
        return Trainer(cfg, out, resume=resume).fit()
    finally:
        dist_utils.cleanup()
