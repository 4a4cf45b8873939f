"""The report stage: one JSON line per input file, and a summary of the run.

The report directory names the original files, so it is never placed inside OUT.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

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
        return dataclasses.asdict(self)


class ReportWriter:
    """Appends records as files finish, so a report exists even for an interrupted run."""

    def __init__(self, report_dir: Path) -> None:
        self.report_dir = report_dir
        report_dir.mkdir(parents=True, exist_ok=True)
        self._images: TextIO = open(report_dir / IMAGES_FILE, "w", encoding="utf-8")

    def add(self, record: ImageRecord) -> None:
        self._images.write(json.dumps(record.to_dict(), ensure_ascii=False) + "\n")
        self._images.flush()

    def finish(self, summary: dict[str, Any]) -> None:
        self._images.close()
        text = json.dumps(summary, indent=2, ensure_ascii=False) + "\n"
        write_atomic(self.report_dir / SUMMARY_FILE, text.encode("utf-8"))

    def close(self) -> None:
        if not self._images.closed:
            self._images.close()


def read_records(report_dir: Path) -> list[dict[str, Any]]:
    with open(Path(report_dir) / IMAGES_FILE, encoding="utf-8") as fp:
        return [json.loads(line) for line in fp if line.strip()]
