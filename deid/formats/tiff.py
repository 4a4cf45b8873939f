from __future__ import annotations

from typing import BinaryIO

from PIL import Image

from deid.config import OutputConfig
from deid.formats.base import ImageFormat


class TiffFormat(ImageFormat):
    name = "TIFF"
    extensions = (".tif", ".tiff")
    signatures = (b"II*\x00", b"MM\x00*")
    ALLOWED_INFO = frozenset({"compression", "dpi", "resolution"})

    def save(self, image: Image.Image, fp: BinaryIO, config: OutputConfig) -> None:
        image.save(fp, format="TIFF", compression="tiff_lzw")
