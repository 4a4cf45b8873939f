"""deid as an importable library."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

import deid

from conftest import SAMPLE_DATA, changed_fraction


def astronaut_face() -> list[float]:
    data = json.loads((SAMPLE_DATA / "faces.json").read_text())
    return next(e["faces"][0] for e in data["images"] if e["image"] == "astronaut.jpg")


def test_anonymize_image_from_pil_reports_faces_and_metadata():
    with Image.open(SAMPLE_DATA / "astronaut.jpg") as image:
        result = deid.anonymize_image(image)
        original = np.asarray(image.convert("RGB"), dtype=np.int16)
    assert len(result.faces) >= 1 and result.regions.shape == (len(result.faces), 4)
    assert "gps" in result.metadata_found
    assert changed_fraction(original, result.pixels.astype(np.int16), astronaut_face()) > 0.6


def test_anonymize_image_from_numpy_array():
    with Image.open(SAMPLE_DATA / "astronaut.jpg") as image:
        pixels = np.asarray(image.convert("RGB"))
    result = deid.anonymize_image(pixels)
    assert result.metadata_found == []
    assert result.pixels.shape == pixels.shape and len(result.faces) >= 1
    assert not np.array_equal(result.pixels, pixels)


def test_image_without_faces_comes_back_unchanged():
    pixels = np.full((120, 160, 3), 128, dtype=np.uint8)
    result = deid.anonymize_image(pixels)
    assert len(result.faces) == 0 and np.array_equal(result.pixels, pixels)


def test_models_are_loaded_once_for_repeated_calls():
    from deid.process import cached_stages

    deid.anonymize_image(np.zeros((32, 32, 3), dtype=np.uint8))
    before = cached_stages.cache_info()
    deid.anonymize_image(np.zeros((32, 32, 3), dtype=np.uint8))
    after = cached_stages.cache_info()
    assert after.misses == before.misses and after.hits == before.hits + 1


def test_run_returns_a_summary(tmp_path):
    summary = deid.run(SAMPLE_DATA, tmp_path / "out", config=deid.Config(workers=1))
    assert summary.exit_code == 0
    assert summary.counts.ok >= 3 and summary.counts.faces >= 3
    assert (tmp_path / "out.report" / "summary.json").is_file()


def test_importing_deid_loads_no_model_runtime():
    import subprocess
    import sys

    code = "import sys, deid; print('mediapipe' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False" and out.stderr == ""


def test_a_folder_named_deid_in_the_current_folder_does_not_shadow_the_package(tmp_path):
    """A clone named deid/ beside a user's script: with the src layout it holds no package."""
    import subprocess
    import sys

    clone = tmp_path / "deid"
    (clone / "src").mkdir(parents=True)
    (clone / "README.md").write_text("a clone")
    result = subprocess.run(
        [sys.executable, "-c", "import deid; print(deid.__file__); deid.load_config('strict')"],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("deid/__init__.py")
    assert not result.stdout.strip().startswith(str(clone) + "/__init__")
