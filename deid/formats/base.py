"""One class per image format: how to recognise it by content and how to write it clean.

The contract, for every format:
* ``matches(head)`` looks only at the first bytes of the file; extensions are never trusted.
* ``save(image, fp, config)`` writes the pixels of ``image`` and nothing else: the image it
  receives was built from a bare pixel array, and ``save`` passes no metadata argument
  (exif, icc_profile, xmp, pnginfo, comment) to Pillow. Structural fields that a decoder
  needs (size, mode, palette, compression) are all a clean file holds.
* ``ALLOWED_INFO``: keys Pillow may report in ``Image.info`` when it re-reads a clean file
  of this format; anything else found there means metadata leaked.
"""

from __future__ import annotations

from typing import BinaryIO, ClassVar

from PIL import Image

from deid.config import OutputConfig


class ImageFormat:
    name: ClassVar[str]  # Pillow's format name
    extensions: ClassVar[tuple[str, ...]]
    signatures: ClassVar[tuple[bytes, ...]] = ()
    # Image modes the writer accepts; others are converted to the first one.
    modes: ClassVar[tuple[str, ...]] = ("RGB", "RGBA")
    ALLOWED_INFO: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def matches(cls, head: bytes) -> bool:
        return any(head.startswith(sig) for sig in cls.signatures)

    def save(self, image: Image.Image, fp: BinaryIO, config: OutputConfig) -> None:
        raise NotImplementedError
