"""A reviewer's corrections to a finished run: regions to leave uncovered (not a face, or
the face of a participant who agreed to be shown) and faces the detectors missed.

The file (written by ``deid review``'s page) lists, per source file and frame, boxes to
``drop`` and to ``keep`` (copied from the report's records) and boxes to ``add`` (in
output pixels). ``deid run SRC OUT --resume --corrections FILE`` processes exactly the
files it names again and applies it; every decision is recorded in ``images.jsonl``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from deid.boxes import Detections, box_iou
from deid.errors import UsageError

FORMAT_KEY = "deid_corrections"
FORMAT_VERSION = 1
DECISIONS = ("drop", "keep", "add")
# A detection is the one a drop or keep box names when they overlap this much: the box
# is copied from the record of the same file, config and models, so a match is near 1.
SAME_DETECTION_IOU = 0.7
# Drawn boxes are covered as faces the detectors missed, named so in the report.
REVIEWER = "reviewer"


@dataclass(frozen=True)
class FrameCorrections:
    frame: int
    drop: tuple[tuple[float, float, float, float], ...] = ()
    keep: tuple[tuple[float, float, float, float], ...] = ()
    add: tuple[tuple[float, float, float, float], ...] = ()


@dataclass(frozen=True)
class FileCorrections:
    source: str
    frames: tuple[FrameCorrections, ...]

    def for_frame(self, frame: int) -> FrameCorrections | None:
        return next((f for f in self.frames if f.frame == frame), None)


def load_corrections(path: Path) -> dict[str, FileCorrections]:
    """The corrections of ``path`` by source path; UsageError for a file that is not one."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read --corrections {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UsageError(f"--corrections {path} is not JSON ({exc}); give the file the review page saved") from None
    if not isinstance(data, dict) or data.get(FORMAT_KEY) != FORMAT_VERSION or not isinstance(data.get("files"), list):
        raise UsageError(
            f"--corrections {path} is not a corrections file of this deid "
            f"(it needs \"{FORMAT_KEY}\": {FORMAT_VERSION} and a list of files); give the file the review page saved"
        )
    frames: dict[str, list[FrameCorrections]] = {}
    for entry in data["files"]:
        try:
            source, frame = str(entry["source"]), int(entry.get("frame", 0))
            boxes = {name: tuple(_box(b) for b in entry.get(name, [])) for name in DECISIONS}
        except (KeyError, TypeError, ValueError, AttributeError):
            raise UsageError(
                f"--corrections {path}: an entry is malformed ({json.dumps(entry)[:80]}); each needs a source "
                "and boxes of four numbers"
            ) from None
        frames.setdefault(source, []).append(FrameCorrections(frame, **boxes))
    return {source: FileCorrections(source, tuple(found)) for source, found in frames.items()}


def check_corrections(
    corrections: dict[str, FileCorrections], size_of: Callable[[str], list[tuple[int, int]] | None], path: Path,
) -> None:
    """UsageError for a file the run did not write (``size_of`` gives None, else the width
    and height of each of its frames), a frame it does not have, or a box that is not
    inside its frame."""
    for source, file in corrections.items():
        size = size_of(source)
        if size is None:
            raise UsageError(
                f"--corrections {path} names {source}, which the finished run neither wrote nor held back for review; "
                "correct the files of this run's report"
            )
        for frame in file.frames:
            if not 0 <= frame.frame < len(size):
                raise UsageError(
                    f"--corrections {path}: {source} has no frame {frame.frame} (it has {len(size)}, "
                    "counted from 0); give the frame of the record's faces"
                )
            width, height = size[frame.frame]
            for name in DECISIONS:
                for box in getattr(frame, name):
                    x1, y1, x2, y2 = box
                    if not (0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height):
                        raise UsageError(
                            f"--corrections {path}: the {name} box {list(box)} of {source} is not inside its "
                            f"{width} x {height} image"
                        )


def apply_corrections(
    found: Detections, corrections: FrameCorrections | None, add: bool = True,
) -> tuple[Detections, list[dict[str, Any]]]:
    """The detections to cover after a reviewer's decisions, and the decisions as records:
    detections a drop or keep box names are left out, drawn boxes are added (``add``: the
    face detections; text regions only lose what a box names)."""
    if corrections is None:
        return found, []
    decisions: list[dict[str, Any]] = []
    keep = np.ones(len(found), dtype=bool)
    for name in ("drop", "keep"):
        for box in getattr(corrections, name):
            matched = box_iou(np.asarray([box], dtype=np.float64), found.xyxy)[0] >= SAME_DETECTION_IOU \
                if len(found) else np.zeros(0, dtype=bool)
            keep &= ~matched
            decisions.append({"decision": name, "box": [float(v) for v in box], "frame": corrections.frame,
                              "matched": int(matched.sum())})
    if not add:
        return found[keep], decisions
    added = Detections(
        np.asarray(corrections.add, dtype=np.float64).reshape(-1, 4), np.ones(len(corrections.add)),
        np.full(len(corrections.add), REVIEWER, dtype=object),
    )
    decisions += [{"decision": "add", "box": [float(v) for v in box], "frame": corrections.frame, "matched": 0}
                  for box in corrections.add]
    return Detections.concatenate([found[keep], added]), decisions


def _box(value: Any) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = (float(v) for v in value)
    return (x1, y1, x2, y2)
