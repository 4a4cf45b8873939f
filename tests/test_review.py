"""The review page, opened in a real browser (headless chromium): corrections made with the
mouse come back as the corrections file the page saves, and `deid run --resume
--corrections` applies that file."""

from __future__ import annotations

import hashlib
import html
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import PROJECT, SAMPLE_DATA, load_pixels, run_cli
from deid.review import ITEMS_INLINE, PAGE_SIZE, PAGES_DIR, REVIEW_FILE, SINGLE_DETECTOR_SIDE, QueueRules, review_reasons, write_review_page

# How long the test waits for the browser to finish writing the saved file.
DOWNLOAD_WAIT_S = 10.0
# The sample's portraits have faces over a tenth of the image (15% and 17%), the
# half-length astronaut's is under 5%: with this, the portraits are queued, or refused.
SAMPLE_MAX_REGION = 0.1


def tree_digest(folder: Path) -> dict[str, str]:
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*")) if path.is_file()
    }


def review_config(folder: Path, large_region: str) -> Path:
    path = folder / f"{large_region}.toml"
    path.write_text(f'[review]\nmax_region = {SAMPLE_MAX_REGION}\nlarge_region = "{large_region}"\n')
    return path


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory) -> tuple[Path, Path, dict[str, str], list[str]]:
    """A run on sample_data that queues the portraits, then ``deid review``: (OUT, report
    folder, OUT's files before the review, what review printed)."""
    root = tmp_path_factory.mktemp("review")
    out = root / "out"
    result = run_cli("run", SAMPLE_DATA, out, "--workers", "1", "--config", review_config(root, "queue"))
    assert result.returncode == 0, result.stderr
    before = tree_digest(out)
    result = run_cli("review", out, "--source", SAMPLE_DATA)
    assert result.returncode == 0, result.stderr
    return out, root / "out.report", before, result.stdout.splitlines()


def page_data(report_dir: Path) -> dict:
    """The data review.html holds."""
    return json.loads((report_dir / REVIEW_FILE).read_text().split('id="review-data">')[1].split("</script>")[0])


def page_file(path: Path) -> tuple[str, int, list[dict], str]:
    """(token, index, items, series) of a page file: the arguments of its deidPage call."""
    text = path.read_text()
    assert text.startswith("deidPage(") and text.endswith(");\n")
    token, index, items, *series = json.loads("[" + text[len("deidPage("): -len(");\n")] + "]")
    return token, index, items, series[0] if series else ""


def items_in_order(report_dir: Path) -> list[dict]:
    """Every item of review.html in the order the page shows them: list by list, the items
    the page holds, then those of the list's page files past them."""
    data = page_data(report_dir)
    in_files: dict[str, list[tuple[int, list[dict]]]] = {part["series"]: [] for part in data["lists"]}
    for path in sorted((report_dir / PAGES_DIR).iterdir()) if (report_dir / PAGES_DIR).is_dir() else []:
        token, index, items, series = page_file(path)
        assert token == data["token"] and path.name == (f"{series}-" if series else "") + f"{index:04d}.js"
        in_files[series].append((index, items))
    order, inline = [], 0
    for part in data["lists"]:
        held = data["items"][inline: inline + part["held"]]
        inline += part["held"]
        files = sorted(in_files[part["series"]], key=lambda file: file[0])
        # perFile to a file from the list's first item; file 0 is there when the page does
        # not hold all of it.
        if files:
            assert [index for index, _ in files] == list(range(files[0][0], files[0][0] + len(files)))
        assert all(len(items) == data["perFile"] for _, items in files[:-1])
        first = files[0][0] * data["perFile"] if files else part["total"]
        assert first <= part["held"]
        listed = held + [item for _, items in files for item in items][part["held"] - first:]
        assert len(listed) == part["total"]
        order += listed
    assert inline == len(data["items"])
    return order


def records(report_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (report_dir / "images.jsonl").read_text().splitlines() if line.strip()]


def console_errors(browser) -> list[dict]:
    return [entry for entry in browser.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]


def saved_file(folder: Path) -> dict:
    deadline = time.monotonic() + DOWNLOAD_WAIT_S
    path = folder / "corrections.json"
    # The browser may show the file under its name before it has written it.
    while not (path.is_file() and path.read_text().endswith("\n")) and time.monotonic() < deadline:
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
    rules = QueueRules(max_region=SAMPLE_MAX_REGION, face_detectors=2)
    assert queued and queued == [s for s in by_source if review_reasons(by_source[s], rules)]
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
                      "--config", review_config(tmp_path, "queue"), "--corrections", tmp_path / "corrections.json")
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


