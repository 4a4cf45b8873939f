"""Where the closer look looks: the regions of an image around the boxes its first passes
found, or the whole image when those regions would cover most of it.

The closer look (the image mirrored and upscaled) is what confirms a face CenterFace
scores under its threshold, and what finds small faces beside the ones it saw: both
happen near a box the first passes found. On a large photo, looking again at the whole
image for one small candidate cost about 6.5 times the first pass; looking around the
candidates costs a fraction of it, and on a crowd, where the regions would cover most of
the image, the whole image is looked at as before.
"""

from __future__ import annotations

import numpy as np

from deid.boxes import FaceBoxes
from deid.config import DetectorConfig

# Context around a seed box, in multiples of its larger side on every side: its
# neighbours in a row of faces, and enough surroundings that the model scores the face
# about as it would in the whole image.
SEED_CONTEXT = 1.0
# The smallest region side (px, in the image). CenterFace finds more faces in texture
# when it is shown a small crop than in the whole image: regions of 48 px gave 37 more
# false regions on caltech than whole-image passes, 128 px 12 more (docs/detection.md).
MIN_REGION = 128
# When the regions cover this share of the image, the whole image is looked at: a crowd.
# Regions up to 60% of the image lost faces of 8-16 px on wider_train/ (crops see less
# of the scene than the whole image); up to 30% protected as many as whole-image passes.
WHOLE_IMAGE_SHARE = 0.3

Window = tuple[int, int, int, int]


def has_face_below(found: list[FaceBoxes], height: float, score: float) -> bool:
    """Whether any box is shorter than ``height`` px and scores ``score`` or more."""
    return any(
        bool((((faces.xyxy[:, 3] - faces.xyxy[:, 1]) < height) & (faces.scores >= score)).any())
        for faces in found
    )


def seeds(found: FaceBoxes, settings: DetectorConfig) -> FaceBoxes:
    """The boxes the closer look is made for: every small one (a face under
    ``upscale_below`` px, or a candidate of that size: small faces come in groups, and
    their neighbours may be smaller or weaker still), and larger candidates scoring at
    least the closer look's own score, which only the closer look can confirm. Larger
    candidates under that score are confirmed only where another seed's region holds
    them: as seeds of their own they cost a third of the closer look on full-size camera
    photos (texture), and protected no more faces on any shared set."""
    heights = found.xyxy[:, 3] - found.xyxy[:, 1]
    small = heights < settings.upscale_below
    unsure = (found.scores >= settings.closer_look_score) & (found.scores < settings.threshold)
    return found[small | unsure]


def closer_look_regions(found: FaceBoxes, settings: DetectorConfig, width: int, height: int) -> list[Window]:
    """Integer xyxy regions of the image for the closer look: each seed with its context,
    overlapping regions joined into their enclosing box; the whole image when they cover
    WHOLE_IMAGE_SHARE of it."""
    seed = seeds(found, settings)
    whole = [(0, 0, width, height)]
    if not len(seed):
        return []
    sizes = seed.xyxy[:, 2:] - seed.xyxy[:, :2]
    grow = np.maximum(sizes.max(axis=1, keepdims=True) * SEED_CONTEXT, (MIN_REGION - sizes) / 2)
    boxes = np.concatenate([seed.xyxy[:, :2] - grow, seed.xyxy[:, 2:] + grow], axis=1)
    boxes = np.clip(np.round(boxes), 0, [width, height, width, height])
    regions = join_overlapping(boxes)
    area = float(((regions[:, 2] - regions[:, 0]) * (regions[:, 3] - regions[:, 1])).sum())
    if area >= WHOLE_IMAGE_SHARE * width * height:
        return whole
    return [tuple(int(v) for v in region) for region in regions]


def join_overlapping(boxes: np.ndarray) -> np.ndarray:
    """Boxes (N x 4) with every two that overlap replaced by their enclosing box, until
    none overlap: a crop per group, and no pixel looked at twice within a group."""
    boxes = boxes[np.argsort(boxes[:, 0], kind="stable")]
    while True:
        joined: list[np.ndarray] = []
        for box in boxes:
            for i, other in enumerate(joined):
                if box[0] < other[2] and other[0] < box[2] and box[1] < other[3] and other[1] < box[3]:
                    joined[i] = np.concatenate([np.minimum(box[:2], other[:2]), np.maximum(box[2:], other[2:])])
                    break
            else:
                joined.append(box)
        if len(joined) == len(boxes):
            return np.array(joined).reshape(-1, 4)
        boxes = np.array(joined)
