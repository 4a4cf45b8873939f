"""The second look: boxes below a detector's threshold kept only when the image's passes
agree that they are faces.

A threshold low enough to catch the blurred, turned and small faces of a real crowd also
passes background texture. The two differ in consistency: a face keeps scoring when the
image is mirrored or resized, while texture scores in one pass and not the next. Each
detector's candidates from all its passes are grouped by overlap, and a group is a face
when one of its boxes scores the threshold, or when its best scores over the passes
(a pass that did not see it counts 0) average ``confirm_score`` and two passes or more
saw it. A pass that shrinks the image counts only for faces it could see: one that
would show the face under ``SEEN_HEIGHT`` px neither confirms nor dilutes it.
"""

from __future__ import annotations

import numpy as np

from deid.boxes import Detections, enclosing_box, group_overlapping
from deid.config import DetectorConfig

# A candidate seen by a single pass is never confirmed, however high its mean: one
# pass alone is what the threshold already judges.
MIN_PASSES_SEEN = 2
# CenterFace finds faces from about 16 px reliably (docs/detection.md: 8-16 px faces are
# where its recall falls); a pass shrinking a face below that is no evidence either way.
SEEN_HEIGHT = 16.0


def seen_in_pass(heights: np.ndarray | float, scales: np.ndarray | float) -> np.ndarray:
    """Whether a face of ``heights`` (px, in the image) is evidence in a pass at ``scales``
    (broadcast): every pass at or above native size, a shrunk one when it shows the face
    at least SEEN_HEIGHT tall."""
    scales = np.asarray(scales, dtype=np.float64)
    return (scales >= 1.0) | (np.asarray(heights, dtype=np.float64) * scales >= SEEN_HEIGHT)


def fuse_passes(
    passes: list[Detections], settings: DetectorConfig, iou_threshold: float,
    scales: list[float] | None = None,
) -> Detections:
    """One detector's faces from the boxes of each of its passes (``run_passes``), each
    pass at the scale in ``scales`` (all passes count for every face when None)."""
    found = Detections.concatenate(passes)
    if not settings.candidate_threshold or not len(found):
        return found
    pass_of = np.concatenate([np.full(len(faces), i) for i, faces in enumerate(passes)])
    pass_scale = np.ones(len(passes)) if scales is None else np.asarray(scales, dtype=np.float64)
    boxes, scores = [], []
    for group in group_overlapping(found.xyxy, found.scores, iou_threshold):
        best_per_pass = np.zeros(len(passes))
        np.maximum.at(best_per_pass, pass_of[group], found.scores[group])
        best = group[0]  # the group's highest-scoring box: its size is the face's
        height = found.xyxy[best, 3] - found.xyxy[best, 1]
        counts = seen_in_pass(height, pass_scale)
        confirmed = (
            best_per_pass[counts].mean() >= settings.confirm_score
            and np.count_nonzero(best_per_pass) >= MIN_PASSES_SEEN
        )
        if best_per_pass.max() >= settings.threshold or confirmed:
            # The enclosing box of every look at the face: a turned or blurred face is
            # outlined differently by each pass, and the union covers the whole head.
            boxes.append(enclosing_box(found.xyxy[group]))
            scores.append(best_per_pass.max())
    if not boxes:
        return Detections.empty()
    return Detections(
        np.stack(boxes), np.array(scores),
        np.full(len(boxes), found.detectors[0], dtype=object), np.full(len(boxes), found.kinds[0], dtype=object),
    )
