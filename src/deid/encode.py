"""The encode stage: clean pixels in, the bytes of a metadata-free file out."""

from __future__ import annotations

import io

import numpy as np

from deid.config import OutputConfig
from deid.decode import Animation
from deid.errors import MetadataLeftError
from deid.formats import format_by_name
from deid.metadata import leftover_metadata, strip_metadata


# What Pillow reports for a resolution the config keeps.
KEPT_RESOLUTION_INFO = frozenset({"dpi", "resolution", "jfif_density", "jfif_unit"})


def encode(
    frames: list[np.ndarray],
    format_name: str,
    config: OutputConfig,
    animation: Animation | None = None,
    dpi: tuple[float, float] | None = None,
) -> bytes:
    """Encode ``frames`` in the format named (Pillow's name of the input format, or what
    the config converts it to) and check the result by reading it back: bytes that still
    carry metadata are never returned."""
    fmt = format_by_name(format_name, config.convert)()
    images = []
    for pixels in frames:
        image = strip_metadata(pixels)
        images.append(image if image.mode in fmt.modes else image.convert(fmt.modes[0]))
    buffer = io.BytesIO()
    fmt.save(images, buffer, config, animation, dpi if "resolution" in config.keep_metadata else None)
    data = buffer.getvalue()
    allowed = fmt.ALLOWED_INFO | (KEPT_RESOLUTION_INFO if "resolution" in config.keep_metadata else frozenset())
    left = leftover_metadata(data, allowed)
    if left:
        raise MetadataLeftError(f"encoded {fmt.name} still carries {', '.join(left)}; not written")
    return data



def output_suffix(source_suffix: str, format_name: str, config: OutputConfig) -> str:
    """The input's suffix, unless the config converts the format (then the new format's
    own suffix) or there is none (then the format's usual one)."""
    target = format_by_name(format_name, config.convert)
    if not source_suffix:
        return target.extensions[0]
    if target is format_by_name(format_name) or source_suffix.lower() in target.extensions:
        return source_suffix
    return target.extensions[0]
