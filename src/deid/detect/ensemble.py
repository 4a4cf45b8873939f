"""Runs every configured detector on an image and fuses their boxes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from deid.boxes import HEAD, Detections, box_areas, box_iou, clip_boxes, merge_overlapping, overlaps_any
from deid.config import DetectConfig
from deid.detect import detector_class
from deid.detect.base import Detector
from deid.detect.fusion import fuse_passes
from deid.detect.multiscale import Pass, plan_passes, run_passes
from deid.detect.resample import limit_resampling_threads
from deid.detect.squeeze import SQUEEZE_DETECTOR, squeeze_stretch, stretch, unstretch


# A box covering more than this share of the image, scoring under SURE_SCORE, must have
# been seen by at least MIN_LOOKS_FOR_LARGE passes (of any detector). On the full-size
# camera photos, one BlazeFace pass took half of a lake landscape for a face (0.55); the
# real faces filling the frame in facemask/ scored 0.48-0.72 and were each seen by two
# passes or more (docs/detection.md). It needs a second detector: with one alone (the fast
# preset: one pass), one look is all there is, and on facemask/ it dropped 13% of the faces.
LARGE_REGION_SHARE = 0.1
SURE_SCORE = 0.75
MIN_LOOKS_FOR_LARGE = 2
# Two passes' boxes of one face overlap at least this much (the fusion's grouping value).
SAME_LOOK_IOU = 0.3


@dataclass(frozen=True)
class Look:
    """One look at an image by every detector."""

    found: Detections  # each detector's faces, fused over its passes
    # The boxes of the native, unmirrored pass of the detector the squeeze check was
    # measured on: what it reads.
    native: Detections
    passes: list[Detections]  # every pass of every detector, as it came


class FaceDetector:
    """The detect stage: builds its detectors once and reuses them for every image."""

    def __init__(self, config: DetectConfig, device: str = "auto", threads: int = 0) -> None:
        self._config = config
        if threads:
            limit_resampling_threads(threads)
        self.detectors: list[Detector] = [
            detector_class(d.name)(d, device, threads) for d in config.detectors
        ]

    def detect(self, image: np.ndarray) -> Detections:
        image = as_detector_input(image)
        height, width = image.shape[:2]
        look = self._look(image)
        found, passes = look.found, look.passes
        if self._config.unsqueeze:
            factor = squeeze_stretch(look.native)
            if factor > 1.0:
                wide = stretch(image, factor)
                again = self._look(wide)
                found = Detections.concatenate([found, unstretch(again.found, width, wide.shape[1])])
                passes = passes + [unstretch(boxes, width, wide.shape[1]) for boxes in again.passes]
        if len(self.detectors) > 1:
            found = found[~lone_large(found, passes, width, height)]
        found = faces_then_heads(found, self._config.merge_iou)
        # Boxes may extend past the border (a face cut by the frame); they are kept whole
        # so the margin grows from the real face size, and clipped only when drawn.
        boxes = clip_boxes(found.xyxy, width, height)
        visible = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        return found[visible]

    def _look(self, image: np.ndarray) -> Look:
        height, width = image.shape[:2]
        fused, native, every = [], [], []
        for detector, settings in zip(self.detectors, self._config.detectors):
            plans = plan_passes(width, height, settings)
            passes = run_passes(detector, image, settings)
            fused.append(fuse_passes(passes, settings, self._config.merge_iou, [plan.scale for plan in plans]))
            every += passes
            if settings.name == SQUEEZE_DETECTOR:
                native += [found for plan, found in zip(plans, passes) if plan == Pass(1.0)]
        return Look(Detections.concatenate(fused), Detections.concatenate(native), every)

    def model_info(self) -> list[dict[str, Any]]:
        return [d.model_info() for d in self.detectors]

    @property
    def devices(self) -> list[str]:
        return sorted({d.device for d in self.detectors})

    @property
    def notes(self) -> list[str]:
        return [d.note for d in self.detectors if getattr(d, "note", None)]


def lone_large(found: Detections, passes: list[Detections], width: int, height: int) -> np.ndarray:
    """Which boxes are large for the image, unsure, and seen by one pass of one detector
    only. A face that fills the frame is seen again by every look at it, sure or not (a
    masked face in a webcam close-up scores 0.5-0.7); a landscape, a wall or a screen that
    one pass took for a face is not, and covering a tenth of a photo or more on one look's
    word spoils the photo for nothing."""
    share = box_areas(found.xyxy) / float(width * height)
    suspect = np.flatnonzero((share > LARGE_REGION_SHARE) & (found.scores < SURE_SCORE))
    lone = np.zeros(len(found), dtype=bool)
    for index in suspect:
        box = found.xyxy[index:index + 1]
        # Overlap, not containment: a small candidate inside the box is another thing.
        seen_by = sum(bool((box_iou(box, boxes.xyxy) >= SAME_LOOK_IOU).any()) for boxes in passes)
        lone[index] = seen_by < MIN_LOOKS_FOR_LARGE
    return lone


def faces_then_heads(found: Detections, merge_iou: float) -> Detections:
    """Overlapping boxes of one kind merged into their enclosing box; a head kept only
    where it touches no face: the face's own box (and margin) is the better outline, and a
    head model's box around a face already found would only widen its region."""
    is_head = found.kinds == HEAD
    faces = merge_overlapping(found[~is_head], merge_iou)
    heads = merge_overlapping(found[is_head], merge_iou)
    if len(heads) and len(faces):
        heads = heads[~overlaps_any(heads.xyxy, faces.xyxy)]
    return Detections.concatenate([faces, heads])


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
