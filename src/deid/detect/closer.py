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

from deid.boxes import Detections, Window
from deid.config import DetectorConfig

# Context around a seed box, in multiples of its larger side on every side: its
# neighbours in a row of faces, and enough surroundings that the model scores the face
# about as it would in the whole image.
SEED_CONTEXT = 1.0
# The smallest region side (px, in the image). CenterFace finds more faces in texture
# when it is shown a small crop than in the whole image: regions of 48 px gave 37 more
# false regions on caltech than whole-image passes, 128 px 12 more (docs/speed.md).
MIN_REGION = 128
# The most of an image the regions may cover. Beyond it the image is a crowd (or texture
# the detector takes for one): the closer look then runs on the whole image when that is
# affordable, else around the highest-scoring seeds that fit. Regions up to 60% of the
# image, instead of the whole image, lost faces of 8-16 px on wider_train/ (a crop sees
# less of the scene); up to 30% protected as many as whole-image passes.
REGION_SHARE = 0.3
# The largest image (pixels) the closer look may look at whole: its four passes cost
# about 6.5 times the image, about a second and a half on one core at 2 MP. The crowds of
# wider_train/ (up to 1.4 MP) are looked at whole, as before; on a 12 MP photo the whole
# closer look took 10 seconds.
WHOLE_IMAGE_PIXELS = 2_000_000


def has_face_below(found: list[Detections], height: float, score: float) -> bool:
    """Whether any box is shorter than ``height`` px and scores ``score`` or more."""
    return any(
        bool((((faces.xyxy[:, 3] - faces.xyxy[:, 1]) < height) & (faces.scores >= score)).any())
        for faces in found
    )


def seeds(found: Detections, settings: DetectorConfig) -> Detections:
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


def closer_look_regions(found: Detections, settings: DetectorConfig, width: int, height: int) -> list[Window]:
    """Integer xyxy regions of the image for the closer look: each seed with its context,
    overlapping regions joined into their enclosing box. Where the regions would cover
    REGION_SHARE of the image, a crowd: on an image of at most WHOLE_IMAGE_PIXELS, the
    whole image; on a larger one, the regions of the highest-scoring seeds that fit in
    that share."""
    seed = seeds(found, settings)
    if not len(seed):
        return []
    seed = seed[np.argsort(-seed.scores, kind="stable")]
    sizes = seed.xyxy[:, 2:] - seed.xyxy[:, :2]
    grow = np.maximum(sizes.max(axis=1, keepdims=True) * SEED_CONTEXT, (MIN_REGION - sizes) / 2)
    boxes = np.concatenate([seed.xyxy[:, :2] - grow, seed.xyxy[:, 2:] + grow], axis=1)
    boxes = np.clip(np.round(boxes), 0, [width, height, width, height])
    regions, complete = joined_within(boxes, REGION_SHARE * width * height)
    if not complete and width * height <= WHOLE_IMAGE_PIXELS:
        return [(0, 0, width, height)]
    return [tuple(int(v) for v in region) for region in regions]


def joined_within(boxes: np.ndarray, budget: float) -> tuple[np.ndarray, bool]:
    """The boxes (N x 4), taken in order, with every two that overlap replaced by their
    enclosing box (a crop per group, no pixel looked at twice within a group), for as
    long as the joined boxes' total area stays within ``budget``; the first box is taken
    whatever its size. Returns the joined boxes and whether every box was taken."""
    joined = np.zeros((0, 4))
    for count, box in enumerate(boxes):
        keep = np.ones(len(joined), dtype=bool)
        merged = box
        while True:
            touching = keep & (merged[0] < joined[:, 2]) & (joined[:, 0] < merged[2]) \
                & (merged[1] < joined[:, 3]) & (joined[:, 1] < merged[3])
            if not touching.any():
                break
            group = joined[touching]
            merged = np.concatenate([np.minimum(merged[:2], group[:, :2].min(axis=0)),
                                     np.maximum(merged[2:], group[:, 2:].max(axis=0))])
            keep &= ~touching
        candidate = np.vstack([joined[keep], merged])
        if count and _area(candidate) > budget:
            return joined, False
        joined = candidate
    return joined, _area(joined) <= budget


def _area(boxes: np.ndarray) -> float:
    return float(((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])).sum())
