"""The review page: ``review.html`` in the report folder, where a person checks each covered
region against the original and writes down what the run got wrong.

Every image is shown twice, its original (from SRC) beside its output, with each covered
region outlined and labelled. Clicking a region marks it "drop" (not a face) or "keep" (a
face that may stay visible, such as a consenting participant's); dragging a rectangle on
either picture adds a face the run missed; "Looks right" marks an image seen and right as
it is. "Save corrections" downloads the decisions as a corrections file (deid.corrections)
made in the page: nothing is sent anywhere, and the page reads nothing but its own pictures
and page files.

An image of several frames (an animation, a multi-page TIFF) is shown a frame at a time,
with a frame selector that counts each frame's regions; every decision is saved with its
frame. Browsers play an animation and show no TIFF, so its frames are shown as JPEG stills
made into the report folder (deid.html_report: ImageLinks.stills): of the first frame, the
frames with something to review, then others, at most ``MAX_FRAMES_RENDERED`` an image.

The page shows originals, so it is written into the report folder, never into OUT: the
report folder already names the originals and is kept apart from what is shared. The
images that most need a look come first (the review queue: a region larger than the run's
``review.max_region``, a low score, a face large enough for every detector that one alone
saw, a finding of ``deid verify``), then the failed files (a file refused for its large
region shows its original and boxes), then the rest in discovery order. The page's size is
bounded, whatever the size of the queue: it holds the first ``ITEMS_INLINE`` items of that
order, and every later one is in a page file of its list (``review-pages/queue-NNNN.js``,
``failed-NNNN.js``, ``NNNN.js`` for the rest), which it loads as the reviewer pages on, as
``index.html`` does (deid.html_report: PageFiles, pages.js). The lists are written as the
records stream by, in one pass; a list's first file, kept until the end, is written too
when the page does not hold all of it.

Like ``index.html``, the page is one offline file whose template, style sheet and script
are package data (``deid/html``), with a Content Security Policy that runs its own script
(by its hash) and the page files that script inserts.
"""

from __future__ import annotations

import html
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any

from deid.config import DEFAULT_MAX_REGION
from deid.consent import CONSENT
from deid.corrections import FORMAT_VERSION, REVIEWER
from deid.errors import UsageError
from deid.html_report import (
    LOW_SCORE, FrameStills, ImageLinks, PageFiles, VerifyFindings, asset_text, page_script, picture, read_verify,
    report_token, script_hash,
)
from deid.output import write_atomic
from deid.report import FAILED, IMAGES_FILE, OK, frame_size, iter_records
from deid.results import RunSummary, VerifyReport

