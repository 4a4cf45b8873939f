"""Consent lists: faces of participants who agreed to be shown are left visible.

``deid run SRC OUT --keep-faces DIR``: DIR holds photos of the participants, ``NAME.jpg``
(one photo of participant NAME) or ``NAME/*.jpg`` (several). Each photo is enrolled before
the run: the run's own face detector finds the participant's face (the largest confident
one; a second face of comparable size is refused as ambiguous), and dlib's ResNet face
recogniser (the ``deid[audit]`` extra, as ``deid verify`` uses) embeds it.

In the run, each face the detectors found is embedded the same way and left visible when
all of these hold, the rule ``deid verify`` applies to re-identification, made stricter
because a wrong match exposes a person who did not consent:

- it is within ``KEEP_DISTANCE`` of one participant's photo;
- that participant is nearer than any other participant by ``KEEP_MARGIN``;
- the picture with the face blacked out is farther from the participant than the face by
  ``KEEP_MARGIN`` (the face itself makes the match, not the room or the clothes);
- it is the participant's nearest face in the frame (one person, one face).

Faces under ``KEEP_MIN_HEIGHT`` px, heads and boxes a reviewer drew are always covered.
Every face left visible is recorded with the participant's name and its distance.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from deid.boxes import FACE, Detections, clip_boxes
from deid.errors import UsageError

# dlib's recogniser puts photos of one person within 0.6 of each other (its "same person"
# boundary; 99.38% right on LFW pairs). A consent match must be surer than that. Measured
# with the default detectors (scripts/consent_matches.py): unmasked webcam photos of the
# two participants of faces/facemask/ lay 0.30-0.47 from an enrolled photo of theirs,
# masked ones 0.57-0.77; the nearest of 924 faces of other people (caltech and the
# facemask web photos) lay 0.52 from either participant. 0.45 keeps most unmasked photos
# and stays 0.07 short of the nearest stranger.
KEEP_DISTANCE = 0.45
# A face nearly as close to a second participant, or a face whose surroundings alone are
# nearly as close as the face, is not a clear match: it stays covered.
KEEP_MARGIN = 0.1
# Under this height the recogniser works on an upscaled blur (it aligns faces to 150 px):
# distances of faces of strangers shrink towards those of one person's. Small faces stay
# covered, which costs a participant nothing but visibility.
KEEP_MIN_HEIGHT = 40
# An enrolment photo's face must be a confident detection, and the only one of its size.
ENROL_MIN_SCORE = 0.5
SECOND_FACE_SHARE = 0.5
CONSENT = "consent"


@dataclass(frozen=True)
class ConsentList:
    """The enrolled participants: one embedding per photo (``photos`` and ``participants``
    give each row's photo and participant), hashable so that workers can cache on it."""

    folder: str
    photos: tuple[str, ...]
    participants: tuple[str, ...]
    embeddings: tuple[tuple[float, ...], ...]

    @property
    def names(self) -> list[str]:
        return sorted(set(self.participants))

    def digest(self) -> str:
        """Changes whenever who is enrolled, or from which pixels, changes."""
        sha = hashlib.sha256()
        for participant, row in zip(self.participants, self.embeddings):
            sha.update(participant.encode("utf-8", "surrogateescape"))
            sha.update(np.asarray(row, dtype=np.float32).tobytes())
        return sha.hexdigest()

    def summary(self) -> dict[str, Any]:
        return {
            "folder": self.folder, "participants": len(self.names), "photos": len(self.photos),
            "keep_distance": KEEP_DISTANCE, "keep_margin": KEEP_MARGIN, "keep_min_height": KEEP_MIN_HEIGHT,
        }


def consent_photos(folder: Path) -> list[tuple[str, Path]]:
    """(participant, photo) for every image in ``folder``: ``NAME.ext`` or ``NAME/*.ext``."""
    from deid.formats import IMAGE_EXTENSIONS

    if not folder.is_dir():
        raise UsageError(f"--keep-faces {folder} is not a folder; give a folder of participants' photos")
    found = []
    for path in sorted(folder.iterdir()):
        if path.is_dir():
            found += [(path.name, photo) for photo in sorted(path.iterdir())
                      if photo.is_file() and photo.suffix.lower() in IMAGE_EXTENSIONS]
        elif path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS:
            found.append((path.stem, path))
    if not found:
        raise UsageError(
            f"--keep-faces {folder} holds no photo; give NAME.jpg for each participant (or NAME/ with several)"
        )
    return found


def enrol(folder: str | Path, detector: Any, max_pixels: int) -> ConsentList:
    """Embed the participant's face of every photo in ``folder``; UsageError naming the
    photo when one cannot be read or does not show exactly one clear face."""
    from deid.decode import decode
    from deid.discover import read_regular_file
    from deid.reid import FaceRecogniser

    folder = Path(folder)
    photos = consent_photos(folder)
    recogniser = FaceRecogniser()
    names, participants, rows = [], [], []
    for participant, path in photos:
        shown = path.relative_to(folder).as_posix()
        try:
            pixels = decode(read_regular_file(path), max_pixels).frames[0]
        except Exception as exc:  # any unreadable photo is the user's to replace
            raise UsageError(f"--keep-faces: cannot read {shown} ({exc}); give a JPEG or PNG photo") from None
        box = _participant_face(detector.detect(pixels), shown)
        (_, shape), = recogniser.landmarks(pixels, [box])
        rows.append(tuple(float(v) for v in recogniser.embed(pixels, [shape])[0]))
        names.append(shown)
        participants.append(participant)
    return ConsentList(str(folder), tuple(names), tuple(participants), tuple(rows))


def _participant_face(found: Detections, shown: str) -> list[float]:
    heights = found.xyxy[:, 3] - found.xyxy[:, 1]
    clear = (found.scores >= ENROL_MIN_SCORE) & (found.kinds == FACE) & (heights >= KEEP_MIN_HEIGHT)
    if not clear.any():
        raise UsageError(
            f"--keep-faces: no clear face in {shown} (a face seen from the front, {KEEP_MIN_HEIGHT} px "
            "tall or more); give another photo of the participant"
        )
    largest = int(np.argmax(np.where(clear, heights, -1.0)))
    others = clear & (heights >= SECOND_FACE_SHARE * heights[largest])
    if others.sum() > 1:
        raise UsageError(
            f"--keep-faces: {shown} shows {int(others.sum())} faces of similar size; crop it to the participant's face"
        )
    return [float(v) for v in found.xyxy[largest]]


class ConsentMatcher:
    """Splits a frame's detections into faces to cover and participants' faces to leave
    visible; the recogniser loads once, at construction."""

    def __init__(self, consent: ConsentList, recogniser: Any = None) -> None:
        if recogniser is None:
            from deid.reid import FaceRecogniser

            recogniser = FaceRecogniser()
        self._recogniser = recogniser
        self._rows = np.asarray(consent.embeddings, dtype=np.float64)
        self._names = consent.names
        self._row_participant = np.asarray([self._names.index(p) for p in consent.participants])

    def split(self, pixels: np.ndarray, faces: Detections, frame: int) -> tuple[Detections, list[dict[str, Any]]]:
        """(faces to cover, a "consent" decision for each face left visible)."""
        from deid.corrections import REVIEWER

        height, width = pixels.shape[:2]
        boxes = clip_boxes(faces.xyxy, width, height)
        candidates = np.flatnonzero(
            (faces.kinds == FACE) & (faces.detectors != REVIEWER) & (boxes[:, 3] - boxes[:, 1] >= KEEP_MIN_HEIGHT)
        )
        if not len(candidates):
            return faces, []
        placed = self._recogniser.landmarks(pixels, [list(boxes[i]) for i in candidates])
        shapes = [shape for _, shape in placed]
        embedded = np.asarray(self._recogniser.embed(pixels, shapes))
        distance = self._by_participant(embedded)  # candidates x participants
        keep = np.ones(len(faces), dtype=bool)
        decisions = []
        for row, index in enumerate(candidates):
            participant = int(np.argmin(distance[row]))
            nearest = distance[row, participant]
            others = np.delete(distance[row], participant)
            if nearest >= KEEP_DISTANCE or (len(others) and others.min() < nearest + KEEP_MARGIN):
                continue
            if int(np.argmin(distance[:, participant])) != row:
                continue
            blanked = pixels.copy()
            x1, y1, x2, y2 = (int(round(v)) for v in boxes[index])
            blanked[y1:y2, x1:x2] = 0
            blank = self._by_participant(np.asarray(self._recogniser.embed(blanked, [shapes[row]])))[0, participant]
            if blank < nearest + KEEP_MARGIN:
                continue
            keep[index] = False
            decisions.append({
                "decision": CONSENT, "box": [round(float(v), 1) for v in boxes[index]], "frame": frame,
                "matched": 1, "participant": self._names[participant], "distance": round(float(nearest), 4),
            })
        return faces[keep], decisions

    def _by_participant(self, embedded: np.ndarray) -> np.ndarray:
        """Distance of each embedding to each participant's nearest photo."""
        per_photo = np.linalg.norm(embedded[:, None, :] - self._rows[None, :, :], axis=2)
        found = np.full((len(embedded), len(self._names)), np.inf)
        for photo, participant in enumerate(self._row_participant):
            found[:, participant] = np.minimum(found[:, participant], per_photo[:, photo])
        return found
