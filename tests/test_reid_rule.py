"""verify's re-identification rule on embeddings made up for each case: no dlib needed.
A covered face counts as re-identified when it is within the match distance of its
original, nearer its original than any other original or blank, and its original is
nearer it than any other output."""

from __future__ import annotations

import numpy as np
import pytest

from deid.reid import MATCH_DISTANCE, EmbeddedFace
from deid.verify import reidentified

DIMENSIONS = 128


def unit(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).normal(size=DIMENSIONS)
    return vector / np.linalg.norm(vector)


def towards(a: np.ndarray, b: np.ndarray, share: float) -> np.ndarray:
    return a + share * (b - a)


def face(seed: int, output_share: float) -> tuple[str, int, EmbeddedFace]:
    """A face whose original lies 0.45 from its blank (a typical distance on caltech) and
    whose output lies ``output_share`` of the way from the original to the blank: 1 is
    covered so that nothing of the face is left, 0 not covered at all."""
    original = unit(seed)
    blank = original + 0.45 * unit(seed + 1000)
    output = towards(original, blank, output_share)
    return (f"{seed}.jpg", 0, EmbeddedFace([0.0, 0.0, 40.0, 40.0], original, output, blank))


@pytest.mark.parametrize("faces, matched", [
    ([], 0),
    # One face covered in solid black: the output is its blank. The old rule, mutual
    # nearness within 0.6 among the run's faces, matched it: with one face, each is
    # trivially the other's nearest.
    ([face(1, 1.0)], 0),
    # One face barely covered: the output is the original, nearer it than its blank.
    ([face(1, 0.1)], 1),
    # Half covered: nearer the blank than the original by a hair, then by a hair the other way.
    ([face(1, 0.55)], 0),
    ([face(1, 0.45)], 1),
    # A few faces, all covered: none of them.
    ([face(seed, 1.0) for seed in range(3)], 0),
    # A few faces, one barely covered: that one only.
    ([face(0, 1.0), face(1, 0.1), face(2, 1.0)], 1),
    # Many faces, all barely covered: each picks out its own.
    ([face(seed, 0.1) for seed in range(300)], 300),
], ids=["none", "one-black", "one-bare", "one-half-more", "one-half-less", "few-black", "few-one-bare", "many-bare"])
def test_covered_faces_are_matched_only_when_nearer_their_original_than_anything_else(faces, matched):
    result = reidentified(faces)
    assert result.checked == len(faces)
    assert result.matched == matched


def test_an_output_nearer_another_persons_original_is_not_matched():
    name, frame, first = face(1, 0.2)
    # Another face whose original lies right where the first output is.
    impostor = EmbeddedFace([0.0, 0.0, 40.0, 40.0], first.output + 0.001 * unit(50), unit(51), unit(52) + 3)
    result = reidentified([(name, frame, first), ("other.jpg", 0, impostor)])
    assert result.matched == 0


def test_a_face_beyond_the_match_distance_is_not_matched_even_when_nearest():
    original = unit(7)
    output = original + (MATCH_DISTANCE + 0.05) * unit(8)
    blank = original + 5 * unit(9)
    result = reidentified([("far.jpg", 0, EmbeddedFace([0, 0, 40, 40], original, output, blank))])
    assert result.matched == 0 and result.within_distance == 0
