from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from deid.boxes import FaceBoxes


class Detector(Protocol):
    """Finds faces in one image.

    ``detect`` takes an H x W x 3 uint8 RGB array, C-contiguous (the ensemble normalises
    input before it reaches a detector) and returns boxes in that image's pixel frame,
    with ``detectors`` set to ``name``. It raises on failure; it never returns a partial
    result, since a missed face is worse than a failed file.
    """

    name: str
    device: str

    def detect(self, image: np.ndarray) -> FaceBoxes: ...

    def model_info(self) -> dict[str, Any]: ...
