"""The review page, opened in a real browser (headless chromium): corrections made with the
mouse come back as the corrections file the page saves, and `deid run --resume
--corrections` applies that file."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import SAMPLE_DATA, load_pixels, run_cli
from deid.review import LARGE_BOX_SHARE, REVIEW_FILE, review_reasons

# How long the test waits for the browser to finish writing the saved file.
DOWNLOAD_WAIT_S = 10.0


def tree_digest(folder: Path) -> dict[str, str]:
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*")) if path.is_file()
    }


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory) -> tuple[Path, Path, dict[str, str], list[str]]:
    """A run on sample_data, then ``deid review``: (OUT, report folder, OUT's files before
    the review, what review printed)."""
    root = tmp_path_factory.mktemp("review")
    out = root / "out"
    result = run_cli("run", SAMPLE_DATA, out, "--workers", "1")
    assert result.returncode == 0, result.stderr
    before = tree_digest(out)
    result = run_cli("review", out, "--source", SAMPLE_DATA)
    assert result.returncode == 0, result.stderr
    return out, root / "out.report", before, result.stdout.splitlines()


def records(report_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (report_dir / "images.jsonl").read_text().splitlines() if line.strip()]


def console_errors(browser) -> list[dict]:
    return [entry for entry in browser.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]


def saved_file(folder: Path) -> dict:
    deadline = time.monotonic() + DOWNLOAD_WAIT_S
    path = folder / "corrections.json"
    while not path.is_file() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert path.is_file(), f"the page saved nothing into the download folder: {list(folder.iterdir())}"
    return json.loads(path.read_text())


def test_the_page_is_written_in_the_report_folder_and_out_is_untouched(reviewed):
    out, report_dir, before, printed = reviewed
    assert (report_dir / REVIEW_FILE).is_file()
    assert not list(out.rglob(REVIEW_FILE))
    assert tree_digest(out) == before
    assert printed[0] == f"review page: {report_dir / REVIEW_FILE}"
    assert "originals" in printed[1]


def test_corrections_made_with_the_mouse_are_saved_as_a_corrections_file(browser, reviewed, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains

    out, report_dir, _, _ = reviewed
    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    browser.get_log("browser")
    browser.get((report_dir / REVIEW_FILE).resolve().as_uri())
    assert console_errors(browser) == []
    by_source = {r["source"]: r for r in records(report_dir) if r["status"] == "ok"}
    items = browser.find_elements("css selector", "#items .item")
    assert len(items) == len(by_source)
    queued = [item.get_attribute("data-source") for item in items if item.find_elements("css selector", ".reasons")]
    assert queued and queued == [s for s in by_source if review_reasons(by_source[s])]
    first = items[0]
    source = first.get_attribute("data-source")
    record = by_source[source]
    images = first.find_elements("css selector", "img")
    assert len(images) == 2  # the original and the output
    for image in images:
        assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image) > 0
    original = images[0].get_attribute("src")
    assert original.endswith("sample_data/" + source), original

    # Drop the first region, on the original.
    first.find_element("css selector", ".pair figure:first-child svg rect.region").click()
    # Draw a box on the original, from near its bottom-left corner to past its right edge.
    svg = browser.find_elements("css selector", "#items .item")[0].find_element("css selector", ".pair figure:first-child svg")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", svg)
    width, height = svg.size["width"], svg.size["height"]
    ActionChains(browser).move_to_element_with_offset(svg, -width // 2 + 5, height // 2 - 40).click_and_hold() \
        .move_by_offset(width // 3, 30).move_by_offset(width - width // 3, 0).release().perform()
    browser.find_element("id", "save").click()
    saved = saved_file(tmp_path)
    assert console_errors(browser) == []

    assert saved["deid_corrections"] == 1
    assert [entry["source"] for entry in saved["files"]] == [source]
    entry = saved["files"][0]
    assert entry["frame"] == 0
    assert entry["drop"] == [record["faces"][0]["box"]]
    assert entry["keep"] == []
    assert len(entry["add"]) == 1
    x1, y1, x2, y2 = entry["add"][0]
    assert all(isinstance(v, int) for v in entry["add"][0])
    assert 0 <= x1 < x2 == record["width"]  # dragged past the right edge: clipped to it
    assert 0 < y1 < y2 <= record["height"]
    assert x1 < record["width"] * 0.1 and y2 > record["height"] * 0.8

    # The saved file applied to a copy of the run: that file only is redone, the dropped
    # region is left as it was, the drawn box is covered, and both decisions are recorded.
    copy_out, copy_report = tmp_path / "copy", tmp_path / "copy.report"
    shutil.copytree(out, copy_out)
    shutil.copytree(report_dir, copy_report)
    applied = run_cli("run", SAMPLE_DATA, copy_out, "--report", copy_report, "--resume", "--workers", "1",
                      "--corrections", tmp_path / "corrections.json")
    assert applied.returncode == 0, applied.stderr
    summary = json.loads((copy_report / "summary.json").read_text())
    assert summary["resume"]["redone"] == {"corrected by a reviewer": 1}
    assert summary["counts"]["dropped"] == 1 and summary["counts"]["added"] == 1
    original, written = load_pixels(SAMPLE_DATA / source), load_pixels(copy_out / record["output"])
    bx1, by1, bx2, by2 = (int(round(v)) for v in entry["drop"][0])
    assert np.abs(written[by1:by2, bx1:bx2, :3].astype(int) - original[by1:by2, bx1:bx2, :3].astype(int)).mean() < 8
    assert written[y1:y2, x1:x2, :3].max() <= 16 < original[y1:y2, x1:x2, :3].mean()
    decisions = {r["source"]: r for r in records(copy_report)}[source]["decisions"]
    assert sorted(d["decision"] for d in decisions) == ["add", "drop"]


def test_a_second_click_keeps_the_region_instead(browser, reviewed, tmp_path):
    out, report_dir, _, _ = reviewed
    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    browser.get((report_dir / REVIEW_FILE).resolve().as_uri())
    item = browser.find_elements("css selector", "#items .item")[-1]
    source = item.get_attribute("data-source")
    item.find_element("css selector", ".regions button").click()
    browser.find_element("css selector", f'#items .item[data-source="{source}"] .regions button').click()
    browser.find_element("id", "save").click()
    saved = saved_file(tmp_path)
    record = next(r for r in records(report_dir) if r["source"] == source)
    assert saved["files"] == [{"source": source, "frame": 0, "drop": [], "keep": [record["faces"][0]["box"]], "add": []}]


def test_large_boxes_are_queued():
    record = {"status": "ok", "width": 100, "height": 100, "faces": [
        {"box": [0, 0, 10, 10], "score": 0.9, "frame": 0},
    ]}
    assert review_reasons(record) == []
    side = (LARGE_BOX_SHARE * 100 * 100) ** 0.5 + 1
    record["faces"].append({"box": [0, 0, side, side], "score": 0.9, "frame": 0})
    assert review_reasons(record) == ["large region"]
    record["faces"].append({"box": [0, 0, 5, 5], "score": 0.2, "frame": 0})
    assert review_reasons(record) == ["large region", "low score"]
    assert review_reasons({"status": "failed"}) == ["failed"]


@pytest.mark.parametrize("case", ["out missing", "no report", "source missing"])
def test_usage_errors_are_one_line(tmp_path, reviewed, case):
    out, report_dir, _, _ = reviewed
    args = {
        "out missing": [tmp_path / "nowhere"],
        "no report": [out, "--report", tmp_path],
        "source missing": [out, "--source", tmp_path / "nowhere"],
    }[case]
    result = run_cli("review", *args)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("deid: error: "), result.stderr
    assert not (tmp_path / REVIEW_FILE).exists()


def test_failed_files_come_first_and_originals_browsers_cannot_show_get_a_thumbnail(browser, tmp_path):
    from PIL import Image

    src = tmp_path / "src"
    src.mkdir()
    Image.open(SAMPLE_DATA / "astronaut.jpg").save(src / "b_astronaut.tiff")
    data = (SAMPLE_DATA / "astronaut.jpg").read_bytes()
    (src / "c_damaged.jpg").write_bytes(data[: len(data) // 40])
    assert run_cli("run", src, tmp_path / "out", "--workers", "1").returncode == 1
    assert run_cli("review", tmp_path / "out", "--source", src).returncode == 0
    report_dir = tmp_path / "out.report"
    assert len(list((report_dir / "review-thumbs").glob("*.jpg"))) == 1
    browser.get_log("browser")
    browser.get((report_dir / REVIEW_FILE).resolve().as_uri())
    assert console_errors(browser) == []
    items = browser.find_elements("css selector", "#items .item")
    assert [item.get_attribute("data-source") for item in items] == ["c_damaged.jpg", "b_astronaut.tiff"]
    assert "failed" in items[0].text
    images = items[1].find_elements("css selector", "img")
    assert len(images) == 2
    for image in images:
        assert "review-thumbs/" in image.get_attribute("src") or "thumbs/" in image.get_attribute("src")
        assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image) > 0
