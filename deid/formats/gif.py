from __future__ import annotations

from typing import BinaryIO

from PIL import Image

from deid.config import OutputConfig
from deid.formats.base import ImageFormat


class GifFormat(ImageFormat):
    """Single-frame GIF. The 256-colour palette is recomputed from the anonymized pixels,
    so no colour of an erased face survives in it."""

    name = "GIF"
    extensions = (".gif",)
    signatures = (b"GIF87a", b"GIF89a")
    modes = ("RGB",)
    ALLOWED_INFO = frozenset({"version", "background", "transparency", "duration", "extension"})

    def save(self, image: Image.Image, fp: BinaryIO, config: OutputConfig) -> None:
        image.quantize(256, dither=Image.Dither.NONE).save(fp, format="GIF")
