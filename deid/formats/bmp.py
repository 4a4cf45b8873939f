from __future__ import annotations

from typing import BinaryIO

from PIL import Image

from deid.config import OutputConfig
from deid.formats.base import ImageFormat


class BmpFormat(ImageFormat):
    name = "BMP"
    extensions = (".bmp", ".dib")
    signatures = (b"BM",)
    modes = ("RGB",)
    ALLOWED_INFO = frozenset({"compression", "dpi"})

    def save(self, image: Image.Image, fp: BinaryIO, config: OutputConfig) -> None:
        image.save(fp, format="BMP")
