"""Running a detector at several scales and over overlapping tiles, in image coordinates.

A detector sees faces only within a band of sizes relative to its input: upscaling brings
small faces into the band, downscaling large ones, and cutting a large image into tiles
keeps each inference's memory bounded. Overlapping tiles mean a face cut by one seam lies
whole in the neighbouring tile; the ensemble then merges the pieces.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
from PIL import Image

from deid.boxes import FaceBoxes
from deid.detect.base import Detector

# Neighbouring tiles share a quarter of their side: a face up to that size lies whole in
# at least one tile; larger faces are the job of a downscaled pass.
TILE_OVERLAP = 0.25
# Below this many pixels a pass has nothing a detector can use.
MIN_SIDE = 16


def pass_scales(width: int, height: int, scales: tuple[float, ...], tile: int) -> list[float]:
    """The configured scales, plus, when tiles are on and the image is larger than a tile,
    one pass over the whole image shrunk to a single tile: a face larger than a tile's
    overlap can be cut by every seam, but is seen whole there."""
    passes = list(scales)
    if tile and max(width, height) > tile:
        fit = tile / max(width, height)
        if fit < min(passes):
            passes.append(fit)
    return passes


def detect_at_scales(detector: Detector, image: np.ndarray, scales: tuple[float, ...], tile: int) -> FaceBoxes:
    height, width = image.shape[:2]
    found = []
    for scale in pass_scales(width, height, scales, tile):
        scaled_w, scaled_h = max(1, round(width * scale)), max(1, round(height * scale))
        if min(scaled_w, scaled_h) < MIN_SIDE:
            continue
        scaled = image if (scaled_w, scaled_h) == (width, height) else resize(image, scaled_w, scaled_h)
        factor = np.array([width / scaled_w, height / scaled_h] * 2)
        for x0, y0, piece in tiles(scaled, tile):
            faces = detector.detect(piece)
            if len(faces):
                shifted = (faces.xyxy + np.array([x0, y0, x0, y0])) * factor
                found.append(FaceBoxes(shifted, faces.scores, faces.detectors))
    return FaceBoxes.concatenate(found)


def resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    return np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.BILINEAR))


def tiles(image: np.ndarray, tile: int) -> Iterator[tuple[int, int, np.ndarray]]:
    """(x0, y0, view) for overlapping tiles covering the image; the whole image when
    ``tile`` is 0 or the image fits in one tile."""
    height, width = image.shape[:2]
    if not tile or (height <= tile and width <= tile):
        yield 0, 0, image
        return
    for y0 in tile_starts(height, tile):
        for x0 in tile_starts(width, tile):
            yield x0, y0, np.ascontiguousarray(image[y0 : y0 + tile, x0 : x0 + tile])


def tile_starts(length: int, tile: int) -> list[int]:
    if length <= tile:
        return [0]
    step = max(1, int(tile * (1 - TILE_OVERLAP)))
    starts = list(range(0, length - tile, step))
    return starts + [length - tile]
