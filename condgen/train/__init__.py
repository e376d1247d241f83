"""Training: the model-agnostic Trainer, checkpoints, logging, distributed helpers.

``Trainer``, ``TrainResult`` and ``train`` are loaded on first use, so that reading a checkpoint
(``condgen.train.checkpoint``, e.g. from ``condgen.load``) does not import the trainer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from condgen.train.trainer import Trainer, TrainResult, train

__all__ = ["Trainer", "TrainResult", "train"]


def __getattr__(name: str):
    if name in __all__:
        from condgen.train import trainer

        return getattr(trainer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
