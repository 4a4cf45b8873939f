"""The report a person reads: ``index.html`` in the report folder (inline CSS, JavaScript
and SVG; nothing fetched from a network), with its gallery's data files in ``pages/``.

It shows the run's summary, charts of what was found, and a gallery of the *outputs* with
every covered region outlined, filterable (failed files, images without a face, unsure
detections, text, findings of ``deid verify``) and paged. Every picture in it comes from
OUT: the page links the output files (or thumbnails made from them, for formats a browser
cannot show), never an original.

The page's size is bounded, whatever the number of files and however many need review.
Inlined in it are the first ``ITEMS_PER_FILE`` items and the first ``QUEUE_ITEMS_PER_FILE``
of the review queue (every item that needs a look: failed, unsure, text covered, found by
verify, no thumbnail), so those open at once and a small run needs nothing beside the page.
Every later item is in ``pages/NNNN.js``, ``ITEMS_PER_FILE`` to a file in discovery order,
and every later item of the queue also in ``pages/review-NNNN.js``, ``QUEUE_ITEMS_PER_FILE``
to a file in the same order; the page loads them when the gallery reaches them. They are
scripts that call ``deidPage(token, index, items[, series])``, not JSON: a page opened from
``file://`` may not fetch() local files in Chromium, but may load scripts. The page's
Content Security Policy runs its own script (by its hash) and the scripts that script
inserts ('strict-dynamic'), and no other: on a file:// page Chromium lets 'self' match any
file: URL on the machine, like file: itself, so neither would narrow what may run. The
report is written in one pass over ``images.jsonl``: page files as it goes, the charts and
counts as running counts over every record, so they are of the whole run whatever the page
holds.

The page's template, style sheet and script are package data (``deid/html``); this module
prepares the data they show and inlines all three into the one file.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import posixpath
import re
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path, PurePosixPath
from string import Template
from typing import Any, TypeVar
from urllib.parse import quote

import numpy as np
from PIL import Image

from deid.decode import decode
from deid.errors import ImageError
from deid.output import write_atomic
from deid.report import FAILED, IMAGES_FILE, OK, SKIPPED, SUMMARY_FILE, iter_records
from deid.results import RunSummary, VerifyReport

HTML_FILE = "index.html"
VERIFY_FILE = "verify.json"
THUMBS_DIR = "thumbs"
PAGES_DIR = "pages"
ASSETS_PACKAGE = "deid.html"
# The loader of page files, which report.js and review.js both use: inlined ahead of
# either (page_script).
PAGES_SCRIPT_ASSET = "pages.js"
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
# Gallery items per page file (and inlined ahead of the review queue). An item is about
# 260 bytes, so a file is about 260 KB, which Chromium reads and shows in well under half a
# second (scripts/bench_html_report.py, the last page of "All"); the 48 cards of a gallery
# page come from one file, or two where a page straddles them.
ITEMS_PER_FILE = 1000
PAGE_FILE_NAME = re.compile(r"(\d{4,})\.js")
# Review-queue items inlined (the page opens on the queue, and its first 1,000 items, 21
# gallery pages, show without reading a file), and queue items to a page file after them.
# The whole queue inlined was 25 MB of index.html at 100,000 queued files
# (scripts/bench_html_report.py --all-review), and a run of millions of scanned documents,
# text on each, would give a page no browser opens; this bounds the page to twice a page
# file's worth of items, about 0.5 MB. A queue file is the size of a gallery page file.
QUEUE_ITEMS_PER_FILE = ITEMS_PER_FILE
# The queue's page files: pages/review-NNNN.js, beside the gallery's.
QUEUE_SERIES = "review"
HEIGHT_BINS = [(0, 8), (8, 16), (16, 32), (32, 64), (64, 128), (128, None)]
FACES_PER_IMAGE_BINS = [(0, 1), (1, 2), (2, 3), (3, 5), (5, 10), (10, 20), (20, None)]
# The gallery's filters besides "all" and "noface" (report.js has the same tests): each is
# part of the review queue ("review"). The page counts them file by file of the queue, to
# find their items in the queue's page files ("review" needs no count: every file but the
# last holds QUEUE_ITEMS_PER_FILE).
REVIEW_FILTERS = ("failed", "low", "text", "residual", "nothumb")
# The filters the page counts file by file of the gallery, to find their items in its page
# files ("all" needs no count: every file but the last holds ITEMS_PER_FILE).
FILE_COUNTED_FILTERS = ("noface",)


def write_html_report(report_dir: Path, out_dir: Path, max_pixels: int) -> Path | None:
    """Write ``index.html`` and its page files from the run's report (and ``verify.json``
    when there is one); None when the folder holds no finished run's report.
    ``max_pixels`` is the run's ``output.max_pixels``: thumbnails decode the outputs under
    the limit they were made with."""
    report_dir = Path(report_dir)
    summary = RunSummary.read(report_dir)
    if summary is None or not (report_dir / IMAGES_FILE).is_file():
        return None
    verified = read_verify(report_dir)
    findings = VerifyFindings.of(verified)
    links = ImageLinks.between(report_dir, Path(out_dir), max_pixels)
    token = report_token(report_dir)
    gallery = Gallery(
        PageFiles(report_dir / PAGES_DIR, token),
        PageFiles(report_dir / PAGES_DIR, token, QUEUE_SERIES, QUEUE_ITEMS_PER_FILE),
    )
    tally = ChartTally()
    for index, record in enumerate(iter_records(report_dir)):
        tally.add(record)
        if record["status"] != SKIPPED:
            gallery.add(gallery_item(record, index, findings, links))
    gallery.finish()
    page = render(summary, verified, tally, gallery)
    write_atomic(report_dir / HTML_FILE, page.encode("utf-8"))
    return report_dir / HTML_FILE


def read_verify(report_dir: Path) -> VerifyReport | None:
    """What ``deid verify`` found, from ``verify.json``; None when the run is not verified."""
    path = Path(report_dir) / VERIFY_FILE
    return VerifyReport.from_json(json.loads(path.read_text(encoding="utf-8"))) if path.is_file() else None


def report_token(report_dir: Path, *also: str) -> str:
    """Names the report a page file was written for: a page file from another version of
    the report (one rewrite interrupted before its end) is refused by the page, not shown
    as the wrong outputs. ``also``: anything else the page files depend on."""
    digest = hashlib.sha256()
    for text in also:
        digest.update(text.encode("utf-8", "surrogateescape") + b"\0")
    for name in (SUMMARY_FILE, VERIFY_FILE):
        path = report_dir / name
        digest.update(path.read_bytes() if path.is_file() else b"-")
    stat = (report_dir / IMAGES_FILE).stat()
    digest.update(f"{stat.st_size} {stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class VerifyFindings:
    """What ``deid verify`` found, by output."""

    boxes: dict[str, list[list[float]]]  # residual faces in the first frame, with their score
    faces: Counter[str]  # residual faces in every frame
    tags: dict[str, list[str]]
    unreadable: dict[str, str]
    reidentified: Counter[str] = field(default_factory=Counter)  # covered faces matched to their original

    @classmethod
    def of(cls, verified: VerifyReport | None) -> VerifyFindings:
        boxes: dict[str, list[list[float]]] = {}
        faces: Counter[str] = Counter()
        if verified is None:
            return cls(boxes, faces, {}, {})
        for face in verified.residual_faces:
            faces[face.output] += 1
            if face.frame == 0:
                boxes.setdefault(face.output, []).append([*face.box, face.score])
        matches = verified.reidentifiable.matches if verified.reidentifiable else []
        return cls(
            boxes, faces,
            {entry.output: entry.tags for entry in verified.residual_tags},
            {entry.output: entry.error for entry in verified.unreadable},
            Counter(match.output for match in matches),
        )


Made = TypeVar("Made")


def picture(make: Callable[[str], Made], path: str) -> tuple[Made | None, str | None]:
    """(what ``make`` made of the file: its URL, its stills), or (None, why) when a
    thumbnail cannot be made: one unreadable picture must not stop a page, which says why
    it is missing."""
    try:
        return make(path), None
    except (ImageError, OSError) as exc:
        return None, (exc.strerror or str(exc)) if isinstance(exc, OSError) else str(exc)


def gallery_item(record: dict[str, Any], index: int, findings: VerifyFindings, links: ImageLinks) -> dict[str, Any]:
    item: dict[str, Any] = {"n": index, "source": record["source"], "status": record["status"]}
    if record["status"] == FAILED:
        item["error"] = record.get("error") or ""
        return item
    texts = record.get("texts") or []
    # Text regions are outlined like faces: both are covered pixels to review.
    shown = [f for f in record["faces"] + texts if f.get("frame", 0) == 0]
    heads = sum(f.get("kind") == "head" for f in record["faces"])
    output = record["output"]
    src, thumb_error = picture(links.link, output)
    item.update({
        "output": output,
        "src": src,
        "w": record["width"], "h": record["height"],
        "regions": [f["region"] for f in shown],
        "faces": len(record["faces"]) - heads,
        "heads": heads,
        "texts": len(texts),
        "low": sum(f["score"] < LOW_SCORE for f in record["faces"]),
        "residual": findings.boxes.get(output, []),
        "residualFaces": findings.faces.get(output, 0),
    })
    if output in findings.tags:
        item["residualTags"] = findings.tags[output]
    if output in findings.unreadable:
        item["unreadable"] = findings.unreadable[output]
    if thumb_error is not None:
        item["thumbError"] = thumb_error
    return item


def item_filters(item: dict[str, Any]) -> list[str]:
    """The gallery filters that show ``item``, as report.js decides them."""
    ok = item["status"] == OK
    tests = {
        "failed": item["status"] == FAILED,
        "noface": ok and item["faces"] == 0,
        "low": ok and item["low"] > 0,
        "text": ok and item["texts"] > 0,
        "residual": ok and bool(item["residualFaces"] or "residualTags" in item or "unreadable" in item),
        "nothumb": ok and "thumbError" in item,
    }
    names = ["all", *(name for name, passed in tests.items() if passed)]
    if any(tests[name] for name in REVIEW_FILTERS):
        names.append("review")
    return names


@dataclass
class PageFiles:
    """Items as they stream by, ``per_file`` to a file: the first file's worth is the page's
    own (its caller inlines them), every later item goes into ``pages_dir/NNNN.js``, a
    script calling ``deidPage(token, index, items)`` (pages.js reads them). A page with more
    than one list of items gives each but one a ``series``: its files are
    ``pages_dir/SERIES-NNNN.js`` and call ``deidPage(token, index, items, series)``. A page
    that holds only some of a list's first file's worth, or none, gives them back to
    finish(), which writes them to file 0 too."""

    pages_dir: Path
    token: str
    series: str = ""
    per_file: int = ITEMS_PER_FILE
    total: int = 0
    _pending: list[dict[str, Any]] = field(default_factory=list)

    @property
    def files(self) -> int:
        return -(-self.total // self.per_file)

    def add(self, item: dict[str, Any]) -> bool:
        """Take ``item``; True when it is one of the first file's, which the page holds."""
        file_index = self.total // self.per_file
        if file_index > 0:
            self._pending.append(item)
            if len(self._pending) == self.per_file:
                self._write(file_index)
        self.total += 1
        return file_index == 0

    def finish(self, first: list[dict[str, Any]] | None = None) -> None:
        """Write the last file; and file 0, of ``first`` (the items add() gave the page),
        when given: the page does not hold them all."""
        if self._pending:
            self._write(self.files - 1)
        if first:
            self._pending = first
            self._write(0)
        self._remove_stale(0 if first else 1)

    def _write(self, file_index: int) -> None:
        items = ",\n".join(json.dumps(item, ensure_ascii=False) for item in self._pending)
        series = f", {json.dumps(self.series)}" if self.series else ""
        text = f"deidPage({json.dumps(self.token)}, {file_index}, [\n{items}\n]{series});\n"
        write_atomic(self.pages_dir / page_file_name(file_index, self.series), text.encode("utf-8"))
        self._pending = []

    def _remove_stale(self, lowest: int) -> None:
        """Page files of this series of an earlier page: past this one's last file, or
        below ``lowest``, its first written; the folder too when nothing is left (nor of
        another series)."""
        if not self.pages_dir.is_dir():
            return
        names = re.compile(re.escape(self.series) + "-" + PAGE_FILE_NAME.pattern) if self.series else PAGE_FILE_NAME
        for path in self.pages_dir.iterdir():
            match = names.fullmatch(path.name)
            if match and not lowest <= int(match.group(1)) < self.files:
                path.unlink()
        if not any(self.pages_dir.iterdir()):
            self.pages_dir.rmdir()


