"""The image formats deid reads and writes, found by content.

Each format is one module with an ``ImageFormat`` subclass that owns everything about it:
recognising its files, the metadata it holds, which of its frames are pictures, what
``deid inspect`` shows of it, and writing a clean copy. A new format is that module plus
one line in ``FORMATS``. ``UNSUPPORTED`` lists formats that are recognised but never
copied, with the reason the report gives.
"""

from __future__ import annotations

from pathlib import PurePath

from deid.formats.avif import AvifFormat
from deid.formats.base import ImageFormat
from deid.formats.bmp import BmpFormat
from deid.formats.gif import GifFormat
from deid.formats.heif import HeifFormat
from deid.formats.jpeg import JpegFormat
from deid.formats.png import PngFormat
from deid.formats.tiff import TiffFormat
from deid.formats.webp import WebpFormat

FORMATS: tuple[type[ImageFormat], ...] = (
    JpegFormat,
    PngFormat,
    WebpFormat,
    TiffFormat,
    BmpFormat,
    GifFormat,
    HeifFormat,
    AvifFormat,
)

# Raw camera files are TIFF containers (or close to it) that carry full-size JPEG
# previews of the unblurred scene; they cannot be rewritten safely, so they are skipped.
RAW_EXTENSIONS = frozenset(
    ".nef .nrw .cr2 .cr3 .crw .dng .arw .srf .sr2 .orf .rw2 .raf .pef .srw .x3f .erf "
    ".kdc .dcr .mrw .3fr .mef .mos .iiq .rwl .gpr".split()
)
RAW_REASON = "raw camera file: it embeds full-size previews of the original scene and cannot be cleaned"

UNSUPPORTED: tuple[tuple[str, str], ...] = (
    # (name, reason); recognised by unsupported_format() below
    ("PSD", "Photoshop documents keep hidden layers and are not supported"),
    ("OTHER", "image format not supported"),
)

# Recognised image formats deid does not write (yet): skipped, not failed.
_OTHER_SIGNATURES = (
    b"\x00\x00\x00\x0cjP  \r\n\x87\n",  # JPEG 2000 (JP2)
    b"\xff\x4f\xff\x51",  # JPEG 2000 codestream
    b"\xff\x0a",  # JPEG XL codestream
    b"\x00\x00\x00\x0cJXL \r\n\x87\n",  # JPEG XL container
    b"\x00\x00\x01\x00",  # Windows icon
)

# Every extension a person would take for an image. A file so named whose content is not
# a recognised image is reported as failed (it may be a broken photo), not skipped.
IMAGE_EXTENSIONS = frozenset(
    ext for fmt in FORMATS for ext in fmt.extensions
) | RAW_EXTENSIONS | frozenset(".psd .jp2 .j2k .ico .tga .jxl".split())

# Bytes read from each file to recognise its format.
HEAD_BYTES = 32


def writable_format(head: bytes) -> type[ImageFormat] | None:
    for fmt in FORMATS:
        if fmt.matches(head):
            return fmt
    return None


def format_by_name(name: str, convert: tuple[str, ...] = ()) -> type[ImageFormat]:
    """The writer for an input of Pillow format ``name``, after the config's conversions."""
    name = dict(rule.split("=", 1) for rule in convert).get(name, name)
    for fmt in FORMATS:
        if name == fmt.name or name in fmt.pillow_aliases:
            return fmt
    raise KeyError(name)


def reader_for(name: str | None) -> type[ImageFormat]:
    """The class that reads an image Pillow opened as format ``name``. A format deid does
    not write, or an image made in memory (no format), is read by the base class, which
    knows what every format shares."""
    try:
        return format_by_name(name) if name else ImageFormat
    except KeyError:
        return ImageFormat


def register_openers() -> None:
    """Make Pillow open every format deid reads; called before opening a file."""
    for fmt in FORMATS:
        fmt.register_opener()


def unsupported_reason(head: bytes, path: PurePath) -> str | None:
    """Why a recognised image file cannot be processed, or None if it is not one of those."""
    suffix = path.suffix.lower()
    if suffix in RAW_EXTENSIONS or head[8:10] == b"CR":
        return RAW_REASON
    if head.startswith(b"8BPS"):
        return dict(UNSUPPORTED)["PSD"]
    if head.startswith(_OTHER_SIGNATURES):
        return dict(UNSUPPORTED)["OTHER"]
    return None


__all__ = [
    "FORMATS",
    "HEAD_BYTES",
    "IMAGE_EXTENSIONS",
    "ImageFormat",
    "format_by_name",
    "reader_for",
    "register_openers",
    "unsupported_reason",
    "writable_format",
]
