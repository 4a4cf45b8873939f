"""Every supported format through the real pipeline: animations and pages, HEIC/AVIF,
orientation and colour, each checked on the written file."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from deid.formats.heif import register_heif
from deid.report import read_records

from conftest import changed_fraction, exiftool_tags, load_pixels, metadata_left, run_cli


@pytest.fixture(scope="module")
def face_photos(shared_data, shared_faces):
    """Three caltech photos with one large face each, resized to one frame size."""
    size = (240, 240)
    chosen = []
    for name, faces in sorted(shared_faces.items()):
        if name.startswith("caltech/") and len(faces) == 1 and faces[0][3] - faces[0][1] > 100:
            image = Image.open(shared_data / "faces" / name).convert("RGB")
            sx, sy = size[0] / image.width, size[1] / image.height
            box = [faces[0][0] * sx, faces[0][1] * sy, faces[0][2] * sx, faces[0][3] * sy]
            chosen.append((image.resize(size), box))
        if len(chosen) == 3:
            return chosen
    pytest.skip("not enough single-face caltech photos")


def run_one(tmp_path: Path, name: str, data: bytes, *options: str):
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / name).write_bytes(data)
    result = run_cli("run", src, tmp_path / "out", "--workers", "1", "--config", "fast", *options)
    assert result.returncode == 0, result.stderr
    (record,) = read_records(tmp_path / "out.report")
    return record, tmp_path / "out" / record["output"]


def frames_of(path: Path) -> list[np.ndarray]:
    register_heif()
    with Image.open(path) as image:
        frames = []
        for index in range(getattr(image, "n_frames", 1)):
            image.seek(index)
            frames.append(np.asarray(image.convert("RGB"), dtype=np.int16))
        return frames


@pytest.mark.parametrize("fmt, suffix", [
    ("GIF", ".gif"), ("WEBP", ".webp"), ("TIFF", ".tif"), ("PNG", ".png"), ("AVIF", ".avif"),
])
def test_a_face_in_any_frame_or_page_is_covered(tmp_path, face_photos, fmt, suffix, exiftool):
    blank = Image.new("RGB", (240, 240), (90, 120, 150))
    (first, first_box), (second, second_box), _ = face_photos
    frames = [blank, first, blank, second]
    buffer = io.BytesIO()
    extra = {"duration": [80, 120, 80, 120], "loop": 0} if fmt != "TIFF" else {}
    frames[0].save(buffer, format=fmt, save_all=True, append_images=frames[1:], **extra)
    record, out = run_one(tmp_path, "clip" + suffix, buffer.getvalue())
    assert record["frames"] == 4
    assert {f["frame"] for f in record["faces"]} >= {1, 3}
    written = frames_of(out)
    assert len(written) == 4
    originals = [np.asarray(f, dtype=np.int16) for f in frames]
    assert changed_fraction(originals[1], written[1], first_box) > 0.5
    assert changed_fraction(originals[3], written[3], second_box) > 0.5
    assert np.abs(originals[0] - written[0]).mean() < 12  # a frame without faces keeps its pixels
    if fmt != "TIFF":  # an animation keeps its timing (AVIF has no loop count)
        with Image.open(out) as image:
            assert fmt == "AVIF" or image.info.get("loop") == 0
            durations = []
            for index in range(4):
                image.seek(index)
                image.load()
                durations.append(image.info.get("duration"))
            assert durations == extra["duration"]
    if fmt == "AVIF":  # the sequence's movie headers carried the time it was encoded
        assert "datetime" in record["metadata_found"]
    assert metadata_left(exiftool_tags(exiftool, out)) == []


def exif_with_gps() -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "Phone Maker"
    exif[0x0110] = "Phone 12"
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)}
    return exif


@pytest.mark.parametrize("fmt, suffix", [("HEIF", ".heic"), ("AVIF", ".avif")])
def test_heic_and_avif_are_cleaned_and_kept_in_their_format(tmp_path, face_photos, fmt, suffix, exiftool):
    register_heif()
    photo, box = face_photos[0]
    buffer = io.BytesIO()
    photo.save(buffer, format=fmt, exif=exif_with_gps(), quality=90)
    source = tmp_path / ("in" + suffix)
    source.write_bytes(buffer.getvalue())
    assert any(k.startswith("GPS:") for k in exiftool_tags(exiftool, source))
    record, out = run_one(tmp_path, "photo" + suffix, buffer.getvalue())
    assert out.suffix == suffix and "gps" in record["metadata_found"]
    assert changed_fraction(np.asarray(photo, dtype=np.int16), frames_of(out)[0], box) > 0.5
    assert metadata_left(exiftool_tags(exiftool, out)) == []


def test_heic_can_be_converted_to_jpeg(tmp_path, face_photos):
    register_heif()
    buffer = io.BytesIO()
    face_photos[0][0].save(buffer, format="HEIF", quality=90)
    config = tmp_path / "convert.toml"
    config.write_text('[output]\nconvert = ["HEIF=JPEG"]\n')
    src = tmp_path / "src"
    src.mkdir()
    (src / "IMG_0001.HEIC").write_bytes(buffer.getvalue())
    result = run_cli("run", src, tmp_path / "out", "--workers", "1", "--config", config)
    assert result.returncode == 0, result.stderr
    (record,) = read_records(tmp_path / "out.report")
    assert record["output"] == "IMG_0001.jpg"
    assert (tmp_path / "out" / "IMG_0001.jpg").read_bytes()[:3] == b"\xff\xd8\xff"


def test_all_eight_orientations_of_a_real_photo_come_out_upright(shared_data, tmp_path):
    src = shared_data / "metadata" / "exif_samples" / "jpg" / "orientation"
    result = run_cli("run", src, tmp_path / "out", "--workers", "2", "--config", "fast")
    assert result.returncode == 0, result.stderr
    for kind in ("landscape", "portrait"):
        reference = load_pixels(tmp_path / "out" / f"{kind}_1.jpg")
        for n in range(2, 9):
            rotated = load_pixels(tmp_path / "out" / f"{kind}_{n}.jpg")
            assert rotated.shape == reference.shape, (kind, n)
            assert np.abs(rotated - reference).mean() < 6, (kind, n)


def test_wide_gamut_colours_are_converted_to_srgb(shared_data, tmp_path):
    register_heif()
    with Image.open(shared_data / "metadata" / "exif_samples" / "heic" / "IMG_5195.HEIC") as phone:
        display_p3 = phone.info["icc_profile"]
    # Saturated colours, where Display P3 and sRGB values differ most.
    colours = np.array([[40, 200, 60], [220, 40, 40], [30, 60, 210], [200, 180, 30]], dtype=np.uint8)
    pixels = np.repeat(np.repeat(colours[None, :, :], 16, axis=0), 16, axis=1)
    source = Image.fromarray(pixels)
    buffer = io.BytesIO()
    source.save(buffer, format="PNG", icc_profile=display_p3)
    record, out = run_one(tmp_path, "p3.png", buffer.getvalue())
    assert "icc" in record["metadata_found"]
    reference = np.asarray(ImageCms.profileToProfile(
        source, ImageCms.ImageCmsProfile(io.BytesIO(display_p3)), ImageCms.createProfile("sRGB")
    ), dtype=np.int16)
    written = load_pixels(out)
    assert np.abs(written - reference).max() <= 2
    assert np.abs(written - pixels.astype(np.int16)).max() > 20  # the conversion did something


@pytest.mark.parametrize("keep, expected_dpi", [([], None), (["resolution"], (300, 300))])
def test_resolution_is_kept_only_when_allowed(tmp_path, keep, expected_dpi):
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 200, 200)).save(buffer, format="PNG", dpi=(300, 300))
    config = tmp_path / "keep.toml"
    config.write_text(f"[output]\nkeep_metadata = {json.dumps(keep)}\n")
    src = tmp_path / "src"
    src.mkdir()
    (src / "scan.png").write_bytes(buffer.getvalue())
    assert run_cli("run", src, tmp_path / "out", "--workers", "1", "--config", config).returncode == 0
    with Image.open(tmp_path / "out" / "scan.png") as image:
        dpi = image.info.get("dpi")
    assert (tuple(round(v) for v in dpi) if dpi else None) == expected_dpi


def test_movie_times_of_a_still_a_sequence_and_a_damaged_avif(face_photos):
    from deid.formats.avif import movie_times

    photo = face_photos[0][0]
    still, sequence = io.BytesIO(), io.BytesIO()
    photo.save(still, format="AVIF")
    photo.save(sequence, format="AVIF", save_all=True, append_images=[photo], duration=[100, 100])
    assert movie_times(still.getvalue()) == []
    found = movie_times(sequence.getvalue())
    assert len(found) == 6  # created and modified, in the movie, track and media headers
    assert all(any(sequence.getvalue()[at:at + size]) for at, size in found)
    # Cut inside the track header: the movie box claims more bytes than are left, and
    # nothing in it is taken for a box.
    assert movie_times(sequence.getvalue()[: found[2][0]]) == []
