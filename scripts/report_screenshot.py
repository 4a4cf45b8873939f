"""The README's picture of the HTML report: sample_data run, verified, and shown in headless
chromium (Debian packages chromium and chromium-driver, and selenium from the test extra).

    python scripts/report_screenshot.py [--out docs/report.png]

The run and its report go to a temporary folder; only the PNG is written where asked.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
WIDTH = 1100


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=PROJECT / "docs" / "report.png")
    args = parser.parse_args()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory() as temp:
        # Run from a copy with relative paths, as the README shows it: the page then names
        # sample_data and sample_out, not the folders of this machine.
        shutil.copytree(PROJECT / "sample_data", Path(temp) / "sample_data")
        deid = [sys.executable, "-m", "deid"]
        subprocess.run([*deid, "run", "sample_data", "sample_out", "--workers", "1"], check=True, cwd=temp)
        subprocess.run([*deid, "verify", "sample_out", "--source", "sample_data", "--workers", "1"], cwd=temp)
        options = webdriver.ChromeOptions()
        for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", f"--window-size={WIDTH},900",
                         "--hide-scrollbars"):
            options.add_argument(argument)
        driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
        try:
            driver.get((Path(temp) / "sample_out.report" / "index.html").as_uri())
            height = driver.execute_script("return document.documentElement.scrollHeight")
            driver.set_window_size(WIDTH, min(height + 100, 2400))
            args.out.parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(args.out))
        finally:
            driver.quit()
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
