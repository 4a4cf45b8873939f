"""The strip-metadata stage: what identifying metadata a file carries, and a clean image.

deid never edits metadata in place. The output is re-encoded from a bare pixel array
(``strip_metadata``), so nothing of the original container can ride along, and the
encoded bytes are read back (``find_metadata``) before they may be written.
"""

from __future__ import annotations

import io
import struct

import numpy as np
from PIL import ExifTags, Image

# Privacy-relevant categories, in report order.
CATEGORIES = (
    "gps",          # position, altitude, direction, GPS time
    "device",       # camera or phone make, model, lens
    "serial",       # body, lens or internal serial numbers
    "owner",        # artist, copyright, camera owner name
    "datetime",     # capture, digitisation and modification times
    "software",     # editing or firmware software
    "description",  # user comments, image description, title
    "makernote",    # vendor blocks, often with serials and face-detection data
    "thumbnail",    # embedded EXIF/IRB thumbnails or previews showing the original
    "extra_images", # further pictures in the file (MPF depth maps, previews)
    "exif",         # any other EXIF
    "xmp",
    "iptc",
    "icc",          # colour profile; can name the device or the editing software
    "comment",      # JPEG COM / GIF comment
    "text",         # PNG tEXt / iTXt / zTXt chunks
    "app_segment",  # JPEG APPn segments of other kinds
    "trailer",      # data after the end of the image (vendor blocks, hidden files)
    "gif_extension",  # GIF application extensions other than the loop count
)

_DEVICE_TAGS = {0x010F, 0x0110, 0xA433, 0xA434}  # Make, Model, LensMake, LensModel
_SERIAL_TAGS = {0xA431, 0xA435}  # BodySerialNumber, LensSerialNumber
_OWNER_TAGS = {0x013B, 0x8298, 0xA430}  # Artist, Copyright, CameraOwnerName
_DATETIME_TAGS = {0x0132, 0x9003, 0x9004}  # DateTime, DateTimeOriginal, DateTimeDigitized
_SOFTWARE_TAGS = {0x0131, 0x000B}  # Software, ProcessingSoftware
_DESCRIPTION_TAGS = {0x010E, 0x9286, 0x9C9B, 0x9C9C, 0x9C9D, 0x9C9E, 0x9C9F, 0xA420}
_MAKERNOTE_TAG = 0x927C
# Tags that describe the pixel layout of a TIFF, not the picture's origin; Pillow's
# getexif() lists them for every TIFF, clean or not.
_TIFF_STRUCTURE_TAGS = {
    0x00FE, 0x0100, 0x0101, 0x0102, 0x0103, 0x0106, 0x0111, 0x0115, 0x0116, 0x0117,
    0x011A, 0x011B, 0x011C, 0x0128, 0x013D, 0x0140, 0x0142, 0x0143, 0x0144, 0x0145,
    0x0152, 0x0153, 0x0112,
}
_TIFF_IPTC_TAGS = {33723, 34377}  # IPTC-NAA, Photoshop image resources
_PNG_XMP_KEY = "XML:com.adobe.xmp"


def strip_metadata(pixels: np.ndarray) -> Image.Image:
    """A Pillow image holding these pixels and nothing else."""
    return Image.fromarray(np.ascontiguousarray(pixels))