REVIEW_FILE = "review.html"
THUMBS_DIR = "review-thumbs"
PAGES_DIR = "review-pages"
PAGE_ASSET = "review.html"
CSS_ASSET = "review.css"
SCRIPT_ASSET = "review.js"
# Originals of formats browsers cannot show get a JPEG this many pixels on its longer side:
# enough to tell a face from a pattern at review size.
THUMB_SIDE = 1024
PAGE_SIZE = 20  # images on screen at once
# Items the page holds: the first of its order (queue, failed, rest), so that it opens on
# them at once and a small run needs nothing beside it; and items to a page file after them.
# The whole queue inlined was 43 MB of review.html at 100,000 queued files, about 450 bytes
# an item (scripts/bench_review_page.py --all-queued); with 41% of the caltech photos queued
# by the default config, 3 million photos would make a page of about 550 MB, which no
# browser opens. 1,000, as index.html holds of its queue (deid.html_report:
# QUEUE_ITEMS_PER_FILE), is 50 screens of items and about 0.5 MB, whatever the queue. A
# list's page files hold as many as the page, so the page holds only items of each list's
# first file.
ITEMS_INLINE = 1000
# The page files of the queue and of the failed files, in PAGES_DIR beside the rest's.
QUEUE_SERIES = "queue"
FAILED_SERIES = "failed"
# Frames of one multi-frame image given pictures (a JPEG still of the original and one of
# the output each). Making them decodes the whole file once; each still is then a resize
# and a JPEG: about 0.1 s and 100 KB for a 6-12 MP page at THUMB_SIDE, a few ms and
# 20 KB for a GIF-sized frame. Sixteen keep an image of photo-size pages within about
# 2 s and 2 MB, and show every page of most scanned documents. Frames with something to
# review come first (QueueRules.frame_reasons, then any region), then frames without a
# region, spread over the image, so a missed face can be drawn on them; the regions of a
# frame past the limit are still listed, and decided on, without a picture.
MAX_FRAMES_RENDERED = 16
# Detectors of heads, not faces (deid.detect.DETECTORS): their boxes are never merged with
# a face detector's, so they do not count among the detectors that could see a face.
HEAD_DETECTORS = ("pose",)
# A face that one detector of the ensemble alone saw is queued when its box's longer side
# is at least this share of the image's longer side. BlazeFace short range sees the image
# fitted into 128 px, where a face this size is 26 px; CenterFace sees every size, and sees
# small faces alone. On caltech (1,200 photos, the default ensemble) both saw 85% of the
# faces of 0.2-0.25, 90-98% of the larger ones, 65% of 0.15-0.2 and under 7% below 0.15.
# Above it a face one saw alone is the exception: a real face the other missed, or a
# trombone, a toy gun, a drawing taken for a face (4.2% of the caltech photos; at 0.15,
# 10.8%).
SINGLE_DETECTOR_SIDE = 0.2
# The queue's reasons from deid verify, by what it found in an output.
VERIFY_REASONS = {
    "residual": "residual face (verify)",
    "tags": "residual metadata (verify)",
    "reidentified": "re-identified (verify)",
    "unreadable": "unreadable by verify",
}
FAILED_REASON = "failed"
LOW_SCORE_REASON = "low score"
SINGLE_DETECTOR_REASON = "seen by one detector"
CONSENT_REASON = "kept by consent"


def write_review_page(out: str | Path, source: str | Path | None = None, report_dir: str | Path | None = None) -> Path:
    """Write ``review.html`` (and its page files) into the run's report folder (default
    ``<out>.report``) and return its path. ``source`` is the folder the run read; without
    it the page shows the outputs only."""
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
    summary = RunSummary.read(report)
    rules = QueueRules.of(summary.config if summary is not None else {})
    verified = read_verify(report)
    findings = VerifyFindings.of(verified)
    residual = residual_by_frame(verified)
    # The page files hold links to OUT and SRC as given: another SRC is another version.
    token = report_token(report, PAGES_DIR, outputs.folder_url, originals.folder_url if originals else "")
    queue = ReviewQueue.into(report / PAGES_DIR, token, ITEMS_INLINE)
    for index, record in enumerate(iter_records(report)):
        if record["status"] in (OK, FAILED):
            reasons = rules.reasons(record) + verify_reasons(record, findings)
            queue.add(review_item(record, index, reasons, outputs, originals, residual, rules))
    queue.finish()
    page = render(queue, source_dir is not None)
    write_atomic(report / REVIEW_FILE, page.encode("utf-8"))
    return report / REVIEW_FILE


