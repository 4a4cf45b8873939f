"""The report stage: one JSON line per input file (``images.jsonl``) and a summary of the
run (``summary.json``), both written whole when the run ends, in the order the files were
found, so the report of a resumed run equals that of an uninterrupted one.

Records arrive in the order workers finish. They are spooled to a file as they come and
read back in discovery order at the end, so a run's memory does not grow with its number
of files; only the counts the summary needs are kept.

The report directory names the original files, so it is never placed inside OUT.
"""

from __future__ import annotations

import array
import dataclasses
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deid.output import write_atomic

OK = "ok"
FAILED = "failed"
SKIPPED = "skipped"

IMAGES_FILE = "images.jsonl"
SUMMARY_FILE = "summary.json"
SPOOL_FILE = ".images.spool"


@dataclass(frozen=True)
class FaceRecord:
    box: list[float]  # detected face, xyxy in output pixels, clipped to the image
    region: list[int]  # bounding box of the anonymized pixels, xyxy
    score: float
    detector: str
    frame: int = 0  # index of the frame or page the face is in
    # "face", or "head": a person's head where no face was seen (deid.boxes.KINDS)
    kind: str = "face"
    # Distinct detectors whose boxes were merged into this one (records written before it
    # was counted read as 1).
    seen_by: int = 1


@dataclass(frozen=True)
class TextRecord:
    box: list[float]  # detected text, xyxy in output pixels, clipped to the image
    region: list[int]  # bounding box of the anonymized pixels, xyxy
    score: float  # recognition score under "identifying", 1 under "all"
    detector: str
    rule: str  # why it was covered; never the text itself
    frame: int = 0


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
    # Text regions covered; None (and absent from the report) when text detection is off.
    texts: list[TextRecord] | None = None
    # A reviewer's decisions applied to it (deid.corrections): {"decision": "drop" | "keep"
    # | "add", "box", "frame", "matched": detections it named}; None (absent) when none.
    decisions: list[dict[str, Any]] | None = None
    # [width, height] of every frame, only when they differ (a TIFF's pages may): boxes of
    # frame i are in frame i's pixels. None (absent) when every frame has width x height.
    frame_sizes: list[list[int]] | None = None

    def to_dict(self) -> dict[str, Any]:
        # Shallow copies: the report only serializes them, and dataclasses.asdict's deep
        # copy of every face was a tenth of the main process's time on large runs.
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["faces"] = [dict(vars(face)) for face in self.faces]
        if self.texts is None:
            del data["texts"]
        else:
            data["texts"] = [dict(vars(text)) for text in self.texts]
        if self.decisions is None:
            del data["decisions"]
        if self.frame_sizes is None:
            del data["frame_sizes"]
        data["metadata_found"] = list(self.metadata_found)
        data["source"] = printable_path(self.source)
        data["output"] = None if self.output is None else printable_path(self.output)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImageRecord:
        faces = [FaceRecord(**face) for face in data.get("faces", [])]
        texts = None if data.get("texts") is None else [TextRecord(**text) for text in data["texts"]]
        return cls(**{**data, "faces": faces, "texts": texts, "decisions": data.get("decisions"),
                      "frame_sizes": data.get("frame_sizes")})


def frame_size(record: dict[str, Any], frame: int) -> tuple[int, int]:
    """(width, height) of frame ``frame`` of a record that has a size."""
    sizes = record.get("frame_sizes")
    if sizes and 0 <= frame < len(sizes):
        return int(sizes[frame][0]), int(sizes[frame][1])
    return int(record["width"]), int(record["height"])


def frame_sizes(shapes: list[tuple[int, ...]]) -> list[list[int]] | None:
    """The ``frame_sizes`` of a record whose frames have these array shapes."""
    sizes = [[int(shape[1]), int(shape[0])] for shape in shapes]
    return sizes if any(size != sizes[0] for size in sizes) else None


