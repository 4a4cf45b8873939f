from __future__ import annotations

import importlib.resources
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

PROJECT = Path(__file__).resolve().parents[1]
# The presets of the installed package, as a run finds them (not the source tree's copy).
PRESETS = Path(str(importlib.resources.files("deid") / "presets"))
SAMPLE_DATA = PROJECT / "sample_data"
SHARED_DATA = PROJECT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "faces" / "faces.json").exists():
        pytest.skip("shared test data not found at ../shared/data (see its README); skipping")
    return SHARED_DATA


@pytest.fixture(scope="session")
def shared_faces(shared_data: Path) -> dict[str, list[list[float]]]:
    data = json.loads((shared_data / "faces" / "faces.json").read_text())
    return {entry["image"]: entry["faces"] for entry in data["images"]}


@pytest.fixture(scope="session")
def exiftool() -> str:
    path = shutil.which("exiftool")
    if path is None:
        pytest.skip("exiftool not installed (Debian: libimage-exiftool-perl); `make test` installs it")
    return path


def run_cli(*args: str | Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run deid as a user would, in a fresh process."""
    return subprocess.run(
        [sys.executable, "-m", "deid", *map(str, args)],
        capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
    )


def exiftool_tags(exiftool: str, path: Path) -> dict[str, object]:
    out = subprocess.run(
        [exiftool, "-j", "-G1", "-a", "-u", "-e", str(path)],
        capture_output=True, text=True, check=True,
    )
    return json.loads(out.stdout)[0]


def load_pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        from PIL import ImageOps

        return np.asarray((ImageOps.exif_transpose(image) or image).convert("RGB"), dtype=np.int16)


def changed_fraction(before: np.ndarray, after: np.ndarray, box: list[float], tolerance: int = 40) -> float:
    """Fraction of pixels inside ``box`` whose colour moved by more than ``tolerance``
    (well above JPEG re-encoding noise)."""
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    diff = np.abs(before[y1:y2, x1:x2] - after[y1:y2, x1:x2]).max(axis=2)
    return float((diff > tolerance).mean())


# exiftool -G1 groups a clean output may show: the file system, the container structure,
# and values exiftool derives from them.
STRUCTURAL_GROUPS = {
    "ExifTool", "System", "File", "JFIF", "Composite", "PNG", "RIFF", "BMP", "GIF",
    "QuickTime", "Meta",
}
# Within IFD0 (TIFF) and PNG, only the tags that describe the pixel layout.
TIFF_STRUCTURE = {
    "ImageWidth", "ImageHeight", "BitsPerSample", "Compression", "PhotometricInterpretation",
    "StripOffsets", "SamplesPerPixel", "RowsPerStrip", "StripByteCounts", "PlanarConfiguration",
    "ExtraSamples", "Predictor", "SampleFormat", "SubfileType",
}
PNG_STRUCTURE = {
    "ImageWidth", "ImageHeight", "BitDepth", "ColorType", "Compression", "Filter", "Interlace",
    "AnimationFrames", "AnimationPlays",
}
# Container facts exiftool reports for animations and HEIF/AVIF.
CONTAINER_TAGS = {"GIF": None, "RIFF": None, "QuickTime": None, "Meta": {"PrimaryItemReference"}}
# An image sequence's movie and track headers (exiftool's QuickTime and TrackN groups)
# describe its layout and timing; the dates they hold must be empty.
EMPTY_DATE = "0000:00:00 00:00:00"


def metadata_left(tags: dict[str, object]) -> list[str]:
    """The exiftool tags of a file that are not pure structure: empty for a clean file."""
    left = []
    is_tiff = tags.get("File:FileType") == "TIFF"
    for key in tags:
        if ":" not in key:
            continue
        group, name = key.split(":", 1)
        movie = group == "QuickTime" or re.fullmatch(r"Track\d+", group)
        if movie and name.endswith("Date"):
            if tags[key] != EMPTY_DATE:
                left.append(key)
        elif movie:
            continue
        elif is_tiff and re.fullmatch(r"IFD\d+", group):
            # A TIFF's IFDs are its pages: only their pixel layout may be described.
            if name not in TIFF_STRUCTURE:
                left.append(key)
        elif group not in STRUCTURAL_GROUPS:
            left.append(key)
        elif group == "PNG" and name not in PNG_STRUCTURE:
            left.append(key)
        elif group == "Meta" and name not in CONTAINER_TAGS["Meta"]:
            left.append(key)
        elif "GPS" in name or "Comment" in name or "Thumbnail" in name or "XMP" in name:
            left.append(key)
    return left


@pytest.fixture(scope="session")
def browser():
    """Headless chromium driven by selenium, with the page's console log readable."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (the test extra)")
    driver_path = shutil.which("chromedriver")
    if driver_path is None:
        pytest.skip("chromedriver not installed (Debian: chromium chromium-driver); `make test` installs it")
    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    from selenium.webdriver.chrome.service import Service

    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    yield driver
    driver.quit()
