from __future__ import annotations

import numpy as np
from PIL import Image

from deid.anonymize.base import Anonymizer


class PixelateAnonymizer(Anonymizer):
    """Averages the region over a grid of ``pixelate_cells`` cells across its width, so the
    result is as coarse on a 20 px face as on a 2000 px one; optional noise on the cells."""

    @property
    def draws_noise(self) -> bool:
        return self.config.pixelate_noise > 0

    def cover(self, crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        height, width = crop.shape[:2]
        cells_x = min(self.config.pixelate_cells, width)
        cells_y = min(height, max(1, round(self.config.pixelate_cells * height / width)))
        small = np.asarray(
            Image.fromarray(crop).resize((cells_x, cells_y), Image.Resampling.BOX), dtype=np.float64
        )
        if self.config.pixelate_noise > 0:
            small += rng.normal(0, self.config.pixelate_noise * 255, small.shape)
        small = np.clip(np.rint(small), 0, 255).astype(np.uint8)
        return np.asarray(Image.fromarray(small).resize((width, height), Image.Resampling.NEAREST))
