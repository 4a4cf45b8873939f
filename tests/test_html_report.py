"""The HTML report, opened in a real browser (headless chromium)."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pytest
from PIL import Image

from conftest import PROJECT, SAMPLE_DATA, run_cli
from deid.config import OutputConfig
from deid.html_report import ITEMS_PER_FILE, PAGE_SIZE, QUEUE_ITEMS_PER_FILE, QUEUE_SERIES, write_html_report

sys.path.insert(0, str(PROJECT / "scripts"))

FILTERS = ("review", "all", "failed", "noface", "low", "text", "residual")


def open_report(browser, report_dir: Path) -> None:
    browser.get_log("browser")  # drop what earlier pages logged
    browser.get((report_dir / "index.html").resolve().as_uri())
    browser.execute_script("return document.readyState")


def console_errors(browser) -> list[dict]:
    return [entry for entry in browser.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]


def expected_names(report_dir: Path, unthumbed: frozenset[str] = frozenset()) -> dict[str, list[str]]:
    """The card names each filter should show, in discovery order; ``unthumbed``: the
    outputs whose thumbnail cannot be made."""
    records = [json.loads(line) for line in (report_dir / "images.jsonl").read_text().splitlines()]
    verify_path = report_dir / "verify.json"
    residual = set()
    if verify_path.exists():
        verified = json.loads(verify_path.read_text())
        residual = {f["output"] for key in ("residual_faces", "residual_tags", "unreadable") for f in verified[key]}
    names: dict[str, list[str]] = {name: [] for name in FILTERS}
    for r in records:
        if r["status"] == "skipped":
            continue
        ok = r["status"] == "ok"
        shows = {
            "all": True,
            "failed": r["status"] == "failed",
            "noface": ok and not r["faces"],
            "low": ok and any(f["score"] < 0.5 for f in r["faces"]),
            "text": ok and bool(r.get("texts")),
            "residual": ok and r["output"] in residual,
        }
        shows["review"] = any(shows[name] for name in ("failed", "low", "text", "residual")) or (
            ok and r["output"] in unthumbed)
        for name in FILTERS:
            if shows[name]:
                names[name].append(r["output"] if ok else r["source"])
    return names


def expected_counts(report_dir: Path, unthumbed: frozenset[str] = frozenset()) -> dict[str, int]:
    """What each filter should count; ``unthumbed``: the outputs whose thumbnail cannot be made."""
    return {name: len(names) for name, names in expected_names(report_dir, unthumbed).items()}


def gallery_after(browser, name: str) -> tuple[int, int]:
    browser.find_element("css selector", f'.filters button[data-filter="{name}"]').click()
    count = int(browser.find_element("id", "gallery-count").text)
    return count, len(browser.find_elements("css selector", "#gallery .card"))


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory) -> tuple[Path, Path, Path]:
    """sample_data plus a damaged JPEG (failed) and a text file (skipped)."""
    root = tmp_path_factory.mktemp("html")
    src = root / "src"
    shutil.copytree(SAMPLE_DATA, src)
    data = (SAMPLE_DATA / "astronaut.jpg").read_bytes()
    (src / "damaged.jpg").write_bytes(data[: len(data) // 40])
    result = run_cli("run", src, root / "out", "--workers", "1")
    assert result.returncode == 1, result.stderr  # the damaged file fails
    return src, root / "out", root / "out.report"


def test_the_report_loads_cleanly_and_agrees_with_the_summary(browser, sample_run, tmp_path):
    src, out, report_dir = sample_run
    open_report(browser, report_dir)
    assert console_errors(browser) == []
    summary = json.loads((report_dir / "summary.json").read_text())
    counts = summary["counts"]
    for key in ("inputs", "ok", "failed", "skipped", "faces", "images_with_faces"):
        assert int(browser.find_element("id", f"count-{key}").text) == counts[key], key
    assert counts["failed"] == 1 and counts["ok"] >= 3
    expected = expected_counts(report_dir)
    for name in FILTERS:
        count, cards = gallery_after(browser, name)
        assert count == expected[name], name
        assert cards == min(expected[name], PAGE_SIZE), name
    browser.save_screenshot(str(tmp_path / "report.png"))
    assert Image.open(tmp_path / "report.png").size[0] > 0


# How long a test waits for one picture of the page to load.
PICTURE_WAIT_S = 10.0


def test_every_picture_comes_from_the_outputs_and_loads(browser, sample_run):
    from selenium.webdriver.support.ui import WebDriverWait

    src, out, report_dir = sample_run
    open_report(browser, report_dir)
    gallery_after(browser, "all")
    images = browser.find_elements("css selector", "img")
    assert len(images) == json.loads((report_dir / "summary.json").read_text())["counts"]["ok"]
    for image in images:
        url = urlparse(image.get_attribute("src"))
        assert url.scheme == "file"
        path = Path(unquote(url.path)).resolve()
        assert path.is_relative_to(out.resolve()) or path.is_relative_to(report_dir.resolve()), path
        assert not path.is_relative_to(src.resolve())
        # The pictures load lazily, and on a busy machine after the gallery is drawn: each
        # is brought into view and given time; one that cannot load ends with width 0.
        browser.execute_script("arguments[0].scrollIntoView()", image)
        WebDriverWait(browser, PICTURE_WAIT_S).until(
            lambda driver: driver.execute_script("return arguments[0].complete", image)
        )
        assert browser.execute_script("return arguments[0].naturalWidth", image) > 0
    html = (report_dir / "index.html").read_text()
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "") and "https://" not in html


def test_thousands_of_images_are_paged(browser, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    rng = np.random.default_rng(0)
    count = PAGE_SIZE + 12
    for index in range(count):
        Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(src / f"{index:03d}.png")
    assert run_cli("run", src, tmp_path / "out", "--config", "fast", "--workers", "1").returncode == 0
    open_report(browser, tmp_path / "out.report")
    assert len(browser.find_elements("css selector", "#gallery .card")) == PAGE_SIZE
    assert int(browser.find_element("id", "gallery-count").text) == count
    from selenium.webdriver.common.keys import Keys

    browser.find_element("tag name", "body").send_keys(Keys.ARROW_RIGHT)
    assert len(browser.find_elements("css selector", "#gallery .card")) == 12
    assert "page 2 of 2" in browser.find_element("id", "page-info").text
    assert console_errors(browser) == []


def test_verify_adds_its_findings_to_the_report(browser, tmp_path):
    """A run that misses faces, verified at its end (--verify): the page lists what verify
    found, and the residual filter shows those files."""
    pytest.importorskip("dlib", reason="the audit extra is not installed")
    (tmp_path / "config.toml").write_text(
        '[[detect.detectors]]\nname = "centerface"\nthreshold = 0.995\nprecision = "float32"\n'
    )
    result = run_cli("run", SAMPLE_DATA, tmp_path / "out", "--config", tmp_path / "config.toml", "--verify")
    assert result.returncode == 1
    assert "residual faces" in result.stdout
    report_dir = tmp_path / "out.report"
    verified = json.loads((report_dir / "verify.json").read_text())
    assert verified["files_with_residual_faces"] >= 1
    open_report(browser, report_dir)
    assert console_errors(browser) == []
    assert int(browser.find_element("id", "verify-residual-faces").text) == len(verified["residual_faces"])
    count, _ = gallery_after(browser, "residual")
    assert count == verified["files_with_residual_faces"] == expected_counts(report_dir)["residual"]
    assert len(browser.find_elements("css selector", "#gallery .card svg .residual")) == len(
        [f for f in verified["residual_faces"] if f["frame"] == 0]
    )


def tiff_run(tmp_path: Path) -> tuple[Path, Path, int]:
    """A run whose only output is a TIFF, which the page shows through a thumbnail."""
    src = tmp_path / "src"
    src.mkdir()
    pixels = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(src / "scan.tif")
    result = run_cli("run", src, tmp_path / "out", "--config", "fast", "--workers", "1")
    assert result.returncode == 0, result.stderr
    return tmp_path / "out", tmp_path / "out.report", pixels.shape[0] * pixels.shape[1]


def gallery_data(browser) -> dict:
    return browser.execute_script('return JSON.parse(document.getElementById("gallery-data").textContent)')


def test_an_output_without_a_thumbnail_says_why(browser, tmp_path, monkeypatch):
    """verify refreshes the page under its own pixel limit: an output over it gets a card
    that says why it has no picture, instead of a card without one."""
    import deid.verify

    out, report_dir, pixels = tiff_run(tmp_path)
    shutil.rmtree(report_dir / "thumbs")  # made by the run; verify must make its own
    monkeypatch.setattr(deid.verify, "audit_available", lambda: "dlib is not needed here")
    deid.verify.verify(out, workers=1, max_pixels=pixels - 1)
    open_report(browser, report_dir)
    assert console_errors(browser) == []
    (item,) = gallery_data(browser)["items"]
    assert item["src"] is None and "exceeds the limit" in item["thumbError"]
    assert browser.find_elements("css selector", "#gallery img") == []
    (missing,) = browser.find_elements("css selector", "#gallery .card .thumb.missing")
    assert missing.text.startswith("no thumbnail: ") and "raise output.max_pixels" in missing.text


def test_thumbnails_are_made_under_the_runs_pixel_limit(tmp_path, monkeypatch):
    """A run that raised output.max_pixels gets thumbnails of its outputs decoded under that
    limit, not the default one (its largest outputs would be missing from the page)."""
    import deid
    import deid.html_report
    from deid.config import OutputConfig

    raised = 2 * OutputConfig.max_pixels
    limits = []
    decode = deid.html_report.decode

    def recording_decode(data: bytes, max_pixels: int):
        limits.append(max_pixels)
        return decode(data, max_pixels)

    monkeypatch.setattr(deid.html_report, "decode", recording_decode)
    src = tmp_path / "src"
    src.mkdir()
    Image.fromarray(np.full((48, 64, 3), 90, dtype=np.uint8)).save(src / "scan.tif")
    config = deid.load_config("fast")
    config = dataclasses.replace(config, workers=1, output=dataclasses.replace(config.output, max_pixels=raised))
    deid.run(src, tmp_path / "out", config=config)
    assert limits == [raised]
    (item,) = json.loads(
        (tmp_path / "out.report" / "index.html").read_text().split('id="gallery-data">')[1].split("</script>")[0]
    )["items"]
    assert item["src"].startswith("thumbs/") and "thumbError" not in item


# A synthetic run of a few thousand files (scripts/bench_html_report.py writes its report
# directly, without detection): three page files' worth, the first inlined.
SYNTHETIC_FILES = 2500
# Files of each kind the review queue holds, the same in every synthetic run.
SYNTHETIC_REVIEW = 8


def synthetic(
    folder: Path, count: int, review_each: int = SYNTHETIC_REVIEW, all_review: bool = False,
) -> tuple[Path, Path]:
    from bench_html_report import synthetic_report

    return synthetic_report(folder, count, review_each, all_review=all_review)


def unthumbed(report_dir: Path) -> frozenset[str]:
    """The synthetic run's outputs left unwritten, whose thumbnails cannot be made."""
    records = [json.loads(line) for line in (report_dir / "images.jsonl").read_text().splitlines()]
    return frozenset(r["output"] for r in records if (r["output"] or "").endswith(".tif"))


