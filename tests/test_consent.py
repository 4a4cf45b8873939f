"""--keep-faces: the faces of participants who agreed to be shown stay visible, and only
theirs; every face kept is in the report, and verify does not count it as residual.

The matching rule is checked on made-up embeddings (no dlib needed); the whole path on the
webcam photos of faces/facemask/, which show two people, a man and a woman, many times
(the photo numbers below are the files' own)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import load_pixels, run_cli
from deid.boxes import Detections
from deid.consent import KEEP_DISTANCE, KEEP_MARGIN, KEEP_MIN_HEIGHT, ConsentList, ConsentMatcher


class ColourRecogniser:
    """Stands in for dlib's: a face's embedding is its box's mean colour / 100, so a test
    places faces at chosen distances from the participants by painting them."""

    def landmarks(self, image: np.ndarray, boxes: list[list[float]]) -> list[tuple[list[float], list[float]]]:
        return [(box, box) for box in boxes]

    def embed(self, image: np.ndarray, shapes: list[list[float]]) -> list[np.ndarray]:
        found = []
        for x1, y1, x2, y2 in shapes:
            found.append(image[int(y1):int(y2), int(x1):int(x2), :3].reshape(-1, 3).mean(axis=0) / 100.0)
        return found


def consent_of(**participants: tuple[float, float, float]) -> ConsentList:
    names = tuple(sorted(participants))
    rows = tuple(tuple(v / 100.0 for v in participants[n]) for n in names)
    return ConsentList("consent", tuple(f"{n}.jpg" for n in names), names, rows)


def frame_with(faces: list[tuple[list[int], tuple[int, int, int]]]) -> np.ndarray:
    """A grey frame with each box painted in its colour (values / 100 are the embedding)."""
    pixels = np.full((400, 600, 3), 200, dtype=np.uint8)
    for (x1, y1, x2, y2), colour in faces:
        pixels[y1:y2, x1:x2] = colour
    return pixels


def detections(boxes: list[list[int]], detectors: list[str] | None = None, kinds: list[str] | None = None) -> Detections:
    return Detections(
        np.asarray(boxes, dtype=np.float64).reshape(-1, 4), np.full(len(boxes), 0.9),
        np.asarray(detectors or ["centerface"] * len(boxes), dtype=object),
        np.asarray(kinds or ["face"] * len(boxes), dtype=object),
    )


# Participants' embeddings x 100, 1.0 apart, and far from the embedding of a blacked-out
# face (0, 0, 0).
A, B = (50, 50, 50), (150, 50, 50)
FACE = [20, 20, 120, 140]
OTHER = [300, 20, 400, 140]
NEAR = int(100 * (KEEP_DISTANCE - 0.05))  # a face this much from A's colour is A
FAR = int(100 * (KEEP_DISTANCE + 0.05))
ALSO_NEAR = NEAR + int(100 * KEEP_MARGIN) - 5  # from the face: under NEAR + KEEP_MARGIN


@pytest.mark.parametrize("participants, painted, found, kept", [
    ({"a": A}, [], [], []),  # zero detections
    ({"a": A}, [(FACE, (50, 50, 50 + NEAR))], [FACE], ["a"]),
    ({"a": A}, [(FACE, (50, 50, 50 + FAR))], [FACE], []),  # beyond KEEP_DISTANCE
    # Nearly as close to a second participant: no clear match.
    ({"a": A, "b": (50, 50, 50 + NEAR + ALSO_NEAR)}, [(FACE, (50, 50, 50 + NEAR))], [FACE], []),
    ({"a": A, "b": B}, [(FACE, (50, 50, 50 + NEAR)), (OTHER, (150, 50, 60))], [FACE, OTHER], ["a", "b"]),
    # Two faces near one participant: only the nearer is theirs.
    ({"a": A}, [(FACE, (50, 50, 80)), (OTHER, (50, 50, 60))], [FACE, OTHER], ["a"]),
    # The picture without the face (blacked out: 0, 0, 0) is as close as the face.
    ({"a": (0, 0, 0)}, [(FACE, (0, 0, 20))], [FACE], []),
], ids=["none", "match", "too-far", "ambiguous", "two-participants", "one-face-each", "blank-as-close"])
def test_the_matching_rule(participants, painted, found, kept):
    matcher = ConsentMatcher(consent_of(**participants), ColourRecogniser())
    cover, decisions = matcher.split(frame_with(painted), detections(found), frame=0)
    assert sorted(d["participant"] for d in decisions) == kept
    assert len(cover) == len(found) - len(kept)
    for decision in decisions:
        assert decision["decision"] == "consent" and decision["distance"] < KEEP_DISTANCE


def test_heads_small_faces_and_drawn_boxes_are_never_kept():
    matcher = ConsentMatcher(consent_of(a=A), ColourRecogniser())
    small = [200, 200, 200 + KEEP_MIN_HEIGHT - 10, 200 + KEEP_MIN_HEIGHT - 10]
    pixels = frame_with([(FACE, A), (OTHER, A), (small, A)])
    found = detections([FACE, OTHER, small], ["reviewer", "pose", "centerface"], ["face", "head", "face"])
    cover, decisions = matcher.split(pixels, found, frame=0)
    assert decisions == [] and len(cover) == 3


# faces/facemask/ webcam photos, by who they show (judged by eye).
MAN_ENROLLED = "12-photo.jpg"
MAN_UNMASKED = ["13-photo.jpg", "24-photo.jpg"]
WOMAN = ["2-photo.jpg", "8-photo.jpg"]
BOTH = "60-photo.jpg"  # the man on the left, the woman on the right


@pytest.fixture(scope="module")
def consented(shared_data, tmp_path_factory) -> tuple[Path, Path, dict[str, dict], str]:
    pytest.importorskip("dlib", reason="the audit extra is not installed: pip install 'deid[audit]'")
    root = tmp_path_factory.mktemp("consent")
    webcam = shared_data / "faces" / "facemask"
    (root / "consent").mkdir()
    shutil.copy(webcam / MAN_ENROLLED, root / "consent" / "participant_07.jpg")
    src = root / "src"
    src.mkdir()
    for name in [*MAN_UNMASKED, *WOMAN, BOTH]:
        shutil.copy(webcam / name, src / name)
    out = root / "out"
    result = run_cli("run", src, out, "--workers", "1", "--keep-faces", root / "consent")
    assert result.returncode == 0, result.stderr
    records = {r["source"]: r for r in map(json.loads, (root / "out.report" / "images.jsonl").read_text().splitlines())}
    return src, out, records, result.stdout


def test_the_participant_stays_visible_and_everyone_else_is_covered(consented):
    src, out, records, stdout = consented
    for name in [*MAN_UNMASKED, BOTH]:
        (decision,) = records[name]["decisions"]
        assert decision["decision"] == "consent" and decision["participant"] == "participant_07"
        assert decision["distance"] < KEEP_DISTANCE
        # As it was, up to JPEG's re-encoding, where no other face's region reaches over it
        # (in BOTH the woman's region, grown by its margin, covers the man's cheek).
        before, after = load_pixels(src / name), load_pixels(out / name)
        visible = np.zeros(before.shape[:2], dtype=bool)
        x1, y1, x2, y2 = (int(round(v)) for v in decision["box"])
        visible[y1:y2, x1:x2] = True
        for face in records[name]["faces"]:
            rx1, ry1, rx2, ry2 = face["region"]
            visible[ry1:ry2, rx1:rx2] = False
        assert visible.sum() > 0.3 * (x2 - x1) * (y2 - y1), name
        assert np.abs(after - before)[visible].mean() < 8, name
    for name in [*WOMAN, BOTH]:
        faces = records[name]["faces"]
        assert faces, name
        x1, y1, x2, y2 = (int(round(v)) for v in faces[0]["box"])
        assert load_pixels(out / name)[y1:y2, x1:x2].max() <= 16, name  # black
    assert all("decisions" not in records[name] for name in WOMAN)
    summary = json.loads((out.parent / "out.report" / "summary.json").read_text())
    assert summary["counts"]["consent_matches"] == 3
    assert summary["consent"]["participants"] == 1 and summary["consent"]["keep_distance"] == KEEP_DISTANCE
    assert "consent: 3 faces left visible" in stdout


def test_verify_lists_kept_faces_apart_from_residual_ones(consented):
    _, out, records, _ = consented
    result = run_cli("verify", out, "--workers", "1")
    report = json.loads((out.parent / "out.report" / "verify.json").read_text())
    assert result.returncode == 0, result.stdout
    assert report["residual_faces"] == [] and report["clean"]
    assert {face["output"] for face in report["left_visible"]} == {*MAN_UNMASKED, BOTH}


def test_a_resume_without_the_consent_list_covers_the_participant_again(consented, tmp_path):
    src, out, _, _ = consented
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    shutil.copytree(out.parent / "out.report", tmp_path / "out.report")
    result = run_cli("run", src, copy, "--resume", "--workers", "1")
    assert result.returncode == 0, result.stderr
    assert "5 config or deid version changed" in result.stdout
    records = [json.loads(line) for line in (tmp_path / "out.report" / "images.jsonl").read_text().splitlines()]
    assert not any(r.get("decisions") for r in records)


@pytest.mark.parametrize("photos, message", [
    ({}, "holds no photo"),
    ({"blank.png": "grey"}, "no clear face in blank.png"),
    ({"pair.jpg": BOTH}, "shows 2 faces of similar size"),
], ids=["empty", "no-face", "two-faces"])
def test_a_consent_photo_that_cannot_be_enrolled_is_refused_before_anything_is_written(
    shared_data, tmp_path, photos, message,
):
    pytest.importorskip("dlib", reason="the audit extra is not installed: pip install 'deid[audit]'")
    from PIL import Image

    folder = tmp_path / "consent"
    folder.mkdir()
    for name, what in photos.items():
        if what == "grey":
            Image.new("RGB", (320, 240), (128, 128, 128)).save(folder / name)
        else:
            shutil.copy(shared_data / "faces" / "facemask" / what, folder / name)
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(shared_data / "faces" / "facemask" / WOMAN[0], src / WOMAN[0])
    result = run_cli("run", src, tmp_path / "out", "--keep-faces", folder)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.report").exists()


def test_the_review_page_queues_and_outlines_every_face_kept(consented):
    from test_review import page_data

    src, out, records, _ = consented
    result = run_cli("review", out, "--source", src)
    assert result.returncode == 0, result.stderr
    items = {item["source"]: item for item in page_data(out.parent / "out.report")["items"]}
    for name in [*MAN_UNMASKED, BOTH]:
        assert "kept by consent" in items[name]["reasons"]
        (kept,) = items[name]["kept"]
        assert kept["participant"] == "participant_07" and kept["box"] == records[name]["decisions"][0]["box"]
    assert all("kept" not in items[name] for name in WOMAN)


def test_a_participant_with_several_photos_matches_the_nearest():
    # Two photos of "a" (say unmasked and masked), one of "b"; the face is near a's second.
    consent = ConsentList(
        "consent", ("a/1.jpg", "a/2.jpg", "b.jpg"), ("a", "a", "b"),
        ((0.5, 0.5, 0.5), (0.5, 1.5, 0.5), (1.5, 0.5, 0.5)),
    )
    matcher = ConsentMatcher(consent, ColourRecogniser())
    cover, decisions = matcher.split(frame_with([(FACE, (50, 150, 60))]), detections([FACE]), frame=3)
    assert len(cover) == 0
    assert decisions == [{"decision": "consent", "box": [float(v) for v in FACE], "frame": 3, "matched": 1,
                          "participant": "a", "distance": 0.1}]


def test_consent_photos_are_named_by_file_or_by_folder(tmp_path):
    from deid.consent import consent_photos

    (tmp_path / "ana").mkdir()
    for name in ("ana/1.jpg", "ana/2.png", "ana/notes.txt", "bo.jpeg", "readme.md"):
        (tmp_path / name).write_bytes(b"")
    assert [(who, path.relative_to(tmp_path).as_posix()) for who, path in consent_photos(tmp_path)] == [
        ("ana", "ana/1.jpg"), ("ana", "ana/2.png"), ("bo", "bo.jpeg"),
    ]


def test_a_dry_run_enrols_the_consent_list_as_the_run_would(shared_data, tmp_path):
    pytest.importorskip("dlib", reason="the audit extra is not installed: pip install 'deid[audit]'")
    webcam = shared_data / "faces" / "facemask"
    (tmp_path / "consent").mkdir()
    shutil.copy(webcam / MAN_ENROLLED, tmp_path / "consent" / "participant_07.jpg")
    (tmp_path / "empty").mkdir()
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(webcam / WOMAN[0], src / WOMAN[0])
    result = run_cli("run", src, tmp_path / "out", "--dry-run", "--keep-faces", tmp_path / "consent")
    assert result.returncode == 0, result.stderr
    assert "consent: 1 participant enrolled from 1 photo in " in result.stdout
    refused = run_cli("run", src, tmp_path / "out", "--dry-run", "--keep-faces", tmp_path / "empty")
    assert refused.returncode == 2 and "holds no photo" in refused.stderr
    assert not (tmp_path / "out").exists()