@dataclass(frozen=True)
class QueueRules:
    """What puts an image's regions in the review queue, from the run's config."""

    max_region: float = DEFAULT_MAX_REGION  # review.max_region
    face_detectors: int = 1  # distinct face detectors of the ensemble

    @classmethod
    def of(cls, config: dict[str, Any]) -> QueueRules:
        """The rules of the run whose config (summary.json's ``config``) is ``config``; the
        defaults for what a report of an older version does not say."""
        review = config.get("review") or {}
        detectors = (config.get("detect") or {}).get("detectors") or []
        faces = {(d.get("name"), d.get("variant", "")) for d in detectors if d.get("name") not in HEAD_DETECTORS}
        return cls(float(review.get("max_region", DEFAULT_MAX_REGION)), max(len(faces), 1))

    @property
    def large_reason(self) -> str:
        return f"region over {self.max_region:.0%} of the image"

    def reasons(self, record: dict[str, Any]) -> list[str]:
        """Why the record is in the review queue; empty when nothing in it is."""
        reasons = [FAILED_REASON] if record["status"] == FAILED else []
        found = {reason for frame in self.frame_reasons(record).values() for reason in frame}
        ordered = (self.large_reason, LOW_SCORE_REASON, SINGLE_DETECTOR_REASON, CONSENT_REASON)
        return reasons + [reason for reason in ordered if reason in found]

    def frame_reasons(self, record: dict[str, Any]) -> dict[int, list[str]]:
        """Why each frame of the record is queued, by frame index; frames without a reason
        are left out. Every frame counts: a face on page 3 is as exposed as one on page 1."""
        if not record.get("width") or not record.get("height"):
            return {}
        by_frame: dict[int, list[dict[str, Any]]] = {}
        # A reviewer's own boxes need no second look.
        for face in record.get("faces") or []:
            if face["detector"] != REVIEWER:
                by_frame.setdefault(face.get("frame", 0), []).append(face)
        consented = {d.get("frame", 0) for d in record.get("decisions") or [] if d["decision"] == CONSENT}
        reasons: dict[int, list[str]] = {}
        for frame in sorted(by_frame.keys() | consented):
            found = self._face_reasons(by_frame.get(frame, []), *frame_size(record, frame))
            if frame in consented:
                found.append(CONSENT_REASON)
            if found:
                reasons[frame] = found
        return reasons

    def _face_reasons(self, faces: list[dict[str, Any]], width: int, height: int) -> list[str]:
        sides = [(f["box"][2] - f["box"][0], f["box"][3] - f["box"][1]) for f in faces]
        reasons = []
        if any(w * h > self.max_region * width * height for w, h in sides):
            reasons.append(self.large_reason)
        if any(f["score"] < LOW_SCORE for f in faces):
            reasons.append(LOW_SCORE_REASON)
        if self.face_detectors > 1 and any(
            f.get("seen_by") == 1 and f.get("kind", "face") == "face" and max(w, h) >= SINGLE_DETECTOR_SIDE * max(width, height)
            for f, (w, h) in zip(faces, sides)
        ):
            reasons.append(SINGLE_DETECTOR_REASON)
        return reasons


def review_reasons(record: dict[str, Any], rules: QueueRules | None = None) -> list[str]:
    """Why the record is in the review queue under ``rules`` (the defaults when None)."""
    return (rules or QueueRules()).reasons(record)


def verify_reasons(record: dict[str, Any], findings: VerifyFindings) -> list[str]:
    """What ``deid verify`` found in the record's output, as queue reasons."""
    output = record.get("output")
    if record["status"] != OK or output is None:
        return []
    found = {
        "residual": findings.faces.get(output, 0) > 0,
        "tags": output in findings.tags,
        "reidentified": findings.reidentified.get(output, 0) > 0,
        "unreadable": output in findings.unreadable,
    }
    return [VERIFY_REASONS[name] for name, present in found.items() if present]


def residual_by_frame(verified: VerifyReport | None) -> dict[str, dict[int, list[list[float]]]]:
    """The faces ``deid verify`` found in each output, by frame, each with its score."""
    found: dict[str, dict[int, list[list[float]]]] = {}
    for face in verified.residual_faces if verified is not None else []:
        found.setdefault(face.output, {}).setdefault(face.frame, []).append([*face.box, face.score])
    return found


@dataclass
class ReviewList:
    """One list of the page's order as its items stream by: the first file's worth kept,
    for the page or for file 0, every later item in its page files."""

    pages: PageFiles
    first: list[dict[str, Any]] = field(default_factory=list)
    held: int = 0  # of ``first``, those the page holds (set by ReviewQueue.finish)

    @property
    def total(self) -> int:
        return self.pages.total

    def add(self, item: dict[str, Any]) -> None:
        if self.pages.add(item):
            self.first.append(item)


