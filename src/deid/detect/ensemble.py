"""Runs every configured detector on an image and fuses their boxes."""

from __future__ import annotations

from typing import Any

import numpy as np

from deid.boxes import FaceBoxes, clip_boxes, merge_overlapping
from deid.config import DetectConfig
from deid.detect import detector_class
from deid.detect.base import Detector
from deid.detect.fusion import fuse_passes
from deid.detect.multiscale import run_passes
from deid.detect.resample import limit_resampling_threads


class FaceDetector:
    """The detect stage: builds its detectors once and reuses them for every image."""

    def __init__(self, config: DetectConfig, device: str = "auto", threads: int = 0) -> None:
        self._config = config
        if threads:
            limit_resampling_threads(threads)
        self.detectors: list[Detector] = [
            detector_class(d.name)(d, device, threads) for d in config.detectors
        ]

    def detect(self, image: np.ndarray) -> FaceBoxes:
        image = as_detector_input(image)
        height, width = image.shape[:2]
        found = FaceBoxes.concatenate([
            fuse_passes(run_passes(detector, image, settings), settings, self._config.merge_iou)
            for detector, settings in zip(self.detectors, self._config.detectors)
        ])
        found = merge_overlapping(found, self._config.merge_iou)
        # Boxes may extend past the border (a face cut by the frame); they are kept whole
        # so the margin grows from the real face size, and clipped only when drawn.
        boxes = clip_boxes(found.xyxy, width, height)
        visible = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        return found[visible]

    def model_info(self) -> list[dict[str, Any]]:
        return [d.model_info() for d in self.detectors]

    @property
    def devices(self) -> list[str]:
        return sorted({d.device for d in self.detectors})

    @property
    def notes(self) -> list[str]:
        return [d.note for d in self.detectors if getattr(d, "note", None)]


def as_detector_input(image: np.ndarray) -> np.ndarray:
    """Normalise at the detector's door: H x W x 3 uint8 RGB, C-contiguous."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"expected an H x W x 3 RGB image, got shape {image.shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, got {image.dtype}")
    return np.ascontiguousarray(image[:, :, :3])
