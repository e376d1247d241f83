"""condgen: conditional generative models on PyTorch — train, sample, evaluate, export, serve."""

from condgen.errors import CondgenError

__version__ = "0.1.0"


def load(run, checkpoint=None, device="cpu", ema=True, precision="fp32"):
    """Load a trained run's model for inference (see ``condgen.api.load``)."""
    from condgen.api import load as _load

    return _load(run, checkpoint=checkpoint, device=device, ema=ema, precision=precision)


__all__ = ["CondgenError", "load", "__version__"]
