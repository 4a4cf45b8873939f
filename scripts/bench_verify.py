"""deid verify's speed, and what it finds, on a run that leaves faces behind.

    python scripts/bench_verify.py [--sets caltech,camera] [--data ../shared/data]
        [--other-src PATH] [--limit N]

For each set, the files are anonymized with the weak config of tests/test_verify.py (only
faces CenterFace scores 0.9 are covered, with a light blur: nearly every face stays
recognisable), then ``deid verify`` audits the result; the table gives its images/s
(start-up included), the files it flags and the residual faces it lists. With
--other-src (the ``src`` folder of another deid checkout, e.g. the previous release),
that version audits the same outputs too, and the table says how many of its residual
faces this version also lists (a residual face is the same when the boxes overlap by
IoU 0.3 or more).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PROJECT = Path(__file__).resolve().parents[1]
SETS = {"caltech": "faces/caltech", "camera": "photos/camera"}
SAME_FACE_IOU = 0.3


def weak_config() -> str:
    text = (PROJECT / "tests" / "test_verify.py").read_text()
    return re.search(r'WEAK_CONFIG = """\n(.*?)"""', text, re.S).group(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=PROJECT.parent / "shared" / "data")
    parser.add_argument("--sets", default="caltech,camera")
    parser.add_argument("--other-src", type=Path, help="the src folder of another deid version to compare with")
    parser.add_argument("--limit", type=int, default=0, help="at most this many files a set (0 = all)")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="deid-bench-verify-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "weak.toml").write_text(weak_config())
        for name in args.sets.split(","):
            src = args.data / SETS.get(name, name)
            files = sorted(p for p in src.iterdir() if p.is_file() and p.suffix.lower() in (".jpg", ".jpeg", ".png"))
            if args.limit:
                files = files[: args.limit]
            out = tmp / name
            subprocess.run([sys.executable, "-m", "deid", "run", src, out, "--config", tmp / "weak.toml",
                            "--files-from", _list(tmp / f"{name}.txt", files, src)],
                           check=False, capture_output=True)
            versions = [("this version", PROJECT / "src")] + ([("other", args.other_src)] if args.other_src else [])
            found = {}
            for label, source in versions:
                copy = tmp / f"{name}-{label.replace(' ', '-')}"
                shutil.copytree(out, copy)
                shutil.copytree(Path(f"{out}.report"), Path(f"{copy}.report"))
                started = time.perf_counter()
                subprocess.run([sys.executable, "-m", "deid", "verify", copy], check=False, capture_output=True,
                               env={**os.environ, "PYTHONPATH": str(source)})
                wall = time.perf_counter() - started
                report = json.loads(Path(f"{copy}.report", "verify.json").read_text())
                found[label] = report["residual_faces"]
                rows.append((name, len(files), label, len(files) / wall, report, None))
            if args.other_src:
                shared = _shared(found["other"], found["this version"])
                rows[-2] = rows[-2][:5] + (f"{shared} of the other's {len(found['other'])}",)
    print("| set | files | version | images/s | files flagged | residual faces | of the other's, also found |")
    print("|---|---:|---|---:|---:|---:|---|")
    for name, count, label, rate, report, shared in rows:
        print(f"| {name} | {count} | {label} | {rate:.2f} | {report['files_with_residual_faces']} | "
              f"{len(report['residual_faces'])} | {shared or '–'} |")


def _list(path: Path, files: list[Path], src: Path) -> Path:
    path.write_text("".join(f"{p.relative_to(src)}\n" for p in files))
    return path


def _shared(theirs: list[dict], ours: list[dict]) -> int:
    sys.path.insert(0, str(PROJECT / "src"))
    from deid.boxes import box_iou

    count = 0
    for face in theirs:
        boxes = [f["box"] for f in ours if f["output"] == face["output"] and f["frame"] == face["frame"]]
        if boxes and box_iou(np.array([face["box"]]), np.array(boxes)).max() >= SAME_FACE_IOU:
            count += 1
    return count


if __name__ == "__main__":
    main()