def find_metadata(image: Image.Image, data: bytes | None = None) -> list[str]:
    """Privacy-relevant categories present in an opened image (and its raw bytes, which
    reveal JPEG segments Pillow does not expose)."""
    found: set[str] = set()
    _from_exif(image, found)
    info = image.info
    if info.get("xmp") or _PNG_XMP_KEY in info or 700 in getattr(image, "tag_v2", {}):
        found.add("xmp")
    if info.get("icc_profile"):
        found.add("icc")
    if info.get("comment"):
        found.add("comment")
    if info.get("photoshop") or (set(getattr(image, "tag_v2", {})) & _TIFF_IPTC_TAGS):
        found.add("iptc")
    text = getattr(image, "text", None) if image.format == "PNG" else None
    if text and set(text) - {_PNG_XMP_KEY}:
        found.add("text")
    if image.format == "MPO" or info.get("depth_images") or info.get("aux"):
        found.add("extra_images")
    if info.get("thumbnails"):  # HEIF thumbnail items
        found.add("thumbnail")
    if info.get("metadata"):  # HEIF metadata items beyond Exif and XMP
        found.add("exif")
    if data is not None and data[:3] == b"\xff\xd8\xff":
        found |= jpeg_segment_categories(data)
    if data is not None and (b"<x:xmpmeta" in data or b"http://ns.adobe.com/xap/1.0/" in data):
        # Containers whose XMP Pillow does not expose (some HEIF items, TIFF sub-IFDs).
        found.add("xmp")
    if data is not None and data[:4] == b"GIF8":
        found |= gif_extension_categories(data)
    return [c for c in CATEGORIES if c in found]


def _from_exif(image: Image.Image, found: set[str]) -> None:
    try:
        exif = image.getexif()
    except Exception:  # a broken EXIF block is still EXIF: report it, it is never copied
        found.add("exif")
        return
    tags = set(exif)
    ifds = {}
    for ifd in (ExifTags.IFD.Exif, ExifTags.IFD.GPSInfo, ExifTags.IFD.IFD1):
        try:
            ifds[ifd] = exif.get_ifd(ifd)
        except Exception:
            ifds[ifd] = {}
    exif_tags = set(ifds[ExifTags.IFD.Exif])
    all_tags = tags | exif_tags
    if ifds[ExifTags.IFD.GPSInfo] or ExifTags.IFD.GPSInfo in tags:
        found.add("gps")
    # In a TIFF the next IFD is the next page, not a thumbnail; reduced-resolution pages
    # are found by decode, which drops them.
    if ifds[ExifTags.IFD.IFD1] and image.format != "TIFF":
        found.add("thumbnail")
    for category, wanted in (
        ("device", _DEVICE_TAGS),
        ("serial", _SERIAL_TAGS),
        ("owner", _OWNER_TAGS),
        ("datetime", _DATETIME_TAGS),
        ("software", _SOFTWARE_TAGS),
        ("description", _DESCRIPTION_TAGS),
    ):
        if all_tags & wanted:
            found.add(category)
    if _MAKERNOTE_TAG in exif_tags:
        found.add("makernote")
    structural = _TIFF_STRUCTURE_TAGS if image.format == "TIFF" else set()
    if (tags - structural) or exif_tags:
        found.add("exif")


def jpeg_segment_categories(data: bytes) -> set[str]:
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


# GIF application extensions that are not metadata: the loop count of animations.
_GIF_STRUCTURAL_APPS = (b"NETSCAPE2.0", b"ANIMEXTS1.0")


def gif_extension_categories(data: bytes) -> set[str]:
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
                elif not first.startswith(_GIF_STRUCTURAL_APPS):
                    found.add("gif_extension")
            pos = _skip_gif_sub_blocks(data, pos)
        elif block == 0x2C and pos + 10 <= len(data):  # image descriptor
            local = data[pos + 9]
            pos += 10
            if local & 0x80:
                pos += 3 * (2 ** ((local & 0x07) + 1))
            pos = _skip_gif_sub_blocks(data, pos + 1)  # +1: LZW minimum code size
        else:
            break
    return found


def _skip_gif_sub_blocks(data: bytes, pos: int) -> int:
    while pos < len(data) and data[pos] != 0:
        pos += data[pos] + 1
    return pos + 1


def leftover_metadata(data: bytes, allowed_info: frozenset[str]) -> list[str]:
    """Everything in an encoded file beyond its format's structure: empty for a clean file."""
    with Image.open(io.BytesIO(data)) as image:
        left = find_metadata(image, data)
        left += [
            f"info:{key}" for key, value in image.info.items()
            if key not in allowed_info and value not in (None, b"", "", [], {}, ())
        ]
    return left
