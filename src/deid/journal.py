"""The run journal: one line per finished image, appended and flushed to disk as the run
goes, so that a run killed at any point (Ctrl-C, SIGKILL, power loss) can be resumed.

An entry is reused by ``--resume`` only when the input's content, the config and the
output file are all unchanged; anything else is processed again. A line cut short by a
kill is ignored, and the file it describes is processed again.

When the run ends, its lines are folded: the record in each is replaced by where it lies
in ``images.jsonl`` (``Journal.fold``), so that the journal holds what resume needs and
no second copy of the report.

A file whose size, modification time (ns) and inode (its *stamp*) are those the journal
recorded is taken as unchanged without being read again, so that resuming a large run
costs a ``stat`` per file rather than reading every input and output; ``--rehash`` reads
them all. Anything that changes a file's bytes through the file system changes its
modification time; only a deliberate reset of it (``touch -d``) gets past the stamp.
"""

from __future__ import annotations

import array
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from deid.report import IMAGES_FILE, ImageRecord

JOURNAL_FILE = "journal.jsonl"
# Read in chunks so hashing a large file never holds it whole.
_HASH_CHUNK = 1 << 20


# (size, modification time in ns, inode) of a file, as os.stat gives them.
Stamp = tuple[int, int, int]


def file_stamp(path: Path) -> Stamp | None:
    """The stamp of ``path`` (not following a link); None when it cannot be read."""
    try:
        info = os.stat(path, follow_symlinks=False)
    except OSError:
        return None
    return (info.st_size, info.st_mtime_ns, info.st_ino)


@dataclass(frozen=True)
class JournalEntry:
    record: ImageRecord
    input_sha256: str
    output_sha256: str | None  # of the written file; None when nothing was written
    config_sha256: str
    # Stamps of the input when it was read and of the output when it was written; None
    # in journals of earlier versions (their files are hashed on resume).
    input_stamp: Stamp | None = None
    output_stamp: Stamp | None = None

    def to_dict(self) -> dict[str, Any]:
        record = self.record.to_dict()
        return {
            "source": record["source"],
            "record": record,
            "input_sha256": self.input_sha256,
            "output_sha256": self.output_sha256,
            "config_sha256": self.config_sha256,
            "input_stamp": self.input_stamp,
            "output_stamp": self.output_stamp,
        }


