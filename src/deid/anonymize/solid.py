from __future__ import annotations

import numpy as np

from deid.anonymize.base import Anonymizer


class SolidAnonymizer(Anonymizer):
    """Fills the region with one colour: nothing of the face survives (the default)."""

    def cover(self, crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return np.broadcast_to(np.asarray(self.config.color, dtype=np.uint8), crop.shape)
