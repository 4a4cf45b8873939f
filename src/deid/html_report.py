"""The report a person reads: ``index.html`` in the report folder, one self-contained file
(inline CSS, JavaScript and SVG; nothing fetched from a network).

It shows the run's summary, charts of what was found, and a gallery of the *outputs* with
every covered region outlined, filterable (failed files, images without a face, unsure
detections, residual faces from ``deid verify``) and paged, so that thousands of images
stay usable. Every picture in it comes from OUT: the page links the output files (or
thumbnails made from them, for formats a browser cannot show), never an original.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
from collections import Counter
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from PIL import Image

from deid.decode import decode
from deid.output import write_atomic
from deid.report import FAILED, IMAGES_FILE, OK, SKIPPED, SUMMARY_FILE

HTML_FILE = "index.html"
THUMBS_DIR = "thumbs"
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


def write_html_report(report_dir: Path, out_dir: Path) -> Path | None:
    """Write ``index.html`` from the run's report (and ``verify.json`` when there is one);
    None when the folder holds no finished run's report."""
    report_dir = Path(report_dir)
    if not (report_dir / SUMMARY_FILE).is_file() or not (report_dir / IMAGES_FILE).is_file():
        return None
    summary = json.loads((report_dir / SUMMARY_FILE).read_text(encoding="utf-8"))
    with open(report_dir / IMAGES_FILE, encoding="utf-8") as fp:
        records = [json.loads(line) for line in fp if line.strip()]
    verify_path = report_dir / "verify.json"
    verified = json.loads(verify_path.read_text(encoding="utf-8")) if verify_path.is_file() else None
    items = gallery_items(records, verified, report_dir, Path(out_dir))
    page = render(summary, records, verified, items)
    write_atomic(report_dir / HTML_FILE, page.encode("utf-8"))
    return report_dir / HTML_FILE


def gallery_items(
    records: list[dict[str, Any]], verified: dict[str, Any] | None, report_dir: Path, out_dir: Path,
) -> list[dict[str, Any]]:
    residual: dict[str, list[list[float]]] = {}
    for face in (verified or {}).get("residual_faces", []):
        if face.get("frame", 0) == 0:
            residual.setdefault(face["output"], []).append([*face["box"], face["score"]])
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
            item.update({
                "output": record["output"],
                "src": image_link(report_dir, out_dir, record["output"]),
                "w": record["width"], "h": record["height"],
                "regions": [f["region"] for f in faces],
                "faces": len(record["faces"]) - heads,
                "heads": heads,
                "low": sum(f["score"] < LOW_SCORE for f in record["faces"]),
                "residual": residual.get(record["output"], []),
            })
        items.append(item)
    return items


def image_link(report_dir: Path, out_dir: Path, output: str) -> str | None:
    """A relative URL from the report folder to the output file, or to a thumbnail of it
    for a format browsers cannot show; None when it cannot be made."""
    path = out_dir / PurePosixPath(output)
    if PurePosixPath(output).suffix.lower() not in BROWSER_SUFFIXES:
        name = hashlib.sha256(output.encode("utf-8", "surrogateescape")).hexdigest()[:24] + ".jpg"
        thumb = report_dir / THUMBS_DIR / name
        if not thumb.is_file():
            try:
                pixels = decode(path.read_bytes(), 100_000_000).frames[0]
                image = Image.fromarray(pixels[:, :, :3])
                image.thumbnail((THUMB_SIDE, THUMB_SIDE))
                thumb.parent.mkdir(exist_ok=True)
                image.save(thumb, "JPEG", quality=85)
            except Exception:  # a missing picture must not stop the report
                return None
        path = thumb
    try:
        relative = os.path.relpath(path.resolve(), report_dir.resolve())
    except ValueError:  # another drive: no relative path exists
        return path.resolve().as_uri()
    return quote(PurePosixPath(Path(relative).as_posix()).as_posix())


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
        parts.append(f'<text x="0" y="16">none</text>')
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


