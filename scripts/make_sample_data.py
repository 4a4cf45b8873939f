"""Build sample_data/: small photos with faces that carry realistic privacy-relevant
metadata, for deid's demo and tests.

Sources (both copied from installed pip packages; nothing is downloaded):

- ``astronaut.jpg`` and ``astronaut_portrait.png``: scikit-image's
  ``skimage/data/astronaut.png``, NASA portrait of astronaut Eileen Collins.
  Public domain (work of the U.S. federal government, NASA).
- ``people/grace_hopper.jpg``: matplotlib's ``mpl-data/sample_data/grace_hopper.jpg``,
  portrait of Rear Admiral Grace Hopper. Public domain (U.S. Navy photograph).

All metadata is synthetic, made up here: GPS positions, camera make/model/serial,
owner names, dates, an EXIF thumbnail that still shows the unblurred face, XMP, ICC
profiles, a JPEG comment and PNG text chunks. ``faces.json`` records where the faces
are in each image as a viewer shows it (EXIF orientation applied), for the tests.

Needs Pillow, scikit-image and matplotlib (``pip install -e '.[sample]'``).

Usage: python scripts/make_sample_data.py [--out DIR]
"""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import matplotlib
import skimage
from PIL import Image, ImageCms, PngImagePlugin, TiffImagePlugin
from PIL.ExifTags import GPS, IFD, Base
from PIL.TiffImagePlugin import IFDRational

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Face boxes (x1, y1, x2, y2) in the frame a viewer shows, forehead to chin and ear to
# ear, measured by eye on the written files.
FACES = {
    "astronaut.jpg": [[178, 72, 280, 188]],
    "people/grace_hopper.jpg": [[160, 140, 375, 330]],
    "astronaut_portrait.png": [[82, 67, 206, 207]],
}

# The portrait is this crop of the 512x512 astronaut enlarged 1.2 times, so its pixels
# do not line up with astronaut.jpg's.
PORTRAIT_CROP = (109, 16, 349, 316)
PORTRAIT_SIZE = (288, 360)

# Johnson Space Center, Houston, and the Washington Navy Yard.
HOUSTON = (29.559444, -95.090278, 14.2)
NAVY_YARD = (38.874167, -76.995000, 6.5)


def load_rgb(path: Path) -> Image.Image:
    image = Image.open(path).convert("RGB")
    # Pillow re-emits some of the source's metadata on save (the JPEG comment, for
    # one); only the metadata written below may end up in the samples.
    image.info.clear()
    return image


def srgb_icc() -> bytes:
    profile = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    # LittleCMS stamps the creation time into the header (bytes 24-35: year, month,
    # day, hour, minute, second as big-endian uint16); fix it so runs are identical.
    profile[24:36] = b"".join(n.to_bytes(2, "big") for n in (2024, 5, 17, 10, 42, 7))
    return bytes(profile)


