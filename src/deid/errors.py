"""The error contract of deid.

Two families, because they end differently:

* ``UsageError`` (and ``ConfigError``): the user asked for something impossible (a missing
  SRC, an unknown config key, OUT inside SRC). The whole run cannot start; the CLI prints
  the one-line message and exits 2.
* ``ImageError``: one file could not be processed completely. That file is reported as
  failed, nothing is written for it, and the run goes on (exit 1 at the end).

Every message is one line that says what went wrong and, where the user can act, what to do.
"""

from __future__ import annotations


class DeidError(Exception):
    """Base of every error deid raises on purpose."""


class UsageError(DeidError):
    """The run cannot start as asked."""


class ConfigError(UsageError):
    """A configuration file or option is invalid."""


class ImageError(DeidError):
    """One image could not be processed; it is reported as failed and never written."""


class UnsupportedImageError(ImageError):
    """The file is an image deid recognises but cannot process safely."""


class DecodeError(ImageError):
    """The file is not a decodable image (corrupt, truncated, empty, too large)."""


class DetectionError(ImageError):
    """A detector failed on an image; the image cannot be known to be free of faces."""


class MetadataLeftError(ImageError):
    """The encoded output still carries metadata; it must not be written."""


class ReviewNeeded(ImageError):
    """The image holds a region a person must look at before it is written (config
    ``review.large_region = "refuse"``); ``faces`` are the records of what was found, so
    that the review page can show them."""

    def __init__(
        self, message: str, faces: list, width: int, height: int, frames: int, frame_sizes: list | None = None,
    ) -> None:
        super().__init__(message)
        self.frame_sizes = frame_sizes
        self.faces = faces
        self.width = width
        self.height = height
        self.frames = frames