def printable_path(path: str) -> str:
    """A file name as valid UTF-8 text. Names that are not UTF-8 on disk (Python holds
    their bytes as lone surrogates) get those bytes written as \\xNN."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def clear_report(report_dir: Path) -> None:
    """Remove the report of an earlier run, so that a run stopped before its end never
    leaves a report that looks complete."""
    for name in (IMAGES_FILE, SUMMARY_FILE, SPOOL_FILE):
        (report_dir / name).unlink(missing_ok=True)


@dataclass
class Tally:
    """What the summary counts, kept as records go by."""

    status: Counter[str] = field(default_factory=Counter)
    faces: int = 0
    heads: int = 0
    images_with_faces: int = 0
    texts: int = 0
    decisions: Counter[str] = field(default_factory=Counter)  # a reviewer's, by decision
    metadata_found: Counter[str] = field(default_factory=Counter)
    _failed: list[tuple[int, dict[str, str | None]]] = field(default_factory=list)

    def add(self, record: ImageRecord, index: int) -> None:
        self.status[record.status] += 1
        self.metadata_found.update(record.metadata_found)
        if record.status == OK:
            heads = sum(face.kind == "head" for face in record.faces)
            self.faces += len(record.faces) - heads
            self.heads += heads
            self.images_with_faces += bool(record.faces)
            self.texts += len(record.texts or [])
            self.decisions.update(d["decision"] for d in record.decisions or [])
        elif record.status == FAILED:
            self._failed.append((index, {"source": record.source, "error": record.error}))

    @property
    def failed_files(self) -> list[dict[str, str | None]]:
        """In discovery order, whatever order the workers finished in."""
        return [entry for _, entry in sorted(self._failed, key=lambda pair: pair[0])]

    @property
    def inputs(self) -> int:
        return sum(self.status.values())


class RecordSpool:
    """Records of one run, by their file's position in discovery order (0, 1, ...; the
    number of files need not be known in advance). The driver keeps 8 bytes a file (where
    its record lies in the spool file), not the record."""

    def __init__(self, report_dir: Path) -> None:
        self._path = report_dir / SPOOL_FILE
        self._file = open(self._path, "w+b")  # noqa: SIM115 - closed by close()
        self._offsets = array.array("q")
        self._end = 0  # counted, not asked: a seek per record would flush the write buffer
        self.tally = Tally()

    def add(self, index: int, record: ImageRecord) -> None:
        line = json.dumps(record.to_dict(), ensure_ascii=False).encode("utf-8") + b"\n"
        if index >= len(self._offsets):
            self._offsets.extend([-1] * (index + 1 - len(self._offsets)))
        self._offsets[index] = self._end
        self._end += self._file.write(line)
        self.tally.add(record, index)

    def ordered_lines(self, count: int) -> Iterator[bytes]:
        """The records of files 0 .. ``count`` - 1, in that order; a missing one is an error."""
        self._file.flush()
        if len(self._offsets) < count:
            self._offsets.extend([-1] * (count - len(self._offsets)))
        for index, offset in enumerate(self._offsets):
            if offset < 0:
                raise ValueError(f"no record for file {index} of the run")
            self._file.seek(offset)
            yield self._file.readline()

    def close(self) -> None:
        self._file.close()
        self._path.unlink(missing_ok=True)

    def __enter__(self) -> RecordSpool:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def write_report(report_dir: Path, spool: RecordSpool, summary: dict[str, Any], count: int) -> array.array:
    """``images.jsonl`` with the records of the run's ``count`` files, and ``summary.json``;
    returns where each file's record starts in ``images.jsonl``."""
    offsets = array.array("q")

    def counted(lines: Iterator[bytes]) -> Iterator[bytes]:
        position = 0
        for line in lines:
            offsets.append(position)
            position += len(line)
            yield line

    write_atomic(report_dir / IMAGES_FILE, counted(spool.ordered_lines(count)))
    text = json.dumps(summary, indent=2, ensure_ascii=False) + "\n"
    write_atomic(report_dir / SUMMARY_FILE, text.encode("utf-8"))
    return offsets


def iter_records(report_dir: Path) -> Iterator[dict[str, Any]]:
    """The records of ``images.jsonl`` one at a time: a run's report holds millions."""
    with open(Path(report_dir) / IMAGES_FILE, encoding="utf-8") as fp:
        for line in fp:
            if line.strip():
                yield json.loads(line)


def read_records(report_dir: Path) -> list[dict[str, Any]]:
    return list(iter_records(report_dir))
