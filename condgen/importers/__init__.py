"""Loaders for other projects' checkpoints, mapped onto condgen's networks (nothing is downloaded)."""

from condgen.importers.junyanz import ArchGuess, build_net, convert_state_dict, detect_arch, load_reference_weights

__all__ = ["ArchGuess", "build_net", "convert_state_dict", "detect_arch", "load_reference_weights"]