def test_the_queue_takes_its_largest_trusted_region_from_the_runs_config(reviewed):
    """The run trusted boxes up to a tenth of the image: the portraits (15%, 17%) are queued
    for it, the astronaut (under 5%) is not."""
    _, report_dir, _, _ = reviewed
    data = page_data(report_dir)
    queued = {item["source"]: item["reasons"] for item in data["items"][: data["queued"]]}
    assert queued == {
        "astronaut_portrait.png": ["region over 10% of the image"],
        "people/grace_hopper.jpg": ["region over 10% of the image"],
    }
    assert "region over 10% of the image: 2" in (report_dir / REVIEW_FILE).read_text()


def face(side: float, score: float = 0.9, seen_by: int | None = None, **more) -> dict:
    found = {"box": [0.0, 0.0, side, side], "region": [0, 0, int(side), int(side)], "score": score,
             "detector": "centerface", "frame": 0, "kind": "face", **more}
    if seen_by is not None:
        found["seen_by"] = seen_by
    return found


def test_large_regions_and_low_scores_are_queued():
    record = {"status": "ok", "width": 100, "height": 100, "faces": [face(10)]}
    assert review_reasons(record) == []
    side = (0.25 * 100 * 100) ** 0.5 + 1  # over review.max_region's default
    record["faces"].append(face(side))
    assert review_reasons(record) == ["region over 25% of the image"]
    record["faces"].append(face(5, score=0.2))
    assert review_reasons(record) == ["region over 25% of the image", "low score"]
    assert review_reasons(record, QueueRules(max_region=0.5)) == ["low score"]
    assert review_reasons({"status": "failed"}) == ["failed"]
    # A reviewer's own box is not queued again.
    assert review_reasons({"status": "ok", "width": 100, "height": 100,
                           "faces": [face(90, score=1.0, detector="reviewer")]}) == []


def test_rules_come_from_the_runs_config_or_the_defaults():
    config = {"review": {"max_region": 0.4}, "detect": {"detectors": [
        {"name": "centerface"}, {"name": "blazeface", "variant": "short"}, {"name": "pose"},
    ]}}
    assert QueueRules.of(config) == QueueRules(max_region=0.4, face_detectors=2)
    assert QueueRules.of({}) == QueueRules()
    assert QueueRules().max_region == 0.25


def test_a_large_face_one_detector_alone_saw_is_queued_when_the_ensemble_has_others():
    ensemble = QueueRules(face_detectors=2)
    large, small = SINGLE_DETECTOR_SIDE * 100 + 1, SINGLE_DETECTOR_SIDE * 100 - 1

    def reasons(rules, *faces):
        return review_reasons({"status": "ok", "width": 100, "height": 80, "faces": list(faces)}, rules)

    assert reasons(ensemble, face(large, seen_by=1)) == ["seen by one detector"]
    assert reasons(ensemble, face(large, seen_by=2)) == []
    assert reasons(ensemble, face(small, seen_by=1)) == []  # small faces are CenterFace's alone
    assert reasons(QueueRules(face_detectors=1), face(large, seen_by=1)) == []  # no other to see it
    assert reasons(ensemble, face(large)) == []  # a report from before seen_by: unknown
    assert reasons(ensemble, face(large, seen_by=1, kind="head")) == []


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


# A synthetic run (scripts/bench_html_report.py writes its report directly, without
# detection) past two page files' worth of images that need no look, with a verify.json.
SYNTHETIC_FILES = 2 * ITEMS_INLINE + 500
SYNTHETIC_REVIEW = 8  # files of each kind (failed, low score, residual face, residual tags, ...)


@pytest.fixture(scope="module")
def synthetic_review(tmp_path_factory) -> tuple[Path, list[dict]]:
    """The report folder of the synthetic run with review.html written, and its records;
    one output re-identified and one unreadable added to its verify.json."""
    import sys

    sys.path.insert(0, str(PROJECT / "scripts"))
    from bench_html_report import synthetic_report

    report_dir, out = synthetic_report(tmp_path_factory.mktemp("synthetic"), SYNTHETIC_FILES, SYNTHETIC_REVIEW)
    rows = records(report_dir)
    written = [r for r in rows if r["status"] == "ok" and not r["faces"] and r["output"].endswith(".png")]
    verify = json.loads((report_dir / "verify.json").read_text())
    verify["reidentifiable"] = {"checked": 1, "matched": 1, "within_distance": 1, "matches": [
        {"output": written[0]["output"], "frame": 0, "box": [1.0, 1.0, 9.0, 9.0], "distance": 0.3}]}
    verify["unreadable"] = [{"output": written[1]["output"], "error": "truncated"}]
    (report_dir / "verify.json").write_text(json.dumps(verify))
    write_review_page(out, None, report_dir)
    return report_dir, rows


