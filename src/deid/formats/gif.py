from __future__ import annotations

from deid.formats.base import ImageFormat


class GifFormat(ImageFormat):
    """Still or animated GIF. Palettes are recomputed from the anonymized pixels, so no
    colour of an erased face survives in them; only the loop count extension is written."""

    name = "GIF"
    extensions = (".gif",)
    signatures = (b"GIF87a", b"GIF89a")
    multi_frame = True
    ALLOWED_INFO = frozenset(
        {"version", "background", "transparency", "duration", "extension", "loop"}
    )
