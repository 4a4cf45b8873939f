import numpy as np
import pytest

from deid.boxes import Detections, box_iou, clip_boxes, expand_boxes, merge_overlapping, nms


def faces(*boxes, scores=None):
    xyxy = np.asarray(boxes, dtype=float).reshape(-1, 4)
    scores = np.asarray(scores if scores is not None else [0.9] * len(xyxy))
    return Detections(xyxy, scores, np.asarray(["d"] * len(xyxy), dtype=object))


def test_empty_has_zero_rows_of_four():
    empty = Detections.empty()
    assert len(empty) == 0 and empty.xyxy.shape == (0, 4)


def test_mismatched_lengths_are_rejected():
    with pytest.raises(ValueError, match="differ in length"):
        Detections(np.zeros((2, 4)), np.zeros(3), np.zeros(2, dtype=object))


def test_mask_indexing_keeps_arrays_parallel():
    f = faces([0, 0, 1, 1], [5, 5, 9, 9], scores=[0.2, 0.8])
    kept = f[f.scores > 0.5]
    assert kept.xyxy.tolist() == [[5, 5, 9, 9]] and kept.scores.tolist() == [0.8]


@pytest.mark.parametrize(
    "a, b, expected",
    [
        ([0, 0, 10, 10], [0, 0, 10, 10], 1.0),
        ([0, 0, 10, 10], [5, 0, 15, 10], 50 / 150),
        ([0, 0, 10, 10], [20, 20, 30, 30], 0.0),
        ([0, 0, 0, 0], [0, 0, 0, 0], 0.0),  # degenerate boxes: no division by zero
    ],
)
def test_iou(a, b, expected):
    assert box_iou([a], [b])[0, 0] == pytest.approx(expected)


def test_iou_of_no_boxes_is_empty_matrix():
    assert box_iou(np.zeros((0, 4)), [[0, 0, 1, 1]]).shape == (0, 1)


@pytest.mark.parametrize(
    "box, margin, expected",
    [
        ([10, 20, 30, 60], 0.0, [10, 20, 30, 60]),
        ([10, 20, 30, 60], 0.5, [0, 0, 40, 80]),
        ([10, 20, 30, 60], 0.25, [5, 10, 35, 70]),
    ],
)
def test_expand(box, margin, expected):
    assert expand_boxes([box], margin).tolist() == [expected]


def test_clip_to_image():
    assert clip_boxes([[-5, -5, 50, 50]], 40, 30).tolist() == [[0, 0, 40, 30]]


@pytest.mark.parametrize(
    "boxes, scores, expected",
    [
        ([], [], []),  # zero detections
        ([[0, 0, 10, 10]], [0.5], [[0, 0, 10, 10]]),
        # two detectors, same face: one enclosing box, nothing lost
        ([[0, 0, 10, 10], [1, 1, 12, 11]], [0.9, 0.6], [[0, 0, 12, 11]]),
        # two faces side by side stay two
        ([[0, 0, 10, 10], [20, 0, 30, 10]], [0.9, 0.6], [[0, 0, 10, 10], [20, 0, 30, 10]]),
    ],
)
def test_merge_overlapping(boxes, scores, expected):
    merged = merge_overlapping(faces(*boxes, scores=scores) if boxes else Detections.empty(), 0.3)
    assert sorted(merged.xyxy.tolist()) == sorted(expected)
    if boxes:
        assert merged.scores.max() == max(scores)


def _greedy_nms_reference(xyxy, scores, threshold):
    """The textbook loop over the full IoU matrix."""
    order = np.argsort(-scores, kind="stable")
    iou = box_iou(xyxy[order], xyxy[order])
    suppressed = np.zeros(len(order), dtype=bool)
    keep = []
    for i in range(len(order)):
        if not suppressed[i]:
            keep.append(order[i])
            suppressed |= iou[i] >= threshold
    return sorted(keep)


