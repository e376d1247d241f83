"""Building blocks only: layers, generators, discriminators, feature networks. No training logic."""
