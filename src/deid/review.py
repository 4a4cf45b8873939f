"""The review page: ``review.html`` in the report folder, where a person checks each covered
region against the original and writes down what the run got wrong.

Every image is shown twice, its original (from SRC) beside its output, with each covered
region outlined and labelled. Clicking a region marks it "drop" (not a face) or "keep" (a
face that may stay visible, such as a consenting participant's); dragging a rectangle on
either picture adds a face the run missed. "Save corrections" downloads the decisions as
a corrections file (deid.corrections) made in the page: nothing is sent anywhere, and the
page reads nothing but its own pictures.

The page shows originals, so it is written into the report folder, never into OUT: the
report folder already names the originals and is kept apart from what is shared. The
images that most need a look come first (the review queue: failed files, regions too large
or too unsure for a face), then the rest in discovery order, up to ``MAX_ITEMS`` in all.

Like ``index.html`` (deid.html_report), the page is one offline file whose template, style
sheet and script are package data (``deid/html``), with a Content Security Policy that runs
its own script only.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from string import Template
from typing import Any

from deid.boxes import box_areas
from deid.corrections import FORMAT_VERSION
from deid.errors import ImageError, UsageError
from deid.html_report import LOW_SCORE, ImageLinks, asset_text, script_hash
from deid.output import write_atomic
from deid.report import FAILED, IMAGES_FILE, OK, iter_records

REVIEW_FILE = "review.html"
THUMBS_DIR = "review-thumbs"
PAGE_ASSET = "review.html"
CSS_ASSET = "review.css"
SCRIPT_ASSET = "review.js"
# A face box covering more than this share of the image is queued for review. Portraits
# reach it (the sample's portrait: 17%, Grace Hopper: 15%), group photos and crowds do
# not (the astronaut, a half-length shot: 4.6%); in a dataset of scenes, a box this large
# is more often a false detection (a poster, a pattern) than a face.
LARGE_BOX_SHARE = 0.05
# Originals of formats browsers cannot show get a JPEG this many pixels on its longer side:
# enough to tell a face from a pattern at review size.
THUMB_SIDE = 1024
# Images the page holds. Each item is a few hundred bytes of data plus two pictures the
# browser loads as they scroll into view; past a few thousand the page gets slow to open.
# The review queue comes first, so what is cut is the part least in need of a look.
MAX_ITEMS = 2000
PAGE_SIZE = 20  # images on screen at once


def write_review_page(out: str | Path, source: str | Path | None = None, report_dir: str | Path | None = None) -> Path:
    """Write ``review.html`` into the run's report folder (default ``<out>.report``) and
    return its path. ``source`` is the folder the run read; without it the page shows the
    outputs only."""
    from deid.pipeline import default_report_dir
    from deid.verify import run_max_pixels

    out_dir = Path(out)
    if not out_dir.is_dir():
        raise UsageError(f"{out_dir} is not a folder; give the output folder of a deid run")
    report = Path(report_dir) if report_dir is not None else default_report_dir(out_dir)
    if not (report / IMAGES_FILE).is_file():
        raise UsageError(f"no {IMAGES_FILE} in {report}; give the run's report folder with --report")
    source_dir = Path(source) if source is not None else None
    if source_dir is not None and not source_dir.is_dir():
        raise UsageError(f"source {source_dir} is not a folder; give the folder the run read (SRC)")
    max_pixels = run_max_pixels(report)
    outputs = ImageLinks.between(report, out_dir, max_pixels)
    originals = None if source_dir is None else ImageLinks.between(report, source_dir, max_pixels, THUMBS_DIR, THUMB_SIDE)
    queue, rest, total = [], [], 0
    for index, record in enumerate(iter_records(report)):
        if record["status"] not in (OK, FAILED):
            continue
        total += 1
        reasons = review_reasons(record)
        if reasons:
            queue.append(review_item(record, index, reasons, outputs, originals))
        elif len(queue) + len(rest) < MAX_ITEMS:
            rest.append(review_item(record, index, reasons, outputs, originals))
    items = (queue + rest)[:MAX_ITEMS]
    page = render(items, len(queue), total, source_dir is not None)
    write_atomic(report / REVIEW_FILE, page.encode("utf-8"))
    return report / REVIEW_FILE


def review_reasons(record: dict[str, Any]) -> list[str]:
    """Why the record is in the review queue; empty when it is not."""
    if record["status"] == FAILED:
        return ["failed"]
    image_area = max(record["width"] * record["height"], 1)
    faces = [f for f in record["faces"] if f.get("frame", 0) == 0]
    reasons = []
    if faces and (box_areas([f["box"] for f in faces]) > LARGE_BOX_SHARE * image_area).any():
        reasons.append("large region")
    if any(f["score"] < LOW_SCORE for f in faces):
        reasons.append("low score")
    return reasons


def review_item(
    record: dict[str, Any], index: int, reasons: list[str], outputs: ImageLinks, originals: ImageLinks | None,
) -> dict[str, Any]:
    item: dict[str, Any] = {"n": index, "source": record["source"], "status": record["status"], "reasons": reasons}
    if record["status"] == FAILED:
        item["error"] = record.get("error") or ""
        return item
    # Regions of the first frame only: the page shows an image's first frame.
    regions = [
        {"box": f["box"], "region": f["region"], "score": f["score"], "detector": f["detector"],
         "kind": f.get("kind", "face"), "text": False}
        for f in record["faces"] if f.get("frame", 0) == 0
    ] + [
        {"box": t["box"], "region": t["region"], "score": t["score"], "detector": t.get("detector", ""),
         "kind": t.get("rule", "text"), "text": True}
        for t in record.get("texts") or [] if t.get("frame", 0) == 0
    ]
    item.update({"output": record["output"], "w": record["width"], "h": record["height"], "regions": regions})
    item["outputSrc"], item["outputError"] = picture(outputs.link, record["output"])
    if originals is not None:
        item["originalSrc"], item["originalError"] = picture(originals.link, record["source"])
    return item


def picture(link: Callable[[str], str], path: str) -> tuple[str | None, str | None]:
    """(URL, None), or (None, why) when a thumbnail cannot be made: one unreadable picture
    must not stop the page."""
    try:
        return link(path), None
    except (ImageError, OSError) as exc:
        return None, (exc.strerror or str(exc)) if isinstance(exc, OSError) else str(exc)


def render(items: list[dict[str, Any]], queued: int, total: int, with_originals: bool) -> str:
    data = {
        "items": items,
        "queued": queued,
        "total": total,
        "pageSize": PAGE_SIZE,
        "originals": with_originals,
        "format": FORMAT_VERSION,
    }
    left_out = total - len(items)
    notes = []
    if not with_originals:
        notes.append("Originals are not shown: give the folder the run read with <code>deid review OUT --source SRC</code>.")
    if left_out:
        notes.append(f"{left_out} images past the first {len(items)} are not on this page.")
    script = asset_text(SCRIPT_ASSET)
    return Template(asset_text(PAGE_ASSET)).substitute(
        script_source=script_hash(script),
        notes="".join(f"<p class=\"note\">{note}</p>" for note in notes),
        data=json.dumps(data, ensure_ascii=False).replace("</", "<\\/"),
        css=asset_text(CSS_ASSET),
        script=script,
    )
