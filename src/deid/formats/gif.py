from __future__ import annotations

from PIL import Image

from deid.formats.base import ImageFormat

# GIF application extensions that are not metadata: the loop count of animations.
_STRUCTURAL_APPS = (b"NETSCAPE2.0", b"ANIMEXTS1.0")


class GifFormat(ImageFormat):
    """Still or animated GIF. Palettes are recomputed from the anonymized pixels, so no
    colour of an erased face survives in them; only the loop count extension is written."""

    name = "GIF"
    extensions = (".gif",)
    signatures = (b"GIF87a", b"GIF89a")
    multi_frame = True
    animated = True
    ALLOWED_INFO = frozenset(
        {"version", "background", "transparency", "duration", "extension", "loop"}
    )

    @classmethod
    def metadata_found(cls, image: Image.Image, data: bytes | None = None) -> set[str]:
        found = super().metadata_found(image, data)
        if data is not None and cls.matches(data):
            found |= extension_categories(data)
        return found


def extension_categories(data: bytes) -> set[str]:
    """Categories of a GIF's comment and application extensions (all frames)."""
    found: set[str] = set()
    if len(data) < 13:
        return found
    pos = 13
    flags = data[10]
    if flags & 0x80:
        pos += 3 * (2 ** ((flags & 0x07) + 1))
    while pos < len(data):
        block = data[pos]
        if block == 0x3B:  # trailer
            break
        if block == 0x21 and pos + 1 < len(data):
            label = data[pos + 1]
            pos += 2
            first = data[pos + 1 : pos + 1 + data[pos]] if pos < len(data) else b""
            if label == 0xFE:
                found.add("comment")
            elif label == 0xFF:
                if first.startswith(b"XMP DataXMP"):
                    found.add("xmp")
                elif first.startswith(b"ICCRGBG1"):
                    found.add("icc")
                elif not first.startswith(_STRUCTURAL_APPS):
                    found.add("gif_extension")
            pos = _skip_sub_blocks(data, pos)
        elif block == 0x2C and pos + 10 <= len(data):  # image descriptor
            local = data[pos + 9]
            pos += 10
            if local & 0x80:
                pos += 3 * (2 ** ((local & 0x07) + 1))
            pos = _skip_sub_blocks(data, pos + 1)  # +1: LZW minimum code size
        else:
            break
    return found


def _skip_sub_blocks(data: bytes, pos: int) -> int:
    while pos < len(data) and data[pos] != 0:
        pos += data[pos] + 1
    return pos + 1
