from __future__ import annotations

from typing import BinaryIO

from PIL import Image

from deid.config import OutputConfig
from deid.formats.base import ImageFormat


class WebpFormat(ImageFormat):
    name = "WEBP"
    extensions = (".webp",)
    # Pillow reports the loop count and frame duration of every WebP, even a still one.
    ALLOWED_INFO = frozenset({"loop", "duration", "background", "timestamp"})

    @classmethod
    def matches(cls, head: bytes) -> bool:
        return head[:4] == b"RIFF" and head[8:12] == b"WEBP"

    def save(self, image: Image.Image, fp: BinaryIO, config: OutputConfig) -> None:
        image.save(fp, format="WEBP", quality=config.jpeg_quality)