@dataclass
class ReviewQueue:
    """The page's items as the records stream by, in the three lists it shows one after
    the other: the queued, the failed, the rest. The page holds the first ``inline`` items
    of that order, the lists' page files every other."""

    queued: ReviewList
    failed: ReviewList
    rest: ReviewList
    inline: int  # items the page holds, and items to a page file
    reasons: Counter[str] = field(default_factory=Counter)  # images per reason

    @classmethod
    def into(cls, pages_dir: Path, token: str, inline: int) -> ReviewQueue:
        """An empty queue whose page files go into ``pages_dir``, ``inline`` to a file."""
        def pages(series: str) -> ReviewList:
            return ReviewList(PageFiles(pages_dir, token, series, inline))

        return cls(pages(QUEUE_SERIES), pages(FAILED_SERIES), pages(""), inline)

    @property
    def lists(self) -> tuple[ReviewList, ReviewList, ReviewList]:
        return self.queued, self.failed, self.rest

    @property
    def total(self) -> int:
        return sum(part.total for part in self.lists)

    @property
    def items(self) -> list[dict[str, Any]]:
        """The items the page holds, in its order."""
        return [item for part in self.lists for item in part.first[: part.held]]

    def add(self, item: dict[str, Any]) -> None:
        self.reasons.update(item["reasons"])
        if item["status"] == FAILED:
            self.failed.add(item)
        elif item["reasons"]:
            self.queued.add(item)
        else:
            self.rest.add(item)

    def finish(self) -> None:
        room = self.inline
        for part in self.lists:
            part.held = min(room, part.total)
            room -= part.held
            part.pages.finish(part.first if part.held < len(part.first) else None)


def review_item(
    record: dict[str, Any], index: int, reasons: list[str], outputs: ImageLinks, originals: ImageLinks | None,
    residual: dict[str, dict[int, list[list[float]]]], rules: QueueRules,
) -> dict[str, Any]:
    item: dict[str, Any] = {"n": index, "source": record["source"], "status": record["status"], "reasons": reasons}
    if record["status"] == FAILED:
        item["error"] = record.get("error") or ""
    if not record.get("width") or not record.get("height"):
        return item  # failed before its size was known: nothing to show
    frames = int(record.get("frames") or 1)
    regions = [
        with_frame({"box": f["box"], "region": f["region"], "score": f["score"], "detector": f["detector"],
                  "kind": f.get("kind", "face"), "text": False}, f, frames)
        for f in record.get("faces") or []
    ] + [
        with_frame({"box": t["box"], "region": t["region"], "score": t["score"], "detector": t.get("detector", ""),
                  "kind": t.get("rule", "text"), "text": True}, t, frames)
        for t in record.get("texts") or []
    ]
    item.update({"w": record["width"], "h": record["height"], "regions": regions})
    kept = [
        with_frame({"box": d["box"], "participant": d.get("participant", ""), "distance": d.get("distance", 0.0)},
                   d, frames)
        for d in record.get("decisions") or [] if d["decision"] == CONSENT
    ]
    if kept:
        item["kept"] = kept
    found = residual.get(record["output"], {}) if record["status"] == OK else {}
    if frames > 1:
        frame_reasons = rules.frame_reasons(record)
        item["frames"] = frames
        if frame_reasons:
            item["frameReasons"] = {str(frame): why for frame, why in frame_reasons.items()}
        if found:
            # [x1, y1, x2, y2, score, frame]
            item["residual"] = [[*box, frame] for frame in sorted(found) for box in found[frame]]
        shown = frames_to_render(frames, [[*frame_reasons, *found, *(k["frame"] for k in kept)],
                                          [r["frame"] for r in regions]])
        item["views"] = frame_views(item, record, shown, outputs, originals)
        return item
    if record["status"] == OK:
        item["output"] = record["output"]
        item["outputSrc"], item["outputError"] = picture(outputs.link, record["output"])
        if found.get(0):
            item["residual"] = found[0]
    if originals is not None:
        item["originalSrc"], item["originalError"] = picture(originals.link, record["source"])
    return item


def with_frame(entry: dict[str, Any], found: dict[str, Any], frames: int) -> dict[str, Any]:
    """``entry`` with the frame of the record's ``found`` when the image has several; a
    still image's are all on frame 0, which its item does not repeat."""
    return {**entry, "frame": found.get("frame", 0)} if frames > 1 else entry