def card_names(browser) -> list[str]:
    return browser.execute_script(
        'return Array.from(document.querySelectorAll("#gallery .card .name"), function (e) { return e.textContent; })'
    )


def press(browser, key: str) -> None:
    """Press a key on the page: "ARROW_RIGHT", "END", "HOME"."""
    from selenium.webdriver.common.keys import Keys

    browser.find_element("tag name", "body").send_keys(getattr(Keys, key))


def wait_until(browser, condition) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 10, poll_frequency=0.02).until(condition)


def wait_for_page(browser, page: int, pages: int) -> None:
    """Until the gallery shows page ``page`` of ``pages`` with its page files read."""
    wait_until(browser, lambda driver: driver.execute_script(
        'return document.getElementById("page-info").textContent === arguments[0]'
        ' && document.getElementById("gallery").getAttribute("aria-busy") === "false"', f"page {page} of {pages}"))


def walk(browser, name: str) -> list[str]:
    """Every card name of a filter, turning its pages with the arrow key."""
    browser.find_element("css selector", f'.filters button[data-filter="{name}"]').click()
    pages = int(browser.find_element("id", "page-info").text.split(" of ")[1])
    names = []
    for page in range(1, pages + 1):
        if page > 1:
            press(browser, "ARROW_RIGHT")
        wait_for_page(browser, page, pages)
        names += card_names(browser)
    return names


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory) -> Path:
    report_dir, out = synthetic(tmp_path_factory.mktemp("synthetic"), SYNTHETIC_FILES)
    assert write_html_report(report_dir, out, OutputConfig.max_pixels) == report_dir / "index.html"
    return report_dir


