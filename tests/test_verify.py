"""deid verify: an independent audit of a finished dataset, on real photos."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli
from deid.boxes import box_iou

pytest.importorskip("dlib", reason="the audit extra is not installed: pip install 'deid[audit]'")

# Small real photos with clear faces: each costs dlib's CNN about a second.
PHOTOS = 12
MAX_PIXELS = 250_000
WEAK_CONFIG = """
[[detect.detectors]]
name = "centerface"
threshold = 0.9

[anonymize]
mode = "blur"
blur_strength = 0.02
margin = 0.0
margin_low_score = 0.0
margin_small_face = 0.0
"""
# Faces a detector this sure of are the only ones covered: nearly all are missed.
MISSING_CONFIG = """
[[detect.detectors]]
name = "centerface"
threshold = 0.995
precision = "float32"
"""


@pytest.fixture(scope="module")
def photos(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[list[float]]]]:
    entries = json.loads((shared_data / "faces" / "faces.json").read_text())["images"]
    chosen = [
        e for e in entries
        if e["image"].startswith("caltech/") and e["faces"]
        and all(f[3] - f[1] >= 48 for f in e["faces"]) and e["width"] * e["height"] <= MAX_PIXELS
    ][:PHOTOS]
    src = tmp_path_factory.mktemp("verify") / "src"
    src.mkdir()
    for entry in chosen:
        shutil.copy(shared_data / "faces" / entry["image"], src)
    return src, {Path(e["image"]).name: e["faces"] for e in chosen}


def anonymized(photos, tmp_path: Path, config: str | None) -> tuple[Path, Path]:
    src, _ = photos
    out = tmp_path / "out"
    options = ["--workers", "2"]
    if config is not None:
        (tmp_path / "config.toml").write_text(config)
        options += ["--config", tmp_path / "config.toml"]
    result = run_cli("run", src, out, *options)
    assert result.returncode == 0, result.stderr
    return out, tmp_path / "out.report"


def verified(out: Path, *options: str | Path) -> tuple[int, dict, str]:
    result = run_cli("verify", out, "--workers", "2", *options)
    assert result.returncode in (0, 1), result.stderr
    report = json.loads((out.parent / (out.name + ".report") / "verify.json").read_text())
    return result.returncode, report, result.stdout


def test_default_run_leaves_no_residual_face_tag_or_match(photos, tmp_path):
    src, _ = photos
    out, _ = anonymized(photos, tmp_path, None)
    code, report, stdout = verified(out, "--source", src)
    assert report["files"] == PHOTOS
    assert report["residual_tags"] == []
    assert report["residual_faces"] == [], report["residual_faces"]
    assert report["reidentifiable"]["checked"] >= PHOTOS
    assert report["reidentifiable"]["matched"] == 0
    assert code == 0
    assert "nothing residual found" in stdout
    assert set(report["checked_with"]) == {"ensemble (strict)", "dlib-cnn", "dlib-hog"}


def test_weak_blur_is_caught_and_re_identified(photos, tmp_path):
    src, _ = photos
    out, _ = anonymized(photos, tmp_path, WEAK_CONFIG)
    code, report, stdout = verified(out, "--source", src)
    assert code == 1
    assert report["files_with_residual_faces"] >= PHOTOS / 2
    reid = report["reidentifiable"]
    assert reid["checked"] >= PHOTOS / 2
    assert reid["matched"] >= reid["checked"] / 2
    assert "FOUND" in stdout


def test_verify_is_independent_of_the_run_that_missed_faces(photos, tmp_path):
    """The run covers almost nothing, and its report says so without complaint; verify
    reads only the pixels, and lists the files whose faces are still there."""
    _, truth = photos
    out, report_dir = anonymized(photos, tmp_path, MISSING_CONFIG)
    records = [json.loads(line) for line in (report_dir / "images.jsonl").read_text().splitlines()]
    missed_by_run = {r["output"] for r in records if not r["faces"]}
    assert len(missed_by_run) >= PHOTOS / 2
    code, report, stdout = verified(out)
    assert code == 1
    flagged = {face["output"] for face in report["residual_faces"]}
    assert len(flagged & missed_by_run) >= len(missed_by_run) / 2
    # What it flags there is the labelled face (it may also find unlabelled faces in the
    # background, as it did in pic00122.jpg).
    for name in flagged & missed_by_run:
        boxes = np.array([face["box"] for face in report["residual_faces"] if face["output"] == name])
        assert box_iou(boxes, np.array(truth[name])).max() > 0.2, name
    assert report["reidentifiable"] is None
    assert "re-identification: not checked" in stdout
    for name in sorted(flagged)[:5]:
        assert name in stdout


def test_residual_metadata_is_found_by_reading_the_file(shared_data, tmp_path):
    inventory = shared_data / "metadata" / "inventory.csv"
    with open(inventory, newline="") as fp:
        located = [row["file"] for row in csv.DictReader(fp) if row["gps"] == "1" and row["file"].endswith(".jpg")]
    out = tmp_path / "out"
    out.mkdir()
    shutil.copy(shared_data / "metadata" / located[0], out / "leaky.jpg")
    code, report, stdout = verified(out)
    assert code == 1
    assert report["residual_tags"][0]["output"] == "leaky.jpg"
    assert "gps" in report["residual_tags"][0]["tags"]
    assert "leaky.jpg: " in stdout


def test_without_the_audit_extra_verify_says_what_it_skipped(photos, tmp_path, monkeypatch):
    import deid.verify

    src, _ = photos
    out = tmp_path / "out"
    out.mkdir()
    shutil.copy(next(src.iterdir()), out)
    monkeypatch.setattr(deid.verify, "audit_available", lambda: "dlib is not installed")
    result = deid.verify.verify(out, source=src, workers=1)
    assert result.report.checked_with == ["ensemble (strict)"]
    assert result.report.reidentifiable is None
    assert "dlib is not installed" in result.report.skipped[0]
    summary = deid.verify.format_summary(result)
    assert "skipped: " in summary
    # --source was given: the missing extra is why, not a missing --source.
    assert "give --source" not in summary
    assert "re-identification: not checked (the audit extra is missing (dlib is not installed))" in summary


@pytest.mark.parametrize("args, message", [
    (["verify", "no-such-folder"], "is not a folder"),
    (["verify", "{out}", "--source", "{out}"], "re-identification needs the run's report"),
    (["verify", "{out}", "--sample", "0"], "--sample must be at least 1"),
])
def test_usage_errors_are_one_line_and_exit_2(tmp_path, args, message):
    out = tmp_path / "out"
    out.mkdir()
    result = run_cli(*[a.format(out=out) for a in args])
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1



def test_a_file_that_kills_its_verify_worker_is_reported_and_the_rest_audited(photos, tmp_path, monkeypatch):
    from deid.engine import WORKER_DIED
    from deid.results import Unreadable
    from dying_worker import verify_with_a_file_that_kills_its_worker

    result = verify_with_a_file_that_kills_its_worker(photos[0], tmp_path, monkeypatch, workers=2)
    assert result.report.files == 4
    assert result.report.unreadable == [Unreadable("crash.jpg", WORKER_DIED)]
    assert result.exit_code == 1


def test_a_single_face_covered_black_is_not_re_identified(photos, tmp_path):
    """With one face checked, the output and its original are trivially each other's
    nearest; the rule must compare the output with the picture without the face."""
    src, truth = photos
    single = tmp_path / "src"
    single.mkdir()
    name = next(name for name, faces in sorted(truth.items()) if len(faces) == 1)
    shutil.copy(src / name, single)
    out, _ = anonymized((single, truth), tmp_path, None)
    code, report, stdout = verified(out, "--source", single)
    assert report["reidentifiable"]["checked"] == 1, stdout
    assert report["reidentifiable"]["matched"] == 0, stdout
    assert "0 of 1 covered faces still matched" in stdout
