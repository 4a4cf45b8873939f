"""What applying a reviewer's corrections costs on a large run, and that it touches nothing else.

    python scripts/bench_corrections.py [N] [--corrections K] [--keep DIR]

Makes N small photos (bench_scale.make_photos: the sample photos, cropped and resized at
random), runs `deid run SRC OUT` with the default config and records the SHA-256 of every
file in OUT. Then it writes a corrections file for K files that have at least one face in
images.jsonl, drawn at random (seeded) over the run: the first, third, fifth, ... of them
drop their first detected region (the box exactly as images.jsonl gives it, as the review
page copies it), the others add a drawn box (a fifth of the image's width and height,
where at least half of it is not covered yet, so the output must change; a file with no
such place drops a region instead). It times
`deid run SRC OUT --resume --corrections FILE` and prints: files in the run, files named
in the corrections, files the resume processed again (summary.json's `resume` section,
where the pipeline counts them as "corrected by a reviewer"), the outputs whose SHA-256
changed, the corrected resume's time against the full run's, and the decisions counted in
summary.json (`dropped`, `added`).

Exits 1 when an output other than those of the corrected files changed, a corrected file's
output did not change, or a count differs from the corrections written. Photos are made
once per N under --keep.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from deid.report import iter_records
from deid.results import RunSummary

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "scripts"))

from bench_scale import make_photos, timed_run  # noqa: E402  (a sibling script)

DEFAULT_FILES = 1200
DEFAULT_CORRECTIONS = 10
# The pipeline's reason for processing a file named in --corrections again (pipeline.py).
CORRECTED = "corrected by a reviewer"
# A drawn box is this share of the image's width and height: a face the detectors missed
# in a small photo, large enough that covering it changes the output's bytes for sure.
ADDED_SHARE = 0.2
# Places tried for it along each side, and the share of it that must be uncovered so far:
# the detected faces of these crops take up to three quarters of the photo.
GRID = 5
MIN_UNCOVERED = 0.5
# Which files are corrected: a seeded draw, so the files come from each sample photo
# (make_photos cycles through them, and an even spacing can land on one only).
SEED = 0


def digest(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder``, by path relative to it."""
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*")) if path.is_file()
    }


def drawn_box(record: dict) -> list[int] | None:
    """A box of ADDED_SHARE of the image where the least of it is covered already (tried
    at GRID x GRID places); None when no place has MIN_UNCOVERED of it uncovered."""
    width, height = record["width"], record["height"]
    covered = np.zeros((height, width), dtype=bool)
    for face in record["faces"]:
        if face.get("frame", 0) == 0:
            x1, y1, x2, y2 = (int(round(v)) for v in face["region"])
            covered[max(y1, 0):y2, max(x1, 0):x2] = True
    w, h = max(1, int(width * ADDED_SHARE)), max(1, int(height * ADDED_SHARE))
    places = [(x, y) for x in np.linspace(0, width - w, GRID).astype(int) for y in np.linspace(0, height - h, GRID).astype(int)]
    x, y = min(places, key=lambda p: covered[p[1]:p[1] + h, p[0]:p[0] + w].sum())
    if covered[y:y + h, x:x + w].mean() > 1 - MIN_UNCOVERED:
        return None
    return [int(x), int(y), int(x + w), int(y + h)]


