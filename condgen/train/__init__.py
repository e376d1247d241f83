"""Training: the model-agnostic Trainer, checkpoints, logging, distributed helpers."""

from condgen.train.trainer import Trainer, TrainResult, train

__all__ = ["Trainer", "TrainResult", "train"]
