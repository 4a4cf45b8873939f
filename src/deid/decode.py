"""The decode stage: bytes in, upright sRGB uint8 pixels and the metadata found out."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageCms, UnidentifiedImageError

from deid.errors import DecodeError
from deid.formats import reader_for, register_openers
from deid.metadata import category_order, find_metadata

_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}


@dataclass(frozen=True)
class Animation:
    durations: list[int]  # ms per frame
    loop: int | None  # 0 = forever; None = play once (no loop extension)


@dataclass(frozen=True)
class DecodedImage:
    # One array per frame (animations) or page (multi-page TIFF); a still image has one.
    # Each is H x W x 3 (RGB) or H x W x 4 (RGBA), uint8, upright, sRGB.
    frames: list[np.ndarray]
    format: str  # Pillow's name of the input format
    metadata_found: list[str]
    animation: Animation | None = None
    dpi: tuple[float, float] | None = None  # kept only where the config allows it

    @property
    def pixels(self) -> np.ndarray:
        return self.frames[0]


def decode(data: bytes, max_pixels: int) -> DecodedImage:
    if not data:
        raise DecodeError("empty file (0 bytes)")
    register_openers()
    with warnings.catch_warnings():
        # Pillow warns, then raises, past its own pixel limit; deid applies max_pixels
        # itself before any pixel is decoded, so the warning is noise.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        # Pillow warns of damaged tags it skips; what is left is checked like any file.
        warnings.simplefilter("ignore", UserWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError as exc:
            raise DecodeError(f"refused as a decompression bomb: {exc}") from None
        except UnidentifiedImageError:
            raise DecodeError("not a decodable image: its header is damaged, or it is not an image") from None
        except (OSError, SyntaxError, ValueError) as exc:
            raise DecodeError(f"not a decodable image: {_one_line(exc)}") from None
        with image:
            try:
                return _decode_opened(image, data, max_pixels)
            except (DecodeError, MemoryError):
                raise
            except Exception as exc:
                # Pillow's format plugins fail on damaged files with every kind of error
                # (struct.error, zlib.error, IndexError ...); any of them means the file
                # cannot be decoded whole.
                raise DecodeError(
                    f"corrupt or truncated {image.format}: {type(exc).__name__}: {_one_line(exc)}"
                ) from None


def _decode_opened(image: Image.Image, data: bytes, max_pixels: int) -> DecodedImage:
    width, height = image.size
    fmt = reader_for(image.format)
    n_frames = fmt.frame_count(image)
    if width * height * n_frames > max_pixels:
        frames_note = f" x {n_frames} frames" if n_frames > 1 else ""
        raise DecodeError(
            f"{width}x{height}{frames_note} = {width * height * n_frames / 1e6:.0f} MP exceeds "
            f"the limit of {max_pixels / 1e6:.0f} MP (possible decompression bomb); raise "
            "output.max_pixels in the config if the image is genuine"
        )
    metadata_found = find_metadata(image, data)
    transpose = _orientation_transpose(image)
    dpi = image.info.get("dpi")
    frames, durations = [], []
    try:
        for index in range(n_frames):
            image.seek(index)
            if fmt.is_preview_frame(image):
                # A copy of another page too small for faces to be detected in it
                # reliably. Dropped, never written.
                metadata_found = sorted(set(metadata_found) | {"thumbnail"}, key=category_order)
                continue
            image.load()
            durations.append(int(image.info.get("duration", 0) or 0))
            frames.append(to_srgb_pixels(image, transpose))
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        where = f" (frame {index + 1} of {n_frames})" if n_frames > 1 else ""
        raise DecodeError(f"corrupt or truncated {image.format}{where}: {_one_line(exc)}") from None
    if not frames:
        raise DecodeError(f"{image.format} holds only reduced-resolution preview pages")
    animation = None
    if len(frames) > 1 and fmt.animated:
        animation = Animation(durations, image.info.get("loop"))
    dpi_pair = (float(dpi[0]), float(dpi[1])) if isinstance(dpi, tuple) and len(dpi) == 2 else None
    return DecodedImage(frames, image.format, metadata_found, animation, dpi_pair)


def _orientation_transpose(image: Image.Image) -> Image.Transpose | None:
    try:
        orientation = image.getexif().get(0x0112, 1)
    except Exception:  # unreadable EXIF: no orientation to apply
        return None
    return {
        2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_90,
    }.get(orientation)


def to_srgb_pixels(image: Image.Image, transpose: Image.Transpose | None | bool = True) -> np.ndarray:
    """Apply the EXIF orientation, convert to sRGB through the embedded ICC profile, and
    normalise the mode to 8-bit RGB or RGBA. ``transpose`` True reads the orientation
    from the image; a transpose (or None) given by the caller is applied as it is."""
    icc = image.info.get("icc_profile")
    if transpose is True:
        transpose = _orientation_transpose(image)
    upright = image.transpose(transpose) if transpose is not None else image
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
