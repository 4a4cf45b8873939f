"""The strip-metadata stage: what identifying metadata a file carries, and a clean image.

deid never edits metadata in place. The output is re-encoded from a bare pixel array
(``strip_metadata``), so nothing of the original container can ride along, and the
encoded bytes are read back (``find_metadata``) before they may be written.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from deid.formats import reader_for

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


def strip_metadata(pixels: np.ndarray) -> Image.Image:
    """A Pillow image holding these pixels and nothing else."""
    return Image.fromarray(np.ascontiguousarray(pixels))


def find_metadata(image: Image.Image, data: bytes | None = None) -> list[str]:
    """Privacy-relevant categories present in an opened image, in report order, as its
    format's class finds them; the raw bytes, where given, reveal what Pillow does not
    expose (JPEG segments, GIF extensions)."""
    found = reader_for(image.format).metadata_found(image, data)
    # A name outside CATEGORIES (a format class's new or misspelt category) is still
    # reported, after the known ones: metadata found must never go unsaid.
    return sorted(set(found), key=category_order)


def category_order(category: str) -> tuple[int, str]:
    """Report order: CATEGORIES first, any other name after them."""
    return (CATEGORIES.index(category), "") if category in CATEGORIES else (len(CATEGORIES), category)


def leftover_metadata(data: bytes, allowed_info: frozenset[str]) -> list[str]:
    """Everything in an encoded file beyond its format's structure: empty for a clean file."""
    with Image.open(io.BytesIO(data)) as image:
        left = find_metadata(image, data)
        left += [
            f"info:{key}" for key, value in image.info.items()
            if key not in allowed_info and value not in (None, b"", "", [], {}, ())
        ]
    return left
