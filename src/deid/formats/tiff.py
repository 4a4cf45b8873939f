from __future__ import annotations

from typing import TYPE_CHECKING, Any

from deid.formats.base import ImageFormat

if TYPE_CHECKING:
    from deid.config import OutputConfig


class TiffFormat(ImageFormat):
    name = "TIFF"
    extensions = (".tif", ".tiff")
    signatures = (b"II*\x00", b"MM\x00*")
    multi_frame = True
    ALLOWED_INFO = frozenset({"compression", "dpi", "resolution"})

    def params(self, config: OutputConfig) -> dict[str, Any]:
        return {"compression": "tiff_lzw"}
