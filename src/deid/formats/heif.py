from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PIL import Image

from deid.formats.base import ImageFormat

if TYPE_CHECKING:
    from deid.config import OutputConfig

_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}

_REGISTERED = False


def register_heif() -> None:
    """pillow-heif adds HEIF to Pillow when asked; asked on first use, not at import, so
    importing deid changes nothing in Pillow."""
    global _REGISTERED
    if not _REGISTERED:
        import pillow_heif

        pillow_heif.register_heif_opener()
        _REGISTERED = True


class HeifFormat(ImageFormat):
    """HEIC/HEIF (phones), through pillow-heif. Written with only the image item and its
    colour description (nclx): no Exif, XMP, thumbnails, depth maps or auxiliary images."""

    name = "HEIF"
    extensions = (".heic", ".heif", ".hif")
    multi_frame = False
    # pillow-heif lists these keys for every file; read back from a clean file they are
    # empty or describe only the pixel encoding.
    ALLOWED_INFO = frozenset({"primary", "bit_depth", "chroma", "nclx_profile", "original_orientation"})

    @classmethod
    def matches(cls, head: bytes) -> bool:
        return head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS

    @classmethod
    def register_opener(cls) -> None:
        register_heif()

    @classmethod
    def metadata_found(cls, image: Image.Image, data: bytes | None = None) -> set[str]:
        found = super().metadata_found(image, data)
        info = image.info
        if info.get("depth_images") or info.get("aux"):
            found.add("extra_images")
        if info.get("thumbnails"):
            found.add("thumbnail")
        if info.get("metadata"):  # metadata items beyond Exif and XMP
            found.add("exif")
        return found

    def params(self, config: OutputConfig) -> dict[str, Any]:
        register_heif()
        return {"quality": config.jpeg_quality}
