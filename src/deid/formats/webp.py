from __future__ import annotations

from typing import TYPE_CHECKING, Any

from deid.formats.base import ImageFormat

if TYPE_CHECKING:
    from deid.config import OutputConfig


class WebpFormat(ImageFormat):
    name = "WEBP"
    extensions = (".webp",)
    # Pillow reports the loop count and frame duration of every WebP, even a still one.
    multi_frame = True
    animated = True
    ALLOWED_INFO = frozenset({"loop", "duration", "background", "timestamp"})

    @classmethod
    def matches(cls, head: bytes) -> bool:
        return head[:4] == b"RIFF" and head[8:12] == b"WEBP"

    def params(self, config: OutputConfig) -> dict[str, Any]:
        return {"quality": config.jpeg_quality}
