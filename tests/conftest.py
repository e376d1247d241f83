"""Shared fixtures: an isolated built-in data cache and tiny run configs."""

from __future__ import annotations

import os
import warnings

import pytest
import torch

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
warnings.filterwarnings("ignore", message=".*TensorFloat32.*")


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    """One data cache for the whole session, so built-in sets are made once."""
    path = tmp_path_factory.mktemp("condgen-cache")
    os.environ["CONDGEN_CACHE"] = str(path)
    return path


@pytest.fixture
def tiny(cache_dir):
    """--set overrides for a tiny, fast fp32 run on the built-in digits."""
    return ["model.image_size=16", "model.channels=1", "model.ngf=8", "model.ndf=8", "data.batch_size=16",
            "train.precision=fp32", "train.progress=false", "train.tensorboard=false", "train.log_every=2",
            "train.sample_every=1000", "train.checkpoint_every=1000"]


@pytest.fixture
def one_thread():
    """One intra-op thread for the test: with tiny convolutions, thread hand-offs cost more than they save."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
