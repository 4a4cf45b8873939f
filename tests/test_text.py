"""Identifying text: the rules, and the text stage on rendered test scenes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import PROJECT, SAMPLE_DATA, run_cli
from deid.config import Config, TextConfig
from deid.text_rules import identifying_rule

sys.path.insert(0, str(PROJECT / "scripts"))


@pytest.mark.parametrize("text, rule", [
    ("anna.k@example.org", "email"),
    ("@maria_lopez", "handle"),
    ("+44 20 7946 0958", "phone number"),
    ("(555) 014-2368", "phone number"),
    ("221B Baker Street", "street address"),
    ("AB12 CDE", "letters and digits"),
    ("KA 05 MN 2041", "letters and digits"),
    ("ID 48213957", "long number"),
    ("Grace Hopper", "name"),
    ("JOHN SMITH", "name"),
    ("EXIT", None),
    ("NO PARKING", None),
    ("NOPARKING", None),
    ("Welcome", None),
    ("2024-05-17", None),
    ("12:30", None),
    ("$4.50", None),
    ("", None),
])
def test_rules(text, rule):
    assert identifying_rule(text) == rule


@pytest.fixture(scope="module")
def text_set(tmp_path_factory) -> tuple[Path, Path]:
    pytest.importorskip("rapidocr_onnxruntime", reason="the text extra is not installed: pip install 'deid[text]'")
    from make_text_set import FONT_DIRS, make

    if not any(d.is_dir() for d in FONT_DIRS):
        pytest.skip("fonts-dejavu-core / fonts-liberation not installed; `make test` installs them")
    folder = tmp_path_factory.mktemp("text") / "set"
    return folder, make(folder, images=16, seed=3)


@pytest.mark.parametrize("policy", ["all", "identifying"])
def test_text_targets_on_rendered_scenes(text_set, policy):
    from deid.evaluate import evaluate

    folder, gt = text_set
    text = evaluate(folder, gt, Config(workers=1, text=TextConfig(policy=policy))).text
    assert text is not None and text.readable_regions >= 40
    if policy == "all":
        assert text.covered_rate >= 0.95
    else:
        assert text.identifying_covered_rate >= 0.95
        assert text.other_left_alone_by_text_stage >= 0.8


def test_the_report_says_why_never_what(tmp_path):
    pytest.importorskip("rapidocr_onnxruntime", reason="the text extra is not installed")
    from make_text_set import draw_string, fonts

    src = tmp_path / "src"
    src.mkdir()
    image = Image.new("RGB", (480, 200), (120, 140, 160))
    box = draw_string(image, "Kenji Watanabe", fonts()[0], 28, 0, (40, 60), True)
    image.save(src / "badge.png")
    result = run_cli("run", src, tmp_path / "out", "--text", "identifying", "--workers", "1")
    assert result.returncode == 0, result.stderr
    report = tmp_path / "out.report"
    record = json.loads((report / "images.jsonl").read_text().splitlines()[0])
    assert [t["rule"] for t in record["texts"]] == ["name"]
    x1, y1, x2, y2 = record["texts"][0]["region"]
    assert x1 <= box[0] and y1 <= box[1] and x2 >= box[2] and y2 >= box[3]
    after = np.asarray(Image.open(tmp_path / "out" / "badge.png").convert("RGB"), dtype=np.int16)
    before = np.asarray(image, dtype=np.int16)
    bx = [int(v) for v in box]
    assert (np.abs(after - before)[bx[1]:bx[3], bx[0]:bx[2]].max(axis=2) > 40).mean() > 0.2
    for name in ("images.jsonl", "summary.json", "index.html", "journal.jsonl"):
        assert "Watanabe" not in (report / name).read_text(), name
    assert json.loads((report / "summary.json").read_text())["counts"]["texts"] == 1


def test_text_off_changes_nothing_for_faces():
    pytest.importorskip("rapidocr_onnxruntime", reason="the text extra is not installed")
    import deid

    image = Image.open(SAMPLE_DATA / "astronaut.jpg")
    off = deid.anonymize_image(image, Config(workers=1))
    on = deid.anonymize_image(image, Config(workers=1, text=TextConfig(policy="all")))
    assert np.array_equal(off.regions, on.regions)
    assert len(off.faces) == len(on.faces) >= 1
