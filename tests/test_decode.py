import io

import numpy as np
import pytest
from PIL import Image, ImageCms

from deid.decode import decode
from deid.errors import DecodeError

BIG = 100_000_000


def encoded(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def marker_image() -> Image.Image:
    """A 40x20 image, white with a red top-left corner: shows where 'up' went."""
    pixels = np.full((20, 40, 3), 255, dtype=np.uint8)
    pixels[:5, :5] = (255, 0, 0)
    return Image.fromarray(pixels)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_is_applied_to_the_pixels(orientation):
    upright = marker_image()
    # Store the pixels so that applying ``orientation`` gives back ``upright``.
    inverse = {
        1: None, 2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_270,
    }[orientation]
    stored = upright.transpose(inverse) if inverse is not None else upright
    exif = Image.Exif()
    exif[0x0112] = orientation
    result = decode(encoded(stored, "PNG", exif=exif), BIG)
    assert result.pixels.shape == (20, 40, 3)
    assert tuple(result.pixels[1, 1]) == (255, 0, 0)
    assert tuple(result.pixels[-2, -2]) == (255, 255, 255)


@pytest.mark.parametrize(
    "mode, fmt, channels",
    [
        ("L", "PNG", 3), ("1", "PNG", 3), ("P", "PNG", 3), ("LA", "PNG", 4),
        ("RGBA", "PNG", 4), ("CMYK", "JPEG", 3), ("I;16", "PNG", 3), ("RGB", "BMP", 3),
        ("P", "GIF", 3), ("RGB", "TIFF", 3), ("RGBA", "WEBP", 4),
    ],
)
def test_modes_are_normalised_to_8_bit_rgb_or_rgba(mode, fmt, channels):
    image = Image.new(mode, (16, 8))
    result = decode(encoded(image, fmt), BIG)
    assert result.pixels.dtype == np.uint8 and result.pixels.shape == (8, 16, channels)


def test_16_bit_values_are_scaled_not_clipped():
    image = Image.fromarray(np.full((4, 4), 32896, dtype=np.uint16))  # mid-grey in 16 bits
    result = decode(encoded(image, "PNG"), BIG)
    assert abs(int(result.pixels[0, 0, 0]) - 128) <= 1


def test_icc_profile_is_applied_before_anything_else():
    lab = ImageCms.createProfile("LAB")  # not an RGB space: ignored, pixels kept
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    image = Image.new("RGB", (4, 4), (10, 200, 30))
    result = decode(encoded(image, "PNG", icc_profile=srgb), BIG)
    assert "icc" in result.metadata_found
    assert np.abs(result.pixels[0, 0].astype(int) - [10, 200, 30]).max() <= 2
    assert lab is not None


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty file"),
        (b"\xff\xd8\xff\xe0 this is not really a jpeg", "not a decodable image"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, "not a decodable image"),
    ],
)
def test_broken_files_raise_decode_error(data, message):
    with pytest.raises(DecodeError, match=message):
        decode(data, BIG)


def test_truncated_jpeg_is_refused_not_half_decoded():
    data = encoded(Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)), "JPEG")
    with pytest.raises(DecodeError, match="corrupt or truncated JPEG"):
        decode(data[: len(data) // 2], BIG)


def test_decompression_bomb_is_refused_before_decoding():
    # 10000 x 10000 white pixels compress to a few kB.
    data = encoded(Image.new("1", (10_000, 10_000), 1), "PNG")
    assert len(data) < 100_000
    with pytest.raises(DecodeError, match="decompression bomb"):
        decode(data, max_pixels=50_000_000)


def test_every_frame_of_an_animation_is_decoded_with_its_timing():
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:],
                   duration=[100, 200, 300], loop=0)
    result = decode(buffer.getvalue(), BIG)
    assert [tuple(f[0, 0, :3]) for f in result.frames] == [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    assert result.animation.durations == [100, 200, 300] and result.animation.loop == 0


def test_pixel_limit_counts_every_frame():
    frames = [Image.new("RGB", (100, 100), (i, 0, 0)) for i in range(20)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    with pytest.raises(DecodeError, match="20 frames"):
        decode(buffer.getvalue(), max_pixels=150_000)
