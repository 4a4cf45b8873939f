from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

from deid.anonymize.base import Anonymizer


class BlurAnonymizer(Anonymizer):
    """Gaussian blur with sigma proportional to the region size. Not irreversible: use it
    only where the data's users accept that models can still recognise blurred faces."""

    def cover(self, crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        radius = self.config.blur_strength * max(crop.shape[:2])
        blurred = Image.fromarray(crop).filter(ImageFilter.GaussianBlur(radius=radius))
        return np.asarray(blurred)
