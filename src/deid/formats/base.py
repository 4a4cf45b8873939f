"""One class per image format: everything deid knows about it, from recognising a file to
writing a clean copy.

The contract, for every format:
* ``matches(head)`` looks only at the first bytes of the file; extensions are never trusted.
  ``name`` is Pillow's name of the format, ``pillow_aliases`` the other names Pillow gives
  files of it.
* ``metadata_found(image, data)``: the privacy-relevant categories (``deid.metadata.
  CATEGORIES``) an opened file holds. This base class reads what Pillow exposes alike for
  every format (EXIF, XMP, ICC profile, comment, Photoshop resources); a format adds what
  only it holds (JPEG segments, GIF extensions, PNG text chunks ...). The base class alone
  is how a format deid does not write (``deid inspect`` of a PSD) is read.
* Frames: ``frame_count(image)`` is how many of the frames Pillow lists are pictures to
  process, ``is_preview_frame(image)`` whether the current one is a reduced copy of another
  (dropped), ``animated`` whether several frames are an animation whose timing is kept.
* What ``deid inspect`` shows beyond the shared fields: ``iptc(image)``,
  ``text_chunks(image)``, ``xmp_packet(image)``.
* ``register_opener()`` adds the format to Pillow where a plugin must be asked to.
* ``save(frames, fp, config, ...)`` writes the pixels of ``frames`` and nothing else: the
  images it receives were built from bare pixel arrays, and no metadata argument (exif,
  icc_profile, xmp, pnginfo, comment) is passed to Pillow; only the animation timing and,
  where the config keeps it, the resolution. Structural fields that a decoder
  needs (size, mode, palette, compression) are all a clean file holds.
* ``ALLOWED_INFO``: keys Pillow may report in ``Image.info`` when it re-reads a clean file
  of this format; anything else found there means metadata leaked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar

from PIL import ExifTags, Image, IptcImagePlugin

from deid.errors import UnsupportedImageError

if TYPE_CHECKING:
    from deid.config import OutputConfig
    from deid.decode import Animation

_DEVICE_TAGS = {0x010F, 0x0110, 0xA433, 0xA434}  # Make, Model, LensMake, LensModel
_SERIAL_TAGS = {0xA431, 0xA435}  # BodySerialNumber, LensSerialNumber
_OWNER_TAGS = {0x013B, 0x8298, 0xA430}  # Artist, Copyright, CameraOwnerName
_DATETIME_TAGS = {0x0132, 0x9003, 0x9004}  # DateTime, DateTimeOriginal, DateTimeDigitized
_SOFTWARE_TAGS = {0x0131, 0x000B}  # Software, ProcessingSoftware
_DESCRIPTION_TAGS = {0x010E, 0x9286, 0x9C9B, 0x9C9C, 0x9C9D, 0x9C9E, 0x9C9F, 0xA420}
_MAKERNOTE_TAG = 0x927C
# Markers of an XMP packet, found in the raw bytes of containers whose XMP Pillow does not
# expose (some HEIF items, TIFF sub-IFDs).
_XMP_MARKERS = (b"<x:xmpmeta", b"http://ns.adobe.com/xap/1.0/")


class ImageFormat:
    name: ClassVar[str]  # Pillow's format name
    pillow_aliases: ClassVar[tuple[str, ...]] = ()
    extensions: ClassVar[tuple[str, ...]]
    signatures: ClassVar[tuple[bytes, ...]] = ()
    # Image modes the writer accepts; others are converted to the first one.
    modes: ClassVar[tuple[str, ...]] = ("RGB", "RGBA")
    ALLOWED_INFO: ClassVar[frozenset[str]] = frozenset()

    # Whether the format stores several frames (animation) or pages.
    multi_frame: ClassVar[bool] = False
    # Whether several frames are an animation: their durations and loop count are kept.
    animated: ClassVar[bool] = False

    # EXIF tags that describe the pixel layout, not the picture's origin: Pillow lists them
    # for every file of the format, clean or not.
    STRUCTURE_TAGS: ClassVar[frozenset[int]] = frozenset()
    # Whether EXIF's next IFD (IFD1) is a thumbnail; in a TIFF it is the next page.
    next_ifd_is_thumbnail: ClassVar[bool] = True

    @classmethod
    def matches(cls, head: bytes) -> bool:
        return any(head.startswith(sig) for sig in cls.signatures)

    @classmethod
    def register_opener(cls) -> None:
        """Make Pillow open this format; Pillow opens most formats without being asked."""

    # Reading: what metadata a file holds.

    @classmethod
    def metadata_found(cls, image: Image.Image, data: bytes | None = None) -> set[str]:
        """Privacy-relevant categories in an opened image of this format (and its raw
        bytes, which reveal what Pillow does not expose)."""
        found = cls.exif_categories(image)
        info = image.info
        if cls.xmp_packet(image):
            found.add("xmp")
        if info.get("icc_profile"):
            found.add("icc")
        if info.get("comment"):
            found.add("comment")
        if info.get("photoshop"):
            found.add("iptc")
        if data is not None and any(marker in data for marker in _XMP_MARKERS):
            found.add("xmp")
        return found

    @classmethod
    def exif_categories(cls, image: Image.Image) -> set[str]:
        try:
            exif = image.getexif()
        except Exception:  # a broken EXIF block is still EXIF: report it, it is never copied
            return {"exif"}
        found: set[str] = set()
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
        if ifds[ExifTags.IFD.IFD1] and cls.next_ifd_is_thumbnail:
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
        if (tags - cls.STRUCTURE_TAGS) or exif_tags:
            found.add("exif")
        return found

    # Reading: the frames that are pictures.

    @classmethod
    def frame_count(cls, image: Image.Image) -> int:
        """How many of the frames Pillow lists are decoded and processed."""
        return getattr(image, "n_frames", 1)

    @classmethod
    def is_preview_frame(cls, image: Image.Image) -> bool:
        """Whether the current frame is a reduced copy of another: dropped, never written."""
        return False

    # Reading: what deid inspect shows beyond what every format shares.

    @classmethod
    def iptc(cls, image: Image.Image) -> dict[tuple[int, int], Any]:
        """IPTC records by (record, dataset)."""
        return {}

    @classmethod
    def text_chunks(cls, image: Image.Image) -> dict[str, str]:
        """Free-text key/value fields of the format, XMP packets left out."""
        return {}

    @classmethod
    def xmp_packet(cls, image: Image.Image) -> str | bytes | None:
        return image.info.get("xmp")

    # Writing.

    def params(self, config: OutputConfig) -> dict[str, Any]:
        """Pillow save options of this format: encoding choices only, never metadata."""
        return {}

    def save(
        self,
        frames: list[Image.Image],
        fp: BinaryIO,
        config: OutputConfig,
        animation: Animation | None = None,
        dpi: tuple[float, float] | None = None,
    ) -> None:
        params = self.params(config)
        if dpi is not None:
            params["dpi"] = dpi
        if len(frames) > 1:
            if not self.multi_frame:
                raise UnsupportedImageError(f"{self.name} cannot store {len(frames)} frames")
            params.update(save_all=True, append_images=frames[1:])
            if animation is not None:
                params["duration"] = animation.durations
                if animation.loop is not None:
                    params["loop"] = animation.loop
        frames[0].save(fp, format=self.name, **params)


def read_iptc(image: Image.Image) -> dict[tuple[int, int], Any]:
    """IPTC records as Pillow finds them in a JPEG's Photoshop resources or a TIFF's tag."""
    try:
        return IptcImagePlugin.getiptcinfo(image) or {}
    except Exception:  # a damaged IPTC block shows nothing; find_metadata still reports it
        return {}