def charts(summary: dict[str, Any], records: list[dict[str, Any]]) -> str:
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
    metadata = sorted(summary.get("files_with_metadata", {}).items(), key=lambda kv: -kv[1])
    failures = Counter(failure_reason(r.get("error")) for r in records if r["status"] == FAILED)
    return "".join([
        bar_chart("Faces per image", histogram([len(r["faces"]) for r in ok], FACES_PER_IMAGE_BINS), "images"),
        bar_chart("Face heights (px)", histogram(heights, HEIGHT_BINS), "faces"),
        bar_chart("Detector scores", score_bars, "faces, by detector and score"),
        bar_chart("Metadata found in the inputs (removed)", metadata, "input files carrying each category"),
        bar_chart("Failures by reason", failures.most_common(), "files"),
    ])


def render(
    summary: dict[str, Any], records: list[dict[str, Any]], verified: dict[str, Any] | None,
    items: list[dict[str, Any]],
) -> str:
    counts = summary["counts"]
    meta = summary.get("files_with_metadata", {})
    count_rows = [
        ("inputs", "files found", counts["inputs"]), ("ok", "written", counts[OK]),
        ("failed", "failed (not written)", counts[FAILED]), ("skipped", "skipped (not images)", counts[SKIPPED]),
        ("faces", "faces covered", counts["faces"]),
        ("heads", "heads covered (no face seen)", counts.get("heads", 0)),
        ("images_with_faces", "images with faces", counts["images_with_faces"]),
        ("texts", "text regions covered", counts.get("texts", 0)),
        ("gps", "inputs that carried GPS", meta.get("gps", 0)),
        ("serial", "inputs that carried device serials", meta.get("serial", 0)),
        ("thumbnail", "inputs that carried embedded thumbnails", meta.get("thumbnail", 0)),
    ]
    stats = "".join(
        f'<div class="stat"><span class="num" id="count-{key}">{value}</span><span>{html.escape(label)}</span></div>'
        for key, label, value in count_rows
    )
    versions = ", ".join(f"{k} {v}" for k, v in summary.get("versions", {}).items() if isinstance(v, str))
    verify_html = verify_section(verified)
    data = json.dumps({"items": items, "pageSize": PAGE_SIZE, "lowScore": LOW_SCORE}, ensure_ascii=False)
    data = data.replace("</", "<\\/")
    return PAGE.format(
        stats=stats,
        wall=summary.get("wall_time_s", 0),
        workers=f'{summary.get("workers", 0)} worker' + ("" if summary.get("workers") == 1 else "s"),
        versions=html.escape(versions),
        source=html.escape(str(summary.get("source_dir", ""))),
        output=html.escape(str(summary.get("output_dir", ""))),
        config=html.escape(json.dumps(summary.get("config", {}), indent=2)),
        warnings="".join(f"<li>{html.escape(w)}</li>" for w in summary.get("warnings", [])) or "<li>none</li>",
        verify=verify_html,
        charts=charts(summary, records),
        data=data,
        css=CSS,
        script=SCRIPT,
    )


def verify_section(verified: dict[str, Any] | None) -> str:
    if verified is None:
        return (
            '<section id="verify"><h2>Verification</h2><p id="verify-status">Not verified. Run '
            "<code>deid verify OUT --source SRC</code> to audit the outputs.</p></section>"
        )
    reid = verified.get("reidentifiable")
    reid_text = (
        "not checked (no --source)" if reid is None
        else f'<span id="verify-reid">{reid["matched"]}</span> of {reid["checked"]} covered faces matched to their original'
    )
    clean = not (verified["residual_faces"] or verified["residual_tags"] or verified["unreadable"] or (reid and reid["matched"]))
    skipped = "".join(f"<li>skipped: {html.escape(s)}</li>" for s in verified.get("skipped", []))
    return (
        '<section id="verify"><h2>Verification</h2>'
        f'<p id="verify-status" class="{"clean" if clean else "found"}">'
        f'{"Nothing residual found." if clean else "Residual identifying content found."}</p><ul>'
        f'<li><span id="verify-files">{verified["files"]}</span> outputs checked with '
        f'{html.escape(", ".join(verified.get("checked_with", [])))}</li>'
        f'<li><span id="verify-residual-faces">{len(verified["residual_faces"])}</span> residual faces in '
        f'{verified["files_with_residual_faces"]} files</li>'
        f'<li><span id="verify-residual-tags">{len(verified["residual_tags"])}</span> files with residual metadata</li>'
        f"<li>re-identification: {reid_text}</li>{skipped}</ul>"
        "<p>A clean verification is evidence, not proof: it finds what its detectors find.</p></section>"
    )


