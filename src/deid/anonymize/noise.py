from __future__ import annotations

import numpy as np

from deid.anonymize.base import Anonymizer


class NoiseAnonymizer(Anonymizer):
    """Replaces the region with uniform random noise, independent of the face."""

    draws_noise = True

    def cover(self, crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return rng.integers(0, 256, size=crop.shape, dtype=np.uint8)
