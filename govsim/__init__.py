"""govsim: GovSim (Piatti et al., NeurIPS 2024) rebuilt as a tested PettingZoo platform."""

__version__ = "0.1.0"
