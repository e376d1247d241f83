"""A DistributedSampler that can resume mid-epoch, and the epoch-length arithmetic the trainer needs."""

from __future__ import annotations

from collections.abc import Iterator

import torch.distributed as dist
from torch.utils.data import Dataset, DistributedSampler

from condgen.errors import DataError


class ResumableSampler(DistributedSampler):
    """DistributedSampler (seeded shuffle, per-rank shard, ``drop_last``) whose epoch can start mid-way.

    Call ``set_epoch(e)`` before each epoch as with DistributedSampler. To resume after ``k`` batches of this
    epoch, call ``set_start(k * batch_size)``: the next iteration yields this rank's index list from that
    position on. The start applies to one iteration only, so later epochs are whole again. Without a process
    group, ``num_replicas`` defaults to 1 and ``rank`` to 0.
    """

    def __init__(self, dataset: Dataset, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = True):
        distributed = dist.is_available() and dist.is_initialized()
        if num_replicas is None and not distributed:
            num_replicas = 1
        if rank is None and not distributed:
            rank = 0
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed,
                         drop_last=drop_last)
        self.start = 0

    def set_start(self, index: int) -> None:
        """Begin the next iteration at position ``index`` of this rank's index list for the current epoch."""
        if not 0 <= index <= self.num_samples:
            raise ValueError(f"start index {index} is outside this rank's epoch of {self.num_samples} samples.")
        self.start = int(index)

    def __iter__(self) -> Iterator[int]:
        indices = list(super().__iter__())[self.start:]
        self.start = 0
        return iter(indices)

    def __len__(self) -> int:
        return self.num_samples - self.start


def batches_per_epoch(dataset_len: int, batch_size: int, world_size: int = 1) -> int:
    """Full batches each rank sees per epoch (leftovers dropped); ``batch_size`` is per rank."""
    per_rank = dataset_len // world_size
    n = per_rank // batch_size
    if n == 0:
        raise DataError(f"the dataset has {dataset_len} images, fewer than one batch of {batch_size} per process "
                        f"x {world_size} process(es); lower data.batch_size or add images.")
    return n
