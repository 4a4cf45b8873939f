"""Re-identification: would a face recogniser still match a covered face to the original?

For a face deid covered, dlib's 5-point landmark model places the face in the original
image, and dlib's ResNet face recogniser (both from the ``deid[audit]`` extra) embeds the
aligned face twice: from the original pixels, and from the output's pixels at the same
place with the same alignment. Two embeddings closer than ``MATCH_DISTANCE`` are the same
person to that model: the covering did not stop it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from deid.detect.dlib import import_dlib, models_dir
from deid.errors import ConfigError
from deid.extras import install_hint

# dlib's recogniser was trained to put faces of one person within 0.6 of each other and
# other people farther (dlib-models README; 99.38% on LFW at 0.6), and 0.6 is the
# threshold its users apply.
MATCH_DISTANCE = 0.6
# Faces shorter than this are not checked: below it no recogniser has pixels to work
# with, in the original or the output (the same bound as ``deid eval``'s "recognisable").
MIN_FACE_HEIGHT = 16
LANDMARKS_MODEL = "shape_predictor_5_face_landmarks.dat"
RECOGNISER_MODEL = "dlib_face_recognition_resnet_model_v1.dat"


class FaceRecogniser:
    """Embeds aligned faces; models load once, at construction."""

    def __init__(self) -> None:
        dlib = import_dlib()
        folder = models_dir()
        files = [folder / LANDMARKS_MODEL, folder / RECOGNISER_MODEL]
        missing = [f for f in files if not f.is_file()]
        if missing:
            raise ConfigError(f"dlib model {missing[0]} is missing; {install_hint('audit')}")
        self._dlib = dlib
        self._landmarks = dlib.shape_predictor(str(files[0]))
        self._recogniser = dlib.face_recognition_model_v1(str(files[1]))

    def landmarks(self, original: np.ndarray, boxes: list[list[float]]) -> list[tuple[list[float], Any]]:
        """(box, 5-point landmarks) for each box tall enough to recognise."""
        found = []
        for box in boxes:
            x1, y1, x2, y2 = box
            if y2 - y1 < MIN_FACE_HEIGHT:
                continue
            rect = self._dlib.rectangle(int(round(x1)), int(round(y1)), int(round(x2)) - 1, int(round(y2)) - 1)
            found.append(([float(v) for v in box], self._landmarks(_rgb(original), rect)))
        return found

    def embed(self, image: np.ndarray, shapes: list[Any]) -> list[np.ndarray]:
        """The embedding of the face each set of landmarks places in ``image``."""
        image = _rgb(image)
        return [np.asarray(self._recogniser.compute_face_descriptor(image, shape)) for shape in shapes]

    def embeddings(
        self, original: np.ndarray, output: np.ndarray, boxes: list[list[float]],
    ) -> list[EmbeddedFace]:
        """The embeddings of each box tall enough to recognise; ``original`` and ``output``
        are one frame, H x W x 3 uint8, before and after covering. The output is aligned
        with the landmarks found in the original: the same place, whatever is left of the
        face there. So is the original with the box blacked out (``blank``): what the
        recogniser makes of the picture with nothing of the face left, the reference a
        covered face must beat to count as recognised."""
        placed = self.landmarks(original, boxes)
        shapes = [shape for _, shape in placed]
        found = []
        for (box, shape), before, after in zip(placed, self.embed(original, shapes), self.embed(output, shapes)):
            blanked = original.copy()
            x1, y1, x2, y2 = (max(int(round(v)), 0) for v in box)
            blanked[y1:y2, x1:x2] = 0
            found.append(EmbeddedFace(box, before, after, self.embed(blanked, [shape])[0]))
        return found


@dataclass(frozen=True)
class EmbeddedFace:
    box: list[float]
    original: np.ndarray  # the face in the original
    output: np.ndarray  # the same place in the output
    blank: np.ndarray  # the same place in the original with the box blacked out


def _rgb(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image[:, :, :3])
