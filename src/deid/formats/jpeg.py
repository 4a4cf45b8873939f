from __future__ import annotations

from typing import TYPE_CHECKING, Any

from deid.formats.base import ImageFormat

if TYPE_CHECKING:
    from deid.config import OutputConfig


class JpegFormat(ImageFormat):
    name = "JPEG"
    extensions = (".jpg", ".jpeg", ".jpe", ".jfif")
    signatures = (b"\xff\xd8\xff",)
    modes = ("RGB",)
    # Pillow writes a JFIF APP0 segment (version, density) into every JPEG.
    ALLOWED_INFO = frozenset({"jfif", "jfif_version", "jfif_unit", "jfif_density", "dpi"})

    def params(self, config: OutputConfig) -> dict[str, Any]:
        return {"quality": config.jpeg_quality}
