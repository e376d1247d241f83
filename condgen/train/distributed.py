"""Multi-process training under torchrun: process-group set-up (nccl on GPU, gloo on CPU) and rank helpers."""

from __future__ import annotations

import datetime
import os

import torch
import torch.distributed as dist


def env_world_size() -> int:
    """WORLD_SIZE set by torchrun (1 when not launched by it)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def init_distributed(device_type: str, timeout_s: float = 600.0) -> tuple[int, int, int]:
    """Join the process group torchrun describes; returns (rank, local_rank, world_size)."""
    world = env_world_size()
    if world <= 1:
        return 0, 0, 1
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        if device_type == "cuda":
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s))
    return rank, local_rank, world


def is_main_process() -> bool:
    """True in rank 0 of a torchrun launch (the process-group may be gone already) and in a single process."""
    return int(os.environ.get("RANK", "0")) == 0


def is_distributed() -> bool:
    """True inside an initialised multi-process group."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def barrier() -> None:
    """Wait for every rank (no-op in one process)."""
    if is_distributed():
        dist.barrier()


def broadcast_object(obj):
    """Rank 0's Python object on every rank."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def cleanup() -> None:
    """Leave the process group."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
