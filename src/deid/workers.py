"""Runs every image through ``process_file``: in this process (one worker), or in a pool
of worker processes fed through a bounded window, so that memory does not grow with the
number of files.

A worker that dies (killed for lack of memory, a crash inside native code) takes no other
file with it: the files it may have been holding are retried one at a time in a fresh
worker, and only a file that kills its worker again is reported as failed.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import importlib.machinery
import multiprocessing
import os
import signal
import sys
from collections import deque
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Callable, Iterator

from deid.config import Config
from deid.errors import DeidError
from deid.output import set_temp_identity
from deid.process import FileResult, Stages, WorkItem, cached_stages, failed_result, process_file

OnResult = Callable[[FileResult], None]
Task = Callable[[WorkItem, Path], FileResult]

# Files queued per worker beyond the one it is on. A queued file is only its path (the
# worker reads and decodes it), so a deep queue costs no memory and keeps workers busy
# when files take milliseconds each; it stays bounded, whatever the number of files.
IN_FLIGHT_PER_WORKER = 16
# Files per task. Handing a task to a worker and its result back goes through the main
# process's queue threads; one file a task, on photos that take 10 ms each, left the
# workers idle a fifth of the time (two workers did 1.43x the work of one with the fast
# preset, where two separate single-worker runs side by side do 1.88x). Four files a task
# make the hand-off rare; a task whose worker dies is still retried file by file.
FILES_PER_TASK = 4
# Inference threads per worker: a worker is one core, so --workers N uses N cores and no
# more, whatever else runs on the machine. (One worker on two inference threads did about
# 90% of what two single-threaded workers do; with N workers, threads would only
# oversubscribe the cores.)
THREADS_PER_WORKER = 1
WORKER_DIED = (
    "the worker process died while processing it (a crash, or killed for lack of memory); "
    "nothing was written for it"
)


# Where a container's CPU limit is written: cgroup v2 ("QUOTA PERIOD" or "max PERIOD"),
# and cgroup v1 (quota, -1 for none, and period, in two files).
CGROUP_V2_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")
CGROUP_V1_CPU_QUOTA = (Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"), Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us"))


def usable_cores() -> int:
    """The cores this process may run on, which is what ``workers = 0`` means: its CPU
    affinity (a cluster job or container given some of a node's cores) and its
    container's CPU quota, not every core of the machine; a 128-core node running a job
    allowed 2 would otherwise start 128 workers, each loading its own models."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity on this system (macOS, Windows)
        cores = os.cpu_count() or 1
    quota = cgroup_cpu_limit()
    return max(1, min(cores, quota) if quota else cores)


def cgroup_cpu_limit() -> int | None:
    """Cores allowed by the container's CPU quota, rounded up; None when there is none or
    it cannot be read."""
    try:
        quota, period = CGROUP_V2_CPU_MAX.read_text().split()
    except (OSError, ValueError):
        try:
            quota, period = (path.read_text().strip() for path in CGROUP_V1_CPU_QUOTA)
        except (OSError, ValueError):
            return None
    return cores_from_quota(quota, period)


def cores_from_quota(quota: str, period: str) -> int | None:
    """Cores a CFS quota of ``quota`` microseconds every ``period`` allows, rounded up so
    that no part of the quota goes unused; None for no quota ("max", -1) or an unreadable
    one."""
    try:
        quota_us, period_us = int(quota), int(period)
    except ValueError:
        return None
    if quota_us <= 0 or period_us <= 0:
        return None
    return -(-quota_us // period_us)


@contextlib.contextmanager
def caller_script_not_reimported() -> Iterator[None]:
    """While worker processes start, keep them from running the caller's script again.

    A spawned worker normally re-imports the script that started the parent, so a script
    calling ``deid.run(...)`` at its top level (as the README's example does) would run it
    again in every worker, which Python refuses while the worker starts. Worker code lives
    in deid's own modules and needs nothing from the script, so the script is announced
    to the workers as a ``__main__`` module, which multiprocessing never re-imports."""
    main = sys.modules.get("__main__")
    if main is None or getattr(main, "__spec__", None) is not None or not getattr(main, "__file__", None):
        yield
        return
    main.__spec__ = importlib.machinery.ModuleSpec("deid.__main__", None)
    try:
        yield
    finally:
        main.__spec__ = None


def process_all(
    items: list[WorkItem], out_dir: Path, config: Config, workers: int, on_result: OnResult,
    task: Task | None = None, in_process: bool = False, run: str = "",
) -> dict[str, Any]:
    """Process ``items`` in ``workers`` worker processes, or in this process when
    ``in_process``, and pass each result to ``on_result`` as it comes; returns what ran
    (models, devices). ``task`` replaces the per-file function run in the workers (a
    module-level function, so that a worker can import it); tests use it to make a worker
    die. ``run`` names the workers' temporary files (deid.runlock)."""
    task = task or worker_process
    threads = THREADS_PER_WORKER
    if in_process:
        stages = cached_stages(config, threads)
        for item in items:
            on_result(process_file(item, out_dir, stages))
        return stages.runtime()
    with caller_script_not_reimported():
        return _process_in_pool(items, out_dir, config, workers, on_result, task, threads, run)


def _process_in_pool(
    items: list[WorkItem], out_dir: Path, config: Config, workers: int, on_result: OnResult, task: Task,
    threads: int, run: str,
) -> dict[str, Any]:
    pending, suspects = deque(items), []
    runtime: dict[str, Any] | None = None
    while pending:
        with _WorkerPool(config, workers, threads, run) as pool:
            runtime = runtime or pool.runtime()
            suspects += _drain(pool.executor, task, pending, out_dir, workers, on_result)
    # One at a time in a single worker: when it dies, the file it held is the one that
    # killed it, and a fresh worker takes the rest.
    suspects_left = deque(suspects)
    while suspects_left:
        with _WorkerPool(config, 1, threads, run) as pool:
            runtime = runtime or pool.runtime()
            while suspects_left:
                item = suspects_left.popleft()
                try:
                    on_result(pool.executor.submit(task, item, out_dir).result())
                except BrokenProcessPool:
                    on_result(failed_result(item.source, WORKER_DIED))
                    break
    return runtime or cached_stages(config, threads).runtime()


def _drain(
    executor: concurrent.futures.ProcessPoolExecutor, task: Task, pending: deque[WorkItem], out_dir: Path,
    workers: int, on_result: OnResult,
) -> list[WorkItem]:
    """Feed ``pending`` to the pool until it is empty or the pool breaks; returns the files
    that were in the pool when it broke (one of them killed it, or none if it was killed
    from outside)."""
    in_flight: dict[concurrent.futures.Future[list[FileResult]], list[WorkItem]] = {}
    try:
        while pending or in_flight:
            while pending and len(in_flight) * FILES_PER_TASK < workers * IN_FLIGHT_PER_WORKER:
                chunk = [pending.popleft() for _ in range(min(FILES_PER_TASK, len(pending)))]
                in_flight[executor.submit(run_task, task, chunk, out_dir)] = chunk
            done, _ = concurrent.futures.wait(in_flight, return_when=concurrent.futures.FIRST_COMPLETED)
            for future in done:
                results = future.result()
                del in_flight[future]
                for result in results:
                    on_result(result)
    except BrokenProcessPool:
        return [item for chunk in in_flight.values() for item in chunk]
    return []


def run_task(task: Task, items: list[WorkItem], out_dir: Path) -> list[FileResult]:
    """Several files in one hand-off to a worker."""
    return [task(item, out_dir) for item in items]


class _WorkerPool:
    def __init__(self, config: Config, workers: int, threads: int, run: str) -> None:
        # "spawn": a worker must not inherit a parent's half-initialised model runtime.
        self.executor = concurrent.futures.ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker, initargs=(config, threads, run),
        )

    def runtime(self) -> dict[str, Any]:
        try:
            return self.executor.submit(_worker_runtime).result()
        except BrokenProcessPool:
            raise DeidError(
                "a worker process died while loading the models; rerun with --workers 1 to see why"
            ) from None

    def __enter__(self) -> _WorkerPool:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is not None:
            # Interrupted or failed: stop the workers now rather than let them finish
            # their files. Outputs are written whole or not at all, so this loses nothing.
            for process in list(getattr(self.executor, "_processes", {}).values()):
                process.terminate()
        self.executor.shutdown(wait=True, cancel_futures=True)


_WORKER_STAGES: Stages | None = None
_WORKER_ERROR: Exception | None = None


def quiet_worker() -> None:
    """What every worker process does first.

    Ctrl-C reaches every process of the terminal's group; the main process alone decides
    what an interrupt means (it stops the workers). Native model runtimes log start-up
    notices straight to file descriptor 2 from their own threads; a worker reports only
    through its return values, so its stderr is closed off to keep the user's terminal to
    deid's own output."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)


def _init_worker(config: Config, threads: int, run: str) -> None:
    global _WORKER_STAGES, _WORKER_ERROR
    if run:
        set_temp_identity(run)
    quiet_worker()
    try:
        _WORKER_STAGES = Stages(config, threads)
    except Exception as exc:  # reported by _worker_runtime in the main process
        _WORKER_ERROR = exc


def worker_process(item: WorkItem, out_dir: Path) -> FileResult:
    """Process one file in a worker, with the stages the worker loaded at its start."""
    if _WORKER_STAGES is None:
        return failed_result(item.source, f"the models could not be loaded: {_WORKER_ERROR}")
    return process_file(item, out_dir, _WORKER_STAGES)


def _worker_runtime() -> dict[str, Any]:
    if _WORKER_STAGES is None:
        if isinstance(_WORKER_ERROR, DeidError):
            raise _WORKER_ERROR
        raise DeidError(f"the models could not be loaded: {_WORKER_ERROR}")
    return _WORKER_STAGES.runtime()
