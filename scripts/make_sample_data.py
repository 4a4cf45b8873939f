"""Build sample_data/: a few small public-domain photos with faces, given realistic
privacy-relevant metadata, for deid's demo and tests.

Sources, copied from installed pip packages (nothing is downloaded):
- scikit-image's ``data/astronaut.png``: Eileen Collins, NASA astronaut, NASA photo,
  public domain.
- matplotlib's ``mpl-data/sample_data/grace_hopper.jpg``: Rear Admiral Grace Hopper,
  U.S. Navy photo, public domain.

The metadata is synthetic: a GPS position, camera make/model/serial, owner, datetimes,
an embedded EXIF thumbnail showing the unblurred face, XMP, an ICC profile, a comment and
PNG text chunks, which is what real phone and camera files carry.

Needs ``pip install -e '.[sample]'``. Usage: ``python scripts/make_sample_data.py [--out DIR]``
"""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import matplotlib
import piexif
import skimage
from PIL import Image, ImageCms, PngImagePlugin

PROJECT = Path(__file__).resolve().parents[1]

# Boxes of the faces as a viewer shows each image (EXIF orientation applied), x1 y1 x2 y2,
# forehead to chin and ear to ear, checked by eye on the written files.
FACES = {
    "astronaut.jpg": [[176, 72, 264, 170]],
    "people/grace_hopper.jpg": [[178, 125, 360, 335]],
    "astronaut_portrait.png": [[95, 88, 250, 245]],
}

XMP = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"
    xmlns:exif="http://ns.adobe.com/exif/1.0/">
   <dc:creator><rdf:Seq><rdf:li>Jane Example</rdf:li></rdf:Seq></dc:creator>
   <photoshop:City>Houston</photoshop:City>
   <photoshop:DateCreated>2024-05-17T10:42:07</photoshop:DateCreated>
   <exif:GPSLatitude>29,33.5N</exif:GPSLatitude>
   <exif:GPSLongitude>95,5.8W</exif:GPSLongitude>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""


def rational(value: float, denominator: int = 10000) -> tuple[int, int]:
    return (round(value * denominator), denominator)


def dms(degrees: float) -> tuple[tuple[int, int], ...]:
    whole = int(degrees)
    minutes = (degrees - whole) * 60
    return ((whole, 1), (int(minutes), 1), rational((minutes - int(minutes)) * 60, 100))


def exif_bytes(thumbnail_of: Image.Image, lat: float, lon: float, orientation: int = 1,
               make: str = "Canon", model: str = "Canon EOS 5D Mark IV") -> bytes:
    """EXIF with GPS, device, serial, owner, datetimes, software and an IFD1 thumbnail."""
    thumb = thumbnail_of.copy()
    thumb.thumbnail((160, 160))
    buffer = io.BytesIO()
    thumb.save(buffer, format="JPEG", quality=85)
    return piexif.dump({
        "0th": {
            piexif.ImageIFD.Make: make.encode(),
            piexif.ImageIFD.Model: model.encode(),
            piexif.ImageIFD.Orientation: orientation,
            piexif.ImageIFD.Software: b"Example Photo Editor 3.2",
            piexif.ImageIFD.Artist: b"Jane Example",
            piexif.ImageIFD.Copyright: b"(c) Jane Example",
            piexif.ImageIFD.DateTime: b"2024:05:17 10:42:07",
        },
        "Exif": {
            piexif.ExifIFD.DateTimeOriginal: b"2024:05:17 10:42:07",
            piexif.ExifIFD.DateTimeDigitized: b"2024:05:17 10:42:07",
            piexif.ExifIFD.BodySerialNumber: b"032021001234",
            piexif.ExifIFD.CameraOwnerName: b"Jane Example",
            piexif.ExifIFD.LensModel: b"EF24-105mm f/4L IS USM",
        },
        "GPS": {
            piexif.GPSIFD.GPSLatitudeRef: b"N" if lat >= 0 else b"S",
            piexif.GPSIFD.GPSLatitude: dms(abs(lat)),
            piexif.GPSIFD.GPSLongitudeRef: b"E" if lon >= 0 else b"W",
            piexif.GPSIFD.GPSLongitude: dms(abs(lon)),
            piexif.GPSIFD.GPSAltitudeRef: 0,
            piexif.GPSIFD.GPSAltitude: rational(14.2, 10),
            piexif.GPSIFD.GPSDateStamp: b"2024:05:17",
        },
        "1st": {
            piexif.ImageIFD.JPEGInterchangeFormat: 0,
            piexif.ImageIFD.JPEGInterchangeFormatLength: 0,
        },
        "thumbnail": buffer.getvalue(),
    })


def srgb_icc() -> bytes:
    profile = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    # The header's creation time (bytes 24-35) would make every run differ.
    profile[24:36] = bytes([0x07, 0xE8, 0, 5, 0, 17, 0, 10, 0, 42, 0, 7])
    return bytes(profile)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=PROJECT / "sample_data")
    out = parser.parse_args().out
    (out / "people").mkdir(parents=True, exist_ok=True)

    astronaut = Image.open(Path(skimage.__file__).parent / "data" / "astronaut.png").convert("RGB")
    hopper = Image.open(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg").convert("RGB")

    # A JPEG straight from a camera: every metadata block a photo can carry.
    path = out / "astronaut.jpg"
    astronaut.save(path, format="JPEG", quality=88, exif=exif_bytes(astronaut, 29.5583, -95.0967),
                   icc_profile=srgb_icc(), xmp=XMP.encode(), comment=b"Taken by Jane Example")
    print(path.relative_to(out))

    # A phone photo held sideways: pixels stored rotated, EXIF Orientation 6 turns them
    # upright (rotate 90 degrees clockwise to display).
    stored = hopper.transpose(Image.Transpose.ROTATE_90)
    path = out / "people" / "grace_hopper.jpg"
    stored.save(path, format="JPEG", quality=88,
                exif=exif_bytes(stored, 38.8895, -77.0353, orientation=6,
                                make="Apple", model="iPhone 12"))
    print(path.relative_to(out))

    # A PNG exported by an editor: text chunks, XMP, eXIf and an ICC profile.
    portrait = astronaut.crop((110, 10, 310, 260)).resize((296, 370), Image.Resampling.LANCZOS)
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Jane Example")
    info.add_text("Comment", "Location: Johnson Space Center, Houston")
    info.add_itxt("Description", "Portrait shot for the crew gallery", lang="en")
    info.add_itxt("XML:com.adobe.xmp", XMP)
    path = out / "astronaut_portrait.png"
    portrait.save(path, format="PNG", pnginfo=info, icc_profile=srgb_icc(),
                  exif=Image.open(io.BytesIO(_jpeg_with_exif(portrait))).getexif())
    print(path.relative_to(out))

    path = out / "NOTES.txt"
    path.write_text(
        "Public-domain photos (NASA, U.S. Navy) with synthetic metadata, made by\n"
        "scripts/make_sample_data.py. deid lists this file as skipped: it is not an image.\n"
    )
    print(path.relative_to(out))

    path = out / "faces.json"
    sizes = {"astronaut.jpg": (512, 512), "people/grace_hopper.jpg": hopper.size,
             "astronaut_portrait.png": portrait.size}
    path.write_text(json.dumps({"images": [
        {"image": name, "width": sizes[name][0], "height": sizes[name][1], "faces": faces}
        for name, faces in FACES.items()
    ]}, indent=1) + "\n")
    print(path.relative_to(out))


def _jpeg_with_exif(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif_bytes(image, 29.5583, -95.0967))
    return buffer.getvalue()


if __name__ == "__main__":
    main()
