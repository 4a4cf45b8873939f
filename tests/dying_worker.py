"""Jobs whose workers die, as a segfault in native code, the kernel's out-of-memory killer
or a lost node makes them die; and a job quick enough to test the engines alone. Workers
import this module (tests/ is on their path), so the jobs are plain, picklable data."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from deid.engine import Job


def item_name(item: Any) -> str:
    """The file name an item stands for: a run's WorkItem, verify's AuditTask, or a str."""
    if isinstance(item, str):
        return item
    if hasattr(item, "source"):
        return PurePosixPath(item.source.relative).name
    return PurePosixPath(item.output).name


@dataclass(frozen=True)
class DyingJob(Job):
    """``inner``, except that a worker given an item named crash* kills its own process;
    with ``once_marker`` (a file path), only the first time, as a node lost mid-file: a
    retry then processes it."""

    inner: Job
    once_marker: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "items_per_task", self.inner.items_per_task)

    def start(self) -> DyingRunner:
        return DyingRunner(self.inner.start(), self.once_marker)

    def failed(self, item: Any, reason: str) -> Any:
        return self.inner.failed(item, reason)


@dataclass(frozen=True)
class DyingRunner:
    inner: Any
    once_marker: str

    def __call__(self, item: Any) -> Any:
        if item_name(item).startswith("crash"):
            if not self.once_marker:
                os.kill(os.getpid(), signal.SIGKILL)
            marker = Path(self.once_marker)
            if not marker.exists():
                marker.write_text("killed")
                os.kill(os.getpid(), signal.SIGKILL)
        return self.inner(item)

    def runtime(self) -> dict[str, Any]:
        return self.inner.runtime()


@dataclass(frozen=True)
class EchoJob(Job):
    """Items are names: "raise*" raises, "slow*" takes ``slow_s``, the rest come back at once."""

    slow_s: float = 0.5
    items_per_task = 2

    def start(self) -> EchoRunner:
        return EchoRunner(self.slow_s)

    def failed(self, item: str, reason: str) -> str:
        return f"failed {item}: {reason}"


@dataclass(frozen=True)
class EchoRunner:
    slow_s: float

    def __call__(self, item: str) -> str:
        if item.startswith("raise"):
            raise ValueError(f"cannot do {item}")
        if item.startswith("slow"):
            time.sleep(self.slow_s)
        return f"done {item}"

    def runtime(self) -> dict[str, Any]:
        return {"pid": os.getpid()}


def verify_with_a_file_that_kills_its_worker(src: Path, tmp_path: Path, monkeypatch: Any, **options: Any) -> Any:
    """verify over three photos of ``src`` and crash.jpg, whose worker dies each time it
    takes it; ``options`` go to verify."""
    import shutil

    import deid.verify

    out = tmp_path / "out"
    out.mkdir()
    photos = sorted(p for p in src.iterdir() if p.is_file())[:3]
    for photo in photos:
        shutil.copy(photo, out)
    shutil.copy(photos[0], out / "crash.jpg")
    # The ensemble alone: the worker's death is the point, not dlib's minutes.
    monkeypatch.setattr(deid.verify, "audit_available", lambda: "dlib is left out of this test")
    run_job = deid.verify.run_job
    monkeypatch.setattr(deid.verify, "run_job", lambda job, *args: run_job(DyingJob(job), *args))
    return deid.verify.verify(out, **options)