@dataclass
class Gallery:
    """The gallery's items as they stream by: the first file's worth of every item and of
    the review queue kept for the page, every later item written to its page file, and
    every later queued item to the queue's too."""

    pages: PageFiles  # every item, in discovery order
    queue: PageFiles  # the review queue's items, in the same order
    inline: list[dict[str, Any]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)  # items per filter, over every item
    # Items per filter in each page file (file 0 being the inlined one), for the filters
    # the page cannot answer from its inlined items alone: of the gallery's files, and of
    # the queue's.
    file_counts: dict[str, list[int]] = field(default_factory=lambda: {name: [] for name in FILE_COUNTED_FILTERS})
    queue_file_counts: dict[str, list[int]] = field(default_factory=lambda: {name: [] for name in REVIEW_FILTERS})

    @property
    def total(self) -> int:
        return self.pages.total

    @property
    def files(self) -> int:
        return self.pages.files

    @property
    def token(self) -> str:
        return self.pages.token

    def add(self, item: dict[str, Any]) -> None:
        names = item_filters(item)
        self.counts.update(names)
        count_in_file(self.file_counts, self.pages, names)
        inline = self.pages.add(item)
        if "review" in names:
            count_in_file(self.queue_file_counts, self.queue, names)
            # queue.add first: a queued item goes to the queue's files even when the page
            # holds it as one of the gallery's first file.
            inline = self.queue.add(item) or inline
        if inline:
            self.inline.append(item)

    def finish(self) -> None:
        self.pages.finish()
        self.queue.finish()


