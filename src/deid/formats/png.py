from __future__ import annotations

from PIL import Image

from deid.formats.base import ImageFormat

# The iTXt keyword under which PNG files carry an XMP packet.
_XMP_KEY = "XML:com.adobe.xmp"


class PngFormat(ImageFormat):
    name = "PNG"
    extensions = (".png",)
    multi_frame = True
    animated = True
    signatures = (b"\x89PNG\r\n\x1a\n",)
    # Animated PNG (APNG) frame control: timing and placement, nothing about the scene.
    ALLOWED_INFO = frozenset({"loop", "duration", "bbox", "disposal", "blend", "default_image"})

    @classmethod
    def metadata_found(cls, image: Image.Image, data: bytes | None = None) -> set[str]:
        found = super().metadata_found(image, data)
        if _XMP_KEY in image.info:
            found.add("xmp")
        if cls.text_chunks(image):
            found.add("text")
        return found

    @classmethod
    def text_chunks(cls, image: Image.Image) -> dict[str, str]:
        # tEXt, zTXt and iTXt chunks, those after the pixel data included.
        text = getattr(image, "text", None) or {}
        return {key: value for key, value in text.items() if key != _XMP_KEY}

    @classmethod
    def xmp_packet(cls, image: Image.Image) -> str | bytes | None:
        return image.info.get("xmp") or image.info.get(_XMP_KEY)
