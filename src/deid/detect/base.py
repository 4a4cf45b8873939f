from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any, Protocol

import numpy as np

from deid.boxes import Detections

# Pixels one inference takes at most when a detector does not say: one 1024 x 1024 tile,
# what a pass held before inputs were batched, so batching never raises a worker's peak
# memory on the CPU.
DEFAULT_BATCH_PIXELS = 1024 * 1024


class Detector(Protocol):
    """Finds faces in one image.

    ``detect`` takes an H x W x 3 uint8 RGB array, C-contiguous (the ensemble normalises
    input before it reaches a detector) and returns boxes in that image's pixel frame,
    with ``detectors`` set to ``name``. It raises on failure; it never returns a partial
    result, since a missed face is worse than a failed file.

    A detector may also offer ``detect_batch(images)``, the same for several images of one
    size (rounded up to 32 px) in one inference, and ``batch_pixels``, how many pixels a
    batch may hold on its device.
    """

    name: str
    device: str

    def detect(self, image: np.ndarray) -> Detections: ...

    def model_info(self) -> dict[str, Any]: ...


def detect_batch(detector: Detector, images: list[np.ndarray]) -> list[Detections]:
    batched = getattr(detector, "detect_batch", None)
    if batched is not None and len(images) > 1:
        return batched(images)
    return [detector.detect(image) for image in images]


def max_batch_pixels(detector: Detector) -> int:
    return int(getattr(detector, "batch_pixels", DEFAULT_BATCH_PIXELS))


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """TFLite prints start-up notices from C++ straight to file descriptor 2 while a
    model loads; hide those so a library call prints nothing."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
