"""The decode stage: bytes in, upright sRGB uint8 pixels and the metadata found out."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from deid.errors import DecodeError, UnsupportedImageError
from deid.metadata import find_metadata

_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}


@dataclass(frozen=True)
class DecodedImage:
    pixels: np.ndarray  # H x W x 3 (RGB) or H x W x 4 (RGBA), uint8, upright, sRGB
    format: str  # Pillow's name of the input format
    metadata_found: list[str]


def decode(data: bytes, max_pixels: int) -> DecodedImage:
    if not data:
        raise DecodeError("empty file (0 bytes)")
    with warnings.catch_warnings():
        # Pillow warns, then raises, past its own pixel limit; deid applies max_pixels
        # itself before any pixel is decoded, so the warning is noise.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError as exc:
            raise DecodeError(f"refused as a decompression bomb: {exc}") from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise DecodeError(f"not a decodable image: {_one_line(exc)}") from None
        with image:
            width, height = image.size
            if width * height > max_pixels:
                raise DecodeError(
                    f"{width}x{height} = {width * height / 1e6:.0f} MP exceeds the limit of "
                    f"{max_pixels / 1e6:.0f} MP (possible decompression bomb); raise "
                    "output.max_pixels in the config if the image is genuine"
                )
            if getattr(image, "n_frames", 1) > 1 and image.format != "MPO":
                raise UnsupportedImageError(
                    f"{image.format} with {image.n_frames} frames/pages: animated and "
                    "multi-page images are not supported yet"
                )
            metadata_found = find_metadata(image, data)
            try:
                image.load()
            except (OSError, SyntaxError, ValueError, EOFError) as exc:
                raise DecodeError(f"corrupt or truncated {image.format}: {_one_line(exc)}") from None
            pixels = to_srgb_pixels(image)
            return DecodedImage(pixels, image.format, metadata_found)


def to_srgb_pixels(image: Image.Image) -> np.ndarray:
    """Apply the EXIF orientation, convert to sRGB through the embedded ICC profile, and
    normalise the mode to 8-bit RGB or RGBA."""
    icc = image.info.get("icc_profile")
    upright = ImageOps.exif_transpose(image) or image
    rgb = _to_8bit_rgb(upright)
    if icc:
        rgb = _icc_to_srgb(rgb, upright, icc)
    return np.asarray(rgb)


def _to_8bit_rgb(image: Image.Image) -> Image.Image:
    has_alpha = image.mode in _ALPHA_MODES or (
        image.mode == "P" and "transparency" in image.info
    ) or (image.mode in ("L", "RGB") and "transparency" in image.info)
    target = "RGBA" if has_alpha else "RGB"
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # Pillow's convert() clips high-bit-depth values at 255; scale them instead.
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or values.max(initial=0) > 255 else 255.0
        if image.mode == "F" and values.max(initial=0) <= 1.0:
            top = 1.0
        grey = np.clip(np.rint(values / top * 255.0), 0, 255).astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    if image.mode == target:
        return image
    return image.convert(target)


def _icc_to_srgb(rgb: Image.Image, source: Image.Image, icc: bytes) -> Image.Image:
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        srgb = ImageCms.createProfile("sRGB")
        if source.mode == "CMYK":
            # rgb was made by Pillow's naive CMYK conversion; convert from the real CMYK.
            return ImageCms.profileToProfile(source, profile, srgb, outputMode="RGB")
        if profile.profile.xcolor_space.strip() != "RGB":
            return rgb
        if rgb.mode == "RGBA":
            converted = ImageCms.profileToProfile(rgb.convert("RGB"), profile, srgb, outputMode="RGB")
            converted.putalpha(rgb.getchannel("A"))
            return converted
        return ImageCms.profileToProfile(rgb, profile, srgb, outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError):
        # A broken profile only costs colour accuracy, never privacy: keep the pixels.
        return rgb


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
