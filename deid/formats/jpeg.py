from __future__ import annotations

from typing import BinaryIO

from PIL import Image

from deid.config import OutputConfig
from deid.formats.base import ImageFormat


class JpegFormat(ImageFormat):
    name = "JPEG"
    extensions = (".jpg", ".jpeg", ".jpe", ".jfif")
    signatures = (b"\xff\xd8\xff",)
    modes = ("RGB",)
    # Pillow writes a JFIF APP0 segment (version, density) into every JPEG.
    ALLOWED_INFO = frozenset({"jfif", "jfif_version", "jfif_unit", "jfif_density", "dpi"})

    def save(self, image: Image.Image, fp: BinaryIO, config: OutputConfig) -> None:
        image.save(fp, format="JPEG", quality=config.jpeg_quality)
