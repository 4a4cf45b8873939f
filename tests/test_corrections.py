"""A reviewer's corrections applied to a finished run: only the files they name are
processed again, a dropped region is left as it was, a drawn box is covered, and every
decision is in the report; a bad corrections file is refused before anything is written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import SAMPLE_DATA, load_pixels, run_cli

PHOTOS = ["astronaut.jpg", "astronaut_portrait.png", "people/grace_hopper.jpg"]


@pytest.fixture
def finished(tmp_path) -> tuple[Path, Path, dict[str, dict]]:
    src = tmp_path / "src"
    for photo in PHOTOS:
        (src / photo).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(SAMPLE_DATA / photo, src / photo)
    out = tmp_path / "out"
    result = run_cli("run", src, out, "--workers", "1")
    assert result.returncode == 0, result.stderr
    records = {r["source"]: r for r in map(json.loads, (tmp_path / "out.report" / "images.jsonl").read_text().splitlines())}
    return src, out, records


def write(tmp_path: Path, files: list[dict]) -> Path:
    path = tmp_path / "corrections.json"
    path.write_text(json.dumps({"deid_corrections": 1, "files": files}))
    return path


def mean_difference(a: np.ndarray, b: np.ndarray, box: list[float]) -> float:
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    return float(np.abs(a[y1:y2, x1:x2, :3].astype(int) - b[y1:y2, x1:x2, :3].astype(int)).mean())


def test_dropped_regions_are_left_drawn_boxes_covered_and_only_named_files_redone(tmp_path, finished):
    src, out, records = finished
    astronaut = records["astronaut.jpg"]
    dropped = astronaut["faces"][0]["box"]
    hopper = records["people/grace_hopper.jpg"]
    drawn = [10, 10, 60, 60]
    before = {name: (out / name).stat().st_mtime_ns for name in ("astronaut_portrait.png",)}
    corrections = write(tmp_path, [
        {"source": "astronaut.jpg", "frame": 0, "drop": [dropped]},
        {"source": "people/grace_hopper.jpg", "frame": 0, "add": [drawn]},
    ])
    result = run_cli("run", src, out, "--resume", "--workers", "1", "--corrections", corrections)
    assert result.returncode == 0, result.stderr
    assert "1 region left uncovered as not a face" in result.stdout and "1 missed face covered" in result.stdout
    # Only the two files named were processed again.
    assert (out / "astronaut_portrait.png").stat().st_mtime_ns == before["astronaut_portrait.png"]
    summary = json.loads((tmp_path / "out.report" / "summary.json").read_text())
    assert summary["resume"]["redone"] == {"corrected by a reviewer": 2}
    assert summary["counts"]["dropped"] == 1 and summary["counts"]["added"] == 1
    # The dropped face is as it was (up to JPEG's re-encoding); the drawn box is covered.
    original = load_pixels(SAMPLE_DATA / "astronaut.jpg")
    assert mean_difference(load_pixels(out / "astronaut.jpg"), original, dropped) < 8
    hopper_original = load_pixels(SAMPLE_DATA / "people/grace_hopper.jpg")
    assert hopper_original[10:60, 10:60].mean() > 20
    assert load_pixels(out / "people/grace_hopper.jpg")[10:60, 10:60, :3].max() <= 16  # the default fill: black
    new = {r["source"]: r for r in map(json.loads, (tmp_path / "out.report" / "images.jsonl").read_text().splitlines())}
    assert new["astronaut.jpg"]["decisions"] == [{"decision": "drop", "box": dropped, "frame": 0, "matched": 1}]
    assert not any(f["box"] == dropped for f in new["astronaut.jpg"]["faces"])
    assert [f["detector"] for f in new["people/grace_hopper.jpg"]["faces"]].count("reviewer") == 1
    assert "decisions" not in new["astronaut_portrait.png"]
    assert len(hopper["faces"]) + 1 == len(new["people/grace_hopper.jpg"]["faces"])
    # A later resume without the file keeps the corrected outputs as they are.
    again = run_cli("run", src, out, "--resume", "--workers", "1")
    assert again.returncode == 0 and "kept 3 files" in again.stdout


@pytest.mark.parametrize("files, message", [
    ([{"source": "not-there.jpg", "drop": [[0, 0, 10, 10]]}], "which the finished run neither wrote nor held back for review"),
    ([{"source": "astronaut.jpg", "add": [[0, 0, 100000, 10]]}], "is not inside its"),
    ([{"source": "astronaut.jpg", "add": [[0, 0, 10]]}], "an entry is malformed"),
    ([{"source": "astronaut.jpg", "frame": 1, "add": [[0, 0, 10, 10]]}], "has no frame 1 (it has 1, counted from 0)"),
    (None, "is not JSON"),
], ids=["unknown-file", "outside-image", "malformed-box", "no-such-frame", "not-json"])
def test_a_bad_corrections_file_is_refused_and_nothing_is_written(tmp_path, finished, files, message):
    src, out, _ = finished
    if files is None:
        corrections = tmp_path / "corrections.json"
        corrections.write_text("{not json")
    else:
        corrections = write(tmp_path, files)
    report = tmp_path / "out.report"
    before = {p: p.stat().st_mtime_ns for folder in (out, report) for p in folder.rglob("*")}
    result = run_cli("run", src, out, "--resume", "--corrections", corrections)
    assert result.returncode == 2
    assert message in result.stderr and result.stderr.count("\n") == 1
    assert {p: p.stat().st_mtime_ns for folder in (out, report) for p in folder.rglob("*")} == before


def test_corrections_need_resume(tmp_path, finished):
    src, _, _ = finished
    result = run_cli("run", src, tmp_path / "other", "--corrections", write(tmp_path, []))
    assert result.returncode == 2 and "use it with --resume" in result.stderr


def test_refused_large_regions_are_written_once_a_reviewer_names_the_file(tmp_path):
    # Boxes over a tenth of the image: the two portraits' faces (15% and 17% of them), not
    # the half-length astronaut's (under 5%).
    src = tmp_path / "src"
    for photo in PHOTOS:
        (src / photo).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(SAMPLE_DATA / photo, src / photo)
    config = tmp_path / "refuse.toml"
    config.write_text('[review]\nmax_region = 0.1\nlarge_region = "refuse"\n')
    out = tmp_path / "out"
    result = run_cli("run", src, out, "--workers", "1", "--config", config)
    assert result.returncode == 1, result.stderr
    assert sorted(p.name for p in out.rglob("*") if p.is_file()) == ["astronaut.jpg"]
    records = {r["source"]: r for r in map(json.loads, (tmp_path / "out.report" / "images.jsonl").read_text().splitlines())}
    portrait = records["astronaut_portrait.png"]
    assert portrait["status"] == "failed" and "more than review.max_region (10%)" in portrait["error"]
    assert portrait["faces"] and portrait["width"] == load_pixels(SAMPLE_DATA / "astronaut_portrait.png").shape[1]
    # The reviewer looked at the portrait and changed nothing: it is written, its face covered.
    corrections = write(tmp_path, [{"source": "astronaut_portrait.png", "frame": 0}])
    result = run_cli("run", src, out, "--resume", "--workers", "1", "--config", config, "--corrections", corrections)
    assert result.returncode == 1, result.stderr  # grace_hopper.jpg is still refused
    box = portrait["faces"][0]["box"]
    assert mean_difference(load_pixels(out / "astronaut_portrait.png"), load_pixels(SAMPLE_DATA / "astronaut_portrait.png"), box) > 40
    assert not (out / "people" / "grace_hopper.jpg").exists()
    summary = json.loads((tmp_path / "out.report" / "summary.json").read_text())
    assert [f["source"] for f in summary["failed_files"]] == ["people/grace_hopper.jpg"]


def test_boxes_are_checked_against_their_own_page_of_a_tiff_whose_pages_differ_in_size(tmp_path):
    from PIL import Image

    src = tmp_path / "src"
    src.mkdir()
    small = Image.new("RGB", (200, 150), (90, 120, 150))
    portrait = Image.open(SAMPLE_DATA / "people" / "grace_hopper.jpg").convert("RGB").resize((320, 375))
    small.save(src / "scan.tif", save_all=True, append_images=[portrait])
    out = tmp_path / "out"
    assert run_cli("run", src, out, "--workers", "1").returncode == 0
    (record,) = map(json.loads, (tmp_path / "out.report" / "images.jsonl").read_text().splitlines())
    assert record["frame_sizes"] == [[200, 150], [320, 375]]
    outside = write(tmp_path, [{"source": "scan.tif", "frame": 1, "add": [[250, 300, 330, 360]]}])
    refused = run_cli("run", src, out, "--resume", "--corrections", outside)
    assert refused.returncode == 2 and "is not inside its 320 x 375 image" in refused.stderr
    # Past the first page's 200 x 150, inside the second page's 320 x 375.
    inside = write(tmp_path, [{"source": "scan.tif", "frame": 1, "add": [[250, 300, 300, 360]]}])
    result = run_cli("run", src, out, "--resume", "--workers", "1", "--corrections", inside)
    assert result.returncode == 0, result.stderr
    with Image.open(out / "scan.tif") as written:
        written.seek(1)
        assert np.asarray(written.convert("RGB"))[300:360, 250:300].max() <= 16
