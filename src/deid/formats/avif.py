from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any, BinaryIO

from PIL import Image

from deid.formats.base import ImageFormat

if TYPE_CHECKING:
    from deid.config import OutputConfig
    from deid.decode import Animation

# ISO base media boxes made of boxes, down to the headers of an image sequence's movie
# (mvhd), tracks (tkhd) and media (mdhd), each of which holds a creation and a
# modification time: the capture time in a camera's file, and the encoding time in one
# libavif writes.
_CONTAINERS = frozenset({b"moov", b"trak", b"mdia"})
_TIMED = frozenset({b"mvhd", b"tkhd", b"mdhd"})


class AvifFormat(ImageFormat):
    """AVIF, through Pillow's own plugin (Pillow 11.3 and later)."""

    name = "AVIF"
    extensions = (".avif",)
    multi_frame = True
    # An AVIF image sequence is an animation: Pillow gives each frame's duration (AVIF has
    # no loop count to keep).
    animated = True
    ALLOWED_INFO = frozenset({"duration", "loop", "timestamp"})

    @classmethod
    def matches(cls, head: bytes) -> bool:
        return head[4:8] == b"ftyp" and head[8:12] in (b"avif", b"avis")

    @classmethod
    def metadata_found(cls, image: Image.Image, data: bytes | None = None) -> set[str]:
        found = super().metadata_found(image, data)
        if data is not None and any(any(data[at:at + size]) for at, size in movie_times(data)):
            found.add("datetime")
        return found

    def params(self, config: OutputConfig) -> dict[str, Any]:
        return {"quality": config.jpeg_quality}

    def save(
        self, frames: list[Image.Image], fp: BinaryIO, config: OutputConfig,
        animation: Animation | None = None, dpi: tuple[float, float] | None = None,
    ) -> None:
        buffer = io.BytesIO()
        super().save(frames, buffer, config, animation, dpi)
        # libavif stamps an image sequence with the time it was encoded: zeroed, so that
        # the output says nothing of when it was made and is the same on every run.
        encoded = buffer.getvalue()
        data = bytearray(encoded)
        for at, size in movie_times(encoded):
            data[at:at + size] = bytes(size)
        fp.write(data)


def movie_times(data: bytes) -> list[tuple[int, int]]:
    """(offset, length) of every creation and modification time in the movie boxes of an
    AVIF image sequence (none in a still image)."""
    found: list[tuple[int, int]] = []

    def walk(start: int, end: int) -> None:
        at = start
        while at + 8 <= end:
            size, header = int.from_bytes(data[at:at + 4], "big"), 8
            if size == 1:
                size, header = int.from_bytes(data[at + 8:at + 16], "big"), 16
            elif size == 0:
                size = end - at
            if size < header or at + size > end:
                return  # a damaged box: nothing after it can be trusted to be a box
            kind, body = data[at + 4:at + 8], at + header
            if kind in _CONTAINERS:
                walk(body, at + size)
            elif kind in _TIMED and body + 4 <= at + size:
                width = 8 if data[body] == 1 else 4  # version 1: 64-bit times
                if body + 4 + 2 * width <= at + size:
                    found.extend([(body + 4, width), (body + 4 + width, width)])
            at += size

    walk(0, len(data))
    return found
