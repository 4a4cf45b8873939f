"""The run journal: one line per finished image, appended and flushed to disk as the run
goes, so that a run killed at any point (Ctrl-C, SIGKILL, power loss) can be resumed.

An entry is reused by ``--resume`` only when the input's content, the config and the
output file are all unchanged; anything else is processed again. A line cut short by a
kill is ignored, and the file it describes is processed again.

A file whose size, modification time (ns) and inode (its *stamp*) are those the journal
recorded is taken as unchanged without being read again, so that resuming a large run
costs a ``stat`` per file rather than reading every input and output; ``--rehash`` reads
them all. Anything that changes a file's bytes through the file system changes its
modification time; only a deliberate reset of it (``touch -d``) gets past the stamp.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from deid.report import ImageRecord

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
        return {
            "record": self.record.to_dict(),
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


class Journal:
    """The journal of this run, and with ``resume`` the entries of the run it continues.

    Those are looked up by source path; the driver keeps where each entry's line lies in
    the file, not the entry, so its memory does not hold every record of a large run."""

    def __init__(self, report_dir: Path, resume: bool) -> None:
        path = report_dir / JOURNAL_FILE
        self._offsets: dict[str, int] = {}
        if resume and path.exists():
            # Rewritten without any line a kill cut short, so appends start on a clean line.
            self._offsets = _rewrite_whole_lines(path)
        self._fp: BinaryIO = open(path, "a+b" if resume else "w+b")

    def previous(self, source: str) -> JournalEntry | None:
        """The latest entry the continued run wrote for ``source``."""
        offset = self._offsets.get(source)
        if offset is None:
            return None
        self._fp.flush()
        self._fp.seek(offset)
        entry = _entry(self._fp.readline())
        self._fp.seek(0, os.SEEK_END)
        return entry

    def add(self, entry: JournalEntry) -> None:
        self._fp.write(_line(entry))
        # Flushed, not synced: a line lost to a power cut only means that file is done
        # again on resume (each output is synced before its rename, and a line is trusted
        # only if its output's hash still matches).
        self._fp.flush()

    def close(self) -> None:
        self._fp.close()


def _rewrite_whole_lines(path: Path) -> dict[str, int]:
    """Rewrite ``path`` keeping its whole lines; the offset of each source's latest line."""
    offsets: dict[str, int] = {}
    kept = path.with_name(path.name + ".tmp")
    with open(path, "rb") as old, open(kept, "wb") as new:
        for line in old:
            entry = _entry(line)
            if entry is None:
                continue
            offsets[entry.record.source] = new.tell()
            new.write(line if line.endswith(b"\n") else line + b"\n")
    os.replace(kept, path)
    return offsets


def _entry(line: bytes) -> JournalEntry | None:
    """The entry of one line; None for a line cut short by a kill."""
    try:
        data = json.loads(line)
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