def frame_views(
    item: dict[str, Any], record: dict[str, Any], shown: list[int], outputs: ImageLinks, originals: ImageLinks | None,
) -> list[dict[str, Any]]:
    """The frames ``shown`` of a multi-frame image, each with its size and its stills' URLs;
    the item gets outputError and originalError, set when no still could be made."""
    made: dict[str, FrameStills | None] = {}
    if record["status"] == OK:
        item["output"] = record["output"]
        made["outputSrc"], item["outputError"] = picture(lambda path: outputs.stills(path, shown), record["output"])
    if originals is not None:
        made["originalSrc"], item["originalError"] = picture(
            lambda path: originals.stills(path, shown), record["source"])
    # The boxes are in the output's pixels: its sizes first, the original's when it has none.
    sizes = next((stills.sizes for stills in (made.get("outputSrc"), made.get("originalSrc")) if stills), [])
    views = []
    for frame in shown:
        width, height = sizes[frame] if frame < len(sizes) else frame_size(record, frame)
        view: dict[str, Any] = {"frame": frame, "w": width, "h": height}
        for key, stills in made.items():
            view[key] = stills.urls.get(frame) if stills is not None else None
        views.append(view)
    return views


def frames_to_render(count: int, tiers: Iterable[Iterable[int]], most: int = MAX_FRAMES_RENDERED) -> list[int]:
    """The frames of an image of ``count`` frames that get pictures: the first, then each
    tier's frames in turn, then the others, at most ``most``; a tier that does not fit in
    what is left is sampled evenly, so its pictures span the image."""
    chosen = {0}
    for tier in [*tiers, range(count)]:
        room = most - len(chosen)
        if room <= 0:
            break
        left = sorted({frame for frame in tier if 0 <= frame < count} - chosen)
        # The middle frame of each of ``room`` equal runs of the tier.
        chosen.update(left if len(left) <= room else [left[(2 * i + 1) * len(left) // (2 * room)] for i in range(room)])
    return sorted(chosen)


def queue_summary(queue: ReviewQueue) -> str:
    """What comes first on the page, and why: of every image, not only those it holds."""
    flagged = queue.queued.total
    reasons = ", ".join(f"{reason}: {count}" for reason, count in queue.reasons.most_common() if reason != FAILED_REASON)
    parts = [f"{flagged} of {queue.total} images need a look" + (f" ({reasons})" if reasons else "") + " and come first"]
    if queue.failed.total:
        parts.append(f"then {queue.failed.total} failed files")
    parts.append("then the rest, in the order the run found them.")
    return html.escape("; ".join(parts))


def render(queue: ReviewQueue, with_originals: bool) -> str:
    data = {
        "items": queue.items,
        "queued": queue.queued.total,
        "failed": queue.failed.total,
        "total": queue.total,
        # The page's order, list by list: each list's items past those the page holds
        # (held) are in its page files, perFile to a file from its first.
        "lists": [{"series": part.pages.series, "total": part.total, "held": part.held} for part in queue.lists],
        "perFile": queue.inline,
        "pagesDir": PAGES_DIR,
        "token": queue.rest.pages.token,
        "pageSize": PAGE_SIZE,
        "originals": with_originals,
        "format": FORMAT_VERSION,
        "framesRendered": MAX_FRAMES_RENDERED,
    }
    notes = []
    if not with_originals:
        notes.append("Originals are not shown: give the folder the run read with <code>deid review OUT --source SRC</code>.")
    if len(data["items"]) < queue.total:
        notes.append(
            f"Past the first {len(data['items'])} images the page reads <code>{PAGES_DIR}/</code> as you page on: "
            "keep that folder beside this page."
        )
    script = page_script(SCRIPT_ASSET)
    return Template(asset_text(PAGE_ASSET)).substitute(
        script_source=script_hash(script),
        notes="".join(f"<p class=\"note\">{note}</p>" for note in notes),
        queue=queue_summary(queue),
        data=json.dumps(data, ensure_ascii=False).replace("</", "<\\/"),
        css=asset_text(CSS_ASSET),
        script=script,
    )
