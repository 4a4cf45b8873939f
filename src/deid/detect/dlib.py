"""dlib's face detectors: the CNN "MMOD" detector and the HOG frontal detector.

They come from the optional ``deid[audit]`` extra (the ``dlib-bin`` wheel, and the model
files inside the ``face-recognition-models`` wheel) and serve ``deid verify``: a second
opinion from models that took no part in anonymizing, trained on other data with other
methods, so they fail differently. Both run on the CPU (the wheel is built without CUDA).

dlib scores are margins around the model's own decision boundary (0), unbounded. They are
mapped through the logistic function to 0-1, so 0.5 is the boundary each model was
trained for and thresholds read like every other detector's.
"""

from __future__ import annotations

import importlib.util
import math
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from deid.boxes import Detections
from deid.config import DetectorConfig
from deid.detect.resample import resize
from deid.errors import ConfigError, DetectionError
from deid.extras import install_hint

MODELS_PACKAGE = "face_recognition_models"
VARIANTS = ("cnn", "hog")
DEFAULT_VARIANT = "cnn"
# The CNN costs about 7 microseconds a pixel on one core here (1.6 s for a 480 x 470 photo;
# the wheel is built without BLAS). A larger image is shrunk to this many pixels for it,
# so one photo never costs more than about 7 s; faces too small for it after shrinking
# are left to the HOG detector and the ensemble, which see every pixel.
CNN_MAX_PIXELS = 50_000
# The HOG detector is about 50 times cheaper. It looks at the image enlarged twice (faces
# from about 40 px instead of 80), within this many pixels: on a full-size photo, faces
# that small are the ensemble's to find, and 2x of 8 MP took 3 s and a third of the audit's
# memory.
HOG_UPSCALE = 2.0
HOG_MAX_PIXELS = 4_000_000


def models_dir() -> Path:
    """The folder of model files inside the face-recognition-models wheel. Found without
    importing the package, whose import needs setuptools' pkg_resources."""
    spec = importlib.util.find_spec(MODELS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"the dlib models are not installed; {install_hint('audit')}")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def import_dlib() -> Any:
    try:
        import dlib
    except ImportError:
        raise ConfigError(f"dlib is not installed; {install_hint('audit')}") from None
    return dlib


def to_score(margin: float) -> float:
    return 1.0 / (1.0 + math.exp(-margin))


def to_margin(score: float) -> float:
    return math.log(score / (1.0 - score))


class DlibDetector:
    def __init__(self, config: DetectorConfig, device: str = "auto", threads: int = 0) -> None:
        variant = config.variant or DEFAULT_VARIANT
        if variant not in VARIANTS:
            raise ConfigError(f"dlib variant must be one of {', '.join(VARIANTS)}, got {config.variant!r}")
        dlib = import_dlib()
        self.variant = variant
        self.name = f"dlib-{variant}"
        self.device = "cpu"
        self.note = "dlib's detectors run on the CPU only" if device == "cuda" else None
        self._cut = config.cut
        if variant == "cnn":
            self._model_file = Path(config.model_path) if config.model_path else models_dir() / "mmod_human_face_detector.dat"
            if not self._model_file.is_file():
                raise ConfigError(f"dlib model {self._model_file} is missing; {install_hint('audit')}")
            self._cnn = dlib.cnn_face_detection_model_v1(str(self._model_file))
            self._max_pixels = CNN_MAX_PIXELS
        else:
            self._model_file = None
            self._hog = dlib.get_frontal_face_detector()
            self._max_pixels = HOG_MAX_PIXELS
        self._upscale = HOG_UPSCALE if variant == "hog" else 1.0

    def detect(self, image: np.ndarray) -> Detections:
        height, width = image.shape[:2]
        factor = min(self._upscale, (self._max_pixels / (width * height)) ** 0.5)
        if factor != 1.0:
            size = (max(1, round(width * factor)), max(1, round(height * factor)))
            image = resize(image, *size)
        try:
            if self.variant == "cnn":
                found = [(r.rect, r.confidence) for r in self._cnn(image, 0)]
            else:
                rects, margins, _ = self._hog.run(image, 0, to_margin(self._cut))
                found = list(zip(rects, margins))
        except RuntimeError as exc:
            raise DetectionError(f"{self.name} failed: {exc}") from None
        boxes = np.array(
            [[r.left(), r.top(), r.right() + 1, r.bottom() + 1] for r, _ in found], dtype=np.float64
        ).reshape(-1, 4) / factor
        scores = np.array([to_score(m) for _, m in found], dtype=np.float64)
        keep = scores >= self._cut
        return Detections(boxes[keep], scores[keep], np.full(int(keep.sum()), self.name, dtype=object))

    def model_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"detector": self.name, "device": self.device, "dlib": _version("dlib-bin")}
        if self._model_file is not None:
            info["model"] = self._model_file.name
            info["models_package"] = _version("face-recognition-models")
        return info


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None
