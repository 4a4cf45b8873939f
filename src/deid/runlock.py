"""One run at a time per report folder, and the identity of a run.

Two runs writing into the same OUT would interleave their files and their journals. A run
holds ``run.lock`` in its report folder while it works; a second run that finds it is
refused with a message naming the holder. A lock whose holder is gone (a process on this
host that no longer exists) is taken over; one held from another host is never broken.

Each run has an id (kept in ``run.id`` in the report folder; a resumed run keeps it), which
names its temporary files in OUT, so a run removes only the leftovers of its own killed
predecessor, never another run's files in progress.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
import uuid
from pathlib import Path

from deid.errors import UsageError

LOCK_FILE = "run.lock"
RUN_ID_FILE = "run.id"


class RunLock:
    def __init__(self, report_dir: Path) -> None:
        self.path = Path(report_dir) / LOCK_FILE
        self._held = False

    def acquire(self) -> RunLock:
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                if not self._stale():
                    raise UsageError(self._refusal()) from None
                with contextlib.suppress(FileNotFoundError):
                    self.path.unlink()
                continue
            with os.fdopen(fd, "w") as fp:
                json.dump(holder, fp)
            self._held = True
            return self
        raise UsageError(self._refusal())

    def _holder(self) -> dict:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}

    def _stale(self) -> bool:
        holder = self._holder()
        if holder.get("host") != socket.gethostname() or not isinstance(holder.get("pid"), int):
            return False
        try:
            os.kill(holder["pid"], 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    def _refusal(self) -> str:
        holder = self._holder()
        who = f"process {holder.get('pid', '?')} on {holder.get('host', '?')}, started {holder.get('started', '?')}"
        return (
            f"another deid run ({who}) is using the report folder {self.path.parent}; wait for it to end, "
            f"or delete {self.path} if that run is dead"
        )

    def release(self) -> None:
        if self._held:
            with contextlib.suppress(OSError):
                self.path.unlink()
            self._held = False

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *_: object) -> None:
        self.release()


def run_id(report_dir: Path, resume: bool) -> str:
    """This run's id: the interrupted run's when resuming, else a new one."""
    path = Path(report_dir) / RUN_ID_FILE
    if resume:
        with contextlib.suppress(OSError):
            previous = path.read_text().strip()
            if previous.isalnum():
                return previous
    new = uuid.uuid4().hex[:12]
    path.write_text(new + "\n")
    return new
