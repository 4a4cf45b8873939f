"""Face detections as parallel arrays, and vectorised operations on xyxy boxes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


Window = tuple[int, int, int, int]  # integer xyxy: a region of an image, in pixels


FACE = "face"
# A head where no face was seen: a person's head from a body or head model, covered whole.
HEAD = "head"
# A line of text the text stage covers (deid.detect.text); its rule says why.
TEXT = "text"
KINDS = (FACE, HEAD, TEXT)


@dataclass(frozen=True)
class Detections:
    """N detections as parallel arrays: ``xyxy`` (N x 4 float pixel boxes), ``scores`` (N),
    the name of the detector that found each (N), what each is (N, ``KINDS``; all faces
    when omitted), the rule that made each covered (N; "" for faces and heads, which
    are covered for being what they are) and how many distinct detectors' boxes were
    merged into each (N; 1 when omitted)."""

    xyxy: np.ndarray
    scores: np.ndarray
    detectors: np.ndarray
    kinds: np.ndarray | None = None
    rules: np.ndarray | None = None
    seen_by: np.ndarray | None = None

    def __post_init__(self) -> None:
        xyxy = np.asarray(self.xyxy, dtype=np.float64).reshape(-1, 4)
        scores = np.asarray(self.scores, dtype=np.float64).reshape(-1)
        detectors = np.asarray(self.detectors, dtype=object).reshape(-1)
        kinds = np.full(len(xyxy), FACE, dtype=object) if self.kinds is None \
            else np.asarray(self.kinds, dtype=object).reshape(-1)
        rules = np.full(len(xyxy), "", dtype=object) if self.rules is None \
            else np.asarray(self.rules, dtype=object).reshape(-1)
        seen_by = np.ones(len(xyxy), dtype=np.int64) if self.seen_by is None \
            else np.asarray(self.seen_by, dtype=np.int64).reshape(-1)
        if not len(xyxy) == len(scores) == len(detectors) == len(kinds) == len(rules) == len(seen_by):
            raise ValueError(
                f"Detections arrays differ in length: xyxy {len(xyxy)}, scores {len(scores)}, "
                f"detectors {len(detectors)}, kinds {len(kinds)}, rules {len(rules)}, seen_by {len(seen_by)}"
            )
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "detectors", detectors)
        object.__setattr__(self, "kinds", kinds)
        object.__setattr__(self, "rules", rules)
        object.__setattr__(self, "seen_by", seen_by)

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4)), np.zeros(0), np.zeros(0, dtype=object))

    @classmethod
    def concatenate(cls, parts: list[Detections]) -> Detections:
        if not parts:
            return cls.empty()
        return cls(
            np.concatenate([p.xyxy for p in parts]),
            np.concatenate([p.scores for p in parts]),
            np.concatenate([p.detectors for p in parts]),
            np.concatenate([p.kinds for p in parts]),
            np.concatenate([p.rules for p in parts]),
            np.concatenate([p.seen_by for p in parts]),
        )

    def with_boxes(self, xyxy: np.ndarray) -> Detections:
        """The same detections at other boxes (moved, scaled, grown)."""
        return Detections(xyxy, self.scores, self.detectors, self.kinds, self.rules, self.seen_by)

    def __len__(self) -> int:
        return len(self.scores)

    def __getitem__(self, index: np.ndarray | slice | list[int]) -> Detections:
        return Detections(
            self.xyxy[index], self.scores[index], self.detectors[index], self.kinds[index], self.rules[index],
            self.seen_by[index],
        )


# The name of earlier versions, when every detection was a face.
FaceBoxes = Detections


def box_areas(xyxy: np.ndarray) -> np.ndarray:
    xyxy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    return np.clip(xyxy[:, 2] - xyxy[:, 0], 0, None) * np.clip(xyxy[:, 3] - xyxy[:, 1], 0, None)


def _intersections(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairwise intersection areas (N x M) and each side's areas."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(bottom_right - top_left, 0, None)
    return wh[..., 0] * wh[..., 1], box_areas(a), box_areas(b)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` (N x 4) with every box in ``b`` (M x 4): N x M."""
    inter, area_a, area_b = _intersections(a, b)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def nms(faces: Detections, iou_threshold: float) -> Detections:
    """Non-maximum suppression: of boxes overlapping by more than ``iou_threshold``, keep
    the highest scoring. For one detector's raw output, where overlaps are the same face.
    OpenCV's loop, compiled: in Python it was an eighth of the detection time on crowds."""
    if len(faces) == 0:
        return faces
    import cv2

    xywh = np.concatenate([faces.xyxy[:, :2], faces.xyxy[:, 2:] - faces.xyxy[:, :2]], axis=1)
    kept = np.asarray(cv2.dnn.NMSBoxes(xywh, faces.scores, 0.0, iou_threshold), dtype=np.int64).reshape(-1)
    return faces[np.sort(kept)]