CSS = """
:root { --fg: #1b1b1b; --muted: #555; --line: #ccc; --accent: #0b57d0; --bg: #fff; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg); margin: 0 auto; max-width: 1200px; padding: 1rem 1.5rem; }
h1 { font-size: 1.5rem; margin: .2rem 0 1rem; } h2 { font-size: 1.2rem; margin-top: 1.8rem; border-bottom: 1px solid var(--line); }
.stats { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: .6rem; }
.stat { border: 1px solid var(--line); border-radius: 6px; padding: .5rem .7rem; display: flex; flex-direction: column; }
.stat .num { font-size: 1.6rem; font-weight: 600; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 1rem; }
.chart { margin: 0; } .chart figcaption { font-weight: 600; } .chart svg { width: 100%; font-size: 12px; }
.chart .bar { fill: var(--accent); } .unit { color: var(--muted); margin: 0; font-size: .85rem; }
#verify .clean { color: #146c2e; font-weight: 600; } #verify .found { color: #b3261e; font-weight: 600; }
.filters button, .pager button { font: inherit; padding: .35rem .7rem; margin: 0 .3rem .4rem 0; border: 1px solid var(--line); border-radius: 4px; background: #f6f6f6; cursor: pointer; }
.filters button[aria-pressed="true"] { background: var(--accent); color: #fff; border-color: var(--accent); }
button:focus-visible, a:focus-visible, .card:focus-visible { outline: 3px solid #f4b400; outline-offset: 2px; }
.gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(220px, 1fr)); gap: .8rem; margin-top: .6rem; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: .4rem; break-inside: avoid; }
.card.failed { border-color: #b3261e; } .card .name { font-size: .8rem; word-break: break-all; color: var(--muted); }
.thumb { position: relative; width: 100%; background: #eee; }
.thumb img, .thumb svg { position: absolute; inset: 0; width: 100%; height: 100%; }
.thumb svg .region { fill: none; stroke: #f4b400; stroke-width: 2; vector-effect: non-scaling-stroke; }
.thumb svg .residual { fill: none; stroke: #b3261e; stroke-width: 3; stroke-dasharray: 5 3; vector-effect: non-scaling-stroke; }
.legend span { margin-right: 1rem; } .sw { display: inline-block; width: 1em; height: .8em; border: 2px solid; vertical-align: middle; }
details pre { overflow: auto; background: #f6f6f6; padding: .6rem; font-size: .8rem; }
@media print { .filters, .pager, .nav-hint { display: none; } body { max-width: none; } .gallery { grid-template-columns: repeat(4, 1fr); } }
"""

