"""The report a person reads: ``index.html`` in the report folder, one self-contained file
(inline CSS, JavaScript and SVG; nothing fetched from a network).

It shows the run's summary, charts of what was found, and a gallery of the *outputs* with
every covered region outlined, filterable (failed files, images without a face, unsure
detections, residual faces from ``deid verify``) and paged, so that thousands of images
stay usable. Every picture in it comes from OUT: the page links the output files (or
thumbnails made from them, for formats a browser cannot show), never an original.

The page's template, style sheet and script are package data (``deid/html``); this module
prepares the data they show and inlines all three into the one file.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
from collections import Counter
from functools import cache
from importlib import resources
from pathlib import Path, PurePosixPath
from string import Template
from typing import Any
from urllib.parse import quote

from PIL import Image

from deid.decode import decode
from deid.errors import ImageError
from deid.output import write_atomic
from deid.report import FAILED, IMAGES_FILE, OK, SKIPPED, SUMMARY_FILE
from deid.results import RunSummary, VerifyReport

HTML_FILE = "index.html"
THUMBS_DIR = "thumbs"
ASSETS_PACKAGE = "deid.html"
# The page's template: string.Template placeholders ($name) for what render() fills in.
PAGE_ASSET = "report.html"
CSS_ASSET = "report.css"
SCRIPT_ASSET = "report.js"
# Formats every current browser shows; other outputs (TIFF, HEIF) get a JPEG thumbnail
# made from the output file.
BROWSER_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".avif"}
THUMB_SIDE = 480
# Detections under this score are listed under "unsure detections": the ensemble kept them
# (threshold 0.3, or confirmed across passes from 0.05) but its models disagreed.
LOW_SCORE = 0.5
PAGE_SIZE = 48
HEIGHT_BINS = [(0, 8), (8, 16), (16, 32), (32, 64), (64, 128), (128, None)]
FACES_PER_IMAGE_BINS = [(0, 1), (1, 2), (2, 3), (3, 5), (5, 10), (10, 20), (20, None)]


def write_html_report(report_dir: Path, out_dir: Path, max_pixels: int) -> Path | None:
    """Write ``index.html`` from the run's report (and ``verify.json`` when there is one);
    None when the folder holds no finished run's report. ``max_pixels`` is the run's
    ``output.max_pixels``: thumbnails decode the outputs under the limit they were made with."""
    report_dir = Path(report_dir)
    if not (report_dir / SUMMARY_FILE).is_file() or not (report_dir / IMAGES_FILE).is_file():
        return None
    summary = RunSummary.from_json(json.loads((report_dir / SUMMARY_FILE).read_text(encoding="utf-8")), report_dir)
    with open(report_dir / IMAGES_FILE, encoding="utf-8") as fp:
        records = [json.loads(line) for line in fp if line.strip()]
    verify_path = report_dir / "verify.json"
    verified = VerifyReport.from_json(json.loads(verify_path.read_text(encoding="utf-8"))) if verify_path.is_file() else None
    items = gallery_items(records, verified, report_dir, Path(out_dir), max_pixels)
    page = render(summary, records, verified, items)
    write_atomic(report_dir / HTML_FILE, page.encode("utf-8"))
    return report_dir / HTML_FILE


def gallery_items(
    records: list[dict[str, Any]], verified: VerifyReport | None, report_dir: Path, out_dir: Path,
    max_pixels: int,
) -> list[dict[str, Any]]:
    residual: dict[str, list[list[float]]] = {}
    for face in verified.residual_faces if verified is not None else []:
        if face.frame == 0:
            residual.setdefault(face.output, []).append([*face.box, face.score])
    items = []
    for index, record in enumerate(records):
        if record["status"] == SKIPPED:
            continue
        item: dict[str, Any] = {"n": index, "source": record["source"], "status": record["status"]}
        if record["status"] == FAILED:
            item["error"] = record.get("error") or ""
        else:
            # Text regions are outlined like faces: both are covered pixels to review.
            faces = [f for f in record["faces"] + (record.get("texts") or []) if f.get("frame", 0) == 0]
            heads = sum(f.get("kind") == "head" for f in record["faces"])
            src, thumb_error = None, None
            try:
                src = image_link(report_dir, out_dir, record["output"], max_pixels)
            except (ImageError, OSError) as exc:
                # A missing picture must not stop the report; the page says why it is missing.
                thumb_error = (exc.strerror or str(exc)) if isinstance(exc, OSError) else str(exc)
            item.update({
                "output": record["output"],
                "src": src,
                "w": record["width"], "h": record["height"],
                "regions": [f["region"] for f in faces],
                "faces": len(record["faces"]) - heads,
                "heads": heads,
                "low": sum(f["score"] < LOW_SCORE for f in record["faces"]),
                "residual": residual.get(record["output"], []),
            })
            if thumb_error is not None:
                item["thumbError"] = thumb_error
        items.append(item)
    return items


def image_link(report_dir: Path, out_dir: Path, output: str, max_pixels: int) -> str:
    """A relative URL from the report folder to the output file, or to a thumbnail of it
    for a format browsers cannot show. Raises ImageError or OSError when the thumbnail
    cannot be made."""
    path = out_dir / PurePosixPath(output)
    if PurePosixPath(output).suffix.lower() not in BROWSER_SUFFIXES:
        path = thumbnail(report_dir, path, output, max_pixels)
    try:
        relative = os.path.relpath(path.resolve(), report_dir.resolve())
    except ValueError:  # another drive: no relative path exists
        return path.resolve().as_uri()
    return quote(PurePosixPath(Path(relative).as_posix()).as_posix())


def thumbnail(report_dir: Path, path: Path, output: str, max_pixels: int) -> Path:
    name = hashlib.sha256(output.encode("utf-8", "surrogateescape")).hexdigest()[:24] + ".jpg"
    thumb = report_dir / THUMBS_DIR / name
    if not thumb.is_file():
        pixels = decode(path.read_bytes(), max_pixels).frames[0]
        image = Image.fromarray(pixels[:, :, :3])
        image.thumbnail((THUMB_SIDE, THUMB_SIDE))
        thumb.parent.mkdir(exist_ok=True)
        image.save(thumb, "JPEG", quality=85)
    return thumb


def histogram(values: list[float], bins: list[tuple[float, float | None]]) -> list[tuple[str, int]]:
    counts = []
    for low, high in bins:
        label = f"{low:g}+" if high is None else (f"{low:g}" if high - low == 1 else f"{low:g}-{high:g}")
        counts.append((label, sum(1 for v in values if v >= low and (high is None or v < high))))
    return counts


def bar_chart(title: str, bars: list[tuple[str, int]], unit: str) -> str:
    """A horizontal bar chart as inline SVG, readable without colour and in print."""
    row, label_w, bar_w = 22, 190, 300
    height = row * max(1, len(bars)) + 8
    top = max([count for _, count in bars] + [1])
    parts = [
        f'<figure class="chart"><figcaption>{html.escape(title)}</figcaption>'
        f'<svg viewBox="0 0 {label_w + bar_w + 70} {height}" role="img" aria-label="{html.escape(title)}">'
    ]
    if not bars:
        parts.append('<text x="0" y="16">none</text>')
    for i, (label, count) in enumerate(bars):
        y = 4 + i * row
        width = bar_w * count / top
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end">{html.escape(label)}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{width:.1f}" height="{row - 8}" class="bar"/>'
            f'<text x="{label_w + width + 5:.1f}" y="{y + 14}">{count}</text>'
        )
    parts.append(f"</svg><p class=\"unit\">{html.escape(unit)}</p></figure>")
    return "".join(parts)


def failure_reason(error: str | None) -> str:
    """The kind of failure, without the file-specific details after the first colon."""
    text = (error or "unknown").split(":")[0].split(";")[0].strip()
    return text[:60] or "unknown"


def charts(summary: RunSummary, records: list[dict[str, Any]]) -> str:
    ok = [r for r in records if r["status"] == OK]
    faces = [f for r in ok for f in r["faces"]]
    heights = [f["box"][3] - f["box"][1] for f in faces]
    scores = Counter()
    for face in faces:
        scores[(face["detector"], min(int(face["score"] * 10), 9))] += 1
    score_bars = [
        (f"{detector} {b / 10:.1f}-{(b + 1) / 10:.1f}", count)
        for (detector, b), count in sorted(scores.items())
    ]
    metadata = sorted(summary.files_with_metadata.items(), key=lambda kv: -kv[1])
    failures = Counter(failure_reason(r.get("error")) for r in records if r["status"] == FAILED)
    return "".join([
        bar_chart("Faces per image", histogram([len(r["faces"]) for r in ok], FACES_PER_IMAGE_BINS), "images"),
        bar_chart("Face heights (px)", histogram(heights, HEIGHT_BINS), "faces"),
        bar_chart("Detector scores", score_bars, "faces, by detector and score"),
        bar_chart("Metadata found in the inputs (removed)", metadata, "input files carrying each category"),
        bar_chart("Failures by reason", failures.most_common(), "files"),
    ])


def render(
    summary: RunSummary, records: list[dict[str, Any]], verified: VerifyReport | None,
    items: list[dict[str, Any]],
) -> str:
    counts, meta = summary.counts, summary.files_with_metadata
    count_rows = [
        ("inputs", "files found", counts.inputs), ("ok", "written", counts.ok),
        ("failed", "failed (not written)", counts.failed), ("skipped", "skipped (not images)", counts.skipped),
        ("faces", "faces covered", counts.faces),
        ("heads", "heads covered (no face seen)", counts.heads),
        ("images_with_faces", "images with faces", counts.images_with_faces),
        ("texts", "text regions covered", counts.texts),
        ("gps", "inputs that carried GPS", meta.get("gps", 0)),
        ("serial", "inputs that carried device serials", meta.get("serial", 0)),
        ("thumbnail", "inputs that carried embedded thumbnails", meta.get("thumbnail", 0)),
    ]
    stats = "".join(
        f'<div class="stat"><span class="num" id="count-{key}">{value}</span><span>{html.escape(label)}</span></div>'
        for key, label, value in count_rows
    )
    versions = ", ".join(f"{k} {v}" for k, v in summary.versions.items() if isinstance(v, str))
    verify_html = verify_section(verified)
    data = json.dumps({"items": items, "pageSize": PAGE_SIZE, "lowScore": LOW_SCORE}, ensure_ascii=False)
    data = data.replace("</", "<\\/")
    return Template(asset_text(PAGE_ASSET)).substitute(
        stats=stats,
        wall=summary.wall_time_s,
        workers=f"{summary.workers} worker" + ("" if summary.workers == 1 else "s"),
        versions=html.escape(versions),
        source=html.escape(summary.source_dir),
        output=html.escape(str(summary.out_dir)),
        config=html.escape(json.dumps(summary.config, indent=2)),
        warnings="".join(f"<li>{html.escape(w)}</li>" for w in summary.warnings) or "<li>none</li>",
        verify=verify_html,
        charts=charts(summary, records),
        data=data,
        css=asset_text(CSS_ASSET),
        script=asset_text(SCRIPT_ASSET),
    )


def verify_section(verified: VerifyReport | None) -> str:
    if verified is None:
        return (
            '<section id="verify"><h2>Verification</h2><p id="verify-status">Not verified. Run '
            "<code>deid verify OUT --source SRC</code> to audit the outputs.</p></section>"
        )
    reid = verified.reidentifiable
    reid_text = (
        f"not checked ({html.escape(verified.reid_not_checked or 'no --source given')})" if reid is None
        else f'<span id="verify-reid">{reid.matched}</span> of {reid.checked} covered faces matched to their original'
    )
    clean = verified.clean
    skipped = "".join(f"<li>skipped: {html.escape(s)}</li>" for s in verified.skipped)
    return (
        '<section id="verify"><h2>Verification</h2>'
        f'<p id="verify-status" class="{"clean" if clean else "found"}">'
        f'{"Nothing residual found." if clean else "Residual identifying content found."}</p><ul>'
        f'<li><span id="verify-files">{verified.files}</span> outputs checked with '
        f'{html.escape(", ".join(verified.checked_with))}</li>'
        f'<li><span id="verify-residual-faces">{len(verified.residual_faces)}</span> residual faces in '
        f"{verified.files_with_residual_faces} files</li>"
        f'<li><span id="verify-residual-tags">{len(verified.residual_tags)}</span> files with residual metadata</li>'
        f"<li>re-identification: {reid_text}</li>{skipped}</ul>"
        "<p>A clean verification is evidence, not proof: it finds what its detectors find.</p></section>"
    )


@cache
def asset_text(name: str) -> str:
    return resources.files(ASSETS_PACKAGE).joinpath(name).read_text(encoding="utf-8")