def test_the_page_stays_the_same_size_as_the_run_grows(synthetic_run, tmp_path):
    """Past the first file's worth, items live in page files: four times the files, the
    same review queue, and index.html grows by a few bytes of counts."""
    report_dir, out = synthetic(tmp_path, 4 * SYNTHETIC_FILES)
    write_html_report(report_dir, out, OutputConfig.max_pixels)
    small, large = ((d / "index.html").stat().st_size for d in (synthetic_run, report_dir))
    assert large < small * 1.05, (small, large)
    shown = expected_counts(report_dir)["all"]
    assert sorted(p.name for p in (report_dir / "pages").iterdir()) == [
        f"{index:04d}.js" for index in range(1, -(-shown // ITEMS_PER_FILE))
    ]


def test_page_files_are_written_while_the_records_are_read(tmp_path, monkeypatch):
    """The report is one pass over images.jsonl: a page file is on disk before the last
    record is read, so the records are never all held at once."""
    import deid.html_report

    report_dir, out = synthetic(tmp_path, 3 * ITEMS_PER_FILE)
    read = deid.html_report.iter_records
    on_disk_when_read = []

    def watched(folder: Path):
        for index, record in enumerate(read(folder)):
            if index == 3 * ITEMS_PER_FILE - 1:  # the last record
                on_disk_when_read.append((report_dir / "pages" / "0001.js").is_file())
            yield record

    monkeypatch.setattr(deid.html_report, "iter_records", watched)
    write_html_report(report_dir, out, OutputConfig.max_pixels)
    assert on_disk_when_read == [True]


def test_the_review_queue_is_inlined_and_shown_first(browser, synthetic_run):
    open_report(browser, synthetic_run)
    expected = expected_counts(synthetic_run, unthumbed(synthetic_run))
    assert expected["review"] >= 5 * SYNTHETIC_REVIEW
    pressed = browser.find_element("css selector", '.filters button[aria-pressed="true"]')
    assert pressed.get_attribute("data-filter") == "review"
    assert pressed.text == f"Needs review ({expected['review']})"
    assert int(browser.find_element("id", "gallery-count").text) == expected["review"]
    records = [json.loads(line) for line in (synthetic_run / "images.jsonl").read_text().splitlines()]
    verified = json.loads((synthetic_run / "verify.json").read_text())
    found = {f["output"] for key in ("residual_faces", "residual_tags") for f in verified[key]}
    found |= unthumbed(synthetic_run)
    needs_review = [
        index for index, r in enumerate(records)
        if r["status"] == "failed" or (r["status"] == "ok" and (
            r.get("texts") or any(f["score"] < 0.5 for f in r["faces"]) or r["output"] in found))
    ]
    assert len(needs_review) == expected["review"]
    items = gallery_data(browser)["items"]
    assert set(needs_review) <= {item["n"] for item in items}
    assert sum("thumbError" in item for item in items) == SYNTHETIC_REVIEW
    names = walk(browser, "review")
    assert len(names) == expected["review"] and len(set(names)) == len(names)
    assert console_errors(browser) == []


def test_the_review_queue_needs_no_page_file(browser, synthetic_run):
    """index.html alone shows a review queue of up to QUEUE_ITEMS_PER_FILE items; only
    "All" past the first file's worth needs the page files, and says so when they are not
    there."""
    pages_dir = synthetic_run / "pages"
    pages_dir.rename(synthetic_run / "elsewhere")
    try:
        open_report(browser, synthetic_run)
        expected = expected_counts(synthetic_run, unthumbed(synthetic_run))
        assert len(walk(browser, "review")) == expected["review"]
        assert console_errors(browser) == []
        gallery_after(browser, "all")
        press(browser, "END")
        status = browser.find_element("id", "gallery-status")
        wait_until(browser, lambda _: status.text.startswith("cannot read pages/"))
        assert "keep the pages folder beside this page" in status.text
        assert any("pages/" in entry["message"] for entry in console_errors(browser))
    finally:
        (synthetic_run / "elsewhere").rename(pages_dir)


def test_every_output_is_reachable_through_the_page_files(browser, synthetic_run):
    """Paging "All" to its end reads the page files and shows every file in discovery
    order; so does "No face found" for its files."""
    open_report(browser, synthetic_run)
    records = [json.loads(line) for line in (synthetic_run / "images.jsonl").read_text().splitlines()]
    shown = [r for r in records if r["status"] != "skipped"]
    assert walk(browser, "all") == [r["output"] if r["status"] == "ok" else r["source"] for r in shown]
    assert len(list((synthetic_run / "pages").iterdir())) == 2
    assert walk(browser, "noface") == [r["output"] for r in shown if r["status"] == "ok" and not r["faces"]]
    expected = expected_counts(synthetic_run, unthumbed(synthetic_run))
    for name in FILTERS:
        count, _ = gallery_after(browser, name)
        assert count == expected[name], name
    gallery_after(browser, "all")
    pages = -(-len(shown) // PAGE_SIZE)
    press(browser, "END")
    wait_for_page(browser, pages, pages)
    assert card_names(browser)[-1] == (shown[-1]["output"] or shown[-1]["source"])
    press(browser, "HOME")
    wait_for_page(browser, 1, pages)
    assert console_errors(browser) == []


def test_a_page_file_of_another_report_is_refused(browser, tmp_path):
    """A page file left by another version of the report (its rewrite interrupted) is not
    shown as this report's outputs: the page says what happened."""
    report_dir, out = synthetic(tmp_path, ITEMS_PER_FILE + PAGE_SIZE)
    write_html_report(report_dir, out, OutputConfig.max_pixels)
    page_file = report_dir / "pages" / "0001.js"
    page_file.write_text(page_file.read_text().replace('deidPage("', 'deidPage("other', 1))
    open_report(browser, report_dir)
    gallery_after(browser, "all")
    press(browser, "END")
    status = browser.find_element("id", "gallery-status")
    wait_until(browser, lambda _: "another version" in status.text)  # not "loading pages/0001.js"
    assert status.text.startswith("pages/0001.js belongs to another version of this report")
    assert card_names(browser) == []
    assert console_errors(browser) == []


def test_a_run_without_files_has_an_empty_gallery(browser, tmp_path):
    """No records: an empty gallery, and no page files, not even those of the larger report
    the folder held before."""
    report_dir, out = synthetic(tmp_path, 2 * ITEMS_PER_FILE)
    write_html_report(report_dir, out, OutputConfig.max_pixels)
    assert (report_dir / "pages" / "0001.js").is_file()
    report_dir, out = synthetic(tmp_path, 0)
    write_html_report(report_dir, out, OutputConfig.max_pixels)
    assert (report_dir / "images.jsonl").read_text() == "" and not (report_dir / "pages").exists()
    open_report(browser, report_dir)
    assert console_errors(browser) == []
    for name in FILTERS:
        button = browser.find_element("css selector", f'.filters button[data-filter="{name}"]')
        assert button.text.endswith(" (0)"), name
        assert gallery_after(browser, name) == (0, 0)
    assert browser.find_element("id", "page-info").text == "page 1 of 1"
    assert int(browser.find_element("id", "count-inputs").text) == 0


# Runs in which every file needs review (text on scanned documents, say): the queue is
# longer than the page holds, then several of its page files long.
LONG_QUEUE = QUEUE_ITEMS_PER_FILE + ITEMS_PER_FILE // 2
LONGER_QUEUE = 5 * QUEUE_ITEMS_PER_FILE
# A run in which part of the files need review, spread among those that do not: 7 kinds
# of this many files (one, skipped, not queued) in 3 page files' worth.
MIXED_FILES = 3 * ITEMS_PER_FILE
MIXED_REVIEW = 300


def queue_page_files(report_dir: Path) -> list[str]:
    pages_dir = report_dir / "pages"
    return sorted(path.name for path in pages_dir.glob(f"{QUEUE_SERIES}-*.js")) if pages_dir.is_dir() else []


def inlined_data(report_dir: Path) -> dict:
    return json.loads((report_dir / "index.html").read_text().split('id="gallery-data">')[1].split("</script>")[0])


def chart_counts(report_dir: Path, title: str) -> list[int]:
    """The numbers on the bars of the chart ``title`` of index.html."""
    html = (report_dir / "index.html").read_text()
    (chart,) = [part for part in html.split('<figure class="chart">')[1:] if part.startswith(f"<figcaption>{title}<")]
    return [int(number) for number in re.findall(r'class="bar"/><text [^>]*>(\d+)</text>', chart)]


def test_the_page_stays_the_same_size_as_the_review_queue_grows(tmp_path):
    """Past QUEUE_ITEMS_PER_FILE the review queue is in page files of its own: a queue of
    5,000 gives the index.html of one of 1,500, within a few bytes of counts a file; its
    counts and charts are still of every file, not of what the page holds."""
    sizes = []
    for queued in (LONG_QUEUE, LONGER_QUEUE):
        report_dir, out = synthetic(tmp_path / str(queued), queued, all_review=True)
        write_html_report(report_dir, out, OutputConfig.max_pixels)
        sizes.append((report_dir / "index.html").stat().st_size)
    assert sizes[1] < sizes[0] * 1.05, sizes
    assert queue_page_files(report_dir) == [
        f"{QUEUE_SERIES}-{index:04d}.js" for index in range(1, LONGER_QUEUE // QUEUE_ITEMS_PER_FILE)
    ]
    data = inlined_data(report_dir)
    assert len(data["items"]) == QUEUE_ITEMS_PER_FILE
    expected = expected_counts(report_dir, unthumbed(report_dir))
    assert expected["review"] == LONGER_QUEUE
    assert {name: data["counts"][name] for name in FILTERS} == expected
    for name, per_file in data["queue"]["fileCounts"].items():
        assert sum(per_file) == data["counts"][name], name
    records = [json.loads(line) for line in (report_dir / "images.jsonl").read_text().splitlines()]
    ok = [r for r in records if r["status"] == "ok"]
    assert sum(chart_counts(report_dir, "Faces per image")) == len(ok)
    assert sum(chart_counts(report_dir, "Face heights (px)")) == sum(len(r["faces"]) for r in ok)


def test_every_queued_item_is_reachable_through_the_page(browser, tmp_path):
    """A review queue longer than the page holds, spread among files that need no look:
    "Needs review" and each of its filters page through the queue's page files to their
    end, in discovery order; End goes straight to the last queued item."""
    report_dir, out = synthetic(tmp_path, MIXED_FILES, MIXED_REVIEW)
    write_html_report(report_dir, out, OutputConfig.max_pixels)
    names = expected_names(report_dir, unthumbed(report_dir))
    assert QUEUE_ITEMS_PER_FILE + PAGE_SIZE < len(names["review"]) <= 2 * QUEUE_ITEMS_PER_FILE
    assert queue_page_files(report_dir) == [f"{QUEUE_SERIES}-0001.js"]
    inlined = {item.get("output") or item["source"] for item in inlined_data(report_dir)["items"]}
    assert names["review"][-1] not in inlined
    open_report(browser, report_dir)
    for name in FILTERS:
        assert gallery_after(browser, name)[0] == len(names[name]), name
    gallery_after(browser, "review")
    pages = -(-len(names["review"]) // PAGE_SIZE)
    press(browser, "END")
    wait_for_page(browser, pages, pages)
    assert card_names(browser)[-1] == names["review"][-1]
    for name in ("review", "failed", "low", "text", "residual"):
        assert walk(browser, name) == names[name], name
    assert console_errors(browser) == []


@pytest.mark.parametrize("queued", [QUEUE_ITEMS_PER_FILE, QUEUE_ITEMS_PER_FILE + 1])
def test_a_queue_of_what_the_page_holds_and_one_more(browser, tmp_path, queued):
    """The page holds QUEUE_ITEMS_PER_FILE queued items and needs no queue page file; one
    more item goes alone into the queue's first page file, where the page finds it."""
    report_dir, out = synthetic(tmp_path, queued, all_review=True)
    write_html_report(report_dir, out, OutputConfig.max_pixels)
    names = expected_names(report_dir, unthumbed(report_dir))["review"]
    assert len(names) == queued
    assert len(inlined_data(report_dir)["items"]) == QUEUE_ITEMS_PER_FILE
    assert queue_page_files(report_dir) == ([] if queued == QUEUE_ITEMS_PER_FILE else [f"{QUEUE_SERIES}-0001.js"])
    open_report(browser, report_dir)
    pressed = browser.find_element("css selector", '.filters button[aria-pressed="true"]')
    assert pressed.text == f"Needs review ({queued})"
    pages = -(-queued // PAGE_SIZE)
    press(browser, "END")
    wait_for_page(browser, pages, pages)
    assert card_names(browser) == names[(pages - 1) * PAGE_SIZE:]
    assert console_errors(browser) == []


def test_a_run_with_nothing_to_review_has_no_queue_page_files(browser, tmp_path):
    """No queued item: the page opens on "All", every queue filter is empty, and the queue
    page files of the earlier report with a long queue are gone (the gallery's stay)."""
    report_dir, out = synthetic(tmp_path, LONG_QUEUE, all_review=True)
    write_html_report(report_dir, out, OutputConfig.max_pixels)
    assert queue_page_files(report_dir) == [f"{QUEUE_SERIES}-0001.js"]
    report_dir, out = synthetic(tmp_path, ITEMS_PER_FILE + PAGE_SIZE, review_each=0)
    write_html_report(report_dir, out, OutputConfig.max_pixels)
    assert expected_counts(report_dir, unthumbed(report_dir))["review"] == 0
    assert queue_page_files(report_dir) == [] and (report_dir / "pages" / "0001.js").is_file()
    open_report(browser, report_dir)
    pressed = browser.find_element("css selector", '.filters button[aria-pressed="true"]')
    assert pressed.get_attribute("data-filter") == "all"
    for name in ("review", "failed", "low", "text", "residual"):
        assert gallery_after(browser, name) == (0, 0), name
    assert browser.find_element("css selector", '.filters button[data-filter="review"]').text == "Needs review (0)"
    assert console_errors(browser) == []


def test_a_queue_page_file_of_another_report_is_refused(browser, tmp_path):
    """A queue page file of another version of the report is refused like a gallery page
    file (the page says what happened), and the gallery's own page files still show."""
    report_dir, out = synthetic(tmp_path, QUEUE_ITEMS_PER_FILE + PAGE_SIZE, all_review=True)
    write_html_report(report_dir, out, OutputConfig.max_pixels)
    page_file = report_dir / "pages" / f"{QUEUE_SERIES}-0001.js"
    page_file.write_text(page_file.read_text().replace('deidPage("', 'deidPage("other', 1))
    open_report(browser, report_dir)
    gallery_after(browser, "review")
    press(browser, "END")
    status = browser.find_element("id", "gallery-status")
    wait_until(browser, lambda _: "another version" in status.text)
    assert status.text.startswith(f"pages/{QUEUE_SERIES}-0001.js belongs to another version of this report")
    assert card_names(browser) == []
    names = expected_names(report_dir, unthumbed(report_dir))["all"]
    gallery_after(browser, "all")
    pages = -(-len(names) // PAGE_SIZE)
    press(browser, "END")
    wait_for_page(browser, pages, pages)
    assert card_names(browser) == names[(pages - 1) * PAGE_SIZE:]
    assert console_errors(browser) == []
