from __future__ import annotations

from deid.formats.base import ImageFormat


class PngFormat(ImageFormat):
    name = "PNG"
    extensions = (".png",)
    multi_frame = True
    signatures = (b"\x89PNG\r\n\x1a\n",)
    # Animated PNG (APNG) frame control: timing and placement, nothing about the scene.
    ALLOWED_INFO = frozenset({"loop", "duration", "bbox", "disposal", "blend", "default_image"})
