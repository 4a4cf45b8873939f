"""One class per image format: how to recognise it by content and how to write it clean.

The contract, for every format:
* ``matches(head)`` looks only at the first bytes of the file; extensions are never trusted.
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

from PIL import Image

from deid.errors import UnsupportedImageError

if TYPE_CHECKING:
    from deid.config import OutputConfig
    from deid.decode import Animation


class ImageFormat:
    name: ClassVar[str]  # Pillow's format name
    extensions: ClassVar[tuple[str, ...]]
    signatures: ClassVar[tuple[bytes, ...]] = ()
    # Image modes the writer accepts; others are converted to the first one.
    modes: ClassVar[tuple[str, ...]] = ("RGB", "RGBA")
    ALLOWED_INFO: ClassVar[frozenset[str]] = frozenset()

    # Whether the format stores several frames (animation) or pages.
    multi_frame: ClassVar[bool] = False

    @classmethod
    def matches(cls, head: bytes) -> bool:
        return any(head.startswith(sig) for sig in cls.signatures)

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
