"""PettingZoo environments of govsim."""