def xmp_packet(creator: str, city: str, created: str) -> bytes:
    return f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"
    xmlns:xmp="http://ns.adobe.com/xap/1.0/">
   <dc:creator><rdf:Seq><rdf:li>{creator}</rdf:li></rdf:Seq></dc:creator>
   <photoshop:City>{city}</photoshop:City>
   <photoshop:Country>United States</photoshop:Country>
   <xmp:CreateDate>{created}</xmp:CreateDate>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>""".encode()


def dms(value: float) -> tuple[IFDRational, ...]:
    value = abs(value)
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = (value - degrees - minutes / 60) * 3600
    return (IFDRational(degrees), IFDRational(minutes), IFDRational(round(seconds * 100), 100))


def add_gps(exif: Image.Exif, position: tuple[float, float, float], date: str, utc_time: str) -> None:
    lat, lon, altitude = position
    gps = exif.get_ifd(IFD.GPSInfo)
    gps[GPS.GPSVersionID] = b"\x02\x03\x00\x00"
    gps[GPS.GPSLatitudeRef] = "N" if lat >= 0 else "S"
    gps[GPS.GPSLatitude] = dms(lat)
    gps[GPS.GPSLongitudeRef] = "E" if lon >= 0 else "W"
    gps[GPS.GPSLongitude] = dms(lon)
    gps[GPS.GPSAltitudeRef] = b"\x00"  # above sea level
    gps[GPS.GPSAltitude] = IFDRational(round(altitude * 10), 10)
    gps[GPS.GPSTimeStamp] = tuple(IFDRational(int(n)) for n in utc_time.split(":"))
    gps[GPS.GPSDateStamp] = date


def camera_exif(make: str, model: str, when: str, utc_offset: str, size: tuple[int, int]) -> Image.Exif:
    """The tags every camera writes, so the files look like the real thing to readers."""
    exif = Image.Exif()
    exif[Base.Make] = make
    exif[Base.Model] = model
    exif[Base.Orientation] = 1
    exif[Base.XResolution] = IFDRational(72)
    exif[Base.YResolution] = IFDRational(72)
    exif[Base.ResolutionUnit] = 2  # inches
    exif[Base.DateTime] = when
    exif[Base.YCbCrPositioning] = 1
    details = exif.get_ifd(IFD.Exif)
    details[Base.ExifVersion] = b"0232"
    details[Base.DateTimeOriginal] = when
    details[Base.DateTimeDigitized] = when  # exiftool calls it CreateDate
    details[Base.OffsetTimeOriginal] = utc_offset
    details[Base.FlashPixVersion] = b"0100"
    details[Base.ColorSpace] = 1  # sRGB
    details[Base.ExifImageWidth], details[Base.ExifImageHeight] = size
    return exif


def with_thumbnail(exif: Image.Exif, image: Image.Image) -> bytes:
    """EXIF bytes with a second IFD (IFD1) holding a 160 px JPEG of ``image``, as cameras
    and phones write it. Pillow writes IFD0 and its sub-IFDs but not IFD1, so IFD1 and
    the thumbnail are appended after them and IFD0's next-IFD link is pointed at it."""
    thumb = image.copy()
    thumb.thumbnail((160, 160), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    thumb.save(buffer, format="JPEG", quality=80)
    jpeg = buffer.getvalue()

    tiff = bytearray(exif.tobytes()[len(b"Exif\x00\x00"):])
    byteorder = "little" if tiff[:2] == b"II" else "big"
    ifd1_offset = len(tiff)
    ifd1 = TiffImagePlugin.ImageFileDirectory_v2(ifh=bytes(tiff[:8]))
    ifd1[Base.Compression] = 6  # JPEG
    ifd1[Base.XResolution] = IFDRational(72)
    ifd1[Base.YResolution] = IFDRational(72)
    ifd1[Base.ResolutionUnit] = 2
    ifd1[Base.JpegIFByteCount] = len(jpeg)
    ifd1[Base.JpegIFOffset] = 0
    # The thumbnail starts right after IFD1, whose size does not depend on this value.
    ifd1[Base.JpegIFOffset] = ifd1_offset + len(ifd1.tobytes(ifd1_offset))

    # IFD0 starts at offset 8: a 2-byte entry count, 12 bytes per entry, then the link.
    link = 8 + 2 + 12 * int.from_bytes(tiff[8:10], byteorder)
    tiff[link:link + 4] = ifd1_offset.to_bytes(4, byteorder)
    return b"Exif\x00\x00" + bytes(tiff) + ifd1.tobytes(ifd1_offset) + jpeg


def astronaut_jpeg(astronaut: Image.Image, path: Path) -> None:
    """A camera JPEG edited on a desktop: every kind of metadata block a photo carries."""
    exif = camera_exif("Canon", "Canon EOS 5D Mark IV", "2024:05:17 10:42:07", "-05:00", astronaut.size)
    exif[Base.Software] = "Adobe Photoshop Lightroom Classic 13.2 (Windows)"
    exif[Base.Artist] = "Jane Example"
    exif[Base.Copyright] = "Copyright 2024 Jane Example"
    details = exif.get_ifd(IFD.Exif)
    details[Base.CameraOwnerName] = "Jane Example"
    details[Base.BodySerialNumber] = "032021001234"
    details[Base.LensModel] = "EF24-105mm f/4L IS USM"
    details[Base.LensSerialNumber] = "0000c1a2b3"
    add_gps(exif, HOUSTON, "2024:05:17", "15:42:07")
    astronaut.save(
        path, format="JPEG", quality=90,
        exif=with_thumbnail(exif, astronaut),
        xmp=xmp_packet("Jane Example", "Houston", "2024-05-17T10:42:07-05:00"),
        icc_profile=srgb_icc(),
        comment=b"Crew portrait, JSC building 8, photographer Jane Example",
    )


def grace_hopper_jpeg(hopper: Image.Image, path: Path) -> None:
    """A phone photo taken in portrait: the pixels lie sideways as the sensor recorded
    them, and EXIF Orientation 6 tells viewers to turn them 90 degrees clockwise."""
    stored = hopper.transpose(Image.Transpose.ROTATE_90)  # counter-clockwise
    exif = camera_exif("Apple", "iPhone 13 Pro", "2023:09:09 14:05:31", "-04:00", stored.size)
    exif[Base.Orientation] = 6
    exif[Base.Software] = "17.0"
    exif[Base.HostComputer] = "iPhone 13 Pro"
    details = exif.get_ifd(IFD.Exif)
    details[Base.LensMake] = "Apple"
    details[Base.LensModel] = "iPhone 13 Pro back triple camera 5.7mm f/1.5"
    add_gps(exif, NAVY_YARD, "2023:09:09", "18:05:31")
    # The thumbnail is stored in the same orientation as the main pixels.
    stored.save(path, format="JPEG", quality=90, exif=with_thumbnail(exif, stored))


def astronaut_png(astronaut: Image.Image, path: Path) -> None:
    """A PNG exported by an editor: text chunks, XMP, eXIf and an ICC profile."""
    portrait = astronaut.crop(PORTRAIT_CROP).resize(PORTRAIT_SIZE, Image.Resampling.LANCZOS)
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Jane Example")
    info.add_text("Comment", "Crew portrait for the team page, do not publish")
    info.add_text("GPS", "29.559444 N, 95.090278 W (Johnson Space Center, Houston)")
    info.add_itxt("Description", "Eileen Collins, crew portrait", lang="en")
    info.add_itxt("XML:com.adobe.xmp", xmp_packet("Jane Example", "Houston", "2024-05-17T10:42:07-05:00").decode())
    exif = camera_exif("Canon", "Canon EOS 5D Mark IV", "2024:05:17 10:42:07", "-05:00", portrait.size)
    exif[Base.Artist] = "Jane Example"
    exif.get_ifd(IFD.Exif)[Base.BodySerialNumber] = "032021001234"
    add_gps(exif, HOUSTON, "2024:05:17", "15:42:07")
    portrait.save(path, format="PNG", pnginfo=info, exif=exif.tobytes(), icc_profile=srgb_icc())


def write_notes(path: Path) -> None:
    path.write_text(
        "Public-domain photos (NASA: Eileen Collins; U.S. Navy: Grace Hopper) given synthetic\n"
        "metadata by scripts/make_sample_data.py. Not an image: deid lists it as skipped.\n"
    )


def write_faces(path: Path, astronaut: Image.Image, hopper: Image.Image) -> None:
    # Sizes as displayed: the Grace Hopper file stores 600x512 pixels shown as 512x600.
    sizes = {
        "astronaut.jpg": astronaut.size,
        "people/grace_hopper.jpg": hopper.size,
        "astronaut_portrait.png": PORTRAIT_SIZE,
    }
    path.write_text(json.dumps({"images": [
        {"image": name, "width": sizes[name][0], "height": sizes[name][1], "faces": boxes}
        for name, boxes in FACES.items()
    ]}, indent=1) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description="Write deid's sample images with synthetic metadata.")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "sample_data",
                        help="output folder (default: sample_data/ in the project root)")
    out = parser.parse_args().out
    (out / "people").mkdir(parents=True, exist_ok=True)

    # The files inside the installed packages, read directly: skimage.data.astronaut()
    # may go through scikit-image's downloader.
    astronaut = load_rgb(Path(skimage.__file__).parent / "data" / "astronaut.png")
    hopper = load_rgb(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg")

    writers = {
        "astronaut.jpg": lambda path: astronaut_jpeg(astronaut, path),
        "people/grace_hopper.jpg": lambda path: grace_hopper_jpeg(hopper, path),
        "astronaut_portrait.png": lambda path: astronaut_png(astronaut, path),
        "NOTES.txt": write_notes,
        "faces.json": lambda path: write_faces(path, astronaut, hopper),
    }
    for name, write in writers.items():
        write(out / name)
        print(out / name)


if __name__ == "__main__":
    main()
