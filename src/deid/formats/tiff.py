from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PIL import Image

from deid.formats.base import ImageFormat, read_iptc

if TYPE_CHECKING:
    from deid.config import OutputConfig

_XMP_TAG = 700
_IPTC_TAGS = {33723, 34377}  # IPTC-NAA, Photoshop image resources
_NEW_SUBFILE_TYPE = 0x00FE
# NewSubfileType bit 0: "reduced-resolution version of another image" (TIFF 6.0).
_REDUCED_RESOLUTION = 1


class TiffFormat(ImageFormat):
    name = "TIFF"
    extensions = (".tif", ".tiff")
    signatures = (b"II*\x00", b"MM\x00*")
    multi_frame = True
    ALLOWED_INFO = frozenset({"compression", "dpi", "resolution"})
    # Pillow's getexif() of a TIFF is its first IFD, which holds the pixel layout of every
    # TIFF, clean or not.
    STRUCTURE_TAGS = frozenset({
        0x00FE, 0x0100, 0x0101, 0x0102, 0x0103, 0x0106, 0x0111, 0x0115, 0x0116, 0x0117,
        0x011A, 0x011B, 0x011C, 0x0128, 0x013D, 0x0140, 0x0142, 0x0143, 0x0144, 0x0145,
        0x0152, 0x0153, 0x0112,
    })
    # The next IFD is the next page; reduced-resolution pages are found by
    # is_preview_frame, and decoding drops them.
    next_ifd_is_thumbnail = False

    @classmethod
    def metadata_found(cls, image: Image.Image, data: bytes | None = None) -> set[str]:
        found = super().metadata_found(image, data)
        tags = set(getattr(image, "tag_v2", {}))
        if _XMP_TAG in tags:
            found.add("xmp")
        if tags & _IPTC_TAGS:
            found.add("iptc")
        return found

    @classmethod
    def is_preview_frame(cls, image: Image.Image) -> bool:
        subfile_type = int(getattr(image, "tag_v2", {}).get(_NEW_SUBFILE_TYPE, 0) or 0)
        return bool(subfile_type & _REDUCED_RESOLUTION)

    @classmethod
    def iptc(cls, image: Image.Image) -> dict[tuple[int, int], Any]:
        return read_iptc(image)

    def params(self, config: OutputConfig) -> dict[str, Any]:
        return {"compression": "tiff_lzw"}
