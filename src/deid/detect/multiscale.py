"""Running a detector at several scales, mirrored and over overlapping tiles, in image
coordinates, with as few inference calls as the detector's batch allows.

A detector sees faces only within a band of sizes relative to its input: upscaling brings
small faces into the band, downscaling large ones, and cutting a large image into tiles
keeps each inference's memory bounded. Overlapping tiles mean a face cut by one seam lies
whole in the neighbouring tile; the ensemble then merges the pieces.

The passes at or below native size look at the whole image. The closer look (upscaled and
mirrored passes) looks only where a face may be: around the boxes the first passes found
(``deid.detect.closer``), or at the whole image when those regions would cover most of it.
Every look, whole or in part, becomes crops of one pass: a crop is resampled from just the
source pixels under it and mirrored on its own, and crops of one shape go through the
model together.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from deid.boxes import Detections, Window
from deid.config import DetectorConfig
from deid.detect.base import Detector, detect_batch, max_batch_pixels
from deid.detect.closer import closer_look_regions, has_face_below
from deid.detect.fusion import seen_in_pass
from deid.detect.resample import Resampler

# Neighbouring tiles share a quarter of their side: a face up to that size lies whole in
# at least one tile; larger faces are the job of a downscaled pass.
TILE_OVERLAP = 0.25
# The passes at or below native size need less: an eighth of a tile (128 px of a 1024 px
# tile) is larger than any face the whole-image pass shrunk to a tile misses (it sees a
# 128 px face of a 16 MP photo at 32 px).
FIRST_PASS_OVERLAP = 0.125
# Below this many pixels a pass has nothing a detector can use.
MIN_SIDE = 16
# Inputs are grouped into one batch when their sizes, rounded up to this, are equal: the
# CenterFace backbone pads to a multiple of 32 anyway.
SHAPE_MULTIPLE = 32


def needs_tiles(width: int, height: int, tile: int) -> bool:
    """A pass is cut into tiles only when it holds more pixels than one tile: memory is
    what tiles bound, and a whole pass sees every face whole. A 1280 x 800 photo or a
    long narrow strip runs in one piece. (Up to two tiles' pixels whole was 30% faster on
    caltech/ and lost faces on wider_train/: docs/speed.md.)"""
    return bool(tile) and width * height > tile * tile


def pass_scales(
    width: int, height: int, scales: tuple[float, ...], tile: int, shrink: float = 0.0,
) -> list[float]:
    """The configured scales, plus one pass over the whole image shrunk by ``shrink``, or
    to a tile's pixel count when the smallest scale is cut into tiles and that is smaller:
    a face larger than the tiles' overlap can be cut by every seam, but is seen whole
    there."""
    passes = list(scales)
    smallest = min(passes)
    whole = [shrink] if shrink else []
    if needs_tiles(round(width * smallest), round(height * smallest), tile):
        whole.append(tile / (width * height) ** 0.5)
    if whole and min(whole) < smallest:
        passes.append(min(whole))
    return passes


@dataclass(frozen=True)
class Pass:
    """One look at the image: resized by ``scale``, mirrored left to right or not."""

    scale: float
    mirrored: bool = False

    @property
    def closer_look(self) -> bool:
        return self.scale > 1.0 or self.mirrored


def plan_passes(width: int, height: int, settings: DetectorConfig) -> list[Pass]:
    """Every pass the settings ask for on an image of this size, those at or below native
    size and unmirrored first: what they find decides whether the closer look runs."""
    scales = sorted(pass_scales(width, height, settings.scales, settings.tile, settings.shrink), key=lambda s: (s > 1.0, s))
    plain = [Pass(scale) for scale in scales]
    return plain + ([Pass(scale, True) for scale in scales] if settings.flip else [])


@dataclass(frozen=True)
class Crop:
    """One inference input: ``window`` (xyxy) of the image resized to ``scaled`` (w, h),
    mirrored or not, for pass number ``index``."""

    index: int
    scaled: tuple[int, int]
    window: Window
    mirrored: bool
    # Drop boxes cut by an edge of the crop that lies inside the image: a crop of the
    # closer look sees the face it was made for whole, and what its edges cut is the
    # texture or the neighbour that the whole-image passes judge.
    trim: bool = False

    @property
    def size(self) -> tuple[int, int]:
        x0, y0, x1, y1 = self.window
        return x1 - x0, y1 - y0

    @property
    def shape_key(self) -> tuple[int, int]:
        width, height = self.size
        return -(-height // SHAPE_MULTIPLE), -(-width // SHAPE_MULTIPLE)

    def pixels(self, source: Resampler) -> np.ndarray:
        pixels = source.window(*self.scaled, self.window)
        return np.ascontiguousarray(pixels[:, ::-1]) if self.mirrored else pixels

    def to_image(self, faces: Detections, width: int, height: int) -> Detections:
        """Boxes found in this crop, in the frame of the (unmirrored, native) image."""
        xyxy = faces.xyxy.copy()
        crop_width, crop_height = self.size
        if self.mirrored:
            xyxy[:, [0, 2]] = crop_width - faces.xyxy[:, [2, 0]]
        x0, y0, x1, y1 = self.window
        if self.trim:
            cut = ((x0 > 0) & (xyxy[:, 0] < 0)) | ((y0 > 0) & (xyxy[:, 1] < 0)) \
                | ((x1 < self.scaled[0]) & (xyxy[:, 2] > crop_width)) | ((y1 < self.scaled[1]) & (xyxy[:, 3] > crop_height))
            xyxy, faces = xyxy[~cut], faces[~cut]
        factor = np.array([width / self.scaled[0], height / self.scaled[1]] * 2)
        return faces.with_boxes((xyxy + np.array([x0, y0, x0, y0])) * factor)


def pass_crops(
    plan: Pass, index: int, region: Window, width: int, height: int, tile: int, trim: bool = False,
) -> list[Crop]:
    """The crops that look at ``region`` (xyxy in the image) in pass ``plan``: the region
    at the pass's scale, cut into tiles when it holds more pixels than one tile."""
    scaled_w, scaled_h = max(1, round(width * plan.scale)), max(1, round(height * plan.scale))
    fx, fy = scaled_w / width, scaled_h / height
    x0, y0 = int(np.floor(region[0] * fx)), int(np.floor(region[1] * fy))
    x1, y1 = min(scaled_w, int(np.ceil(region[2] * fx))), min(scaled_h, int(np.ceil(region[3] * fy)))
    if min(x1 - x0, y1 - y0) < MIN_SIDE:
        return []
    if not needs_tiles(x1 - x0, y1 - y0, tile):
        # A region in one piece is widened to the model's size multiple: more context
        # instead of black padding, and crops of few shapes, which batch together.
        x0, x1 = _widened(x0, x1, scaled_w)
        y0, y1 = _widened(y0, y1, scaled_h)
    return [
        Crop(index, (scaled_w, scaled_h), (x0 + a, y0 + b, x0 + c, y0 + d), plan.mirrored, trim)
        for a, b, c, d in tile_windows(x1 - x0, y1 - y0, tile, even=not plan.closer_look)
    ]