def write_corrections(report: Path, count: int, path: Path) -> dict[str, str]:
    """Write corrections for ``count`` files with a face to ``path``; return {source:
    "drop" or "add"}."""
    with_faces = [r for r in iter_records(report)
                  if r["status"] == "ok" and any(f.get("frame", 0) == 0 for f in r["faces"])]
    if len(with_faces) < count:
        raise SystemExit(f"only {len(with_faces)} files have a face; ask for fewer --corrections")
    chosen = [with_faces[i] for i in sorted(random.Random(SEED).sample(range(len(with_faces)), count))]
    files, decisions = [], {}
    for index, record in enumerate(chosen):
        entry = {"source": record["source"], "frame": 0, "drop": [], "keep": [], "add": []}
        box = drawn_box(record) if index % 2 else None
        if box is not None:
            entry["add"].append(box)
            decisions[record["source"]] = "add"
        else:
            first = next(f for f in record["faces"] if f.get("frame", 0) == 0)
            entry["drop"].append(first["box"])
            decisions[record["source"]] = "drop"
        files.append(entry)
    path.write_text(json.dumps({"deid_corrections": 1, "files": files}, indent=1), encoding="utf-8")
    return decisions


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", type=int, nargs="?", default=DEFAULT_FILES,
                        help=f"number of photos to make and process (default {DEFAULT_FILES})")
    parser.add_argument("--corrections", type=int, default=DEFAULT_CORRECTIONS, metavar="K",
                        help=f"files with a face to correct (default {DEFAULT_CORRECTIONS})")
    parser.add_argument("--keep", type=Path, help="folder for the photos, reused by later runs with the same N")
    args = parser.parse_args()
    deid = [sys.executable, "-m", "deid"]
    with tempfile.TemporaryDirectory(prefix="deid-corrections-") as scratch:
        src = (args.keep or Path(scratch)) / f"photos-{args.files}"
        made = time.monotonic()
        make_photos(src, args.files)
        print(f"{args.files} photos in {src} ({time.monotonic() - made:.0f} s to make)")
        out, report = Path(scratch) / "out", Path(scratch) / "out.report"
        run_wall, _, run_code = timed_run([*deid, "run", str(src), str(out)])
        before = digest(out)
        corrections = Path(scratch) / "corrections.json"
        decisions = write_corrections(report, args.corrections, corrections)
        resume_wall, _, resume_code = timed_run(
            [*deid, "run", str(src), str(out), "--resume", "--corrections", str(corrections)])
        after = digest(out)
        summary = RunSummary.read(report)
        if summary is None or summary.resume is None:
            raise SystemExit(f"the corrected resume wrote no readable summary.json with a resume section in {report}")

        source_of = {r["output"]: r["source"] for r in iter_records(report) if r.get("output")}
        changed = {name for name in before.keys() | after.keys() if before.get(name) != after.get(name)}
        changed_sources = {source_of.get(name, name) for name in changed}
        corrected = set(decisions)
        redone = sum(summary.resume.redone.values())
        drops = sum(1 for d in decisions.values() if d == "drop")
        adds = len(decisions) - drops

        print(f"files in the run: {len(before)} outputs of {summary.counts.inputs} files (exit {run_code})")
        print(f"files named in the corrections: {len(corrected)} ({drops} drop a detected region, {adds} add a drawn box)")
        reasons = ", ".join(f"{count} {why}" for why, count in summary.resume.redone.items()) or "none"
        print(f"files the resume processed again: {redone} ({reasons}); kept {summary.resume.kept} (exit {resume_code})")
        print(f"outputs whose SHA-256 changed: {len(changed)}"
              + (" (exactly the corrected files)" if changed_sources == corrected else ""))
        print(f"time: full run {run_wall:.1f} s, corrected resume {resume_wall:.1f} s "
              f"({100 * resume_wall / run_wall:.1f}% of the run)")
        print(f"decisions in summary.json: {summary.counts.dropped} dropped, {summary.counts.added} added")

        problems = []
        if changed_sources - corrected:
            problems.append(f"outputs of files not corrected changed: {sorted(changed_sources - corrected)[:10]}")
        if corrected - changed_sources:
            problems.append(f"corrected files whose output did not change: {sorted(corrected - changed_sources)[:10]}")
        if redone != len(corrected) or summary.resume.redone.get(CORRECTED, 0) != len(corrected):
            problems.append(f"the resume processed {redone} files ({reasons}), not the {len(corrected)} corrected")
        if (summary.counts.dropped, summary.counts.added) != (drops, adds):
            problems.append(f"summary.json counts {summary.counts.dropped} dropped and {summary.counts.added} added, "
                            f"not the {drops} and {adds} written")
        if resume_code != 0:
            problems.append(f"the corrected resume exited {resume_code}")
        for problem in problems:
            print(f"FAILED: {problem}")
        return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