@pytest.mark.parametrize("count", [0, 1, 2, 50, 400])
def test_nms_keeps_what_the_greedy_reference_keeps(count):
    rng = np.random.default_rng(count)
    # Clustered boxes, as raw heatmap peaks around a few faces are.
    centres = rng.uniform(0, 200, (max(1, count // 20), 2))[rng.integers(0, max(1, count // 20), count)]
    centres = centres + rng.normal(0, 4, (count, 2))
    sizes = rng.uniform(10, 40, (count, 1))
    xyxy = np.concatenate([centres - sizes / 2, centres + sizes / 2], axis=1)
    scores = rng.uniform(0.3, 1.0, count)
    kept = nms(faces(*xyxy, scores=scores), 0.3) if count else nms(Detections.empty(), 0.3)
    expected = _greedy_nms_reference(xyxy, scores, 0.3)
    assert sorted(map(tuple, kept.xyxy.round(6))) == sorted(map(tuple, xyxy[expected].round(6)))
    if count >= 50:  # clustered peaks: the case must actually suppress some
        assert 0 < len(kept) < count


def _grouping_reference(xyxy, scores, threshold):
    """Grouping over the full pairwise matrices, as merge_overlapping once did."""
    from deid.boxes import CONTAINED_FRACTION, box_areas

    order = np.argsort(-scores, kind="stable")
    inter = np.clip(np.minimum(xyxy[:, None, 2:], xyxy[None, :, 2:]) - np.maximum(xyxy[:, None, :2], xyxy[None, :, :2]), 0, None).prod(axis=2)
    areas = box_areas(xyxy)
    union = areas[:, None] + areas[None, :] - inter
    same = (inter >= threshold * union) | (inter >= CONTAINED_FRACTION * np.minimum(areas[:, None], areas[None, :]))
    free = np.ones(len(xyxy), dtype=bool)
    groups = []
    for i in order:
        if free[i]:
            group = free & same[i]
            free &= ~group
            groups.append((i, frozenset(np.flatnonzero(group))))
    return groups


@pytest.mark.parametrize("count", [0, 1, 2, 50, 2000])
def test_grouping_equals_the_pairwise_reference(count):
    from deid.boxes import group_overlapping

    rng = np.random.default_rng(count)
    # A dense crowd: many faces, each with clustered raw boxes, and a few large boxes.
    centres = rng.uniform(0, 600, (max(1, count // 10), 2))[rng.integers(0, max(1, count // 10), count)]
    centres = centres + rng.normal(0, 3, (count, 2))
    sizes = np.where(rng.uniform(size=(count, 1)) < 0.02, 150.0, rng.uniform(8, 30, (count, 1)))
    xyxy = np.concatenate([centres - sizes / 2, centres + sizes / 2], axis=1)
    scores = rng.uniform(0.05, 1.0, count)
    groups = [(int(g[0]), frozenset(g.tolist())) for g in group_overlapping(xyxy, scores, 0.3)]
    assert groups == _grouping_reference(xyxy, scores, 0.3)
    if count >= 50:
        assert 0 < len(groups) < count


@pytest.mark.parametrize("count", [0, 1, 3])
def test_detections_carry_kind_and_rule_through_every_operation(count):
    from deid.boxes import TEXT

    boxes = Detections(
        np.arange(count * 4, dtype=float).reshape(-1, 4) + [0, 0, 10, 10], np.linspace(0.5, 0.9, count),
        np.full(count, "pp-ocrv4", dtype=object), np.full(count, TEXT, dtype=object),
        np.array([f"rule {i}" for i in range(count)], dtype=object),
    )
    for moved in (boxes.with_boxes(boxes.xyxy + 1), boxes[np.arange(count)], Detections.concatenate([boxes])):
        assert list(moved.kinds) == [TEXT] * count
        assert list(moved.rules) == [f"rule {i}" for i in range(count)]
        assert list(moved.detectors) == ["pp-ocrv4"] * count
    assert list(Detections(boxes.xyxy, boxes.scores, boxes.detectors).rules) == [""] * count
    with pytest.raises(ValueError, match="rules"):
        Detections(boxes.xyxy, boxes.scores, boxes.detectors, boxes.kinds, np.zeros(count + 1, dtype=object))


def test_a_merged_face_counts_the_distinct_detectors_that_saw_it():
    found = Detections(
        np.array([[0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 10, 9], [50, 50, 60, 60], [51, 50, 60, 61]], dtype=float),
        np.array([0.9, 0.8, 0.7, 0.9, 0.6]),
        np.array(["centerface", "blazeface-short", "centerface", "centerface", "centerface"], dtype=object),
    )
    merged = merge_overlapping(found, 0.3)
    assert sorted(zip(merged.xyxy[:, 0].tolist(), merged.seen_by.tolist())) == [(0.0, 2), (50.0, 1)]
    # Merged again with a box of one of its detectors: still two, not one.
    again = merge_overlapping(Detections.concatenate([merged, found[np.array([1])]]), 0.3)
    assert sorted(again.seen_by.tolist()) == [1, 2]


def test_seen_by_is_carried_through_every_operation_and_defaults_to_one():
    boxes = Detections(np.array([[0, 0, 5, 5], [9, 9, 20, 20]], dtype=float), np.array([0.9, 0.8]),
                       np.array(["a", "b"], dtype=object), seen_by=[2, 3])
    for moved in (boxes.with_boxes(boxes.xyxy + 1), boxes[np.arange(2)], Detections.concatenate([boxes])):
        assert moved.seen_by.tolist() == [2, 3]
    assert Detections(boxes.xyxy, boxes.scores, boxes.detectors).seen_by.tolist() == [1, 1]
    with pytest.raises(ValueError, match="seen_by"):
        Detections(boxes.xyxy, boxes.scores, boxes.detectors, seen_by=[1])


@pytest.mark.parametrize("a, b, expected", [
    ([[0, 0, 10, 10]], np.zeros((0, 4)), np.zeros((1, 0))),  # nothing to lie inside
    ([[0, 0, 10, 10]], [[0, 0, 20, 20]], [[1.0]]),
    ([[0, 0, 10, 10]], [[5, 0, 20, 20], [100, 100, 110, 110]], [[0.5, 0.0]]),
    ([[3, 3, 3, 9]], [[0, 0, 20, 20]], [[0.0]]),  # no area
])
def test_share_inside(a, b, expected):
    from deid.boxes import share_inside

    assert share_inside(np.asarray(a, dtype=float), np.asarray(b, dtype=float)) == pytest.approx(np.asarray(expected))
