"""Random generators for the resampling functions of the statistics engine."""

from __future__ import annotations

import numpy as np


def as_generator(seed: int | np.random.Generator | None) -> np.random.Generator:
    """A numpy Generator from a seed, an existing Generator (used as is), or None (seed 0).

    None maps to seed 0 rather than OS entropy: a bias test that flips between
    runs of the same model is worse than useless in CI.
    """
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(0 if seed is None else seed)