def count_in_file(file_counts: dict[str, list[int]], pages: PageFiles, names: list[str]) -> None:
    """Count an item that ``names`` filters show into the file ``pages`` puts it in next."""
    file_index = pages.total // pages.per_file
    for name, per_file in file_counts.items():
        if len(per_file) == file_index:
            per_file.append(0)
        per_file[file_index] += name in names


def page_file_name(file_index: int, series: str = "") -> str:
    return f"{series}-{file_index:04d}.js" if series else f"{file_index:04d}.js"


@dataclass(frozen=True)
class FrameStills:
    """JPEG stills of some frames of a multi-frame file (animation, pages), and the size of
    every frame: the boxes of a frame are in its own pixels, and pages may differ in size."""

    urls: dict[int, str]  # frame index -> URL from the report folder
    sizes: list[tuple[int, int]]  # (width, height) of each frame, in the file's order


@dataclass(frozen=True)
class ImageLinks:
    """URLs, relative to the report folder, of the files of one folder (OUT, or SRC for the
    review page) or of JPEG thumbnails made from them in ``thumbs_dir``, for formats
    browsers cannot show, and JPEG stills of single frames of multi-frame files."""

    report_dir: Path
    folder: Path
    max_pixels: int
    folder_url: str  # the folder's URL from the report folder, ending in "/"
    thumbs_dir: str = THUMBS_DIR
    thumb_side: int = THUMB_SIDE

    @classmethod
    def between(
        cls, report_dir: Path, folder: Path, max_pixels: int, thumbs_dir: str = THUMBS_DIR, thumb_side: int = THUMB_SIDE,
    ) -> ImageLinks:
        # Resolved once, not per file: resolving a path reads each of its folders, which
        # was most of the report's time on runs of many files.
        try:
            relative = os.path.relpath(folder.resolve(), report_dir.resolve())
            folder_url = quote(Path(relative).as_posix()) + "/"
        except ValueError:  # another drive: no relative path exists
            folder_url = folder.resolve().as_uri() + "/"
        return cls(report_dir, folder, max_pixels, folder_url, thumbs_dir, thumb_side)

    def link(self, relative: str) -> str:
        """The file's URL, or a thumbnail's for a format browsers cannot show. Raises
        ImageError or OSError when the thumbnail cannot be made."""
        if posixpath.splitext(relative)[1].lower() in BROWSER_SUFFIXES:
            return self.folder_url + quote(relative)
        thumb = self._still_path(relative, 0)
        path = self.folder / PurePosixPath(relative)
        # Made again when the file changed after it (a run that rewrote OUT, a new SRC):
        # the page must show what the folder holds.
        if not _newer_than(thumb, path):
            self._save_still(decode(path.read_bytes(), self.max_pixels).frames[0], thumb)
        return quote(thumb.relative_to(self.report_dir).as_posix())

    def stills(self, relative: str, frames: Collection[int]) -> FrameStills:
        """JPEG stills of ``frames`` (indexes into the decoded frames; those past the last
        are left out) of a multi-frame file, whatever its format: a browser plays an
        animation and shows no TIFF. The file is decoded once for all
        the stills that are missing; the frame sizes are kept beside them. Raises
        ImageError or OSError when they cannot be made."""
        path = self.folder / PurePosixPath(relative)
        sizes_file = self._still_path(relative, 0).with_suffix(".frames.json")
        wanted = {frame: self._still_path(relative, frame) for frame in sorted(set(frames))}
        if all(_newer_than(still, path) for still in (sizes_file, *wanted.values())):
            sizes = [(int(w), int(h)) for w, h in json.loads(sizes_file.read_text(encoding="utf-8"))]
        else:
            decoded = decode(path.read_bytes(), self.max_pixels).frames
            sizes = [(pixels.shape[1], pixels.shape[0]) for pixels in decoded]
            for frame, still in wanted.items():
                if frame < len(decoded) and not _newer_than(still, path):
                    self._save_still(decoded[frame], still)
            write_atomic(sizes_file, json.dumps(sizes).encode("utf-8"))
        return FrameStills(
            {frame: quote(still.relative_to(self.report_dir).as_posix()) for frame, still in wanted.items()
             if frame < len(sizes)},
            sizes,
        )

    def _still_path(self, relative: str, frame: int) -> Path:
        # The first frame's still is the thumbnail link() makes, so the two share it.
        name = hashlib.sha256(relative.encode("utf-8", "surrogateescape")).hexdigest()[:24]
        return self.report_dir / self.thumbs_dir / (f"{name}.jpg" if frame == 0 else f"{name}-{frame}.jpg")

    def _save_still(self, pixels: np.ndarray, still: Path) -> None:
        image = Image.fromarray(pixels[:, :, :3])
        image.thumbnail((self.thumb_side, self.thumb_side))
        still.parent.mkdir(exist_ok=True)
        image.save(still, "JPEG", quality=85)


