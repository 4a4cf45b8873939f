"""What every anonymizer shares: where a face's region is, and how it is drawn.

A subclass only says how to replace the pixels of one rectangular crop (``cover``); the
base class turns detections into regions, applies the shape mask and never touches
pixels outside the regions.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from deid.boxes import Detections, clip_boxes, expand_boxes
from deid.config import AnonymizeConfig


# Scores from here up leave no doubt about a box (both detectors score clear faces in the
# caltech photos mostly above 0.8); below it the margin grows with the doubt.
CONFIDENT_SCORE = 0.8
# Faces under this height (px) get a wider margin, in full at half of it.
SMALL_FACE_HEIGHT = 32.0
# A face's box is about this wide for its height (CenterFace's boxes: per-photo medians
# 0.76-0.79 on caltech/ and wider_train/). A narrower box is a partial look (a profile, a
# face half hidden or cut by the frame, a squeezed photo) and is widened to it about its
# centre before the margin: on wider/ 2 more faces >= 16 px protected and 25 fewer false
# regions, nothing changed on facemask/ (docs/detection.md).
FACE_ASPECT = 0.78


def face_margins(faces: Detections, config: AnonymizeConfig) -> np.ndarray:
    """Each face's margin: the configured one, grown for a low score and a small face."""
    doubt = np.clip((CONFIDENT_SCORE - faces.scores) / CONFIDENT_SCORE, 0.0, 1.0)
    heights = faces.xyxy[:, 3] - faces.xyxy[:, 1]
    smallness = np.clip((SMALL_FACE_HEIGHT - heights) / (SMALL_FACE_HEIGHT / 2), 0.0, 1.0)
    return config.margin + config.margin_low_score * doubt + config.margin_small_face * smallness


def widened_to_face(xyxy: np.ndarray) -> np.ndarray:
    """Boxes narrower than FACE_ASPECT times their height, widened to it about their
    centre; the others as they are."""
    xyxy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4).copy()
    width = np.maximum(xyxy[:, 2] - xyxy[:, 0], FACE_ASPECT * (xyxy[:, 3] - xyxy[:, 1]))
    centre = (xyxy[:, 0] + xyxy[:, 2]) / 2
    xyxy[:, 0], xyxy[:, 2] = centre - width / 2, centre + width / 2
    return xyxy


class Anonymizer(ABC):
    def __init__(self, config: AnonymizeConfig) -> None:
        self.config = config

    def grown(self, faces: Detections) -> np.ndarray:
        """Each face box, widened to a face's proportions when narrower, grown by its
        margin, unclipped (N x 4 floats)."""
        return expand_boxes(widened_to_face(faces.xyxy), face_margins(faces, self.config))

    def regions(self, faces: Detections, width: int, height: int) -> np.ndarray:
        """Integer xyxy bounding boxes of the pixels that will be replaced (N x 4),
        rounded outwards and clipped to the image."""
        grown = self.grown(faces)
        grown = np.concatenate([np.floor(grown[:, :2]), np.ceil(grown[:, 2:])], axis=1)
        return clip_boxes(grown, width, height).astype(np.int64)

    @property
    def draws_noise(self) -> bool:
        """Whether the output depends on random draws, and so needs a seed per file for a
        resumed run to equal an uninterrupted one. A mode that draws says so."""
        return False

    def anonymize(self, image: np.ndarray, faces: Detections, rng: np.random.Generator | None = None) -> np.ndarray:
        """Return a copy of ``image`` (H x W x C uint8) with every face's region covered.
        ``rng`` feeds the modes that draw noise; a seeded one makes the output repeatable
        (a resumed run redoes a file to the same bytes), none draws fresh noise."""
        rng = rng if rng is not None else np.random.default_rng()
        out = image.copy()
        height, width = image.shape[:2]
        grown = self.grown(faces)
        for (x1, y1, x2, y2), outer in zip(self.regions(faces, width, height), grown):
            if x2 <= x1 or y2 <= y1:
                continue
            crop = out[y1:y2, x1:x2]
            mask = region_mask(self.config.shape, outer, (x1, y1, x2, y2))
            color = crop[..., :3]
            np.copyto(color, self.cover(np.ascontiguousarray(color), rng), where=mask[..., None])
        return out

    @abstractmethod
    def cover(self, crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Replacement pixels for an h x w x 3 uint8 crop, same shape and dtype."""


def region_mask(shape: str, outer: np.ndarray, window: tuple[int, int, int, int]) -> np.ndarray:
    """Boolean mask over ``window`` (integer xyxy) of the pixels inside the region.

    ``outer`` is the unclipped region as floats, so an ellipse cut by the image border
    keeps its true curvature instead of shrinking to fit the visible part.
    """
    x1, y1, x2, y2 = window
    if shape == "box":
        return np.ones((y2 - y1, x2 - x1), dtype=bool)
    cx, cy = (outer[0] + outer[2]) / 2, (outer[1] + outer[3]) / 2
    rx, ry = max((outer[2] - outer[0]) / 2, 0.5), max((outer[3] - outer[1]) / 2, 0.5)
    ys = (np.arange(y1, y2) + 0.5 - cy) / ry
    xs = (np.arange(x1, x2) + 0.5 - cx) / rx
    return ys[:, None] ** 2 + xs[None, :] ** 2 <= 1.0
