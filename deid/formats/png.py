from __future__ import annotations

from typing import BinaryIO

from PIL import Image

from deid.config import OutputConfig
from deid.formats.base import ImageFormat


class PngFormat(ImageFormat):
    name = "PNG"
    extensions = (".png",)
    signatures = (b"\x89PNG\r\n\x1a\n",)

    def save(self, image: Image.Image, fp: BinaryIO, config: OutputConfig) -> None:
        image.save(fp, format="PNG", optimize=False)