def _newer_than(made: Path, source: Path) -> bool:
    """Whether ``made`` exists and was written after ``source`` last changed."""
    return made.is_file() and made.stat().st_mtime_ns >= source.stat().st_mtime_ns


@dataclass
class ChartTally:
    """What the charts count, kept as records go by."""

    faces_per_image: list[int] = field(default_factory=lambda: [0] * len(FACES_PER_IMAGE_BINS))
    heights: list[int] = field(default_factory=lambda: [0] * len(HEIGHT_BINS))
    scores: Counter[tuple[str, int]] = field(default_factory=Counter)  # (detector, tenth of score)
    failures: Counter[str] = field(default_factory=Counter)

    def add(self, record: dict[str, Any]) -> None:
        if record["status"] == FAILED:
            self.failures[failure_reason(record.get("error"))] += 1
        if record["status"] != OK:
            return
        count_into(self.faces_per_image, FACES_PER_IMAGE_BINS, len(record["faces"]))
        for face in record["faces"]:
            count_into(self.heights, HEIGHT_BINS, face["box"][3] - face["box"][1])
            self.scores[(face["detector"], min(int(face["score"] * 10), 9))] += 1


def count_into(counts: list[int], bins: list[tuple[float, float | None]], value: float) -> None:
    for i, (low, high) in enumerate(bins):
        if value >= low and (high is None or value < high):
            counts[i] += 1
            return


