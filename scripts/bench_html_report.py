"""What the HTML report costs as a run grows, without running one: a synthetic report of N
files (images.jsonl, summary.json, verify.json and tiny outputs) and its index.html.

    python scripts/bench_html_report.py 1000 10000 100000 [--review 50 | --all-review]

For each N it prints the time write_html_report takes, the size of index.html and of its
page files, the time headless Chromium takes from opening index.html to showing the review
queue, and the times from there to the last page of "All" and of "Needs review" (needs
selenium and chromedriver, as the tests do; skipped without them). Every synthetic run has
the same review queue (--review files of each kind that needs a look), so the page's size
shows what grows with N; with --all-review every file needs a look (a run of scanned
documents, text on each), so the queue grows with N.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "src"))

from deid.config import OutputConfig  # noqa: E402
from deid.html_report import LOW_SCORE, write_html_report  # noqa: E402
from deid.report import FAILED, IMAGES_FILE, OK, SUMMARY_FILE  # noqa: E402
from deid.results import Counts, FailedFile, ResidualFace, ResidualTags, RunSummary, VerifyReport  # noqa: E402

# Files of each kind that the report puts in its review queue (and skipped files, which it
# leaves out), spread at random over the run.
REVIEW_KINDS = ("failed", "low", "text", "residual", "tags", "nothumb", "skipped")
QUEUED_KINDS = tuple(kind for kind in REVIEW_KINDS if kind != "skipped")
OUTPUT_SIZE = (64, 48)
PER_FOLDER = 1000


def synthetic_report(
    folder: Path, count: int, review_each: int = 10, seed: int = 0, all_review: bool = False,
    kinds: Sequence[str] = QUEUED_KINDS,
) -> tuple[Path, Path]:
    """The report folder and OUT of a finished run of ``count`` files, written directly:
    ``review_each`` files of each of REVIEW_KINDS, the others written with 0 to 3 sure
    faces; with ``all_review``, every file is of one of ``kinds``, at random ("" for a file
    written with sure faces only; a kind given twice is drawn twice as often). Outputs are
    tiny PNGs; the "nothumb" outputs are TIFFs left unwritten, so their thumbnails cannot
    be made."""
    rng = random.Random(seed)
    out, report = folder / "out", folder / "out.report"
    report.mkdir(parents=True, exist_ok=True)
    if all_review:
        special = {index: rng.choice(kinds) for index in range(count)}
    else:
        special = dict(zip(
            rng.sample(range(count), min(count, review_each * len(REVIEW_KINDS))),
            [kind for _ in range(review_each) for kind in REVIEW_KINDS],
        ))
    png = io.BytesIO()
    Image.new("RGB", OUTPUT_SIZE, (120, 130, 140)).save(png, "PNG")
    tally = {"ok": 0, "failed": 0, "skipped": 0, "faces": 0, "images_with_faces": 0, "texts": 0}
    failed_files, residual_faces, residual_tags = [], [], []
    with open(report / IMAGES_FILE, "w", encoding="utf-8") as fp:
        for index in range(count):
            kind = special.get(index, "")
            record = synthetic_record(index, kind, rng)
            fp.write(json.dumps(record) + "\n")
            if record["status"] == OK:
                tally["ok"] += 1
                tally["faces"] += len(record["faces"])
                tally["images_with_faces"] += bool(record["faces"])
                tally["texts"] += len(record.get("texts") or [])
                if kind != "nothumb":
                    path = out / record["output"]
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(png.getvalue())
            elif record["status"] == FAILED:
                tally["failed"] += 1
                failed_files.append(FailedFile(record["source"], record["error"]))
            else:
                tally["skipped"] += 1
            if kind == "residual":
                residual_faces.append(ResidualFace(record["output"], 0, [30.0, 10.0, 44.0, 28.0], 0.8, "hog", ["hog"]))
            if kind == "tags":
                residual_tags.append(ResidualTags(record["output"], ["gps"]))
    summary = RunSummary(
        out_dir=out, report_dir=report, counts=Counts(inputs=count, **tally), failed_files=failed_files,
        files_with_metadata={"gps": count // 3}, versions={"deid": "synthetic"}, workers=1, source_dir="src",
    )
    (report / SUMMARY_FILE).write_text(json.dumps(summary.to_json(), indent=2), encoding="utf-8")
    verified = VerifyReport(
        files=tally["ok"], sampled_from=None, residual_faces=residual_faces, residual_tags=residual_tags,
        unreadable=[], reidentifiable=None, reid_not_checked="no --source given", checked_with=["hog"],
        skipped=[], wall_time_s=1.0,
    )
    (report / "verify.json").write_text(json.dumps(verified.to_json(), indent=2), encoding="utf-8")
    return report, out


def synthetic_record(index: int, kind: str, rng: random.Random) -> dict[str, Any]:
    source = f"{index // PER_FOLDER:05d}/{index:07d}.jpg"
    if kind == "failed":
        return {"source": source, "output": None, "status": "failed", "error": "cannot decode: truncated file",
                "width": None, "height": None, "frames": None, "faces": [], "metadata_found": []}
    if kind == "skipped":
        return {"source": source[:-4] + ".txt", "output": None, "status": "skipped", "error": "not an image",
                "width": None, "height": None, "frames": None, "faces": [], "metadata_found": []}
    width, height = OUTPUT_SIZE
    faces = []
    for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
        x, y = rng.randrange(0, width - 16), rng.randrange(0, height - 16)
        faces.append({"box": [x, y, x + 12.0, y + 14.0], "region": [x, y, x + 14, y + 16],
                      "score": round(rng.uniform(0.6, 1.0), 3), "detector": "centerface", "frame": 0, "kind": "face"})
    if kind == "low":
        faces.append({"box": [2.0, 2.0, 14.0, 16.0], "region": [1, 1, 16, 18], "score": 0.35,
                      "detector": "centerface", "frame": 0, "kind": "face"})
    record: dict[str, Any] = {
        "source": source, "output": source[:-4] + (".tif" if kind == "nothumb" else ".png"), "status": "ok",
        "error": None, "width": width, "height": height, "frames": 1, "faces": faces, "metadata_found": [],
    }
    if kind == "text":
        record["texts"] = [{"box": [20.0, 30.0, 60.0, 40.0], "region": [19, 29, 61, 41], "score": 1.0,
                            "detector": "rapidocr", "rule": "name", "frame": 0}]
    return record


def review_queue_shown(driver) -> bool:
    return driver.execute_script(
        'var g = document.getElementById("gallery");'
        'return g.getAttribute("aria-busy") === "false" && g.querySelectorAll(".card").length > 0;'
    )


def last_page_shows(driver, name: str, last_output: str) -> float:
    """Seconds from choosing filter ``name`` and pressing End to its last page showing
    ``last_output`` last."""
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    started = time.monotonic()
    driver.find_element("css selector", f'.filters button[data-filter="{name}"]').click()
    driver.find_element("tag name", "body").send_keys(Keys.END)
    WebDriverWait(driver, 60, poll_frequency=0.01).until(lambda d: d.execute_script(
        'var cards = document.querySelectorAll("#gallery .card .name");'
        "return cards.length > 0 && cards[cards.length - 1].textContent === arguments[0];", last_output))
    return time.monotonic() - started


def measure_in_chromium(page: Path, last_output: str, last_queued: str | None) -> tuple[float, float, float] | None:
    """Seconds from opening ``page`` to the review queue on screen, then to the last page
    of "All" showing ``last_output``, then to the last page of "Needs review" showing
    ``last_queued`` (0 when nothing is queued); None without a browser."""
    chromedriver = shutil.which("chromedriver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.support.ui import WebDriverWait
    except ImportError:
        return None
    if chromedriver is None:
        return None
    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    try:
        started = time.monotonic()
        driver.get(page.resolve().as_uri())
        WebDriverWait(driver, 60, poll_frequency=0.01).until(review_queue_shown)
        opened = time.monotonic() - started
        to_last = last_page_shows(driver, "all", last_output)
        to_last_queued = 0.0 if last_queued is None else last_page_shows(driver, "review", last_queued)
        return opened, to_last, to_last_queued
    finally:
        driver.quit()


def last_queued(report: Path, records: list[dict[str, Any]]) -> str | None:
    """The card name of the review queue's last item (what report.js queues), or None."""
    verified = json.loads((report / "verify.json").read_text())
    found = {f["output"] for key in ("residual_faces", "residual_tags", "unreadable") for f in verified[key]}
    for record in reversed(records):
        if record["status"] == FAILED:
            return record["source"]
        if record["status"] == OK and (
            record.get("texts") or record["output"].endswith(".tif") or record["output"] in found
            or any(face["score"] < LOW_SCORE for face in record["faces"])
        ):
            return record["output"]
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", type=int, nargs="+", help="numbers of files of the synthetic runs")
    parser.add_argument("--review", type=int, default=50, help="files of each kind that needs review (default 50)")
    parser.add_argument("--all-review", action="store_true", help="every file needs review (--review is ignored)")
    args = parser.parse_args()
    for count in args.files:
        with tempfile.TemporaryDirectory(prefix="deid-html-") as scratch:
            report, out = synthetic_report(Path(scratch), count, args.review, all_review=args.all_review)
            started = time.monotonic()
            write_html_report(report, out, OutputConfig.max_pixels)
            written = time.monotonic() - started
            page = (report / "index.html").stat().st_size
            pages = sorted((report / "pages").glob("*.js")) if (report / "pages").is_dir() else []
            records = [json.loads(line) for line in (report / "images.jsonl").read_text().splitlines()]
            last_output = [r["output"] or r["source"] for r in records if r["status"] != "skipped"][-1]
            timings = measure_in_chromium(report / "index.html", last_output, last_queued(report, records))
            print(f"{count} files: written in {written:.2f} s; index.html {page / 1e3:.0f} kB; "
                  f"{len(pages)} page files, {sum(p.stat().st_size for p in pages) / 1e6:.1f} MB")
            if timings is None:
                print("  Chromium: not measured (no selenium/chromedriver)")
            else:
                print(f"  Chromium: review queue shown {timings[0]:.2f} s after opening; "
                      f"last page of All {timings[1]:.2f} s later; last page of Needs review {timings[2]:.2f} s later")
    return 0


if __name__ == "__main__":
    sys.exit(main())
