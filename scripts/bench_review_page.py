"""What the review page costs as its queue grows, without running deid: a synthetic report
of N files (scripts/bench_html_report.py writes it) and its review.html.

    python scripts/bench_review_page.py 10000 100000 [--all-queued]

For each N it prints the time write_review_page takes, the size of review.html and of its
page files, the time headless Chromium takes from opening review.html to showing its first
item, and from there to its last page (needs selenium and chromedriver, as the tests do;
skipped without them). Without --all-queued the synthetic run has the same queue whatever
N (50 files of each kind the report flags, of which low scores and verify's findings are
the review page's queue); with it every file is queued (a low score, or a residual face or
metadata found by verify), so the queue grows with N. The page is written without
originals (no --source): their links are the same size as the outputs'.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "src"))
sys.path.insert(0, str(PROJECT / "scripts"))

from bench_html_report import synthetic_report  # noqa: E402

from deid.review import PAGES_DIR, REVIEW_FILE, write_review_page  # noqa: E402

# The kinds of synthetic file the review page queues (bench_html_report.REVIEW_KINDS):
# "text" and "nothumb" are in index.html's queue, not in the review page's.
REVIEW_QUEUED_KINDS = ("low", "residual", "tags")


def item_shown(driver) -> bool:
    return driver.execute_script(
        'var items = document.getElementById("items");'
        'return items.getAttribute("aria-busy") === "false" && items.querySelectorAll(".item").length > 0;'
    )


def last_page_shown(driver) -> bool:
    info = driver.find_element("id", "page-info").text.split()
    return len(info) == 4 and info[1] == info[3] and item_shown(driver)


def measure_in_chromium(page: Path) -> tuple[float, float] | None:
    """Seconds from opening ``page`` to its first item on screen, then from pressing End to
    its last page on screen; None without a browser."""
    chromedriver = shutil.which("chromedriver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.common.keys import Keys
        from selenium.webdriver.support.ui import WebDriverWait
    except ImportError:
        return None
    if chromedriver is None:
        return None
    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    # A page of hundreds of MB may take minutes to open, or never.
    driver.set_page_load_timeout(300)
    try:
        started = time.monotonic()
        driver.get(page.resolve().as_uri())
        WebDriverWait(driver, 300, poll_frequency=0.01).until(item_shown)
        opened = time.monotonic() - started
        started = time.monotonic()
        driver.find_element("tag name", "body").send_keys(Keys.END)
        WebDriverWait(driver, 60, poll_frequency=0.01).until(last_page_shown)
        return opened, time.monotonic() - started
    finally:
        driver.quit()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", type=int, nargs="+", help="numbers of files of the synthetic runs")
    parser.add_argument("--all-queued", action="store_true", help="every file is in the review queue")
    args = parser.parse_args()
    for count in args.files:
        with tempfile.TemporaryDirectory(prefix="deid-review-") as scratch:
            report, out = synthetic_report(Path(scratch), count, 50, all_review=args.all_queued,
                                           kinds=REVIEW_QUEUED_KINDS)
            started = time.monotonic()
            write_review_page(out, None, report)
            written = time.monotonic() - started
            page = (report / REVIEW_FILE).stat().st_size
            pages = sorted((report / PAGES_DIR).glob("*.js")) if (report / PAGES_DIR).is_dir() else []
            timings = measure_in_chromium(report / REVIEW_FILE)
            print(f"{count} files: written in {written:.2f} s; review.html {page / 1e3:.0f} kB; "
                  f"{len(pages)} page files, {sum(p.stat().st_size for p in pages) / 1e6:.1f} MB")
            if timings is None:
                print("  Chromium: not measured (no selenium/chromedriver)")
            else:
                print(f"  Chromium: first item shown {timings[0]:.2f} s after opening; last page {timings[1]:.2f} s later")
    return 0


if __name__ == "__main__":
    sys.exit(main())
