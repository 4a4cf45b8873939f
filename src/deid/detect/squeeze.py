"""Images squeezed out of their aspect ratio: photos fitted into a square (416 x 416,
640 x 640) without keeping their proportions, as many machine-learning datasets store
them. A landscape photo fitted so is squeezed from side to side; its faces are narrow and
a detector trained on real proportions misses many of them. The faces it does find show
the squeeze: their boxes are narrower than faces are. Such an image is looked at again
stretched back to about its real proportions.
"""

from __future__ import annotations

import numpy as np

from deid.boxes import FACE, Detections, merge_overlapping
from deid.detect.resample import Resampler

# The detector whose boxes the figures below were measured on, in its native pass.
SQUEEZE_DETECTOR = "centerface"
# Evidence: at least this many faces of at least this score and height (px). One is
# enough: a turned face is narrow too, but a false alarm costs only one more look at the
# image, and it is rare in photos at their own proportions (5 of 300 caltech/ photos, 10
# of 250 wider_train/; 26 of 100 wider/ photos, most of them squeezed). Asking for two
# confident faces missed squeezed crowds whose only clear face was one among blurred ones.
MIN_EVIDENCE = 1
EVIDENCE_SCORE = 0.5
EVIDENCE_HEIGHT = 12.0
# CenterFace's boxes of real faces have a median width / height of 0.76-0.79 per image
# (caltech/, wider_train/: photos at their own proportions), and under 0.66 in 1% of them
# (docs/detection.md). An image whose confident boxes have a median under 0.66 is squeezed.
SQUEEZED_BELOW = 0.66
# The boxes understate the squeeze (the model's width estimate leans towards the faces
# it was trained on): over 285 photos of wider/, wider_train/ and facemask/, the faces'
# true median width / height was 1.09 x (the boxes' median) ^ 1.53, against 0.78 for
# faces at their real proportions.
TRUE_ASPECT_FACTOR = 1.09
TRUE_ASPECT_POWER = 1.53
NATURAL_ASPECT = 0.78
# One face alone is read more strictly: 5% of single confident boxes of faces at their
# own proportions are under 0.63-0.69 (by face size, caltech/, wider_train/, facemask/),
# and a false alarm on a large photo costs a whole second look at it, stretched.
ONE_FACE_SQUEEZED_BELOW = 0.58
# Boxes of one face overlap at least this much (the ensemble's merge value).
SAME_FACE_IOU = 0.3
# A stretch of more than this is more likely a misreading than a real squeeze.
MAX_STRETCH = 2.5


def squeeze_stretch(faces: Detections) -> float:
    """How much wider the image should be to give its faces their real proportions; 1.0
    when it is not squeezed, or when there is too little evidence to tell."""
    heights = faces.xyxy[:, 3] - faces.xyxy[:, 1]
    confident = (faces.scores >= EVIDENCE_SCORE) & (heights >= EVIDENCE_HEIGHT) & (faces.kinds == FACE)
    if np.count_nonzero(confident) < MIN_EVIDENCE:
        return 1.0
    # A face cut by a tile's edge is narrow too; with the whole look at it from the
    # neighbouring tile it makes one box, as wide as the face.
    boxes = merge_overlapping(faces[confident], SAME_FACE_IOU).xyxy
    aspect = float(np.median((boxes[:, 2] - boxes[:, 0]) / (boxes[:, 3] - boxes[:, 1])))
    if aspect >= (SQUEEZED_BELOW if len(boxes) > 1 else ONE_FACE_SQUEEZED_BELOW):
        return 1.0
    true_aspect = TRUE_ASPECT_FACTOR * aspect ** TRUE_ASPECT_POWER
    return float(min(MAX_STRETCH, max(1.0, NATURAL_ASPECT / true_aspect)))


def stretch(image: np.ndarray, factor: float) -> np.ndarray:
    height, width = image.shape[:2]
    wide = max(1, round(width * factor))
    return Resampler(image).window(wide, height, (0, 0, wide, height))


def unstretch(faces: Detections, image_width: int, stretched_width: int) -> Detections:
    """Boxes found in the stretched image, in the original image's frame."""
    xyxy = faces.xyxy.copy()
    xyxy[:, [0, 2]] *= image_width / stretched_width
    return faces.with_boxes(xyxy)
