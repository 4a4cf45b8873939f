"""OpenCV's Haar cascades (Viola-Jones), shipped inside the OpenCV 4.x wheels
(``cv2.data``; not in OpenCV 5): ``profile`` finds faces seen from the side, which
CenterFace and BlazeFace, trained mostly on frontal faces, score low. The profile cascade
looks one way only, so the image is also searched mirrored.

Cascades give no score; each box's score is the number of neighbouring windows that
agreed on it (``minNeighbors``), mapped to 0-1 by NEIGHBOURS_FOR_CERTAIN.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from deid.boxes import Detections
from deid.config import DetectorConfig
from deid.errors import ConfigError, DetectionError

VARIANTS = {"profile": "haarcascade_profileface.xml", "frontal": "haarcascade_frontalface_alt2.xml"}
DEFAULT_VARIANT = "profile"
# OpenCV's own defaults for detectMultiScale: a 10% step between window sizes.
SCALE_STEP = 1.1
# Windows that must agree for a box to be reported at all; with 2, the cascade's own
# false alarms on texture are frequent (scored low), with more, profiles are lost.
MIN_NEIGHBOURS = 2
# A box that this many windows agreed on scores 1.
NEIGHBOURS_FOR_CERTAIN = 20
MIN_SIZE = 20  # px, the cascades' own window


class HaarDetector:
    def __init__(self, config: DetectorConfig, device: str = "auto", threads: int = 0) -> None:
        import cv2

        variant = config.variant or DEFAULT_VARIANT
        if variant not in VARIANTS:
            raise ConfigError(f"haar variant must be one of {', '.join(VARIANTS)}, got {config.variant!r}")
        data = getattr(cv2, "data", None)
        if data is None:
            raise ConfigError("the haar detector needs OpenCV 4.x (its cascades are not in OpenCV 5)")
        self.name = f"haar-{variant}"
        self.device = "cpu"
        self.note = None
        self._threshold = config.threshold
        self._path = Path(data.haarcascades) / VARIANTS[variant]
        self._cascade = cv2.CascadeClassifier(str(self._path))
        if self._cascade.empty():
            raise ConfigError(f"cannot load the cascade {self._path}")
        self._cv2 = cv2

    def detect(self, image: np.ndarray) -> Detections:
        gray = self._cv2.cvtColor(image, self._cv2.COLOR_RGB2GRAY)
        width = gray.shape[1]
        boxes, scores = [], []
        try:
            for mirrored in (False, True):
                view = np.ascontiguousarray(gray[:, ::-1]) if mirrored else gray
                found, weights = self._cascade.detectMultiScale2(
                    view, SCALE_STEP, MIN_NEIGHBOURS, minSize=(MIN_SIZE, MIN_SIZE),
                )
                for (x, y, w, h), neighbours in zip(np.asarray(found).reshape(-1, 4), np.asarray(weights).reshape(-1)):
                    x0 = width - x - w if mirrored else x
                    boxes.append((x0, y, x0 + w, y + h))
                    scores.append(neighbours)
        except self._cv2.error as exc:
            raise DetectionError(f"{self.name} failed: {exc}") from exc
        scores = np.clip(np.asarray(scores, dtype=np.float64) / NEIGHBOURS_FOR_CERTAIN, 0.0, 1.0)
        keep = scores >= self._threshold
        return Detections(np.asarray(boxes, dtype=np.float64).reshape(-1, 4)[keep], scores[keep],
                         np.full(int(keep.sum()), self.name, dtype=object))

    def model_info(self) -> dict[str, Any]:
        return {"detector": self.name, "package": "opencv " + self._cv2.__version__,
                "model_file": self._path.name, "threshold": self._threshold, "device": self.device}
