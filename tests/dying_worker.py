"""A per-file task for worker processes that kills its own process on files named
crash*: what a segfault in native code or the kernel's out-of-memory killer does."""

from __future__ import annotations

import os
import signal
from pathlib import Path, PurePosixPath

from deid.process import FileResult, WorkItem
from deid.workers import worker_process


def die_on_crash_files(item: WorkItem, out_dir: Path) -> FileResult:
    if PurePosixPath(item.source.relative).name.startswith("crash"):
        os.kill(os.getpid(), signal.SIGKILL)
    return worker_process(item, out_dir)


def die_once_on_crash_files(item: WorkItem, out_dir: Path, stages) -> FileResult:
    """For Ray actors: kill the actor the first time it takes a file named crash*, as a
    node lost mid-file would; a retry then processes it."""
    from deid.process import process_file

    marker = out_dir.parent / "actor-killed-once"
    if PurePosixPath(item.source.relative).name.startswith("crash") and not marker.exists():
        marker.write_text("killed")
        os.kill(os.getpid(), signal.SIGKILL)
    return process_file(item, out_dir, stages)