SCRIPT = r"""
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("gallery-data").textContent);
  var filters = {
    all: function () { return true; },
    failed: function (it) { return it.status === "failed"; },
    noface: function (it) { return it.status === "ok" && it.faces === 0; },
    low: function (it) { return it.status === "ok" && it.low > 0; },
    residual: function (it) { return it.residual && it.residual.length > 0; }
  };
  var state = { filter: "all", page: 0 };
  var gallery = document.getElementById("gallery");
  var SVG = "http://www.w3.org/2000/svg";

  function rect(box, cls) {
    var r = document.createElementNS(SVG, "rect");
    r.setAttribute("x", box[0]); r.setAttribute("y", box[1]);
    r.setAttribute("width", Math.max(box[2] - box[0], 1)); r.setAttribute("height", Math.max(box[3] - box[1], 1));
    r.setAttribute("class", cls);
    return r;
  }

  function card(it) {
    var el = document.createElement("article");
    el.className = "card " + it.status;
    el.tabIndex = 0;
    if (it.status === "ok" && it.src) {
      var thumb = document.createElement("div");
      thumb.className = "thumb";
      thumb.style.paddingTop = (100 * it.h / Math.max(it.w, 1)) + "%";
      var img = document.createElement("img");
      img.loading = "lazy"; img.alt = "output " + it.output; img.src = it.src;
      thumb.appendChild(img);
      var svg = document.createElementNS(SVG, "svg");
      svg.setAttribute("viewBox", "0 0 " + it.w + " " + it.h);
      svg.setAttribute("preserveAspectRatio", "none");
      svg.setAttribute("aria-hidden", "true");
      it.regions.forEach(function (b) { svg.appendChild(rect(b, "region")); });
      (it.residual || []).forEach(function (b) { svg.appendChild(rect(b, "residual")); });
      thumb.appendChild(svg);
      el.appendChild(thumb);
    }
    var name = document.createElement("div");
    name.className = "name";
    name.textContent = it.status === "ok" ? it.output : it.source;
    el.appendChild(name);
    var info = document.createElement("div");
    if (it.status === "failed") {
      info.textContent = "failed: " + it.error;
    } else {
      info.textContent = it.faces + (it.faces === 1 ? " face" : " faces") +
        (it.heads ? ", " + it.heads + (it.heads === 1 ? " head" : " heads") : "") +
        (it.low ? ", " + it.low + " unsure" : "") +
        (it.residual && it.residual.length ? ", " + it.residual.length + " residual" : "");
    }
    el.appendChild(info);
    return el;
  }

  function render() {
    var shown = data.items.filter(filters[state.filter]);
    var pages = Math.max(1, Math.ceil(shown.length / data.pageSize));
    state.page = Math.min(state.page, pages - 1);
    var start = state.page * data.pageSize;
    gallery.replaceChildren.apply(gallery, shown.slice(start, start + data.pageSize).map(card));
    document.getElementById("gallery-count").textContent = shown.length;
    document.getElementById("page-info").textContent = "page " + (state.page + 1) + " of " + pages;
    document.getElementById("prev").disabled = state.page === 0;
    document.getElementById("next").disabled = state.page >= pages - 1;
    document.querySelectorAll(".filters button").forEach(function (b) {
      b.setAttribute("aria-pressed", String(b.dataset.filter === state.filter));
    });
  }

  document.querySelectorAll(".filters button").forEach(function (b) {
    b.textContent += " (" + data.items.filter(filters[b.dataset.filter]).length + ")";
    b.addEventListener("click", function () { state.filter = b.dataset.filter; state.page = 0; render(); });
  });
  document.getElementById("prev").addEventListener("click", function () { state.page -= 1; render(); });
  document.getElementById("next").addEventListener("click", function () { state.page += 1; render(); });
  document.addEventListener("keydown", function (e) {
    if (e.target.tagName === "INPUT" || e.altKey || e.ctrlKey || e.metaKey) { return; }
    if (e.key === "ArrowRight" || e.key === "n") { if (!document.getElementById("next").disabled) { state.page += 1; render(); } }
    if (e.key === "ArrowLeft" || e.key === "p") { if (!document.getElementById("prev").disabled) { state.page -= 1; render(); } }
  });
  render();
})();
"""

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src 'self' file: data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>deid report</title>
<style>{css}</style>
</head>
<body>
<h1>deid report</h1>
<section id="summary">
<div class="stats">{stats}</div>
<p>Time: {wall} s with {workers}. Versions: {versions}.</p>
<p>Source: <code>{source}</code> &rarr; output: <code>{output}</code></p>
<h2>Warnings</h2><ul id="warnings">{warnings}</ul>
<details><summary>Configuration</summary><pre>{config}</pre></details>
</section>
{verify}
<section id="review">
<h2>Review the outputs</h2>
<p class="legend"><span><span class="sw" style="border-color:#f4b400"></span> covered region</span>
<span><span class="sw" style="border-color:#b3261e;border-style:dashed"></span> residual face (deid verify)</span></p>
<div class="filters" role="group" aria-label="Filter the gallery">
<button type="button" data-filter="all">All</button>
<button type="button" data-filter="failed">Failed</button>
<button type="button" data-filter="noface">No face found</button>
<button type="button" data-filter="low">Unsure detections</button>
<button type="button" data-filter="residual">Residual faces</button>
</div>
<p><span id="gallery-count">0</span> items &middot; <span id="page-info"></span>
<span class="pager"><button type="button" id="prev">&larr; Previous</button><button type="button" id="next">Next &rarr;</button></span>
<span class="nav-hint">(keys: &larr; &rarr;)</span></p>
<div id="gallery" class="gallery"></div>
</section>
<section id="charts"><h2>What was found</h2><div class="charts">{charts}</div></section>
<script type="application/json" id="gallery-data">{data}</script>
<script>{script}</script>
</body>
</html>
"""