def bin_labels(bins: list[tuple[float, float | None]]) -> list[str]:
    return [
        f"{low:g}+" if high is None else (f"{low:g}" if high - low == 1 else f"{low:g}-{high:g}")
        for low, high in bins
    ]


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


def charts(summary: RunSummary, tally: ChartTally) -> str:
    score_bars = [
        (f"{detector} {b / 10:.1f}-{(b + 1) / 10:.1f}", count)
        for (detector, b), count in sorted(tally.scores.items())
    ]
    metadata = sorted(summary.files_with_metadata.items(), key=lambda kv: -kv[1])
    return "".join([
        bar_chart("Faces per image", list(zip(bin_labels(FACES_PER_IMAGE_BINS), tally.faces_per_image)), "images"),
        bar_chart("Face heights (px)", list(zip(bin_labels(HEIGHT_BINS), tally.heights)), "faces"),
        bar_chart("Detector scores", score_bars, "faces, by detector and score"),
        bar_chart("Metadata found in the inputs (removed)", metadata, "input files carrying each category"),
        bar_chart("Failures by reason", tally.failures.most_common(), "files"),
    ])


def gallery_data(gallery: Gallery) -> str:
    """The gallery's data as the page's JSON block."""
    data = {
        "items": gallery.inline,
        "total": gallery.total,
        "perFile": gallery.pages.per_file,
        "files": gallery.files,
        "fileCounts": gallery.file_counts,
        "queue": {
            "series": gallery.queue.series,
            "perFile": gallery.queue.per_file,
            "files": gallery.queue.files,
            "fileCounts": gallery.queue_file_counts,
        },
        "counts": {name: gallery.counts[name] for name in ("all", "review", "noface", *REVIEW_FILTERS)},
        "pagesDir": PAGES_DIR,
        "token": gallery.token,
        "pageSize": PAGE_SIZE,
        "lowScore": LOW_SCORE,
    }
    return json.dumps(data, ensure_ascii=False).replace("</", "<\\/")


