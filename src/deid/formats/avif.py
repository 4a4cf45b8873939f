from __future__ import annotations

from typing import TYPE_CHECKING, Any

from deid.formats.base import ImageFormat

if TYPE_CHECKING:
    from deid.config import OutputConfig


class AvifFormat(ImageFormat):
    """AVIF, through Pillow's own plugin (Pillow 11.3 and later)."""

    name = "AVIF"
    extensions = (".avif",)
    multi_frame = True
    ALLOWED_INFO = frozenset({"duration", "loop", "timestamp"})

    @classmethod
    def matches(cls, head: bytes) -> bool:
        return head[4:8] == b"ftyp" and head[8:12] in (b"avif", b"avis")

    def params(self, config: OutputConfig) -> dict[str, Any]:
        return {"quality": config.jpeg_quality}
