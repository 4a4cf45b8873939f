"""The discover stage: every file under SRC, classified by its content."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from deid.formats import HEAD_BYTES, IMAGE_EXTENSIONS, unsupported_reason, writable_format

IMAGE = "image"
SKIP = "skip"
FAIL = "fail"

# Why a pipe, socket or device is never read: a named pipe would block on open(), a
# device could be endless.
NOT_REGULAR_REASON = "not a regular file (pipe, socket or device)"


@dataclass(frozen=True)
class SourceFile:
    path: Path
    relative: str  # POSIX path relative to SRC
    kind: str  # IMAGE, SKIP (not an image, or one deid must not copy) or FAIL
    reason: str | None = None  # for SKIP and FAIL
    format: str | None = None  # for IMAGE: Pillow's name of the format its content shows


def discover(src: Path) -> Iterator[SourceFile]:
    """Walk ``src`` in a stable (sorted) order. Symbolic links are not followed: a link
    could point outside SRC, and its target is either inside SRC already or not ours."""
    for root, dirs, files in os.walk(src, followlinks=False):
        dirs.sort()
        root_path = Path(root)
        for name in sorted(files + [d for d in dirs if (root_path / d).is_symlink()]):
            path = root_path / name
            yield classify(path, path.relative_to(src).as_posix())
        dirs[:] = [d for d in dirs if not (root_path / d).is_symlink()]


def count_files(src: Path) -> int:
    """How many files ``discover(src)`` yields, without opening any: a walk by the same
    rules (links not followed, a linked folder counted as one file)."""
    count = 0
    for root, dirs, files in os.walk(src, followlinks=False):
        root_path = Path(root)
        links = [d for d in dirs if (root_path / d).is_symlink()]
        count += len(files) + len(links)
        dirs[:] = [d for d in dirs if d not in links]
    return count


def classify(path: Path, relative: str) -> SourceFile:
    try:
        mode = path.lstat().st_mode
    except OSError as exc:
        return SourceFile(path, relative, FAIL, f"cannot read file: {exc.strerror}")
    if stat.S_ISLNK(mode):
        return SourceFile(path, relative, SKIP, "symbolic link: not followed")
    if not stat.S_ISREG(mode):
        return SourceFile(path, relative, SKIP, NOT_REGULAR_REASON)
    looks_like_image = path.suffix.lower() in IMAGE_EXTENSIONS
    try:
        head = read_regular_file(path, HEAD_BYTES)
    except OSError as exc:
        return SourceFile(path, relative, FAIL, f"cannot read file: {exc.strerror}")
    if not head:
        kind = FAIL if looks_like_image else SKIP
        return SourceFile(path, relative, kind, "empty file (0 bytes)")
    reason = unsupported_reason(head, path)
    if reason:
        return SourceFile(path, relative, SKIP, reason)
    fmt = writable_format(head)
    if fmt:
        return SourceFile(path, relative, IMAGE, format=fmt.name)
    if looks_like_image:
        return SourceFile(
            path, relative, FAIL, f"named {path.suffix} but its content is not a recognised image"
        )
    return SourceFile(path, relative, SKIP, "not an image")


def read_regular_file(path: Path, limit: int | None = None) -> bytes:
    """The bytes of ``path`` (at most ``limit``), refusing anything that is not a regular
    file at the moment it is opened: a file swapped for a link after discovery is not
    followed out of SRC, and a pipe does not block the run."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as fp:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path.name} is no longer a regular file")
        return fp.read() if limit is None else fp.read(limit)