def config_fingerprint(config_dict: dict[str, Any], version: str | None) -> str:
    """What decides the output bytes: every setting except how many workers run it and
    where (engine, cluster), and the deid version."""
    relevant = {k: v for k, v in config_dict.items() if k not in ("workers", "engine", "ray_address")}
    text = json.dumps({"config": relevant, "deid": version}, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fp:
        for chunk in iter(lambda: fp.read(_HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# Where a resumed run keeps the report of the finished run it continues, while the journal
# lines folded at that run's end still point into it.
PREVIOUS_IMAGES_FILE = "images.previous.jsonl"


class Journal:
    """The journal of this run, and with ``resume`` the entries of the run it continues.

    While a run goes, each line holds a whole record (a run killed at any point is resumed
    from the journal alone). When it ends, the journal is *folded*: each line keeps what
    resume needs (hashes, stamps, config) and, instead of the record, where the record
    lies in ``images.jsonl``. The driver keeps where each line lies (a resumed run: per
    source path; every run: per file of this run, 8 bytes), never the entries themselves."""

    def __init__(self, report_dir: Path, resume: bool) -> None:
        self._dir = report_dir
        path = report_dir / JOURNAL_FILE
        previous = report_dir / PREVIOUS_IMAGES_FILE
        self._by_source: dict[str, int] = {}
        if resume and path.exists():
            if not previous.exists() and (report_dir / IMAGES_FILE).exists():
                # The finished run's report: the journal's folded lines point into it.
                os.replace(report_dir / IMAGES_FILE, previous)
            # Rewritten without any line a kill cut short, so appends start on a clean line.
            self._by_source = _rewrite_whole_lines(path)
        else:
            previous.unlink(missing_ok=True)
        self._previous = open(previous, "rb") if previous.exists() else None  # noqa: SIM115
        self._fp: BinaryIO = open(path, "a+b" if resume else "w+b")  # noqa: SIM115
        self._line_of = array.array("q")  # this run's file index -> offset of its line

    def previous(self, source: str) -> JournalEntry | None:
        """The latest entry the continued run wrote for ``source``."""
        offset = self._by_source.get(source)
        return None if offset is None else self._read(offset)

    def keep(self, index: int, source: str) -> None:
        """File ``index`` of this run is the continued run's ``source``, kept as it was."""
        self._place(index, self._by_source[source])

    def add(self, index: int, entry: JournalEntry) -> None:
        """File ``index`` of this run was processed: its entry, with the whole record."""
        self._fp.seek(0, os.SEEK_END)
        self._place(index, self._fp.tell())
        self._fp.write(_line(entry))
        # Flushed, not synced: a line lost to a power cut only means that file is done
        # again on resume (each output is synced before its rename, and a line is trusted
        # only if its output's hash still matches).
        self._fp.flush()

    def fold(self, report_offsets: array.array) -> None:
        """Rewrite the journal for the run's finished report: one line for each file of
        this run that has an entry, its record replaced by its offset in ``images.jsonl``
        (``report_offsets``, per file). Entries of files no longer in SRC are dropped."""
        path = self._dir / JOURNAL_FILE
        folded = path.with_name(path.name + ".tmp")
        with open(folded, "wb") as out:
            for index, offset in enumerate(self._line_of):
                if offset < 0:
                    continue
                data = _data(self._raw(offset))
                data.pop("record", None)
                data["report_offset"] = report_offsets[index]
                out.write((json.dumps(data, ensure_ascii=False) + "\n").encode("utf-8"))
        self.close()
        os.replace(folded, path)
        (self._dir / PREVIOUS_IMAGES_FILE).unlink(missing_ok=True)

    def close(self) -> None:
        self._fp.close()
        if self._previous is not None:
            self._previous.close()

    def _place(self, index: int, offset: int) -> None:
        if index >= len(self._line_of):
            self._line_of.extend([-1] * (index + 1 - len(self._line_of)))
        self._line_of[index] = offset

    def _raw(self, offset: int) -> bytes:
        self._fp.flush()
        self._fp.seek(offset)
        return self._fp.readline()

    def _read(self, offset: int) -> JournalEntry | None:
        data = _data(self._raw(offset))
        if data is None:
            return None
        if "record" not in data:
            if self._previous is None:
                return None  # the report it pointed into is gone: the file is done again
            self._previous.seek(data["report_offset"])
            data["record"] = json.loads(self._previous.readline())
        return _entry_of(data)


def _rewrite_whole_lines(path: Path) -> dict[str, int]:
    """Rewrite ``path`` keeping its whole lines; the offset of each source's latest line."""
    offsets: dict[str, int] = {}
    kept = path.with_name(path.name + ".tmp")
    with open(path, "rb") as old, open(kept, "wb") as new:
        for line in old:
            data = _data(line)
            if data is None:
                continue
            offsets[data["source"]] = new.tell()
            new.write(line if line.endswith(b"\n") else line + b"\n")
    os.replace(kept, path)
    return offsets


def _data(line: bytes) -> dict[str, Any] | None:
    """One line's fields, with its source; None for a line cut short by a kill."""
    try:
        data = json.loads(line)
        if "source" not in data:  # a line of an earlier version
            data["source"] = data["record"]["source"]
        if "record" not in data and "report_offset" not in data:
            return None
        return data
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _entry_of(data: dict[str, Any]) -> JournalEntry | None:
    try:
        return JournalEntry(
            ImageRecord.from_dict(data["record"]), data["input_sha256"],
            data["output_sha256"], data["config_sha256"],
            _stamp(data.get("input_stamp")), _stamp(data.get("output_stamp")),
        )
    except (ValueError, KeyError, TypeError):
        return None


def _stamp(value: Any) -> Stamp | None:
    return None if value is None else (int(value[0]), int(value[1]), int(value[2]))


def _line(entry: JournalEntry) -> bytes:
    return (json.dumps(entry.to_dict(), ensure_ascii=False) + "\n").encode("utf-8")