def script_hash(script: str) -> str:
    """The CSP source that lets exactly this inline script run."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii") + "'"


def render(summary: RunSummary, verified: VerifyReport | None, tally: ChartTally, gallery: Gallery) -> str:
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
    # The whole text between <script> and </script>: the CSP's hash must match it exactly.
    script = page_script(SCRIPT_ASSET)
    return Template(asset_text(PAGE_ASSET)).substitute(
        script_source=script_hash(script),
        stats=stats,
        wall=summary.wall_time_s,
        workers=f"{summary.workers} worker" + ("" if summary.workers == 1 else "s"),
        versions=html.escape(versions),
        source=html.escape(summary.source_dir),
        output=html.escape(str(summary.out_dir)),
        config=html.escape(json.dumps(summary.config, indent=2)),
        warnings="".join(f"<li>{html.escape(w)}</li>" for w in summary.warnings) or "<li>none</li>",
        verify=verify_section(verified),
        charts=charts(summary, tally),
        data=gallery_data(gallery),
        css=asset_text(CSS_ASSET),
        script=script,
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


def page_script(name: str) -> str:
    """The inline script of a page that reads page files: the loader, then the page's own."""
    return asset_text(PAGES_SCRIPT_ASSET) + asset_text(name)


@cache
def asset_text(name: str) -> str:
    return resources.files(ASSETS_PACKAGE).joinpath(name).read_text(encoding="utf-8")