def _widened(start: int, end: int, limit: int) -> tuple[int, int]:
    """The span grown about its centre to a multiple of SHAPE_MULTIPLE, within 0-limit."""
    length = min(-(-(end - start) // SHAPE_MULTIPLE) * SHAPE_MULTIPLE, limit)
    start = min(max(0, start - (length - (end - start)) // 2), limit - length)
    return start, start + length


def run_passes(detector: Detector, image: np.ndarray, settings: DetectorConfig) -> list[Detections]:
    """The boxes of each planned pass (one Detections per pass of ``plan_passes``, empty for
    a pass that did not run), in image coordinates. With ``upscale_below`` set, the closer
    look (upscaled and mirrored passes) runs only on an image where the first passes found
    a box shorter than that scoring ``closer_look_score``, and only around the boxes they
    found (``deid.detect.closer``)."""
    height, width = image.shape[:2]
    plans = plan_passes(width, height, settings)
    whole = (0, 0, width, height)
    found = [Detections.empty() for _ in plans]
    source = Resampler(image)
    first = [i for i, plan in enumerate(plans) if not plan.closer_look]
    run_crops(detector, source, [
        crop for i in first for crop in pass_crops(plans[i], i, whole, width, height, settings.tile)
    ], found)
    closer = [i for i, plan in enumerate(plans) if plan.closer_look]
    if not closer:
        return found
    if settings.upscale_below:
        # What a shrunk pass sees too small to count (seen_in_pass) is below the size the
        # model finds reliably: no reason to look closer, nor a place to look. What it
        # sees larger is a place to look where the native passes call for the closer look.
        native = [found[i] for i in first if plans[i].scale >= 1.0]
        if not has_face_below(native, settings.upscale_below, settings.closer_look_score):
            return found
        first_found = native + [
            found[i][seen_in_pass(found[i].xyxy[:, 3] - found[i].xyxy[:, 1], plans[i].scale)]
            for i in first if plans[i].scale < 1.0
        ]
        regions = closer_look_regions(Detections.concatenate(first_found), settings, width, height)
    else:
        regions = [whole]
    run_crops(detector, source, [
        crop for i in closer for region in regions
        for crop in pass_crops(plans[i], i, region, width, height, settings.tile, trim=region != whole)
    ], found)
    return found


def run_crops(detector: Detector, source: Resampler, crops: list[Crop], found: list[Detections]) -> None:
    """Detect in every crop, crops of one shape in batches of at most the detector's
    batch pixels, and add the boxes (in image coordinates) to their pass in ``found``.
    Pixels are resampled batch by batch, so memory holds one batch at a time."""
    height, width = source.image.shape[:2]
    budget = max_batch_pixels(detector)
    by_shape: dict[tuple[int, int], list[Crop]] = {}
    for crop in crops:
        by_shape.setdefault(crop.shape_key, []).append(crop)
    parts: dict[int, list[Detections]] = {}
    for (rows, columns), group in by_shape.items():
        per_batch = max(1, budget // (rows * columns * SHAPE_MULTIPLE ** 2))
        for start in range(0, len(group), per_batch):
            batch = group[start:start + per_batch]
            results = detect_batch(detector, [crop.pixels(source) for crop in batch])
            for crop, faces in zip(batch, results):
                if len(faces):
                    parts.setdefault(crop.index, []).append(crop.to_image(faces, width, height))
    for index, boxes in parts.items():
        found[index] = Detections.concatenate([found[index], *boxes])


def tile_windows(width: int, height: int, tile: int, even: bool = False) -> Iterator[Window]:
    """xyxy windows of overlapping tiles covering a width x height image (``even_tile_spans``
    when ``even``, else ``tile_spans``); the whole image when ``tile`` is 0 or the image
    holds no more pixels than one tile."""
    if not needs_tiles(width, height, tile):
        yield 0, 0, width, height
        return
    spans = even_tile_spans if even else tile_spans
    for y0, y1 in spans(height, tile):
        for x0, x1 in spans(width, tile):
            yield x0, y0, x1, y1


def tile_spans(length: int, tile: int) -> list[tuple[int, int]]:
    """(start, end) of windows of ``tile`` px covering ``length``, a step of three
    quarters of a tile apart, the last one ending at the edge; every window of a pass has
    the same size, so a pass's tiles go through the model as one batch. The last two may
    overlap by more than a quarter. Spreading them evenly to overlap by exactly a quarter
    was 15% faster on the crowds set, but it found 46 fewer of the 6,652 faces under 16 px
    there: a second look in the wider overlap catches faces near the detection threshold."""
    if length <= tile:
        return [(0, length)]
    step = max(1, int(tile * (1 - TILE_OVERLAP)))
    starts = list(range(0, length - tile, step)) + [length - tile]
    return [(start, start + tile) for start in starts]


def even_tile_spans(length: int, tile: int) -> list[tuple[int, int]]:
    """(start, end) of the fewest equal windows of at most ``tile`` px (a multiple of
    SHAPE_MULTIPLE where it fits) that cover ``length`` with neighbours overlapping by
    at least FIRST_PASS_OVERLAP of a tile, spread evenly: for the passes at or below
    native size, which look at every pixel of every image. tile_spans' windows looked at
    1.6-2.4 times the pixels of full-size camera photos, these 1.3-1.4 times."""
    if length <= tile:
        return [(0, length)]
    overlap = int(tile * FIRST_PASS_OVERLAP)
    count = -(-(length - overlap) // (tile - overlap))
    size = -(-(length + (count - 1) * overlap) // count)
    size = min(-(-size // SHAPE_MULTIPLE) * SHAPE_MULTIPLE, tile)
    starts = [round(k * (length - size) / (count - 1)) for k in range(count)]
    return [(start, start + size) for start in starts]
