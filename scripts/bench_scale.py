"""What a run costs as the number of files grows: many small photos, the default config.

    python scripts/bench_scale.py 10000 [--workers 2] [--keep DIR]

Makes N small photos (the sample photos, cropped and resized at random to 120-320 px,
a thousand to a folder), runs `deid run` on them and prints: files/s, the driver's peak
memory (the `deid` process itself, not its workers), the report's bytes per file (each
file of the report folder), the time `deid run --resume` takes on the finished run, and
the time headless Chromium takes to load `index.html` (needs selenium and chromedriver,
as the tests do; skipped without them). Photos are made once per N under --keep.
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

PROJECT = Path(__file__).resolve().parents[1]
SAMPLES = ["astronaut.jpg", "astronaut_portrait.png", "people/grace_hopper.jpg"]
PER_FOLDER = 1000
SIDE_RANGE = (120, 320)
# How often the driver's peak memory is read (it only grows: the last read is the peak).
POLL_S = 0.2


def make_photos(folder: Path, count: int, seed: int = 0) -> None:
    """``count`` small JPEGs, each a different crop of a sample photo."""
    if folder.is_dir() and sum(1 for _ in folder.rglob("*.jpg")) == count:
        return
    shutil.rmtree(folder, ignore_errors=True)
    rng = random.Random(seed)
    samples = [Image.open(PROJECT / "sample_data" / name).convert("RGB") for name in SAMPLES]
    for index in range(count):
        image = samples[index % len(samples)]
        width, height = image.size
        crop = rng.uniform(0.7, 1.0)
        w, h = int(width * crop), int(height * crop)
        x, y = rng.randrange(width - w + 1), rng.randrange(height - h + 1)
        side = rng.randint(*SIDE_RANGE)
        photo = image.crop((x, y, x + w, y + h))
        photo.thumbnail((side, side))
        target = folder / f"{index // PER_FOLDER:05d}" / f"{index:07d}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        photo.save(target, quality=90)


def timed_run(command: list[str]) -> tuple[float, int, int]:
    """Wall seconds, the process's own peak resident memory (bytes) and its exit code."""
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    status = Path(f"/proc/{process.pid}/status")
    peak = 0
    while process.poll() is None:
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) * 1024)
        except OSError:
            pass
        time.sleep(POLL_S)
    stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
    if process.returncode not in (0, 1):
        raise SystemExit(f"deid failed ({process.returncode}): {stderr.strip()[-500:]}")
    return time.monotonic() - started, peak, process.returncode


def page_load_seconds(page: Path) -> float | None:
    """Seconds until Chromium shows ``page``'s gallery; None without a browser."""
    chromedriver = shutil.which("chromedriver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        return None
    if chromedriver is None:
        return None
    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    try:
        from selenium.webdriver.support.ui import WebDriverWait

        started = time.monotonic()
        driver.get(page.resolve().as_uri())
        # Until the gallery (the review queue first) is on screen, not only loaded.
        WebDriverWait(driver, 120, poll_frequency=0.01).until(lambda d: d.execute_script(
            'return document.getElementById("gallery").getAttribute("aria-busy") === "false";'
        ))
        return time.monotonic() - started
    finally:
        driver.quit()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", type=int, help="number of photos to make and process")
    parser.add_argument("--workers", type=int, default=0, help="deid's --workers (default: one per core)")
    parser.add_argument("--keep", type=Path, help="folder for the photos, reused by later runs with the same N")
    args = parser.parse_args()
    deid = [sys.executable, "-m", "deid"]
    with tempfile.TemporaryDirectory(prefix="deid-scale-") as scratch:
        src = (args.keep or Path(scratch)) / f"photos-{args.files}"
        made = time.monotonic()
        make_photos(src, args.files)
        print(f"{args.files} photos in {src} ({time.monotonic() - made:.0f} s to make)")
        out, report = Path(scratch) / "out", Path(scratch) / "out.report"
        workers = ["--workers", str(args.workers)] if args.workers else []
        wall, peak, code = timed_run([*deid, "run", str(src), str(out), *workers])
        files = {p.name: p.stat().st_size for p in report.rglob("*") if p.is_file()}
        resume_wall, _, _ = timed_run([*deid, "run", str(src), str(out), "--resume", *workers])
        load = page_load_seconds(report / "index.html")
        print(f"run: {wall:.1f} s, {args.files / wall:.1f} files/s, exit {code}")
        print(f"driver's peak memory: {peak / 1e6:.0f} MB")
        print(f"report: {sum(files.values()) / 1e6:.1f} MB, {sum(files.values()) / args.files:.0f} bytes per file")
        for name, size in sorted(files.items(), key=lambda item: -item[1])[:6]:
            print(f"  {name}: {size / 1e6:.2f} MB ({size / args.files:.0f} bytes per file)")
        print(f"resume of the finished run: {resume_wall:.1f} s ({100 * resume_wall / wall:.1f}% of the run)")
        print("index.html in Chromium: " + (f"{load:.2f} s" if load is not None else "not measured (no selenium/chromedriver)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
