"""The encode stage: clean pixels in, the bytes of a metadata-free file out."""

from __future__ import annotations

import io

import numpy as np

from deid.config import OutputConfig
from deid.decode import Animation
from deid.errors import MetadataLeftError
from deid.formats import format_by_name
from deid.metadata import leftover_metadata, strip_metadata


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
    left = leftover_metadata(data, fmt.ALLOWED_INFO)
    if left:
        raise MetadataLeftError(f"encoded {fmt.name} still carries {', '.join(left)}; not written")
    return data



def output_suffix(source_suffix: str, format_name: str, config: OutputConfig) -> str:
    """The input's suffix where it suits the written format, else the format's own."""
    fmt = format_by_name(format_name, config.convert)
    return source_suffix if source_suffix.lower() in fmt.extensions else fmt.extensions[0]