def test_verify_findings_are_queued_then_failed_files_then_the_rest_in_page_files(synthetic_review):
    report_dir, rows = synthetic_review
    data = page_data(report_dir)
    verify = json.loads((report_dir / "verify.json").read_text())
    residual = {f["output"] for f in verify["residual_faces"]}
    tags = {t["output"] for t in verify["residual_tags"]}
    reidentified = verify["reidentifiable"]["matches"][0]["output"]
    unreadable = verify["unreadable"][0]["output"]
    shown = [(index, r) for index, r in enumerate(rows) if r["status"] != "skipped"]
    failed = [index for index, r in shown if r["status"] == "failed"]
    flagged = [
        index for index, r in shown if r["status"] == "ok" and (
            r["output"] in residual | tags | {reidentified, unreadable} or any(f["score"] < 0.5 for f in r["faces"]))
    ]
    rest = [index for index, r in shown if index not in flagged and index not in failed]
    assert len(flagged) == 3 * SYNTHETIC_REVIEW + 2 and len(failed) == SYNTHETIC_REVIEW
    assert (data["queued"], data["failed"], data["total"]) == (len(flagged), len(failed), len(shown))

    # The page holds the queue, the failed files and the rest of its first ITEMS_INLINE
    # images; the rest's page files hold the others, from the first of the rest, which the
    # page holds only some of: in the order found, none left out.
    assert len(data["items"]) == ITEMS_INLINE
    assert sorted(p.name for p in (report_dir / PAGES_DIR).iterdir()) == ["0000.js", "0001.js", "0002.js"]
    assert [item["n"] for item in items_in_order(report_dir)] == flagged + failed + rest

    by_output = {item.get("output"): item for item in data["items"]}
    some_residual = next(iter(residual))
    assert "residual face (verify)" in by_output[some_residual]["reasons"]
    assert by_output[some_residual]["residual"] == [[30.0, 10.0, 44.0, 28.0, 0.8]]
    assert "residual metadata (verify)" in by_output[next(iter(tags))]["reasons"]
    assert by_output[reidentified]["reasons"] == ["re-identified (verify)"]
    assert by_output[unreadable]["reasons"] == ["unreadable by verify"]
    assert all(item["reasons"] == ["failed"] for item in data["items"][data["queued"]: data["queued"] + data["failed"]])
    assert "are not on this page" not in (report_dir / REVIEW_FILE).read_text()


def wait_until(browser, condition) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 10, poll_frequency=0.02).until(condition)


def shown_sources(browser) -> list[str]:
    return browser.execute_script(
        'return Array.from(document.querySelectorAll("#items .item"), function (e) { return e.dataset.source; })'
    )


