"""deid inspect: what a person sees before and after cleaning."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from conftest import SAMPLE_DATA, run_cli


def test_a_gps_photo_shows_its_position_and_its_cleaned_copy_shows_nothing(tmp_path):
    before = run_cli("inspect", SAMPLE_DATA / "astronaut.jpg")
    assert before.returncode == 0, before.stderr
    assert "GPS position: 29.559444, -95.090278" in before.stdout
    assert "Canon EOS 5D Mark IV" in before.stdout and "embedded thumbnail" in before.stdout
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.jpg").write_bytes((SAMPLE_DATA / "astronaut.jpg").read_bytes())
    assert run_cli("run", src, tmp_path / "out", "--workers", "1").returncode == 0
    after = run_cli("inspect", tmp_path / "out" / "a.jpg")
    assert after.returncode == 0 and "nothing privacy-relevant found" in after.stdout
    assert "GPS" not in after.stdout


def test_positions_agree_with_exiftool(shared_data, exiftool):
    gps_dir = shared_data / "metadata" / "exif_samples" / "jpg" / "gps"
    result = json.loads(run_cli("inspect", "--json", gps_dir).stdout)
    located = [f for f in result["files"] if "gps" in f]
    assert len(located) >= 5
    for entry in located:
        out = subprocess.run([exiftool, "-j", "-n", "-GPSLatitude", "-GPSLongitude", entry["file"]],
                             capture_output=True, text=True, check=True)
        truth = json.loads(out.stdout)[0]
        assert entry["gps"]["latitude"] == pytest.approx(truth["GPSLatitude"], abs=1e-5)
        assert entry["gps"]["longitude"] == pytest.approx(truth["GPSLongitude"], abs=1e-5)


def test_a_folder_is_summarised():
    result = run_cli("inspect", SAMPLE_DATA)
    assert result.returncode == 0
    assert result.stdout.startswith("3 image files, 3 with privacy-relevant metadata")
    assert "gps: 3 files" in result.stdout and "people/grace_hopper.jpg" in result.stdout


def test_json_output_lists_categories_and_values():
    data = json.loads(run_cli("inspect", "--json", SAMPLE_DATA / "astronaut_portrait.png").stdout)
    (entry,) = data["files"]
    assert {"gps", "text", "xmp", "icc"} <= set(entry["categories"])
    assert entry["text"]["Author"] == "Jane Example"


def test_a_missing_path_is_a_usage_error(tmp_path):
    result = run_cli("inspect", tmp_path / "nope.jpg")
    assert result.returncode == 2 and result.stderr.count("\n") == 1


def test_a_named_pipe_is_reported_as_not_a_regular_file_without_being_opened(tmp_path):
    # Opening a pipe for reading waits for a writer that never comes: the command would
    # hang until the timeout below.
    pipe = tmp_path / "photo.jpg"
    os.mkfifo(pipe)
    result = run_cli("inspect", pipe, timeout=120)
    assert result.returncode == 1, result.stderr
    assert "cannot read: not a regular file" in result.stdout
    assert result.stderr == ""
