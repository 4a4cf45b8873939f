from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any

from PIL import Image

from deid.formats.base import ImageFormat, read_iptc

if TYPE_CHECKING:
    from deid.config import OutputConfig


class JpegFormat(ImageFormat):
    """JPEG. Pillow opens one with a multi-picture index (phones, some cameras) as "MPO";
    only its primary picture is kept, written as a plain JPEG."""

    name = "JPEG"
    pillow_aliases = ("MPO",)
    extensions = (".jpg", ".jpeg", ".jpe", ".jfif")
    signatures = (b"\xff\xd8\xff",)
    modes = ("RGB",)
    # Pillow writes a JFIF APP0 segment (version, density) into every JPEG.
    ALLOWED_INFO = frozenset({"jfif", "jfif_version", "jfif_unit", "jfif_density", "dpi"})

    @classmethod
    def metadata_found(cls, image: Image.Image, data: bytes | None = None) -> set[str]:
        found = super().metadata_found(image, data)
        if image.format == "MPO":
            found.add("extra_images")
        if data is not None and cls.matches(data):
            found |= segment_categories(data)
        return found

    @classmethod
    def frame_count(cls, image: Image.Image) -> int:
        # An MPO's further pictures (depth maps, previews) are dropped, not processed.
        return 1

    @classmethod
    def iptc(cls, image: Image.Image) -> dict[tuple[int, int], Any]:
        return read_iptc(image)

    def params(self, config: OutputConfig) -> dict[str, Any]:
        return {"quality": config.jpeg_quality}


def segment_categories(data: bytes) -> set[str]:
    """Categories of the APPn and COM segments before the first scan of a JPEG."""
    found: set[str] = set()
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            break
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if marker == 0xD9:
            break
        if marker == 0xDA:
            # Entropy-coded data never holds an unescaped FF D9, so the first one after
            # the scan starts ends the image; anything after it rode along.
            end = data.find(b"\xff\xd9", pos)
            trailer = data[end + 2 :] if end >= 0 else b""
            if trailer.strip(b"\x00\r\n\t \xff"):
                found.add("trailer")
                # AFCP and FotoStation keep IPTC records (tag marker 0x1C, record 2) here.
                if b"\x1c\x02" in trailer:
                    found.add("iptc")
            break
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        body = data[pos + 4 : pos + 2 + length]
        if marker == 0xFE:
            found.add("comment")
        elif 0xE0 <= marker <= 0xEF:
            found |= _app_segment_category(marker - 0xE0, body)
        pos += 2 + length
    return found


def _app_segment_category(n: int, body: bytes) -> set[str]:
    if n == 0 and body.startswith((b"JFIF\x00", b"JFXX\x00")):
        # JFXX carries a thumbnail; plain JFIF is structural.
        return {"thumbnail"} if body.startswith(b"JFXX") else set()
    if n == 1 and body.startswith(b"Exif\x00"):
        return {"exif"}
    if n == 1 and body.startswith((b"http://ns.adobe.com/xap/1.0/", b"http://ns.adobe.com/xmp/extension/")):
        return {"xmp"}
    if n == 2 and body.startswith(b"ICC_PROFILE\x00"):
        return {"icc"}
    if n == 2 and body.startswith(b"MPF\x00"):
        return {"extra_images"}
    if n == 13 and body.startswith((b"Photoshop 3.0\x00", b"Adobe_Photoshop2.5")):
        return {"iptc"}
    if n == 14 and body.startswith(b"Adobe"):
        return set()  # colour-transform flag, needed to decode CMYK/YCCK
    return {"app_segment"}
