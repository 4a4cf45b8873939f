"""The HTML report, opened in a real browser (headless chromium)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pytest
from PIL import Image

from conftest import SAMPLE_DATA, run_cli
from deid.html_report import PAGE_SIZE

FILTERS = ("all", "failed", "noface", "low", "residual")


def open_report(browser, report_dir: Path) -> None:
    browser.get_log("browser")  # drop what earlier pages logged
    browser.get((report_dir / "index.html").resolve().as_uri())
    browser.execute_script("return document.readyState")


def console_errors(browser) -> list[dict]:
    return [entry for entry in browser.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]


def expected_counts(report_dir: Path) -> dict[str, int]:
    records = [json.loads(line) for line in (report_dir / "images.jsonl").read_text().splitlines()]
    shown = [r for r in records if r["status"] != "skipped"]
    verify_path = report_dir / "verify.json"
    residual = set()
    if verify_path.exists():
        residual = {f["output"] for f in json.loads(verify_path.read_text())["residual_faces"]}
    return {
        "all": len(shown),
        "failed": sum(r["status"] == "failed" for r in shown),
        "noface": sum(r["status"] == "ok" and not r["faces"] for r in shown),
        "low": sum(r["status"] == "ok" and any(f["score"] < 0.5 for f in r["faces"]) for r in shown),
        "residual": sum(r["output"] in residual for r in shown),
    }


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


def test_every_picture_comes_from_the_outputs_and_loads(browser, sample_run):
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
        assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image) > 0
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
