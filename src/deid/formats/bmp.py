from __future__ import annotations

from deid.formats.base import ImageFormat


class BmpFormat(ImageFormat):
    name = "BMP"
    extensions = (".bmp", ".dib")
    signatures = (b"BM",)
    modes = ("RGB",)
    ALLOWED_INFO = frozenset({"compression", "dpi"})
