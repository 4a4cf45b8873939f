"""The report stage: one JSON line per input file (``images.jsonl``) and a summary of the
run (``summary.json``), both written whole when the run ends, in the order the files were
found, so the report of a resumed run equals that of an uninterrupted one.

The report directory names the original files, so it is never placed inside OUT.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deid.output import write_atomic

OK = "ok"
FAILED = "failed"
SKIPPED = "skipped"

IMAGES_FILE = "images.jsonl"
SUMMARY_FILE = "summary.json"


@dataclass(frozen=True)
class FaceRecord:
    box: list[float]  # detected face, xyxy in output pixels, clipped to the image
    region: list[int]  # bounding box of the anonymized pixels, xyxy
    score: float
    detector: str
    frame: int = 0  # index of the frame or page the face is in


@dataclass(frozen=True)
class ImageRecord:
    source: str  # relative to SRC
    output: str | None  # relative to OUT; None when nothing was written
    status: str
    error: str | None = None
    width: int | None = None
    height: int | None = None
    frames: int | None = None  # frames or pages written (1 for a still image)
    faces: list[FaceRecord] = field(default_factory=list)
    metadata_found: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["source"] = printable_path(self.source)
        data["output"] = None if self.output is None else printable_path(self.output)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImageRecord:
        faces = [FaceRecord(**face) for face in data.get("faces", [])]
        return cls(**{**data, "faces": faces})


def printable_path(path: str) -> str:
    """A file name as valid UTF-8 text. Names that are not UTF-8 on disk (Python holds
    their bytes as lone surrogates) get those bytes written as \\xNN."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def clear_report(report_dir: Path) -> None:
    """Remove the report of an earlier run, so that a run stopped before its end never
    leaves a report that looks complete."""
    for name in (IMAGES_FILE, SUMMARY_FILE):
        (report_dir / name).unlink(missing_ok=True)


def write_report(report_dir: Path, records: list[ImageRecord], summary: dict[str, Any]) -> None:
    lines = "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in records)
    write_atomic(report_dir / IMAGES_FILE, lines.encode("utf-8"))
    text = json.dumps(summary, indent=2, ensure_ascii=False) + "\n"
    write_atomic(report_dir / SUMMARY_FILE, text.encode("utf-8"))


def read_records(report_dir: Path) -> list[dict[str, Any]]:
    with open(Path(report_dir) / IMAGES_FILE, encoding="utf-8") as fp:
        return [json.loads(line) for line in fp if line.strip()]
