"""Metadata removal, checked with exiftool (a reader deid does not use) on real camera
files, and the detection of what each file carried against the data's inventory."""

from __future__ import annotations

import csv
import io
import json
import subprocess

import numpy as np
import pytest
from PIL import Image

from deid.config import OutputConfig
from deid.encode import encode
from deid.formats.heif import register_heif
from deid.formats import FORMATS
from deid.metadata import leftover_metadata
from deid.report import read_records

from conftest import PRESETS, metadata_left, run_cli

# Inventory flag -> category deid must report for that file.
INVENTORY_CATEGORY = {"gps": "gps", "exif_thumbnail": "thumbnail", "xmp": "xmp", "iptc": "iptc", "icc": "icc"}


@pytest.fixture(scope="module")
def cleaned(shared_data, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("metadata")
    src = shared_data / "metadata"
    # Metadata is the subject here, not detection: the fast preset keeps this quick on
    # 12-megapixel camera files.
    result = run_cli("run", src, tmp / "out", "--workers", "2", "--config", PRESETS / "fast.toml")
    assert result.returncode in (0, 1), result.stderr
    records = {r["source"]: r for r in read_records(tmp / "out.report")}
    return src, tmp / "out", records


def test_every_writable_camera_file_is_processed(cleaned):
    _, _, records = cleaned
    src, _, _ = cleaned
    failed = {k: r["error"] for k, r in records.items() if r["status"] == "failed"}
    # Everything is cleaned, or skipped with a reason (raw, PSD, not an image), or failed
    # because its pixels really are missing (test files cut short on purpose).
    for name, error in failed.items():
        assert error.startswith("corrupt or truncated"), (name, error)
        register_heif()
        with pytest.raises(Exception):
            with Image.open(src / name) as image:
                image.load()
    assert len(failed) <= 3
    assert sum(r["status"] == "ok" for r in records.values()) >= 140
    for record in records.values():
        if record["status"] == "skipped":
            assert record["error"] and record["output"] is None


def test_exiftool_finds_only_structure_in_every_output(cleaned, exiftool):
    _, out, _ = cleaned
    listing = subprocess.run(
        [exiftool, "-j", "-G1", "-a", "-u", "-e", "-r", str(out)], capture_output=True, text=True
    )
    files = json.loads(listing.stdout)
    assert len(files) >= 140
    for tags in files:
        assert metadata_left(tags) == [], tags["SourceFile"]


def test_reported_categories_match_the_inventory(cleaned):
    src, _, records = cleaned
    with open(src / "inventory.csv", newline="") as fp:
        inventory = list(csv.DictReader(fp))
    checked = 0
    for row in inventory:
        record = records.get(row["file"])
        if record is None or record["status"] != "ok":
            continue
        for flag, category in INVENTORY_CATEGORY.items():
            if row[flag] == "1":
                assert category in record["metadata_found"], (row["file"], category)
                checked += 1
        if row["make_model"]:
            assert "device" in record["metadata_found"], row["file"]
    assert checked >= 50


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_each_format_encodes_clean_pixels_and_keeps_them(fmt):
    pixels = np.random.default_rng(0).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    data = encode([pixels], fmt.name, OutputConfig())
    assert fmt.matches(data[:32])
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (32, 24)
    assert leftover_metadata(data, fmt.ALLOWED_INFO) == []


def test_the_read_back_check_catches_metadata():
    exif = Image.Exif()
    exif[0x010F] = "Camera Maker"
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 0.0)}
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="JPEG", exif=exif, comment=b"owner")
    left = leftover_metadata(buffer.getvalue(), frozenset())
    assert {"gps", "device", "comment", "exif"} <= set(left)


def test_a_category_outside_the_known_list_is_still_reported(monkeypatch):
    from deid.formats import reader_for
    from deid.metadata import CATEGORIES, find_metadata

    image = Image.new("RGB", (8, 8))
    image.format = "PNG"
    reader = reader_for("PNG")
    monkeypatch.setattr(reader, "metadata_found", classmethod(lambda cls, image, data=None: {"gps", "gps_track"}))
    assert "gps_track" not in CATEGORIES
    assert find_metadata(image) == ["gps", "gps_track"]