def share_inside(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The share of each box of ``a`` (N x 4) that lies inside each box of ``b`` (M x 4):
    N x M, 0 for a box of no area."""
    inter, area_a, _ = _intersections(a, b)
    return np.divide(inter, area_a[:, None], out=np.zeros_like(inter), where=area_a[:, None] > 0)


def overlaps_any(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For each box of ``a`` (N x 4), whether it intersects any box of ``b`` (M x 4)."""
    inter, _, _ = _intersections(a, b)
    return (inter > 0).any(axis=1)


def expand_boxes(xyxy: np.ndarray, margin: float | np.ndarray) -> np.ndarray:
    """Grow each box by ``margin`` times its width (height) on the left and right (top and
    bottom); ``margin`` is one number for every box or one per box."""
    xyxy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    wh = xyxy[:, 2:] - xyxy[:, :2]
    grow = np.broadcast_to(np.asarray(margin, dtype=np.float64), (len(xyxy),))[:, None] * wh
    return np.concatenate([xyxy[:, :2] - grow, xyxy[:, 2:] + grow], axis=1)


def clip_boxes(xyxy: np.ndarray, width: int, height: int) -> np.ndarray:
    xyxy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4).copy()
    xyxy[:, [0, 2]] = np.clip(xyxy[:, [0, 2]], 0, width)
    xyxy[:, [1, 3]] = np.clip(xyxy[:, [1, 3]], 0, height)
    return xyxy


# A box this much inside another (intersection over its own area) is the same face: a
# partial face at a tile seam, or a second detector's tighter box.
CONTAINED_FRACTION = 0.8


def group_overlapping(xyxy: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list[np.ndarray]:
    """Indices of the boxes of each face, the group's highest scoring box first: taking
    boxes from the highest score down, a box and every box not yet grouped that overlaps
    it by ``iou_threshold`` or lies almost entirely inside it (or it inside them) form one
    group."""
    return _greedy_groups(xyxy, scores, iou_threshold, contained=CONTAINED_FRACTION)


def _greedy_groups(
    xyxy: np.ndarray, scores: np.ndarray, iou_threshold: float, contained: float | None,
) -> list[np.ndarray]:
    """The loop behind nms and group_overlapping, in order of score.

    Each box is compared only with the boxes still free that can touch it: those whose
    left edge lies within the widest box's width of it, found by binary search in the
    boxes sorted by left edge. A low candidate threshold yields tens of thousands of boxes
    on a dense crowd, where comparing each with all the others took most of the time."""
    xyxy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    areas = box_areas(xyxy)
    by_left = np.argsort(xyxy[:, 0], kind="stable")
    lefts = xyxy[by_left, 0]
    widest = float((xyxy[:, 2] - xyxy[:, 0]).max(initial=0.0))
    free = np.ones(len(xyxy), dtype=bool)
    groups = []
    for best in np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable"):
        if not free[best]:
            continue
        free[best] = False
        start = np.searchsorted(lefts, xyxy[best, 0] - widest, side="left")
        stop = np.searchsorted(lefts, xyxy[best, 2], side="right")
        near = by_left[start:stop]
        near = near[free[near]]
        inter, union = _overlap_with_one(xyxy, areas, best, near)
        same = (inter >= iou_threshold * union) & (union > 0)
        if contained is not None:
            smaller = np.minimum(areas[best], areas[near])
            same |= (inter >= contained * smaller) & (smaller > 0)
        members = near[same]
        free[members] = False
        groups.append(np.concatenate([[best], members]))
    return groups


def _overlap_with_one(xyxy: np.ndarray, areas: np.ndarray, one: int, others: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Intersection and union areas of box ``one`` with each of ``others`` (indices into
    ``xyxy`` and its precomputed ``areas``). Written out rather than through box_iou: the
    greedy loop calls it once per kept box, where small-array overhead is most of the
    cost."""
    box, rest = xyxy[one], xyxy[others]
    width = np.minimum(box[2], rest[:, 2]) - np.maximum(box[0], rest[:, 0])
    height = np.minimum(box[3], rest[:, 3]) - np.maximum(box[1], rest[:, 1])
    inter = np.maximum(width, 0.0) * np.maximum(height, 0.0)
    return inter, areas[one] + areas[others] - inter


def enclosing_box(xyxy: np.ndarray) -> np.ndarray:
    return np.concatenate([xyxy[:, :2].min(axis=0), xyxy[:, 2:].max(axis=0)])


def merge_overlapping(faces: Detections, iou_threshold: float) -> Detections:
    """Merge boxes that overlap by at least ``iou_threshold``, or of which one lies almost
    entirely inside the other, into their enclosing box.

    Unlike non-maximum suppression, which keeps one box and drops the rest, the merged box
    covers every box of its group, so fusing detectors never shrinks the protected area.
    The group keeps the highest score and that box's detector name, and counts the
    distinct detectors that saw it (at least as many as any of its boxes already counted).
    """
    if len(faces) == 0:
        return faces
    groups = group_overlapping(faces.xyxy, faces.scores, iou_threshold)
    best = np.array([group[0] for group in groups])
    merged = np.stack([enclosing_box(faces.xyxy[group]) for group in groups])
    seen_by = [max(len(set(faces.detectors[group])), int(faces.seen_by[group].max())) for group in groups]
    return Detections(merged, faces.scores[best], faces.detectors[best], faces.kinds[best], seen_by=seen_by)