def test_the_reviewer_pages_through_every_image_from_the_page_files(browser, synthetic_review):
    """Offline, from disk: the last page comes from the last page file; the queue's
    residual faces are outlined on the output, dashed and labelled "verify"."""
    from selenium.webdriver.common.keys import Keys

    report_dir, rows = synthetic_review
    browser.get_log("browser")
    browser.get((report_dir / REVIEW_FILE).resolve().as_uri())
    data = page_data(report_dir)
    first = browser.find_elements("css selector", "#items .item")[0]
    assert first.get_attribute("data-source") == data["items"][0]["source"]
    residual = next(i for i, item in enumerate(data["items"]) if item.get("residual"))
    assert residual < PAGE_SIZE  # on the first page
    item = browser.find_element("id", f"item-{data['items'][residual]['n']}")
    outline = item.find_element("css selector", "figure svg rect.residual")
    assert outline.value_of_css_property("stroke-dasharray") not in ("", "none")
    assert item.find_element("css selector", "figure svg text.residual").get_attribute("textContent").startswith("verify")

    pages = -(-data["total"] // PAGE_SIZE)
    browser.find_element("tag name", "body").send_keys(Keys.END)
    wait_until(browser, lambda driver: driver.find_element("id", "page-info").text == f"page {pages} of {pages}"
               and driver.find_element("id", "items").get_attribute("aria-busy") == "false")
    last = [r["source"] for r in rows if r["status"] != "skipped"]
    assert shown_sources(browser)[-1] == last[-1]
    assert browser.find_element("id", "page-status").text == ""
    assert console_errors(browser) == []


# Synthetic files of the kinds the review page queues (scripts/bench_html_report.py): a low
# score, a residual face or residual metadata found by verify.
QUEUED_KINDS = ("low", "residual", "tags")
# A queue past two page files, then failed files and files that need no look, mixed at
# random over the run: 30 queued to 1 failed to 1 other.
LONG_QUEUE_FILES = 2 * ITEMS_INLINE + 400
LONG_QUEUE_KINDS = QUEUED_KINDS * 10 + ("failed", "")
# How much the page's size may differ between two runs whose queues differ in size: its
# items are the first ITEMS_INLINE of the queue, each with 0 to 4 faces at random, which
# vary the page's size by about 1%.
PAGE_SIZE_SPREAD = 0.03


def synthetic_run(folder: Path, count: int, kinds: tuple[str, ...]) -> tuple[Path, Path]:
    """(report folder, OUT) of a synthetic run of ``count`` files, each of one of ``kinds``
    at random ("failed"; "" for a file that needs no look)."""
    import sys

    sys.path.insert(0, str(PROJECT / "scripts"))
    from bench_html_report import synthetic_report

    return synthetic_report(folder, count, all_review=True, kinds=kinds)


def review_lists(report_dir: Path) -> tuple[list[int], list[int], list[int]]:
    """The indexes of the records the page queues, of the failed and of the rest (none
    skipped in these runs), each in the order found: the page's order, list by list."""
    verify = json.loads((report_dir / "verify.json").read_text())
    found = {f["output"] for f in verify["residual_faces"]} | {t["output"] for t in verify["residual_tags"]}
    lists: tuple[list[int], list[int], list[int]] = ([], [], [])
    for index, r in enumerate(records(report_dir)):
        queued = r["status"] == "ok" and (r["output"] in found or any(f["score"] < 0.5 for f in r["faces"]))
        lists[0 if queued else 1 if r["status"] == "failed" else 2].append(index)
    return lists


def queue_info(report_dir: Path) -> str:
    return html.unescape((report_dir / REVIEW_FILE).read_text().split('<p id="queue-info">')[1].split("</p>")[0])


def test_the_page_holds_as_many_images_whatever_the_size_of_the_queue(tmp_path):
    sizes = {}
    for count in (1500, 5000):
        report_dir, out = synthetic_run(tmp_path / str(count), count, QUEUED_KINDS)
        write_review_page(out, None, report_dir)
        data = page_data(report_dir)
        assert (data["queued"], len(data["items"])) == (count, ITEMS_INLINE)
        sizes[count] = (report_dir / REVIEW_FILE).stat().st_size
    assert sizes[5000] == pytest.approx(sizes[1500], rel=PAGE_SIZE_SPREAD)


@pytest.fixture(scope="module")
def long_queue(tmp_path_factory) -> Path:
    """The report folder of a synthetic run with a long queue, review.html written."""
    report_dir, out = synthetic_run(tmp_path_factory.mktemp("long-queue"), LONG_QUEUE_FILES, LONG_QUEUE_KINDS)
    write_review_page(out, None, report_dir)
    return report_dir


def test_a_long_queue_is_in_page_files_in_its_order_and_counted_whole(long_queue):
    """The page holds the queue's first images; the queue's page files hold the rest of it,
    then the failed files' and the rest's page files theirs, from their first. The summary
    counts every image, not only those the page holds."""
    queued, failed, rest = review_lists(long_queue)
    assert len(queued) > 2 * ITEMS_INLINE and failed and rest
    data = page_data(long_queue)
    assert [item["n"] for item in data["items"]] == queued[:ITEMS_INLINE]
    assert sorted(p.name for p in (long_queue / PAGES_DIR).iterdir()) == [
        "0000.js", "failed-0000.js", "queue-0001.js", "queue-0002.js"]
    assert [item["n"] for item in items_in_order(long_queue)] == queued + failed + rest

    verify = json.loads((long_queue / "verify.json").read_text())
    low = sum(any(f["score"] < 0.5 for f in r["faces"]) for r in records(long_queue) if r["status"] == "ok")
    reasons = {"low score": low, "residual face (verify)": len(verify["residual_faces"]),
               "residual metadata (verify)": len(verify["residual_tags"])}
    assert sum(reasons.values()) == len(queued)
    listed = ", ".join(f"{reason}: {count}" for reason, count in sorted(reasons.items(), key=lambda kv: -kv[1]))
    assert queue_info(long_queue) == (
        f"{len(queued)} of {LONG_QUEUE_FILES} images need a look ({listed}) and come first; "
        f"then {len(failed)} failed files; then the rest, in the order the run found them.")


def page_to(browser, number: int) -> None:
    """Page ``number`` (from 0) on screen, reached with the keys from the nearer end, and
    its images shown."""
    from selenium.webdriver.common.keys import Keys

    pages = int(browser.find_element("id", "page-info").text.split()[-1])
    keys = Keys.HOME + Keys.ARROW_RIGHT * number if number < pages / 2 else Keys.END + Keys.ARROW_LEFT * (pages - 1 - number)
    browser.find_element("tag name", "body").send_keys(keys)
    wait_until(browser, lambda driver: driver.find_element("id", "page-info").text == f"page {number + 1} of {pages}"
               and driver.find_element("id", "items").get_attribute("aria-busy") == "false"
               and driver.find_elements("css selector", "#items .item"))


def test_the_last_queued_image_and_the_failed_files_after_a_long_queue_are_reached_by_paging(browser, long_queue):
    queued, failed, _ = review_lists(long_queue)
    held = {item["n"] for item in page_data(long_queue)["items"]}
    assert not held & {queued[-1], failed[0], failed[-1]}  # from page files
    sources = [r["source"] for r in records(long_queue)]
    browser.get_log("browser")
    browser.get((long_queue / REVIEW_FILE).resolve().as_uri())
    last_queued, first_failed = len(queued) - 1, len(queued)
    page_to(browser, last_queued // PAGE_SIZE)
    shown = shown_sources(browser)
    assert shown[last_queued % PAGE_SIZE] == sources[queued[-1]]
    page_to(browser, first_failed // PAGE_SIZE)
    shown = shown_sources(browser)
    assert shown[first_failed % PAGE_SIZE] == sources[failed[0]]
    item = browser.find_element("id", f"item-{failed[0]}")
    assert "not written: cannot decode" in item.text
    last_failed = first_failed + len(failed) - 1
    page_to(browser, last_failed // PAGE_SIZE)
    assert shown_sources(browser)[last_failed % PAGE_SIZE] == sources[failed[-1]]
    assert browser.find_element("id", "page-status").text == ""
    assert console_errors(browser) == []


def test_a_decision_on_an_image_from_a_page_file_is_saved(browser, long_queue, tmp_path):
    """Decided on, then paged away from (its file out of view), the image's decision is in
    the saved corrections."""
    from selenium.webdriver.common.keys import Keys

    order = items_in_order(long_queue)
    held = {item["n"] for item in page_data(long_queue)["items"]}
    at, item = next((at, item) for at, item in enumerate(order) if at >= ITEMS_INLINE and item["regions"])
    assert item["n"] not in held
    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    browser.get_log("browser")
    browser.get((long_queue / REVIEW_FILE).resolve().as_uri())
    page_to(browser, at // PAGE_SIZE)
    browser.find_element("css selector", f"#item-{item['n']} .regions button").click()
    assert browser.find_element("css selector", f"#item-{item['n']} .regions button").text == "drop"
    browser.find_element("tag name", "body").send_keys(Keys.END)
    wait_until(browser, lambda driver: not driver.find_elements("id", f"item-{item['n']}"))
    browser.find_element("id", "save").click()
    saved = saved_file(tmp_path)
    record = records(long_queue)[item["n"]]
    assert saved["files"] == [{"source": record["source"], "frame": 0, "drop": [record["faces"][0]["box"]],
                               "keep": [], "add": []}]
    assert console_errors(browser) == []


def test_with_nothing_queued_the_page_holds_the_first_failed_files(tmp_path):
    """More failed files than the page holds, nothing queued: it holds the first failed
    files, the others are in their page files; the queue's files of the page written
    before are removed."""
    report_dir, out = synthetic_run(tmp_path, LONG_QUEUE_FILES, ("failed", ""))
    (report_dir / PAGES_DIR).mkdir()
    for stale in ("queue-0000.js", "queue-0001.js"):
        (report_dir / PAGES_DIR / stale).write_text('deidPage("earlier", 0, [], "queue");\n')
    write_review_page(out, None, report_dir)
    queued, failed, rest = review_lists(report_dir)
    assert queued == [] and len(failed) > ITEMS_INLINE
    data = page_data(report_dir)
    assert [item["n"] for item in data["items"]] == failed[:ITEMS_INLINE]
    assert sorted(p.name for p in (report_dir / PAGES_DIR).iterdir()) == sorted(["0000.js", "failed-0001.js"] + (
        ["0001.js"] if len(rest) > ITEMS_INLINE else []))
    assert [item["n"] for item in items_in_order(report_dir)] == failed + rest
    assert queue_info(report_dir) == (
        f"0 of {LONG_QUEUE_FILES} images need a look and come first; then {len(failed)} failed files; "
        "then the rest, in the order the run found them.")


def test_a_refused_file_shows_its_boxes_and_looks_right_approves_it(browser, tmp_path):
    """Refused for its large region, the portrait is shown (original and boxes, no output)
    after the queue; marking it "Looks right" saves an entry without boxes, which writes it."""
    config = review_config(tmp_path, "refuse")
    out = tmp_path / "out"
    assert run_cli("run", SAMPLE_DATA, out, "--workers", "1", "--config", config).returncode == 1
    assert run_cli("review", out, "--source", SAMPLE_DATA).returncode == 0
    report_dir = tmp_path / "out.report"
    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    browser.get_log("browser")
    browser.get((report_dir / REVIEW_FILE).resolve().as_uri())
    assert shown_sources(browser) == ["astronaut_portrait.png", "people/grace_hopper.jpg", "astronaut.jpg"]
    refused = browser.find_element("css selector", '#items .item[data-source="astronaut_portrait.png"]')
    assert "region over 10% of the image" in refused.find_element("css selector", ".reasons").text
    assert "not written" in refused.text and "review.max_region" in refused.text
    (image,) = refused.find_elements("css selector", "img")
    assert image.get_attribute("alt") == "original astronaut_portrait.png"
    assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image) > 0
    assert len(refused.find_elements("css selector", "svg rect.region")) == 1

    refused.find_element("css selector", "button.approve").click()
    approve = browser.find_element("css selector", '#items .item[data-source="astronaut_portrait.png"] button.approve')
    assert approve.get_attribute("aria-pressed") == "true"
    assert "1 image marked right in 1 file" in browser.find_element("id", "decisions").text
    browser.find_element("id", "save").click()
    saved = saved_file(tmp_path)
    assert saved["files"] == [{"source": "astronaut_portrait.png", "frame": 0, "drop": [], "keep": [], "add": []}]
    assert console_errors(browser) == []

    result = run_cli("run", SAMPLE_DATA, out, "--resume", "--workers", "1", "--config", config,
                     "--corrections", tmp_path / "corrections.json")
    assert result.returncode == 1, result.stderr  # grace_hopper.jpg is still refused
    assert (out / "astronaut_portrait.png").is_file() and not (out / "people" / "grace_hopper.jpg").exists()


# The multi-frame sources: three frames of the portrait's size, the face on the last only.
MULTI_FRAME_SOURCES = ("clip.gif", "scan.tif")
FACE_FRAME = 2


def multi_frame_source(folder: Path) -> list[np.ndarray]:
    """clip.gif (an animation) and scan.tif (three pages) in ``folder``: a gradient, a plain
    frame, then the portrait; their frames."""
    from PIL import Image

    portrait = Image.open(SAMPLE_DATA / "people" / "grace_hopper.jpg").convert("RGB").resize((320, 375))
    y, x = np.mgrid[0: portrait.height, 0: portrait.width]
    gradient = np.stack([x * 255 // portrait.width, y * 255 // portrait.height, np.full_like(x, 140)], axis=2)
    frames = [Image.fromarray(gradient.astype(np.uint8)), Image.new("RGB", portrait.size, (90, 120, 150)), portrait]
    folder.mkdir(parents=True, exist_ok=True)
    frames[0].save(folder / "clip.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    frames[0].save(folder / "scan.tif", save_all=True, append_images=frames[1:])
    return [np.asarray(frame, dtype=np.int16) for frame in frames]


def frame_pixels(path: Path, frame: int) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        image.seek(frame)
        return np.asarray(image.convert("RGB"), dtype=np.int16)


@pytest.fixture(scope="module")
def multi_frame_review(tmp_path_factory) -> tuple[Path, Path, Path]:
    """A run of the multi-frame sources, whose face is queued for its size, and its review
    page: (SRC, OUT, report folder)."""
    root = tmp_path_factory.mktemp("frames")
    src, out = root / "src", root / "out"
    multi_frame_source(src)
    result = run_cli("run", src, out, "--workers", "1", "--config", review_config(root, "queue"))
    assert result.returncode == 0, result.stderr
    assert run_cli("review", out, "--source", src).returncode == 0
    return src, out, root / "out.report"


def test_the_queue_looks_at_every_frame():
    side = (0.25 * 100 * 100) ** 0.5 + 1
    record = {"status": "ok", "width": 100, "height": 100, "frames": 3,
              "faces": [face(10), face(side, frame=2), face(5, score=0.2, frame=1)]}
    rules = QueueRules()
    assert review_reasons(record, rules) == ["region over 25% of the image", "low score"]
    assert rules.frame_reasons(record) == {1: ["low score"], 2: ["region over 25% of the image"]}


def test_each_frame_is_measured_against_its_own_size():
    # A face 60 px square: 36% of the 100 x 100 first page, 2% of the 400 x 400 second.
    record = {"status": "ok", "width": 100, "height": 100, "frames": 2, "frame_sizes": [[100, 100], [400, 400]],
              "faces": [face(60, frame=1)]}
    assert QueueRules().frame_reasons(record) == {}
    record["faces"] = [face(60, frame=0)]
    assert QueueRules().frame_reasons(record) == {0: ["region over 25% of the image"]}


def test_frames_get_pictures_in_the_order_they_need_a_look():
    from deid.review import MAX_FRAMES_RENDERED, frames_to_render

    assert frames_to_render(3, [[2], [2]]) == [0, 1, 2]
    # The first frame, those the queue found something on, those with regions, then the
    # others, spread over the animation.
    assert frames_to_render(100, [[70], [40, 50]], most=4) == [0, 40, 50, 70]
    assert frames_to_render(100, [[70], [40, 50]], most=3) == [0, 50, 70]
    assert frames_to_render(10, [], most=3) == [0, 3, 7]
    assert len(frames_to_render(1000, [])) == MAX_FRAMES_RENDERED


def test_stills_of_every_frame_keep_each_pages_size(tmp_path, monkeypatch):
    """Pages of a TIFF may differ in size: each still comes with its own page's; made once,
    then read back without decoding the file again."""
    from PIL import Image

    from deid import html_report
    from deid.html_report import ImageLinks

    folder = tmp_path / "folder"
    folder.mkdir()
    pages = [Image.new("RGB", (64, 48), (200, 10, 10)), Image.new("RGB", (40, 80), (10, 200, 10))]
    pages[0].save(folder / "a.tif", save_all=True, append_images=pages[1:])
    links = ImageLinks.between(tmp_path, folder, 10**8, "stills", 32)
    made = links.stills("a.tif", [0, 1, 5])
    assert made.sizes == [(64, 48), (40, 80)]
    assert sorted(made.urls) == [0, 1]
    with Image.open(tmp_path / made.urls[1]) as still:
        assert still.format == "JPEG" and still.size == (16, 32)
        assert np.asarray(still.convert("RGB"))[8, 8].tolist() == pytest.approx([10, 200, 10], abs=12)

    def no_decode(*args):
        raise AssertionError("decoded again")

    monkeypatch.setattr(html_report, "decode", no_decode)
    assert links.stills("a.tif", [1]) == html_report.FrameStills({1: made.urls[1]}, made.sizes)


def test_a_multi_frame_image_is_queued_and_shown_for_its_later_frame(multi_frame_review):
    src, _, report_dir = multi_frame_review
    data = page_data(report_dir)
    by_source = {item["source"]: item for item in data["items"]}
    for source in MULTI_FRAME_SOURCES:
        item = by_source[source]
        assert item["reasons"] == ["region over 10% of the image"]
        assert item["frames"] == 3 and item["frameReasons"] == {str(FACE_FRAME): ["region over 10% of the image"]}
        assert [region["frame"] for region in item["regions"]] == [FACE_FRAME]
        assert [view["frame"] for view in item["views"]] == [0, 1, 2]
        # Each frame's still is that frame: the portrait's is far from the gradient's.
        face, gradient = (load_pixels(report_dir / item["views"][k]["originalSrc"]) for k in (FACE_FRAME, 0))
        source_frames = [frame_pixels(src / source, k) for k in (FACE_FRAME, 0)]
        assert np.abs(face - source_frames[0]).mean() < 12 < np.abs(gradient - source_frames[0]).mean()
        assert load_pixels(report_dir / item["views"][FACE_FRAME]["outputSrc"]).shape[:2] == (375, 320)


@pytest.mark.parametrize("source", MULTI_FRAME_SOURCES)
def test_a_later_frame_is_corrected_on_the_page_and_the_run_applies_it_to_that_frame(
    browser, multi_frame_review, tmp_path, source,
):
    from selenium.webdriver.common.action_chains import ActionChains

    src, out, report_dir = multi_frame_review
    record = next(r for r in records(report_dir) if r["source"] == source)
    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    browser.get_log("browser")
    browser.get((report_dir / REVIEW_FILE).resolve().as_uri())
    selector = f'#items .item[data-source="{source}"]'

    def item():
        return browser.find_element("css selector", selector)

    def shown_frame() -> tuple[int, str]:
        from selenium.webdriver.support.ui import Select

        return int(item().get_attribute("data-frame")), Select(item().find_element("css selector", "select.frame")) \
            .first_selected_option.text

    # It opens on the frame the queue found something on; back to the first, then on.
    assert shown_frame() == (FACE_FRAME, "frame 3 of 3: 1 region \u2014 region over 10% of the image")
    for _ in range(FACE_FRAME):
        item().find_element("css selector", "button.prev-frame").click()
    assert shown_frame() == (0, "frame 1 of 3: 0 regions")
    assert item().find_elements("css selector", "svg rect.region") == []
    assert item().find_element("css selector", "button.prev-frame").get_attribute("disabled") == "true"
    for _ in range(FACE_FRAME):
        item().find_element("css selector", "button.next-frame").click()
    assert shown_frame()[0] == FACE_FRAME
    assert len(item().find_elements("css selector", "svg rect.region")) == 2  # on the original and the output
    for image in item().find_elements("css selector", "img"):
        assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image) > 0

    # Drop the face, and draw a box over the background above it, on the original.
    item().find_element("css selector", ".pair figure:first-child svg rect.region").click()
    svg = item().find_element("css selector", ".pair figure:first-child svg")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", svg)
    width, height = svg.size["width"], svg.size["height"]
    ActionChains(browser).move_to_element_with_offset(svg, -int(width * 0.4), -int(height * 0.47)).click_and_hold() \
        .move_by_offset(int(width * 0.2), 10).move_by_offset(int(width * 0.25), int(height * 0.12)).release().perform()
    assert "frame 3 of 3: 1 region, 2 decided" in shown_frame()[1]
    browser.find_element("id", "save").click()
    saved = saved_file(tmp_path)
    assert console_errors(browser) == []
    (entry,) = saved["files"]
    assert (entry["source"], entry["frame"], entry["drop"], entry["keep"]) == (
        source, FACE_FRAME, [record["faces"][0]["box"]], [])
    ((x1, y1, x2, y2),) = entry["add"]
    assert 0 <= y1 < y2 < record["faces"][0]["region"][1]  # above the face's region

    copy_out, copy_report = tmp_path / "copy", tmp_path / "copy.report"
    shutil.copytree(out, copy_out)
    shutil.copytree(report_dir, copy_report)
    applied = run_cli("run", src, copy_out, "--report", copy_report, "--resume", "--workers", "1",
                      "--config", review_config(tmp_path, "queue"), "--corrections", tmp_path / "corrections.json")
    assert applied.returncode == 0, applied.stderr
    summary = json.loads((copy_report / "summary.json").read_text())
    assert summary["counts"]["dropped"] == 1 and summary["counts"]["added"] == 1
    written = copy_out / record["output"]
    original, corrected = frame_pixels(src / source, FACE_FRAME), frame_pixels(written, FACE_FRAME)
    rx1, ry1, rx2, ry2 = record["faces"][0]["region"]
    assert frame_pixels(out / record["output"], FACE_FRAME)[ry1:ry2, rx1:rx2].max() <= 16  # covered before
    assert np.abs(corrected[ry1:ry2, rx1:rx2] - original[ry1:ry2, rx1:rx2]).mean() < 8
    assert corrected[y1:y2, x1:x2].max() <= 16 < original[y1:y2, x1:x2].mean()
    # The other frames are as they were: the drawn box is frame 2's alone.
    for frame in range(FACE_FRAME):
        before, after = frame_pixels(src / source, frame), frame_pixels(written, frame)
        assert np.abs(after - before).mean() < 8
        assert np.abs(after[y1:y2, x1:x2] - before[y1:y2, x1:x2]).mean() < 8
    decisions = {r["source"]: r for r in records(copy_report)}[source]["decisions"]
    assert sorted((d["decision"], d["frame"]) for d in decisions) == [("add", FACE_FRAME), ("drop", FACE_FRAME)]


def test_a_multi_frame_image_from_a_page_file_shows_its_frames_and_saves_its_frame(
    browser, multi_frame_review, tmp_path, monkeypatch,
):
    """A page that holds one image: the second, from a page file, opens on the frame the
    queue found something on, with its stills, and a decision on that frame is saved
    with it."""
    from selenium.webdriver.support.ui import Select

    from deid import review

    src, out, report_dir = multi_frame_review
    copy = tmp_path / "out.report"
    shutil.copytree(report_dir, copy)
    monkeypatch.setattr(review, "ITEMS_INLINE", 1)
    write_review_page(out, src, copy)
    first, second = (item["source"] for item in items_in_order(copy))
    assert [item["source"] for item in page_data(copy)["items"]] == [first]
    assert (copy / PAGES_DIR / "queue-0001.js").is_file()
    record = next(r for r in records(copy) if r["source"] == second)
    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    browser.get_log("browser")
    browser.get((copy / REVIEW_FILE).resolve().as_uri())
    selector = f'#items .item[data-source="{second}"]'
    wait_until(browser, lambda driver: driver.find_elements("css selector", selector))

    def item():
        return browser.find_element("css selector", selector)

    assert item().get_attribute("data-frame") == str(FACE_FRAME)
    wait_until(browser, lambda driver: all(driver.execute_script(
        "return arguments[0].complete && arguments[0].naturalWidth", image) for image in item().find_elements(
        "css selector", "img")))
    assert len(item().find_elements("css selector", "img")) == 2
    item().find_element("css selector", "button.prev-frame").click()
    assert Select(item().find_element("css selector", "select.frame")).first_selected_option.text == \
        f"frame {FACE_FRAME} of 3: 0 regions"
    item().find_element("css selector", "button.next-frame").click()
    item().find_element("css selector", ".pair figure:first-child svg rect.region").click()
    browser.find_element("id", "save").click()
    saved = saved_file(tmp_path)
    assert saved["files"] == [{"source": second, "frame": FACE_FRAME, "drop": [record["faces"][0]["box"]],
                               "keep": [], "add": []}]
    assert console_errors(browser) == []
