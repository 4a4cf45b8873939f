"""The encode stage: clean pixels in, the bytes of a metadata-free file out."""

from __future__ import annotations

import io

import numpy as np

from deid.config import OutputConfig
from deid.errors import MetadataLeftError
from deid.formats import format_by_name
from deid.metadata import leftover_metadata, strip_metadata


def encode(pixels: np.ndarray, format_name: str, config: OutputConfig) -> bytes:
    """Encode ``pixels`` in the format named (Pillow's name of the input format) and check
    the result by reading it back: bytes that still carry metadata are never returned."""
    fmt = format_by_name(format_name)()
    image = strip_metadata(pixels)
    if image.mode not in fmt.modes:
        image = image.convert(fmt.modes[0])
    buffer = io.BytesIO()
    fmt.save(image, buffer, config)
    data = buffer.getvalue()
    left = leftover_metadata(data, fmt.ALLOWED_INFO)
    if left:
        raise MetadataLeftError(f"encoded {fmt.name} still carries {', '.join(left)}; not written")
    return data

